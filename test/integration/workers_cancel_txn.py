#!/usr/bin/python3
"""workers_cancel_txn.py PORT PROBE_DB PROXY_DB USER OPEN_FILE SPORTS - a cancel
that crosses workers and reaches PostgreSQL late must not cancel the next
client's query (transaction mode, pool_size=1, PROXY_DB behind
edge_proxy.py, whose second connect hangs until OPEN_FILE appears).

pgring's listeners share PORT by SO_REUSEPORT, which picks a worker by a
hash of the 4-tuple: a connection from a given source port always lands on
the same worker.  Sessions to PROBE_DB (not proxied) from chosen source
ports (SPORTS, comma-separated: the suite reserves them, as it does the
ports its servers listen on, so no other test's listener holds one) tell,
by the worker byte of their cancel key, where each port lands.
Then: A and B on worker X (the proxied server's), A runs pg_sleep(2), its
CancelRequest comes from a port of worker Y != X (Y asks X, then connects to
the proxy: the connect hangs), A's query ends, B's query runs on the same
server, the proxy opens: Y's cancel connection must be dropped (X answers
that A no longer holds the server).  Prints A's and B's outcome and
"cancel answered: ..."; standard library only, every wait bounded."""
import socket
import struct
import sys
import time

import peer_cancels

HOST = "127.0.0.1"


def connect_from(port, sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, sport))
    s.settimeout(15)
    s.connect((HOST, port))
    return s


def reset_close(s):
    """close with a RST: no TIME_WAIT keeps the source port"""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Session(peer_cancels.Session):
    """peer_cancels' raw session from a chosen source port, with queries"""
    def __init__(self, port, sport, user, db):
        super().__init__(None, user, db, sock=connect_from(port, sport))

    def send_query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)

    def result(self):
        """to the ReadyForQuery: 'error SQLSTATE' or the first row's last column"""
        out = "no rows"
        while True:
            typ, payload = self.read()
            if typ == "E":
                for f in payload.split(b"\0"):
                    if f[:1] == b"C":
                        out = "error " + f[1:].decode()
            elif typ == "D":
                ncol = struct.unpack("!H", payload[:2])[0]
                off = 2
                for _ in range(ncol):
                    n = struct.unpack("!i", payload[off:off + 4])[0]
                    val = payload[off + 4:off + 4 + max(n, 0)].decode()
                    off += 4 + max(n, 0)
                out = "row " + val
            elif typ == "Z":
                return out

    def close(self):
        self.s.sendall(b"X\0\0\0\4")
        reset_close(self.s)


def main():
    port, probe_db, proxy_db, user, open_file, sports = sys.argv[1:7]
    port = int(port)
    where = {}          # source port -> worker
    sports = [int(p) for p in sports.split(",")]
    base = sports[0]
    for sport in sports:
        se = Session(port, sport, user, probe_db)
        where[sport] = se.pid & 0xff
        se.close()
    workers = sorted(set(where.values()))
    if len(workers) < 2:
        print("only worker(s) %s seen" % workers)
        return 1
    x = where[base]
    on_x = [p for p in where if where[p] == x]
    on_y = [p for p in where if where[p] != x]
    if len(on_x) < 2:
        print("one port only on worker %d" % x)
        return 1
    a = Session(port, on_x[0], user, proxy_db)
    assert a.pid & 0xff == x, "port %d moved worker" % on_x[0]
    a.send_query("SELECT 1")        # the pool's one server logs in through the proxy
    print("A warm: " + a.result())
    time.sleep(0.5)                 # the proxy fills its queue
    a.send_query("SELECT pg_sleep(2), 'A'")
    time.sleep(0.3)
    c = connect_from(port, on_y[0])
    c.sendall(struct.pack("!IIII", 16, 80877102, a.pid, a.key))
    print("cancel from worker %d for worker %d" % (where[on_y[0]], x))
    print("A: " + a.result())
    b = Session(port, on_x[1], user, proxy_db)
    b.send_query("SELECT pg_sleep(4), 'B'")
    time.sleep(1)
    open(open_file, "w").close()    # the cancel's next SYN gets through
    print("B: " + b.result())
    c.settimeout(10)
    try:
        print("cancel answered: %r" % c.recv(100))
    except OSError as e:
        print("cancel answered: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
