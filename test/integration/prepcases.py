#!/usr/bin/python3
"""prepcases.py - raw-protocol cases for named prepared statements.

Usage: prepcases.py PORT CASE

Connects to 127.0.0.1:PORT as u_trust to testdb (trust authentication:
pgring's with auth_type = trust, or PostgreSQL's own), runs CASE and prints
one line per batch: the answers in order, as

    1 2 3 n t T D(value,...) C(tag) E(SQLSTATE message) Z(status)

Run against PostgreSQL and against pgring, the lines of a case must match:
that is what a transparent pooler means.  Cases the same bytes cannot show
on PostgreSQL alone (pgring's limits, pgring's statement names) print what
the scenario checks.  Standard library only; every wait is bounded.
"""
import socket
import struct
import sys
import time

TIMEOUT = 60


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def parse(name, sql, types=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(types))
               + b"".join(struct.pack("!I", t) for t in types))


def bind(portal, stmt, params=()):
    b = cstr(portal) + cstr(stmt) + struct.pack("!HH", 0, len(params))
    for p in params:
        p = p.encode() if isinstance(p, str) else p
        b += struct.pack("!I", len(p)) + p
    return msg(b"B", b + struct.pack("!H", 0))


def execute(portal="", rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!I", rows))


def describe(kind, name):
    return msg(b"D", kind + cstr(name))


def close(kind, name):
    return msg(b"C", kind + cstr(name))


def query(sql):
    return msg(b"Q", cstr(sql))


SYNC = msg(b"S")


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        body = struct.pack("!I", 196608) + cstr("user") + cstr("u_trust") + \
            cstr("database") + cstr("testdb") + b"\0"
        self.s.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            t, b = self.read()
            if t == b"E":
                raise RuntimeError("login failed: %r" % b)
            if t == b"R" and struct.unpack("!I", b[:4])[0] != 0:
                raise RuntimeError("not trust authentication")
            if t == b"Z":
                return

    def send(self, data):
        self.s.sendall(data)

    def read(self):
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!I", self.buf[1:5])[0]:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        n = struct.unpack("!I", self.buf[1:5])[0]
        t, b = self.buf[:1], self.buf[5:1 + n]
        self.buf = self.buf[1 + n:]
        return t, b

    def until_ready(self):
        out = []
        while True:
            t, b = self.read()
            if t in (b"N", b"S"):
                continue    # notices and parameter changes: not the protocol's answer
            out.append((t, b))
            if t == b"Z":
                return out

    def batch(self, *msgs, sync=True):
        self.send(b"".join(msgs) + (SYNC if sync else b""))
        return summarize(self.until_ready())

    def close(self):
        try:
            self.send(msg(b"X"))
        finally:
            self.s.close()


def fields(b):
    return {chr(p[0]): p[1:].decode(errors="replace") for p in b.split(b"\0") if p}


def value(v):
    return v if len(v) <= 20 else "<%d bytes>" % len(v)


def summarize(msgs):
    out = []
    for t, b in msgs:
        if t == b"E":
            f = fields(b)
            out.append("E(%s %s)" % (f.get("C"), f.get("M")))
        elif t == b"C":
            out.append("C(" + b.rstrip(b"\0").decode() + ")")
        elif t == b"Z":
            out.append("Z(" + b.decode() + ")")
        elif t == b"D":
            n, pos, vals = struct.unpack("!H", b[:2])[0], 2, []
            for _ in range(n):
                ln = struct.unpack("!i", b[pos:pos + 4])[0]
                pos += 4
                vals.append("NULL" if ln < 0 else value(b[pos:pos + ln].decode()))
                pos += max(ln, 0)
            out.append("D(" + ",".join(vals) + ")")
        else:
            out.append(t.decode())
    return " ".join(out)


def say(*lines):
    for line in lines:
        print(line, flush=True)


# ---- cases ----------------------------------------------------------------

def case_evict_after_error(port):
    """F1: with max_prepared_statements = 1 the Parse of s2 evicts s1 behind
    an error: PostgreSQL skips that Close, and s1 must still work."""
    c = Conn(port)
    say(c.batch(parse("s1", "select 1"), bind("", "s1"), execute()))
    say(c.batch(parse("", "select 1/0"), bind("", ""), execute(), parse("s2", "select 2")))
    say(c.batch(bind("", "s1"), execute()))
    say(c.batch(bind("", "s1"), execute()))
    # the same in a transaction block, whose error aborts it
    say(c.batch(parse("", "begin"), bind("", ""), execute(),
                parse("s3", "select 3"), bind("", "s3"), execute(),
                parse("", "select 1/0"), bind("", ""), execute(), parse("s4", "select 4")))
    say(c.batch(parse("", "rollback"), bind("", ""), execute()))
    say(c.batch(bind("", "s1"), execute(), bind("", "s3"), execute()))
    c.close()
    # another client of the same server gets the statements right too
    d = Conn(port)
    say(d.batch(parse("s1", "select 1"), bind("", "s1"), execute(),
                parse("s2", "select 2"), bind("", "s2"), execute()))
    say(d.batch(bind("", "s1"), execute(), bind("", "s2"), execute()))
    d.close()


def case_pipelined_after_error(port):
    """F1 across Syncs: the second pipeline is sent before the first one's
    error is known, and uses statements the first one evicted or prepared
    (max_prepared_statements = 1)."""
    c = Conn(port)
    say(c.batch(parse("s1", "select 1"), parse("s2", "select 2")))
    two = (parse("", "select 1/0") + bind("", "") + execute() + bind("", "s1") + execute() + SYNC
           + bind("", "s1") + execute() + bind("", "s2") + execute() + SYNC)
    c.send(two)
    say(summarize(c.until_ready()), summarize(c.until_ready()))
    two = (parse("", "select 1/0") + bind("", "") + execute() + parse("s3", "select 3") + SYNC
           + bind("", "s2") + execute() + bind("", "s1") + execute() + SYNC)
    c.send(two)
    say(summarize(c.until_ready()), summarize(c.until_ready()))
    say(c.batch(bind("", "s3"), execute()))
    say(c.batch(bind("", "s1"), execute(), bind("", "s2"), execute()))
    # names the first pipeline Parses or Closes behind its error
    two = (parse("", "select 1/0") + bind("", "") + execute() + parse("s5", "select 5")
           + close(b"S", "s1") + SYNC + bind("", "s5") + execute() + parse("s1", "select 6")
           + SYNC + parse("s5", "select 7") + bind("", "s5") + execute() + SYNC)
    c.send(two)
    say(" | ".join(summarize(c.until_ready()) for _ in range(3)))
    # the client's Sync comes after the error has
    c.send(bind("", "s1") + execute() + parse("", "select 1/0") + bind("", "") + execute())
    time.sleep(0.2)
    c.send(close(b"S", "s1") + parse("s8", "select 8") + bind("", "s8") + execute() + SYNC)
    say(summarize(c.until_ready()))
    say(c.batch(bind("", "s1"), execute(), parse("s8", "select 8"), bind("", "s8"), execute()))
    c.close()
    d = Conn(port)
    for _ in range(2):
        say(d.batch(parse("s1", "select 1"), bind("", "s1"), execute(),
                    parse("s2", "select 2"), bind("", "s2"), execute()))
        say(d.batch(close(b"S", "s1"), close(b"S", "s2")))
    d.close()


def case_client_close_skipped(port):
    """A client's Close skipped after an error: the name still exists."""
    c = Conn(port)
    say(c.batch(parse("s1", "select 11")))
    say(c.batch(parse("", "select 1/0"), bind("", ""), execute(), close(b"S", "s1")))
    say(c.batch(bind("", "s1"), execute()))
    say(c.batch(close(b"S", "s1"), parse("s1", "select 12"), bind("", "s1"), execute()))
    c.close()


def case_dealloc_pgring_name(port):
    """F1: a client deallocates pgring's statement by its server name (A);
    the next client on that server (B) must not notice.  Prints B's lines."""
    a = Conn(port)
    a.batch(parse("s1", "select 21"), bind("", "s1"), execute())
    names = a.batch(query("select string_agg(name, ',') from pg_prepared_statements"), sync=False)
    name = names[names.index("D(") + 2:names.index(")")].split(",")[0]
    a.batch(query('deallocate "%s"' % name), sync=False)
    a.batch(close(b"S", name))      # a Close by that name must not reach the server
    b = Conn(port)
    for _ in range(2):
        say(b.batch(parse("s1", "select 21"), bind("", "s1"), execute()))
        say(b.batch(bind("", "s1"), execute()))
        b.batch(close(b"S", "s1"))
    b.close()
    a.close()


def case_parse_twice(port):
    """F14: a second Parse of a name answers 42P05 where PostgreSQL does."""
    c = Conn(port)
    say(c.batch(parse("s1", "select 1")))
    say(c.batch(parse("s1", "select 2"), bind("", "s1"), execute()))
    say(c.batch(bind("", "s1"), execute()))
    say(c.batch(parse("s1", "select 1")))               # the same text: still an error
    say(c.batch(parse("s1", "selec 2")))                # a syntax error comes first
    say(c.batch(parse("s1", "select * from no_such_table")))
    say(c.batch(parse("", "begin"), bind("", ""), execute(), parse("s1", "select 3"),
                bind("", "s1"), execute()))
    say(c.batch(parse("", "select 5"), bind("", ""), execute()))   # aborted block
    say(c.batch(parse("", "rollback"), bind("", ""), execute()))
    say(c.batch(close(b"S", "s1"), parse("s1", "select 4"), bind("", "s1"), execute()))
    say(c.batch(parse("s2", "select 6"), parse("s2", "select 7"), bind("", "s2"), execute()))
    say(c.batch(bind("", "s2"), execute()))
    c.close()


def case_bind_large(port):
    """F5: a Bind on a named statement with a 2 MiB parameter, and a 2 MiB
    Parse; a Bind header that arrives alone."""
    big = "x" * (2 << 20)
    c = Conn(port)
    say(c.batch(parse("s1", "select length($1::text)"), describe(b"S", "s1")))
    say(c.batch(bind("", "s1", [big]), execute()))
    say(c.batch(bind("", "s1", ["abc"]), execute(), bind("p1", "s1", [big]),
                describe(b"P", "p1"), execute("p1"), bind("", "s1", [big[:70000]]), execute()))
    say(c.batch(parse("s2", "select length('%s')" % big), bind("", "s2"), execute()))
    say(c.batch(bind("", "s2"), execute()))
    # the header and the first bytes of the body in separate segments
    c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    m = bind("", "s1", [big]) + execute() + SYNC
    for cut in (3, 8, 12):
        c.send(m[:cut])
        time.sleep(0.1)
        c.send(m[cut:])
        say(summarize(c.until_ready()))
    say(c.batch(close(b"S", "s1"), close(b"S", "s2"), bind("", "s1", ["a"]), execute()))
    c.close()


def case_many_parses(port, n="300", size="100000"):
    """F9: a client makes many large named Parses.  Prints how many got each
    answer (pgring's limit is the scenario's to check), then that the
    connection still works, in and out of a transaction block."""
    c = Conn(port)
    counts = {}
    first_err = None
    for i in range(int(n)):
        r = c.batch(parse("big%d" % i, "select %d /* %s */" % (i, "y" * int(size))))
        counts[r] = counts.get(r, 0) + 1
        if r.startswith("E") and first_err is None:
            first_err = i
    for r, k in sorted(counts.items()):
        say("%d x %s" % (k, r))
    say("first error at %s" % first_err)
    say(c.batch(parse("late", "select 'y' /* %s */" % ("z" * int(size))), bind("", "late"),
                execute()))
    say(c.batch(parse("", "begin"), bind("", ""), execute()))
    say(c.batch(parse("late", "select 'y' /* %s */" % ("z" * int(size)))))
    say(c.batch(parse("", "rollback"), bind("", ""), execute()))
    say(c.batch(parse("", "select 42"), bind("", ""), execute()))
    say(c.batch(bind("", "big0"), execute()))
    c.close()


def case_parse_over_limit(port):
    """F5/F9: a 2 MiB Parse over max_client_prepared_bytes, and the
    connection after it."""
    c = Conn(port)
    say(c.batch(parse("s1", "select length('%s')" % ("q" * (2 << 20))), bind("", "s1"), execute()))
    say(c.batch(parse("s1", "select 1"), bind("", "s1"), execute()))
    c.close()


def message_boundary(data, n):
    """The offset after the n-th message of data (or its end)"""
    pos = 0
    while n > 0 and pos < len(data):
        pos += 1 + struct.unpack("!I", data[pos + 1:pos + 5])[0]
        n -= 1
    return pos


def case_random(port, seed="1", rounds="150"):
    """Random pipelines of named Parse/Bind/Describe/Close with errors, up to
    three Syncs each, from two clients taking turns: with max_prepared_statements
    small, pgring evicts and re-prepares all the time.  The answers must be
    PostgreSQL's.  (Not generated: a pipeline that uses a name Parsed before
    one of its own Syncs; pgring cannot know whether that Parse will run.)"""
    import random
    rnd = random.Random(int(seed))
    conns = [Conn(port), Conn(port)]
    for r in range(int(rounds)):
        c = conns[rnd.randrange(2)]
        out, pending = b"", set()
        for b in range(rnd.choice((1, 1, 2, 3))):
            for _ in range(rnd.randint(1, 5)):
                name = "s%d" % rnd.randrange(5)
                op = rnd.random()
                if op < 0.3:
                    out += parse(name, "select %d" % rnd.randrange(6))
                    pending.add(name)
                elif op < 0.6 and name not in pending:
                    out += bind("", name) + execute()
                elif op < 0.7 and name not in pending:
                    out += describe(b"S", name)
                elif op < 0.85:
                    out += close(b"S", name)
                    pending.add(name)
                elif op < 0.93:
                    out += parse("", "select 1/0") + bind("", "") + execute()
                else:
                    out += parse("", "select 7") + bind("", "") + execute()
            out += SYNC
        if rnd.random() < 0.2:
            # in two writes: an error may come before the Sync does
            cut = rnd.randrange(1, out.count(b"\0\0\0") + 1)
            pos = message_boundary(out, cut)
            c.send(out[:pos])
            time.sleep(0.02)
            c.send(out[pos:])
        else:
            c.send(out)
        say("%d: %s" % (r, " | ".join(summarize(c.until_ready()) for _ in range(out.count(SYNC)))))
    for c in conns:
        c.close()


def case_dealloc_all_reuse(port):
    """psycopg 3: after DEALLOCATE ALL or DISCARD ALL (simple queries, as
    psycopg sends them) it prepares the same names again and uses them."""
    c = Conn(port)
    for stmt in ("DEALLOCATE ALL", "DISCARD ALL", "deallocate all"):
        for n in range(2):
            say(c.batch(parse("_pg3_%d" % n, "select %d + $1::int" % n), bind("", "_pg3_%d" % n, ["1"]),
                        execute()))
        say(c.batch(query(stmt), sync=False))
        for n in range(2):
            say(c.batch(parse("_pg3_%d" % n, "select %d * 10 + $1::int" % n),
                        bind("", "_pg3_%d" % n, ["2"]), execute()))
            say(c.batch(bind("", "_pg3_%d" % n, ["3"]), execute()))
        say(c.batch(query("DEALLOCATE ALL"), sync=False))
    say(c.batch(bind("", "_pg3_0", ["4"]), execute()))     # gone: 26000
    c.close()


def case_parse_fail_reuse(port):
    """A named Parse that fails inside a pipeline leaves no statement: the
    same name is parsed again, in the next pipeline and in the same one."""
    c = Conn(port)
    say(c.batch(parse("s1", "select no_such_column"), bind("", "s1"), execute(),
                parse("s2", "select 2")))
    say(c.batch(parse("s1", "select 1"), bind("", "s1"), execute()))
    say(c.batch(parse("s2", "select 22"), bind("", "s2"), execute()))
    say(c.batch(parse("s3", "select 1/"), sync=True))
    say(c.batch(parse("s3", "select 3"), bind("", "s3"), execute(), describe(b"S", "nosuch")))
    say(c.batch(bind("", "s3"), execute()))
    c.close()


CASES = {
    "random": case_random,
    "evict_after_error": case_evict_after_error,
    "client_close_skipped": case_client_close_skipped,
    "pipelined_after_error": case_pipelined_after_error,
    "dealloc_pgring_name": case_dealloc_pgring_name,
    "parse_twice": case_parse_twice,
    "bind_large": case_bind_large,
    "many_parses": case_many_parses,
    "parse_over_limit": case_parse_over_limit,
    "dealloc_all_reuse": case_dealloc_all_reuse,
    "parse_fail_reuse": case_parse_fail_reuse,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in CASES:
        sys.exit("usage: prepcases.py PORT CASE [ARGS] (cases: %s)" % " ".join(CASES))
    try:
        CASES[sys.argv[2]](int(sys.argv[1]), *sys.argv[3:])
    except (OSError, EOFError, RuntimeError) as e:
        say("failed: %s" % e)
        sys.exit(1)
