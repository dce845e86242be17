#!/usr/bin/python3
"""dns_tools.py - helpers of scenarios_dns.sh, standard library only.

  dns_tools.py blackhole ADDR PORT
      a DNS server that never answers: reads UDP queries and drops them;
      prints "listening" once bound
  dns_tools.py forward ADDR PORT TO_ADDR TO_PORT
      a TCP forwarder (another address for the same PostgreSQL); prints
      "listening", then "conn N" at each connection it takes
  dns_tools.py probe HOST PORT DBNAME USER SECONDS
      one client (trust auth) that runs SELECT 1 in a loop for SECONDS;
      prints "n=N max_ms=M avg_ms=A" (every query's round trip)
"""
import select
import socket
import struct
import sys
import threading
import time


def blackhole(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("listening", flush=True)
    while True:
        s.recvfrom(4096)


def pump(a, b):
    try:
        while True:
            r, _, _ = select.select([a, b], [], [])
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def forward(addr, port, to_addr, to_port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)
    print("listening", flush=True)
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        print("conn %d" % n, flush=True)
        try:
            up = socket.create_connection((to_addr, to_port))
        except OSError:
            c.close()
            continue
        threading.Thread(target=pump, args=(c, up), daemon=True).start()


def read_msg(s):
    hdr = b""
    while len(hdr) < 5:
        chunk = s.recv(5 - len(hdr))
        if not chunk:
            raise EOFError("connection closed")
        hdr += chunk
    typ, ln = hdr[:1], struct.unpack("!I", hdr[1:])[0]
    body = b""
    while len(body) < ln - 4:
        chunk = s.recv(ln - 4 - len(body))
        if not chunk:
            raise EOFError("connection closed")
        body += chunk
    return typ, body


def until_ready(s):
    while True:
        typ, body = read_msg(s)
        if typ == b"E":
            raise RuntimeError("error: %r" % body)
        if typ == b"Z":
            return


def probe(host, port, db, user, seconds):
    s = socket.create_connection((host, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
    until_ready(s)
    q = b"SELECT 1\0"
    msg = b"Q" + struct.pack("!I", 4 + len(q)) + q
    n, worst, total = 0, 0.0, 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        s.sendall(msg)
        until_ready(s)
        dt = time.monotonic() - t0
        n += 1
        total += dt
        worst = max(worst, dt)
    s.sendall(b"X\0\0\0\4")
    print("n=%d max_ms=%d avg_ms=%.2f" % (n, worst * 1000, total * 1000 / max(n, 1)), flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "blackhole":
        blackhole(sys.argv[2], int(sys.argv[3]))
    elif cmd == "forward":
        forward(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif cmd == "probe":
        probe(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
