#!/usr/bin/python3
"""suspend_check.py MODE TARGET USER DB ADMIN - SUSPEND and RESUME on the
console (database pgbouncer, user ADMIN, trust) of the pooler at TARGET
("HOST:PORT"), with USER's sessions on DB. Standard library only; every wait
bounded. Prints what it saw, one "key=value" a line; exits 0 when the pooler
behaved as PgBouncer documents, 1 otherwise (with the reason).

MODE "query": a session runs a query, SUSPEND answers; the session sends a
query, which gets no answer for 1.5 s; a new connection attempt is not
served either; RESUME answers, then the query's right answer comes, and the
newcomer is served.

MODE "slow": a session asks for about 4 MB and does not read (a small
receive buffer); SUSPEND must not answer while the answer is still queued in
the pooler; the session then reads everything, and SUSPEND answers after
that (PgBouncer: "The command will not return before all buffers are
empty"); RESUME.

MODE "eof" (ADMIN ignored): logs in and closes without a Terminate, the
way the "unexpected EOF" check of scenarios_suspend.sh proves itself.

MODE "timeout": as "slow", but the session never reads: with suspend_timeout
= 1 SUSPEND answers after about a second and the session is closed."""
import socket
import struct
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Session:
    def __init__(self, target, user, db, rcvbuf=None):
        host, port = target.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect((host, int(port)))
        self.s = s
        self.buf = b""
        self.user, self.db = user, db

    def login(self):
        body = struct.pack("!I", 3 << 16)
        body += b"user\0" + self.user.encode() + b"\0database\0" + self.db.encode() + b"\0\0"
        self.s.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            typ, payload = self.read()
            if typ == "E":
                fail("login error: " + payload.replace(b"\0", b"|").decode(errors="replace"))
            if typ == "Z":
                return self

    def read(self, timeout=10):
        """one message, or None after timeout seconds without one"""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack("!I", self.buf[1:5])[0]
                if len(self.buf) >= 1 + n:
                    typ, payload = chr(self.buf[0]), self.buf[5:1 + n]
                    self.buf = self.buf[1 + n:]
                    return typ, payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            except ConnectionError:
                return ("closed", b"")
            if not chunk:
                return ("closed", b"")
            self.buf += chunk

    def send_query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)

    def result(self, timeout=10):
        """(tag or error, first value) of a simple query, up to ReadyForQuery"""
        tag, val = None, None
        while True:
            m = self.read(timeout)
            if m is None:
                return None
            typ, payload = m
            if typ == "closed":
                return ("closed", None)
            if typ == "D" and val is None:
                n = struct.unpack("!i", payload[2:6])[0]
                val = payload[6:6 + n].decode() if n >= 0 else None
            elif typ == "C":
                tag = payload.rstrip(b"\0").decode()
            elif typ == "E":
                tag = "ERROR " + payload.replace(b"\0", b"|").decode(errors="replace")
            elif typ == "Z":
                return (tag, val)


def console(target, admin):
    return Session(target, admin, "pgbouncer").login()


def mode_query(target, user, db, admin):
    se = Session(target, user, db).login()
    se.send_query("SELECT 'before'")
    r = se.result()
    if r != ("SELECT 1", "before"):
        fail("before SUSPEND: %r" % (r,))
    con = console(target, admin)
    con.send_query("SUSPEND")
    r = con.result(5)
    print("suspend=%r" % (r,))
    if r is None or r[0] != "SUSPEND":
        fail("SUSPEND did not answer within 5 s: %r" % (r,))
    se.send_query("SELECT 40 + 2")
    early = se.read(1.5)
    print("during_suspend=%r" % (early,))
    if early is not None:
        fail("the session was answered during SUSPEND: %r" % (early,))
    newcomer = Session(target, user, db)
    body = struct.pack("!I", 3 << 16) + b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    newcomer.s.sendall(struct.pack("!I", len(body) + 4) + body)
    early = newcomer.read(0.5)
    print("newcomer_during_suspend=%r" % (early,))
    if early is not None:
        fail("a new connection was served during SUSPEND: %r" % (early,))
    con.send_query("RESUME")
    r = con.result(5)
    print("resume=%r" % (r,))
    if r is None or r[0] != "RESUME":
        fail("RESUME: %r" % (r,))
    r = se.result(5)
    print("after_resume=%r" % (r,))
    if r != ("SELECT 1", "42"):
        fail("the query sent during SUSPEND: %r" % (r,))
    while True:
        m = newcomer.read(5)
        if m is None or m[0] in ("E", "closed"):
            fail("the newcomer after RESUME: %r" % (m,))
        if m[0] == "Z":
            break
    newcomer.send_query("SELECT 'newcomer'")
    r = newcomer.result(5)
    print("newcomer=%r" % (r,))
    if r != ("SELECT 1", "newcomer"):
        fail("the newcomer's query: %r" % (r,))


BIG = "SELECT repeat('x', 4000) FROM generate_series(1, 1000)"


def drain(se, timeout):
    """reads to ReadyForQuery; the number of rows"""
    rows = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = se.read(deadline - time.monotonic())
        if m is None or m[0] == "closed":
            return rows, m
        if m[0] == "D":
            rows += 1
        if m[0] == "Z":
            return rows, m
    return rows, None


def mode_slow(target, user, db, admin, never_read):
    se = Session(target, user, db, rcvbuf=4096).login()
    se.send_query(BIG)
    time.sleep(1.0)		# the pooler holds what the session does not take
    con = console(target, admin)
    t0 = time.monotonic()
    con.send_query("SUSPEND")
    if never_read:
        r = con.result(5)
        el = time.monotonic() - t0
        print("suspend=%r after_s=%.2f" % (r, el))
        if r is None or r[0] != "SUSPEND":
            fail("SUSPEND did not answer within 5 s with suspend_timeout = 1: %r" % (r,))
        if el < 0.8:
            fail("SUSPEND answered after %.2f s, before suspend_timeout" % el)
        rows, last = drain(se, 5)
        print("slow_rows=%d last=%r" % (rows, last))
        if rows >= 1000 or (last is not None and last[0] == "Z"):
            fail("the slow reader got its whole answer: it was not closed")
    else:
        early = con.read(1.5)
        print("suspend_while_queued=%r" % (early,))
        if early is not None:
            fail("SUSPEND answered while a client's answer was still queued: %r" % (early,))
        # the session reads now: SUSPEND answers once the pooler has passed
        # on all it holds (sockets freeze between messages, as PgBouncer's
        # do: the rest of the answer may wait in the kernel until RESUME)
        rows, done, answered, deadline = 0, False, None, time.monotonic() + 20
        while answered is None and time.monotonic() < deadline:
            m = se.read(0.05)
            while m is not None and m[0] in ("D", "T", "C", "Z"):
                rows += m[0] == "D"
                done = done or m[0] == "Z"
                m = se.read(0.05)
            if m is not None:
                fail("the slow reader got %r before SUSPEND answered" % (m,))
            answered = con.read(0.05)
        print("suspend=%r rows_read_by_then=%d" % (answered, rows))
        if answered is None or answered[0] != "C" or not answered[1].startswith(b"SUSPEND"):
            fail("SUSPEND did not answer once the session read: %r" % (answered,))
        if con.read(5) is None:
            fail("no ReadyForQuery after SUSPEND")
    con.send_query("RESUME")
    r = con.result(5)
    print("resume=%r" % (r,))
    if r is None or r[0] != "RESUME":
        fail("RESUME: %r" % (r,))
    if not never_read:
        more, last = drain(se, 20) if not done else (0, ("Z", b""))
        print("rows_after_resume=%d" % more)
        if rows + more != 1000 or last is None or last[0] != "Z":
            fail("the slow reader's answer: %d + %d rows, then %r" % (rows, more, last))
        se.send_query("SELECT 'after'")
        r = se.result(5)
        if r != ("SELECT 1", "after"):
            fail("after RESUME: %r" % (r,))


def main():
    mode, target, user, db, admin = sys.argv[1:6]
    if mode == "query":
        mode_query(target, user, db, admin)
    elif mode == "slow":
        mode_slow(target, user, db, admin, False)
    elif mode == "timeout":
        mode_slow(target, user, db, admin, True)
    elif mode == "eof":
        Session(target, user, db).login().s.close()
    else:
        fail("unknown mode " + mode)
    print("ok")


main()
