#!/usr/bin/python3
"""peer_cancels.py LOGIN CANCEL USER DB SESSIONS ROUNDS - opens SESSIONS
sessions (trust) to LOGIN; ROUNDS times, runs SELECT pg_sleep(30) on every
session, then sends each query's CancelRequest on a fresh connection to
CANCEL, all at once, and times how long each query takes to end with SQLSTATE
57014 after its cancel was sent.

LOGIN and CANCEL are "HOST:PORT" (TCP) or "DIR:PORT" (the unix socket
DIR/.s.PGSQL.PORT). Prints "cancels=N canceled=C slow=S max_ms=M" (slow: took
1 s or more, or not canceled within 5 s) and the first failure.
"peer_cancels.py key LOGIN USER DB" prints one session's pid and key (hex);
"peer_cancels.py cancel TARGET PID KEY" sends one CancelRequest. Standard
library only; every wait bounded.
A seventh argument "close" closes each cancel connection as soon as its
CancelRequest is written, without waiting for pgring to close it: the
cancel must still go through."""
import os
import select
import socket
import struct
import sys
import time


def connect(target):
    host, port = target.rsplit(":", 1)
    if host.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(os.path.join(host, ".s.PGSQL." + port))
        return s
    return socket.create_connection((host, int(port)), timeout=10)


class Session:
    """a logged-in raw session; sock: an already connected socket instead
    of one to target (workers_cancel_txn.py picks its source ports)"""
    def __init__(self, target, user, db, sock=None):
        self.s = sock if sock is not None else connect(target)
        self.buf = b""
        body = struct.pack("!I", 3 << 16)
        body += b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        self.s.sendall(struct.pack("!I", len(body) + 4) + body)
        self.pid = self.key = None
        while True:
            typ, payload = self.read()
            if typ == "K":
                self.pid, self.key = struct.unpack("!II", payload[:8])
            elif typ == "E":
                raise RuntimeError("login error: " + fields(payload))
            elif typ == "Z":
                break

    def read(self):
        """one message, blocking up to the socket's timeout"""
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack("!I", self.buf[1:5])[0]
                if len(self.buf) >= 1 + n:
                    typ, payload = chr(self.buf[0]), self.buf[5:1 + n]
                    self.buf = self.buf[1 + n:]
                    return typ, payload
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("session closed")
            self.buf += chunk


def fields(payload):
    return payload.replace(b"\0", b"|").decode(errors="replace")


def sqlstate(payload):
    for f in payload.split(b"\0"):
        if f[:1] == b"C":
            return f[1:].decode()
    return "?"


def round_trip(sessions, cancel_target, failures, close_early=False):
    """one round: returns the ms each query took to end after its cancel"""
    q = b"SELECT pg_sleep(30)\0"
    for se in sessions:
        se.s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    time.sleep(0.3)
    sent = {}
    cancels = []
    for se in sessions:
        c = connect(cancel_target)
        c.sendall(struct.pack("!IIII", 16, 80877102, se.pid, se.key))
        sent[se] = time.monotonic()
        if close_early:
            c.close()
        else:
            cancels.append(c)
    took = {}
    deadline = time.monotonic() + 5
    pending = set(sessions)
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select([se.s for se in pending], [], [], 0.2)
        for se in [x for x in pending if x.s in r]:
            se.s.settimeout(5)
            while True:     # to the ReadyForQuery, which may be buffered already
                typ, payload = se.read()
                if typ == "E":
                    if sqlstate(payload) != "57014" and not failures:
                        failures.append("not a cancel: " + fields(payload))
                    took[se] = (time.monotonic() - sent[se]) * 1000
                elif typ == "Z":
                    pending.discard(se)
                    break
    for se in pending:
        if not failures:
            failures.append("query of key %08x not canceled within 5 s" % se.pid)
        se.s.close()
        sessions.remove(se)
    for c in cancels:
        c.close()
    return [took.get(se, 99999) for se in sent]


def main():
    if sys.argv[1] == "key":        # key LOGIN USER DB: one session's BackendKeyData
        se = Session(sys.argv[2], sys.argv[3], sys.argv[4])
        print("%08x %08x" % (se.pid, se.key))
        return 0
    if sys.argv[1] == "cancel":     # cancel TARGET PID KEY (hex): one CancelRequest
        c = connect(sys.argv[2])
        c.sendall(struct.pack("!IIII", 16, 80877102, int(sys.argv[3], 16),
                              int(sys.argv[4], 16)))
        c.settimeout(5)
        print("answer: %r" % c.recv(100))
        return 0
    login, cancel, user, db, n, rounds = sys.argv[1:7]
    close_early = sys.argv[7:8] == ["close"]
    sessions = [Session(login, user, db) for _ in range(int(n))]
    failures = []
    times = []
    for _ in range(int(rounds)):
        times += round_trip(sessions, cancel, failures, close_early)
    slow = sum(1 for t in times if t >= 1000)
    canceled = sum(1 for t in times if t < 99999)
    print("cancels=%d canceled=%d slow=%d max_ms=%d" %
          (len(times), canceled, slow, max(times) if times else 0))
    if failures:
        print("first failure: " + failures[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
