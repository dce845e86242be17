#!/usr/bin/python3
"""edge_startup.py PORT USER DB - sends a StartupMessage for protocol 3.2 with
two _pq_. options to 127.0.0.1:PORT and prints what comes back: the
NegotiateProtocolVersion message in hex ("v=..."), then the type of every
message up to ReadyForQuery or an error ("then=RSSKZ"). Compare PostgreSQL
and pgring with it. Standard library only; every wait bounded (10 s)."""
import socket
import struct
import sys


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def main():
    port, user, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    body = struct.pack("!I", (3 << 16) | 2)
    for k, v in (("user", user), ("_pq_.edge_one", "1"), ("database", db),
                 ("_pq_.edge_two", "on")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    types = ""
    try:
        while True:
            hdr = recv_exact(s, 5)
            typ, n = chr(hdr[0]), struct.unpack("!I", hdr[1:])[0]
            payload = recv_exact(s, n - 4)
            if typ == "v":
                print("v=" + (hdr + payload).hex())
            else:
                types += typ
            if typ == "E":
                print("error=" + payload.replace(b"\0", b"|").decode(errors="replace"))
            if typ in "ZE":
                break
    except (EOFError, OSError) as e:
        print("eof=" + str(e))
    print("then=" + types)
    s.close()


if __name__ == "__main__":
    main()
