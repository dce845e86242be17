#!/usr/bin/python3
"""tls_client.py - raw PostgreSQL protocol clients for scenarios_tls.sh (stdlib only)

  tls_client.py direct HOST PORT CAFILE alpn|noalpn USER DB
      a ClientHello first (PostgreSQL 17's sslnegotiation=direct), then a
      startup packet: prints "ready tls=VERSION alpn=..." or "closed: ..."
  tls_client.py pipelined HOST PORT USER DB
      SSLRequest and a startup packet in one write: prints what came back
  tls_client.py cancel HOST PORT CAFILE USER DB
      logs in over TLS, runs pg_sleep(20), cancels it over a second TLS
      connection: prints the error the query got and how long it took
  tls_client.py gssenc HOST PORT CAFILE USER DB
      GSSENCRequest (answered N), then SSLRequest and a login over TLS, as
      libpq does with gssencmode=prefer: prints both answers and "ready"
  tls_client.py peer-cert HOST PORT
      SSLRequest, handshake without verification: prints the SHA-256 of
      the certificate pgring presented
  tls_client.py first-bytes PORT N
      a server on 127.0.0.1:PORT for N connections: prints what each one
      began with ("sslrequest", "clienthello alpn=postgresql|none", or the
      bytes) and hangs up without a word, as PostgreSQL 15 does on a
      ClientHello
  tls_client.py tls-noalpn PORT CERT KEY
      a server on 127.0.0.1:PORT for one connection: a TLS handshake that
      selects no ALPN protocol, then waits for the peer to hang up
"""
import hashlib
import socket
import ssl
import struct
import sys
import time

SSL_REQUEST = struct.pack("!II", 8, 80877103)
TIMEOUT = 15


def startup(user, db):
    body = struct.pack("!I", 196608)
    body += b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_msg(s):
    hdr = recv_exact(s, 5)
    if hdr is None:
        return None, None
    n = struct.unpack("!I", hdr[1:5])[0]
    body = recv_exact(s, n - 4)
    if body is None:
        return None, None
    return hdr[0:1], body


def error_text(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[0:1]] = part[1:].decode(errors="replace")
    return "%s %s" % (fields.get(b"C", "?"), fields.get(b"M", "?"))


def until_ready(s):
    """Reads to ReadyForQuery; returns (pid, key) or raises with the error."""
    pid = key = None
    while True:
        t, body = recv_msg(s)
        if t is None:
            raise EOFError("connection closed")
        if t == b"E":
            raise RuntimeError(error_text(body))
        if t == b"K":
            pid, key = struct.unpack("!II", body)
        if t == b"Z":
            return pid, key


def context(cafile, alpn):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    if alpn:
        ctx.set_alpn_protocols(["postgresql"])
    return ctx


def tls_via_request(host, port, cafile):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.sendall(SSL_REQUEST)
    ans = recv_exact(s, 1)
    if ans != b"S":
        raise RuntimeError("SSLRequest answered %r" % ans)
    return context(cafile, False).wrap_socket(s, server_hostname="localhost")


def direct(host, port, cafile, alpn, user, db):
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    try:
        s = context(cafile, alpn == "alpn").wrap_socket(raw, server_hostname="localhost")
        s.sendall(startup(user, db))
        until_ready(s)
        print("ready tls=%s alpn=%s" % (s.version(), s.selected_alpn_protocol()))
    except (OSError, EOFError, RuntimeError) as e:
        print("closed: %s" % e)


def pipelined(host, port, user, db):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.sendall(SSL_REQUEST + startup(user, db))
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError as e:
        print("recv: %s" % e)
    if got[:1] == b"E":
        print("error: %s" % error_text(got[5:]))
    else:
        print("got %r" % got[:80])


def cancel(host, port, cafile, user, db):
    a = tls_via_request(host, port, cafile)
    a.sendall(startup(user, db))
    pid, key = until_ready(a)
    q = b"SELECT pg_sleep(20)\0"
    a.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    time.sleep(0.5)
    t0 = time.monotonic()
    b = tls_via_request(host, port, cafile)
    b.sendall(struct.pack("!IIII", 16, 80877102, pid, key))
    b.close()
    try:
        until_ready(a)
        print("not cancelled")
    except RuntimeError as e:
        print("query: %s after %d ms" % (e, (time.monotonic() - t0) * 1000))


def gssenc(host, port, cafile, user, db):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.sendall(struct.pack("!II", 8, 80877104))
    first = recv_exact(s, 1)
    s.sendall(SSL_REQUEST)
    second = recv_exact(s, 1)
    out = "gssenc=%r ssl=%r" % (first, second)
    if second == b"S":
        t = context(cafile, False).wrap_socket(s, server_hostname="localhost")
        t.sendall(startup(user, db))
        until_ready(t)
        out += " ready tls=%s" % t.version()
    print(out)


def peer_cert(host, port):
    s = tls_via_request(host, port, None)
    print(hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())


def first_bytes(port, n):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    deadline = time.monotonic() + 40
    for _ in range(n):
        ls.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            s, _ = ls.accept()
        except socket.timeout:
            print("no connection")
            break
        s.settimeout(TIMEOUT)
        head = recv_exact(s, 5) or b""
        if head[:1] == b"\x16" and len(head) == 5:
            # a TLS handshake record: the whole ClientHello, for its ALPN
            body = recv_exact(s, struct.unpack("!H", head[3:5])[0]) or b""
            print("clienthello alpn=%s" % ("postgresql" if b"\x0apostgresql" in body else "none"))
        elif head + (recv_exact(s, 3) or b"") == SSL_REQUEST:
            print("sslrequest")
        else:
            print("other %s" % head.hex())
        sys.stdout.flush()
        s.close()
    ls.close()


def tls_noalpn(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    ls.settimeout(40)
    s, _ = ls.accept()
    s.settimeout(TIMEOUT)
    try:
        t = ctx.wrap_socket(s, server_side=True)
        print("handshake alpn=%s" % t.selected_alpn_protocol())
        t.recv(1)
    except (OSError, ssl.SSLError) as e:
        print("closed: %s" % e)
    ls.close()


def main(argv):
    mode = argv[1]
    if mode == "direct":
        direct(argv[2], int(argv[3]), argv[4], argv[5], argv[6], argv[7])
    elif mode == "pipelined":
        pipelined(argv[2], int(argv[3]), argv[4], argv[5])
    elif mode == "cancel":
        cancel(argv[2], int(argv[3]), argv[4], argv[5], argv[6])
    elif mode == "gssenc":
        gssenc(argv[2], int(argv[3]), argv[4], argv[5], argv[6])
    elif mode == "peer-cert":
        peer_cert(argv[2], int(argv[3]))
    elif mode == "tls-noalpn":
        tls_noalpn(int(argv[2]), argv[3], argv[4])
    elif mode == "first-bytes":
        first_bytes(int(argv[2]), int(argv[3]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
