#!/usr/bin/python3
"""workers_console.py - the admin console of a pgring with several workers is
one console (scenarios_workers_console.sh).  Clients are TCP connections,
which the kernel spreads over the workers; each check names the worker of a
client by its id's top 8 bits (SHOW CLIENTS' id column).

  workers_console.py CHECK PORT PGCONNINFO
  CHECK: lists | stats | pause | kill | set | disable
Exit 0 when the check holds, 1 with the reason on stdout.
"""
import sys
import threading
import time

import psycopg2

ADMIN = ("pgadmin", "adminpw")
USER = ("u_md5", "pw_md5")


class Fail(Exception):
    pass


def expect(what, got, want):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


def connect(port, db, user, pw, app):
    c = psycopg2.connect(host="127.0.0.1", port=port, dbname=db, user=user, password=pw,
                         application_name=app, connect_timeout=5)
    return c


def console(port, app="wc_admin"):
    c = connect(port, "pgbouncer", ADMIN[0], ADMIN[1], app)
    c.autocommit = True
    return c


def show(c, what):
    cur = c.cursor()
    cur.execute("SHOW " + what)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def row(rows, **keys):
    for r in rows:
        if all(str(r.get(k)) == str(v) for k, v in keys.items()):
            return r
    raise Fail("no row %r in %r" % (keys, rows))


def worker_of(cid):
    return int(cid) >> 56


def clients(port, n, app="wc"):
    cs = []
    for i in range(n):
        c = connect(port, "testdb", USER[0], USER[1], "%s%d" % (app, i))
        cs.append(c)
    return cs


def workers_by_app(adm):
    """application_name -> worker index, from SHOW CLIENTS"""
    return {r["application_name"]: worker_of(r["id"]) for r in show(adm, "CLIENTS")}


def pg_count(pg, where):
    p = psycopg2.connect(pg)
    try:
        cur = p.cursor()
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_md5' "
                    "AND datname = 'testdb'" + where)
        return cur.fetchone()[0]
    finally:
        p.close()


def settle(fn, secs=10):
    """fn() until it raises no Fail, for at most secs"""
    end = time.time() + secs
    while True:
        try:
            return fn()
        except Fail:
            if time.time() > end:
                raise
            time.sleep(0.2)


def check_lists(port, pg):
    adm = console(port)
    cs = clients(port, 40)
    intx = cs[:8]
    for c in intx:
        c.cursor().execute("SELECT 1")    # a transaction open: it holds a server
    rows = show(adm, "CLIENTS")
    ids = [r["id"] for r in rows]
    expect("ids unique", len(set(ids)), len(ids))
    mine = [r for r in rows if r["database"] == "testdb"]
    expect("testdb clients in SHOW CLIENTS", len(mine), 40)
    expect("SHOW CLIENTS rows (40 + the console)", len(rows), 41)
    expect("each client once", sorted(r["application_name"] for r in mine),
           sorted("wc%d" % i for i in range(40)))
    spread = {worker_of(i) for i in ids}
    print("clients on workers %s" % sorted(spread))
    if len(spread) < 2:
        raise Fail("40 clients all on one worker: the check proves nothing")

    def pools():
        p = row(show(adm, "POOLS"), database="testdb", user="u_md5")
        expect("cl_active", p["cl_active"], 40)
        expect("sv_login", p["sv_login"], 0)
        expect("sv_active (transactions open)", p["sv_active"], 8)
        expect("sv_active = idle in transaction in pg_stat_activity", p["sv_active"],
               pg_count(pg, " AND state = 'idle in transaction'"))
        servers = p["sv_active"] + p["sv_idle"] + p["sv_used"] + p["sv_login"]
        expect("sv_* = pg_stat_activity", servers, pg_count(pg, ""))
        return servers
    servers = settle(pools)
    d = row(show(adm, "DATABASES"), name="testdb")
    expect("SHOW DATABASES current_client_connections", d["current_client_connections"], 40)
    expect("SHOW DATABASES current_connections", d["current_connections"], servers)
    u = row(show(adm, "USERS"), name="u_md5")
    expect("SHOW USERS current_client_connections", u["current_client_connections"], 40)
    expect("SHOW LISTS used_clients", row(show(adm, "LISTS"), list="used_clients")["items"], 41)
    sv = [r for r in show(adm, "SERVERS") if r["database"] == "testdb"]
    expect("SHOW SERVERS rows", len(sv), servers)
    expect("server ids unique", len({r["id"] for r in sv}), len(sv))
    io = show(adm, "IO")
    expect("SHOW IO workers", [r["worker"] for r in io], ["0", "1", "2", "3", "total"])
    for col in ("submits", "sqes", "cqes", "recv_calls", "send_calls", "turns"):
        expect("SHOW IO total %s" % col, io[4][col], sum(r[col] for r in io[:4]))
    for c in intx:
        c.commit()
    print("40 clients once each, %d servers as pg_stat_activity has them" % servers)


def stat(adm, db, col):
    return int(row(show(adm, "STATS_TOTALS"), database=db)[col])


def check_stats(port, pg):
    adm = console(port)
    c0 = connect(port, "testdb", USER[0], USER[1], "warm")
    c0.autocommit = True
    c0.cursor().execute("SELECT 0")
    c0.close()
    q0, x0 = stat(adm, "testdb", "query_count"), stat(adm, "testdb", "xact_count")
    s0 = int(row(show(adm, "STATS"), database="testdb")["total_query_count"])
    spread = set()
    for i in range(30):
        c = connect(port, "testdb", USER[0], USER[1], "st%d" % i)
        c.autocommit = True
        cur = c.cursor()
        cur.execute("SELECT pg_backend_pid()")
        for k in range(3):
            cur.execute("SELECT %d" % k)
        c.close()
    q1, x1 = stat(adm, "testdb", "query_count"), stat(adm, "testdb", "xact_count")
    s1 = int(row(show(adm, "STATS"), database="testdb")["total_query_count"])
    print("query_count %d -> %d, xact_count %d -> %d" % (q0, q1, x0, x1))
    expect("STATS_TOTALS query_count moved by", q1 - q0, 120)
    expect("STATS_TOTALS xact_count moved by", x1 - x0, 120)
    expect("STATS total_query_count moved by", s1 - s0, 120)
    # TOTALS is the sum over the databases, the console's included
    tot = int(row(show(adm, "TOTALS"), name="total_query_count")["value"])
    per_db = sum(int(r["query_count"]) for r in show(adm, "STATS_TOTALS"))
    # that SHOW STATS_TOTALS counted itself once more on the console
    expect("TOTALS = sum of STATS_TOTALS", per_db - 1, tot)
    del spread


class Bg(threading.Thread):
    """runs sql on conn in a thread; done (and error) when it returned"""

    def __init__(self, conn, sql):
        super().__init__(daemon=True)
        self.conn, self.sql, self.done, self.error = conn, sql, False, None
        self.start()

    def run(self):
        try:
            self.conn.cursor().execute(self.sql)
        except Exception as e:      # noqa: BLE001 - reported by the caller
            self.error = e
        self.done = True


def check_pause(port, pg):
    adm = console(port)
    cs = clients(port, 16)
    for c in cs:
        c.cursor().execute("SELECT 1")    # each in a transaction, on its worker
    where = workers_by_app(adm)
    me = where["wc_admin"]
    mine = [c for i, c in enumerate(cs) if where.get("wc%d" % i) == me]
    others = [c for i, c in enumerate(cs) if where.get("wc%d" % i) != me]
    print("console on worker %d; %d transactions there, %d on other workers"
          % (me, len(mine), len(others)))
    if not others:
        raise Fail("every client landed on the console's worker: the check proves nothing")
    pause = Bg(adm, "PAUSE testdb")
    time.sleep(1)
    if pause.done:
        raise Fail("PAUSE answered with 16 transactions open (%r)" % pause.error)
    for c in mine:
        c.commit()
    time.sleep(1)
    for c in others[:-1]:
        if pause.done:
            raise Fail("PAUSE answered with a transaction still open on another worker")
        c.commit()
    time.sleep(1)
    if pause.done:
        raise Fail("PAUSE answered with the last transaction (another worker's) still open")
    others[-1].commit()
    pause.join(10)
    if not pause.done or pause.error:
        raise Fail("PAUSE did not answer once every transaction ended (%r)" % pause.error)
    expect("servers of testdb left", pg_count(pg, ""), 0)
    # paused on every worker: each client's next query waits
    held = [Bg(c, "SELECT 2") for c in cs]
    time.sleep(1)
    if any(b.done for b in held):
        raise Fail("a query went through while paused")
    expect("SHOW DATABASES paused", row(show(adm, "DATABASES"), name="testdb")["paused"], 1)
    adm2 = console(port, "wc_admin2")
    adm2.cursor().execute("RESUME testdb")
    for b in held:
        b.join(10)
        if not b.done or b.error:
            raise Fail("a held query did not finish after RESUME (%r)" % b.error)
    print("PAUSE answered only once the last transaction ended; RESUME released all")


def check_kill(port, pg):
    adm = console(port)
    cs = clients(port, 16)
    for c in cs[:4]:
        c.cursor().execute("SELECT 1")
    where = workers_by_app(adm)
    missing = [i for i in range(16) if "wc%d" % i not in where]
    if missing:
        raise Fail("clients %r not in SHOW CLIENTS" % missing)
    me = where["wc_admin"]
    other = [i for i in range(16) if where["wc%d" % i] != me]
    if not other:
        raise Fail("every client landed on the console's worker: the check proves nothing")
    # KILL_CLIENT of another worker's client
    k = other[0]
    cid = row(show(adm, "CLIENTS"), application_name="wc%d" % k)["id"]
    adm.cursor().execute("KILL_CLIENT %s" % cid)
    settle(lambda: expect("killed client gone",
                          [r for r in show(adm, "CLIENTS") if r["application_name"] == "wc%d" % k],
                          []))
    try:
        cs[k].cursor().execute("SELECT 1")
        raise Fail("the killed client still runs queries")
    except psycopg2.Error:
        pass
    adm.cursor().execute("KILL testdb")
    settle(lambda: expect("testdb clients after KILL",
                          [r for r in show(adm, "CLIENTS") if r["database"] == "testdb"], []))
    settle(lambda: expect("servers after KILL", pg_count(pg, ""), 0))
    expect("paused after KILL", row(show(adm, "DATABASES"), name="testdb")["paused"], 1)
    adm.cursor().execute("RESUME testdb")
    for i in range(8):
        c = connect(port, "testdb", USER[0], USER[1], "after%d" % i)
        c.autocommit = True
        c.cursor().execute("SELECT 1")
        c.close()
    print("KILL_CLIENT across workers, KILL of every worker's clients, RESUME everywhere")


def check_disable(port, pg):
    """DISABLE refuses new clients on every worker, ENABLE lets them in;
    RECONNECT then WAIT_CLOSE waits for the servers of every worker"""
    adm = console(port)
    adm.cursor().execute("DISABLE testdb")
    refused = 0
    for i in range(12):
        try:
            connect(port, "testdb", USER[0], USER[1], "dis%d" % i).close()
        except psycopg2.OperationalError as e:
            if "is disabled" not in str(e):
                raise
            refused += 1
    expect("new clients refused while disabled", refused, 12)
    adm.cursor().execute("ENABLE testdb")
    cs = clients(port, 12)
    for c in cs:
        c.cursor().execute("SELECT 1")    # each holds a server in a transaction
    where = workers_by_app(adm)
    me = where["wc_admin"]
    others = [c for i, c in enumerate(cs) if where["wc%d" % i] != me]
    mine = [c for i, c in enumerate(cs) if where["wc%d" % i] == me]
    if not others:
        raise Fail("every client landed on the console's worker: the check proves nothing")
    adm.cursor().execute("RECONNECT testdb")
    wait = Bg(adm, "WAIT_CLOSE testdb")
    for c in mine + others[:-1]:
        c.commit()
    time.sleep(1)
    if wait.done:
        raise Fail("WAIT_CLOSE answered with a server of another worker not yet closed")
    others[-1].commit()
    wait.join(10)
    if not wait.done or wait.error:
        raise Fail("WAIT_CLOSE did not answer once every server was released (%r)" % wait.error)
    print("DISABLE/ENABLE on every worker; WAIT_CLOSE waited for every worker's servers")


def config_everywhere(port, key, n=16):
    """SHOW CONFIG's value of key as each of n console connections sees it:
    SHOW CONFIG is answered by the worker a console lands on"""
    seen = {}
    for i in range(n):
        c = console(port, "cfg%d" % i)
        me = worker_of(row(show(c, "CLIENTS"), application_name="cfg%d" % i)["id"])
        seen.setdefault(me, set()).add(row(show(c, "CONFIG"), key=key)["value"])
        c.close()
    return seen


def check_set(port, pg):
    """two consoles on two workers SET two keys at once, 25 times each: every
    worker ends with both last values (no SET lost), each SET answered only
    once every worker has it"""
    a = console(port, "set_a")
    b = None
    wa = worker_of(row(show(a, "CLIENTS"), application_name="set_a")["id"])
    for i in range(20):
        c = console(port, "set_b%d" % i)
        if worker_of(row(show(c, "CLIENTS"), application_name="set_b%d" % i)["id"]) != wa:
            b = c
            break
        c.close()
    if b is None:
        raise Fail("no second console on another worker in 20 tries")
    errors = []

    def run(c, key, base):
        try:
            for i in range(1, 26):
                c.cursor().execute("SET %s = %d" % (key, base + i))
        except psycopg2.Error as e:
            errors.append(e)
    ta = threading.Thread(target=run, args=(a, "default_pool_size", 0))
    tb = threading.Thread(target=run, args=(b, "max_client_conn", 500))
    ta.start()
    tb.start()
    ta.join(60)
    tb.join(60)
    if errors:
        raise Fail("SET failed: %r" % errors)
    for key, want in (("default_pool_size", "25"), ("max_client_conn", "525")):
        seen = config_everywhere(port, key)
        print("%s by worker: %r" % (key, seen))
        if len(seen) < 2:
            raise Fail("the consoles all landed on one worker: the check proves nothing")
        for w, vals in seen.items():
            expect("%s on worker %d" % (key, w), vals, {want})
    # answered only once every worker took it
    for i in range(5):
        a.cursor().execute("SET default_pool_size = %d" % (40 + i))
        for w, vals in config_everywhere(port, "default_pool_size", 8).items():
            expect("default_pool_size on worker %d right after SET" % w, vals, {str(40 + i)})


def main():
    check, port, pg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        {"lists": check_lists, "stats": check_stats, "pause": check_pause,
         "kill": check_kill, "set": check_set,
         "disable": check_disable}[check](port, pg)
    except Fail as e:
        print(e)
        return 1
    except psycopg2.Error as e:
        print("%s: %s" % (type(e).__name__, str(e).strip()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
