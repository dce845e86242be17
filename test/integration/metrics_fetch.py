#!/usr/bin/python3
"""metrics_fetch.py - HTTP client of scenarios_metrics.sh (standard library only).

  get PORT PATH [METHOD]   the status, then the body
  big PORT                 a request head of 64 kB: the status, or "closed"
  slow PORT                a connection that sends nothing, a scrape beside it,
                           then how long until pgring closes the idle one
  limit PORT N             N idle connections (more than the limit): does a
                           scrape get through beside them, and once they close?
  prom PORT QUERY          Prometheus's /api/v1/query: one line per series,
                           its labels then its value

Every wait is bounded.
"""

import json
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=b"x" if method in ("POST", "PUT") else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def status_of(sock):
    """The status code of the answer on sock, or 'closed'."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    if not data.startswith(b"HTTP/"):
        return "closed"
    return data.split(b" ", 2)[1].decode()


def big(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
    try:
        s.sendall(head)
    except (BrokenPipeError, ConnectionResetError):
        pass
    print(status_of(s))
    s.close()


def slow(port):
    idle = socket.create_connection(("127.0.0.1", port), timeout=25)
    time.sleep(0.2)
    t0 = time.monotonic()
    status, body, _ = get(port, "/metrics")
    print("scrape beside an idle connection: status %d in %.2f s, %d bytes"
          % (status, time.monotonic() - t0, len(body)))
    t0 = time.monotonic()
    try:
        gone = idle.recv(1) == b""
    except ConnectionResetError:
        gone = True
    except socket.timeout:
        gone = False
    print("idle connection %s after %.1f s"
          % ("closed" if gone else "still open", time.monotonic() - t0))


def timed_scrape(port, timeout):
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
            r.read()
            return "status %d in %.1f s" % (r.status, time.monotonic() - t0)
    except (urllib.error.URLError, OSError) as e:
        return "no answer (%s) in %.1f s" % (e.__class__.__name__, time.monotonic() - t0)


def limit(port, n):
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    time.sleep(0.3)
    print("at the limit: %s" % timed_scrape(port, 1.5))
    for c in conns:
        c.close()
    time.sleep(0.2)
    print("after they closed: %s" % timed_scrape(port, 5))


def prom(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        print("error %s" % e)
        return
    for series in doc.get("data", {}).get("result", []):
        labels = ",".join("%s=%s" % kv for kv in sorted(series["metric"].items()))
        print("%s %s" % (labels, series["value"][1]))


def main(argv):
    cmd, port = argv[1], int(argv[2])
    if cmd == "get":
        status, body, headers = get(port, argv[3], argv[4] if len(argv) > 4 else "GET")
        print(status)
        print("allow: %s" % headers.get("Allow", ""))
        print("content-type: %s" % headers.get("Content-Type", ""))
        sys.stdout.write(body)
    elif cmd == "big":
        big(port)
    elif cmd == "slow":
        slow(port)
    elif cmd == "limit":
        limit(port, int(argv[3]))
    elif cmd == "prom":
        prom(port, argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
