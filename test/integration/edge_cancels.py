#!/usr/bin/python3
"""edge_cancels.py PORT USER DB N SECONDS [HOST] - logs in (trust) to HOST:PORT
(127.0.0.1 by default; a directory: the unix socket DIR/.s.PGSQL.PORT there),
starts SELECT pg_sleep(SECONDS), then opens N cancel connections with the key
it was given, all at once, and reports how each ended: "held" (still open
after 1 s: the pooler is forwarding it), "closed" (closed with no answer), or
"error=..." (an ErrorResponse). Prints "held=H closed=C errors=E" and the first
error. Standard library only; every wait bounded."""
import socket
import struct
import sys
import time


def msgs(s):
    """yields (type, payload) from s until it closes"""
    buf = b""
    while True:
        while len(buf) >= 5:
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            yield chr(buf[0]), buf[5:1 + n]
            buf = buf[1 + n:]
        chunk = s.recv(65536)
        if not chunk:
            return
        buf += chunk


def connect(host, port):
    """a connection to the pooler, over TCP or its unix socket"""
    if not host.startswith("/"):
        return socket.create_connection((host, port), timeout=10)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("%s/.s.PGSQL.%d" % (host, port))
    return s


def main():
    port, user, db, n, secs = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                               int(sys.argv[4]), sys.argv[5])
    host = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1"
    body = struct.pack("!I", 3 << 16)
    body += b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    s = connect(host, port)
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    pid = key = None
    for typ, payload in msgs(s):
        if typ == "K":
            pid, key = struct.unpack("!II", payload[:8])
        if typ == "E":
            print("login error: " + payload.decode(errors="replace"))
            return 1
        if typ == "Z":
            break
    q = ("SELECT pg_sleep(%s)" % secs).encode() + b"\0"
    s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    time.sleep(0.5)
    cancels = []
    for _ in range(n):
        c = connect(host, port)
        c.sendall(struct.pack("!IIII", 16, 80877102, pid, key))
        cancels.append(c)
    time.sleep(1)
    held = closed = errors = 0
    first = ""
    for c in cancels:
        c.setblocking(False)
        try:
            data = c.recv(4096)
        except BlockingIOError:
            held += 1
            continue
        if not data:
            closed += 1
        else:
            errors += 1
            first = first or data[5:].replace(b"\0", b"|").decode(errors="replace")
    print("held=%d closed=%d errors=%d" % (held, closed, errors))
    if first:
        print("error=" + first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
