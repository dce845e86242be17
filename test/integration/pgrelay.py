"""pgrelay.py - a TCP relay to PostgreSQL whose server-to-client side passes
each message through a filter: the plumbing of pre14_relay.py and
ready_relay.py.  TLS is declined (an SSLRequest or GSSENCRequest first is
answered "N" here), so that what the server says stays readable.  Loopback
only, standard library only."""
import socket
import threading
import time

SSL_CODES = (80877103, 80877104)    # SSLRequest, GSSENCRequest


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def client_to_server(cli, srv):
    """Raw, but an SSLRequest (or GSSENCRequest) first is answered "N"."""
    head = b""
    try:
        while True:
            data = cli.recv(65536)
            if not data:
                break
            if head is not None:
                head += data
                if len(head) < 8:
                    continue
                if len(head) == 8 and int.from_bytes(head[4:8], "big") in SSL_CODES:
                    cli.sendall(b"N")
                    head = b""
                    continue
                data, head = head, None
            srv.sendall(data)
    except OSError:
        pass
    close_both(cli, srv)


def server_to_client(srv, cli, filt):
    """Framed: type byte + int32 length (itself included) + body; filt(msg)
    gives the bytes to pass on for each whole message."""
    buf = bytearray()
    try:
        while True:
            data = srv.recv(65536)
            if not data:
                break
            buf += data
            out = bytearray()
            while len(buf) >= 5:
                end = 1 + int.from_bytes(buf[1:5], "big")
                if len(buf) < end:
                    break
                out += filt(bytes(buf[:end]))
                del buf[:end]
            if out:
                cli.sendall(out)
    except OSError:
        pass
    close_both(srv, cli)


def serve(port, target, make_filter):
    """Accepts on 127.0.0.1:port for 600 s at most, relaying each connection
    to target with a filter of its own (make_filter())."""
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", port))
    lsn.listen(64)
    lsn.settimeout(0.5)
    print("listening", flush=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            conn, _ = lsn.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        try:
            up = socket.create_connection(("127.0.0.1", target), timeout=5)
        except OSError:
            conn.close()
            continue
        up.settimeout(None)
        threading.Thread(target=client_to_server, args=(conn, up), daemon=True).start()
        threading.Thread(target=server_to_client, args=(up, conn, make_filter()),
                         daemon=True).start()
