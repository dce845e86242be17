#!/usr/bin/python3
"""scram_probe.py - raw-protocol logins for scenarios_kdf.sh and bench/run.sh:
what libpq will not show (the SCRAM challenge itself) or do (a flood of
unfinished SASL exchanges, many logins at once from one process).

Usage: scram_probe.py PORT COMMAND ARGS...   (host 127.0.0.1, or the unix
socket .s.PGSQL.PORT in the directory $PROBE_HOST: pgring keeps those clients
on worker 0)

  first USER DB N           N logins that stop after the server's first SCRAM
                            message: one line each, "code=10 s=SALT i=ITER ms=T"
                            (T: SASLInitialResponse to its answer), or
                            "code=C" when the first request is not SASL
  flood USER DB SECONDS     as many unfinished SASL-first exchanges as one
                            thread can make: prints "attempts=N"
  plainburst USER DB PW N   N connections ask at once, then all send the
                            cleartext password PW (auth_type = plain): prints
                            "ok=A failed=B refused=C other=D"
  plaindrop USER DB PW N    the same, but they hang up right after the password
  scramburst USER DB PW N   N SCRAM logins at once, each on a connection of its
                            own and thread of its own, then SELECT 1: prints
                            "ok=A failed=B other=C", and the first surprise
  latency USER DB PW SECS   logs in (cleartext or md5), runs SELECT 1 for SECS:
                            prints "n=N p50_ms=X p99_ms=Y max_ms=Z"
  verifier PASSWORD ITER    prints a SCRAM-SHA-256 verifier (no server needed)

Every socket has a 60 s timeout; exit 1 on a protocol surprise.
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading
import time

HOST = os.environ.get("PROBE_HOST") or "127.0.0.1"


def startup(user, db):
    body = struct.pack("!i", 196608)
    for k, v in (("user", user), ("database", db)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_msg(s):
    head = recv_exact(s, 5)
    ln = struct.unpack("!i", head[1:])[0]
    return head[:1], recv_exact(s, ln - 4)


def msg(t, body):
    return t + struct.pack("!i", len(body) + 4) + body


def error_text(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode(errors="replace")
    return fields.get(b"M", "")


def connect(user, db, port):
    if HOST.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect("%s/.s.PGSQL.%d" % (HOST, port))
    else:
        s = socket.create_connection((HOST, port), timeout=60)
    s.sendall(startup(user, db))
    return s


def auth_code(s):
    t, body = read_msg(s)
    if t != b"R":
        raise RuntimeError("expected an authentication request, got %r %r" % (t, body[:80]))
    return struct.unpack("!i", body[:4])[0], body[4:]


def sasl_first(s):
    data = b"n,,n=,r=" + base64.b64encode(os.urandom(18))
    s.sendall(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(data)) + data))


def cmd_first(port, user, db, n):
    for _ in range(int(n)):
        s = connect(user, db, port)
        code, _ = auth_code(s)
        if code != 10:
            print("code=%d" % code)
            s.close()
            continue
        t0 = time.monotonic()
        sasl_first(s)
        code, data = auth_code(s)
        ms = (time.monotonic() - t0) * 1000
        attrs = dict(a.split("=", 1) for a in data.decode().split(","))
        print("code=10 s=%s i=%s ms=%.3f" % (attrs["s"], attrs["i"], ms))
        s.close()


def cmd_flood(port, user, db, secs):
    end = time.monotonic() + float(secs)
    n = 0
    while time.monotonic() < end:
        s = connect(user, db, port)
        try:
            code, _ = auth_code(s)
            if code == 10:
                sasl_first(s)
                auth_code(s)
        except (EOFError, OSError, RuntimeError):
            pass
        s.close()
        n += 1
    print("attempts=%d" % n)


def outcome(s):
    try:
        while True:
            t, body = read_msg(s)
            if t == b"R" and struct.unpack("!i", body[:4])[0] == 0:
                return "ok"
            if t == b"E":
                m = error_text(body)
                if "too many logins waiting" in m:
                    return "refused"
                if "password authentication failed" in m:
                    return "failed"
                return "other"
    except (EOFError, OSError):
        return "other"


def cmd_plainburst(port, user, db, pw, n):
    socks = [connect(user, db, port) for _ in range(int(n))]
    for s in socks:
        code, _ = auth_code(s)
        if code != 3:
            raise RuntimeError("expected a cleartext password request, got %d" % code)
    for s in socks:
        s.sendall(msg(b"p", pw.encode() + b"\0"))
    res = {"ok": 0, "failed": 0, "refused": 0, "other": 0}
    for s in socks:
        res[outcome(s)] += 1
        s.close()
    print("ok=%(ok)d failed=%(failed)d refused=%(refused)d other=%(other)d" % res)


def scram_login(s, pw):
    """RFC 5802 client side over an AuthenticationSASL already read."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=,r=" + nonce
    data = ("n,," + bare).encode()
    s.sendall(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(data)) + data))
    code, sfirst = auth_code(s)
    if code != 11:
        raise RuntimeError("expected SASLContinue, got %d" % code)
    attrs = dict(a.split("=", 1) for a in sfirst.decode().split(","))
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    final = "c=biws,r=" + attrs["r"]
    authmsg = ",".join([bare, sfirst.decode(), final]).encode()
    sig = hmac.new(hashlib.sha256(ck).digest(), authmsg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    final += ",p=" + base64.b64encode(proof).decode()
    s.sendall(msg(b"p", final.encode()))


def cmd_plaindrop(port, user, db, pw, n):
    """N cleartext logins that hang up as soon as the password is sent."""
    socks = [connect(user, db, port) for _ in range(int(n))]
    for s in socks:
        auth_code(s)
        s.sendall(msg(b"p", pw.encode() + b"\0"))
    for s in socks:
        s.close()
    print("dropped=%d" % len(socks))


def login(port, user, db, pw):
    s = connect(user, db, port)
    code, data = auth_code(s)
    if code == 10:
        scram_login(s, pw)
    elif code == 3:
        s.sendall(msg(b"p", pw.encode() + b"\0"))
    elif code == 5:
        inner = hashlib.md5(pw.encode() + user.encode()).hexdigest()
        outer = "md5" + hashlib.md5(inner.encode() + data[:4]).hexdigest()
        s.sendall(msg(b"p", outer.encode() + b"\0"))
    elif code != 0:
        raise RuntimeError("auth code %d not handled" % code)
    while True:
        t, body = read_msg(s)
        if t == b"E":
            raise RuntimeError(error_text(body))
        if t == b"Z":
            return s


def cmd_latency(port, user, db, pw, secs):
    s = login(port, user, db, pw)
    lat = []
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        t0 = time.monotonic()
        s.sendall(msg(b"Q", b"SELECT 1\0"))
        while read_msg(s)[0] != b"Z":
            pass
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.002)
    lat.sort()
    print("n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f" %
          (len(lat), lat[len(lat) // 2], lat[min(len(lat) - 1, len(lat) * 99 // 100)], lat[-1]))


def cmd_scramburst(port, user, db, pw, n):
    res = {"ok": 0, "failed": 0, "other": 0}
    why = []
    lock = threading.Lock()

    def one():
        try:
            s = login(port, user, db, pw)
            s.sendall(msg(b"Q", b"SELECT 1\0"))
            while read_msg(s)[0] != b"Z":
                pass
            s.close()
            r = "ok"
        except RuntimeError as e:
            r = "failed" if "password authentication failed" in str(e) else "other"
            why.append(str(e))
        except (EOFError, OSError) as e:
            r = "other"
            why.append(repr(e))
        with lock:
            res[r] += 1

    ths = [threading.Thread(target=one) for _ in range(int(n))]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    print("ok=%(ok)d failed=%(failed)d other=%(other)d" % res +
          ("" if not why else " first=%r" % why[0]))


def cmd_verifier(pw, iters):
    salt = os.urandom(16)
    iters = int(iters)
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, iters)
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    sk = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()
    print("SCRAM-SHA-256$%d:%s$%s:%s" % (iters, b64(salt), b64(hashlib.sha256(ck).digest()), b64(sk)))


def main(argv):
    if len(argv) >= 3 and argv[1] == "verifier":
        cmd_verifier(argv[2], argv[3])
        return 0
    port, cmd, args = int(argv[1]), argv[2], argv[3:]
    cmds = {"first": cmd_first, "flood": cmd_flood, "plainburst": cmd_plainburst,
            "plaindrop": cmd_plaindrop, "scramburst": cmd_scramburst,
            "latency": cmd_latency}
    cmds[cmd](port, *args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as e:
        print("error: %s" % e)
        sys.exit(1)
