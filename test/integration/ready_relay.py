#!/usr/bin/python3
"""ready_relay.py LISTEN_PORT TARGET_PORT MODE - a TCP relay to PostgreSQL
that spoils the ReadyForQuery after any DataRow holding "bad_ready": MODE
"status" sends status byte X instead of I/T/E, "empty" a ReadyForQuery with
no status at all; MODE "login" spoils the login's (status X).  Everything else passes as it is; TLS is declined.
Prints "listening" once it accepts. Ends after 600 s at most (the test stops
it sooner). Loopback only, standard library only."""
import socket
import sys
import threading
import time

SSL_CODES = (80877103, 80877104)    # SSLRequest, GSSENCRequest
MARK = b"bad_ready"


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def client_to_server(cli, srv):
    """Raw, but an SSLRequest (or GSSENCRequest) first is answered "N" here:
    what the server says must stay readable."""
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


def spoiled(mode):
    return b"Z\0\0\0\x04" if mode == "empty" else b"Z\0\0\0\x05X"


def server_to_client(srv, cli, mode):
    """Framed: type byte + int32 length (itself included) + body (a server
    sends only typed messages)."""
    buf = bytearray()
    armed = mode == "login"
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
                msg = bytes(buf[:end])
                del buf[:end]
                if msg[:1] == b"D" and MARK in msg:
                    armed = True
                if msg[:1] == b"Z" and armed:
                    msg, armed = spoiled(mode), False
                out += msg
            if out:
                cli.sendall(out)
    except OSError:
        pass
    close_both(srv, cli)


def relay(conn, target, mode):
    try:
        up = socket.create_connection(("127.0.0.1", target), timeout=5)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=client_to_server, args=(conn, up), daemon=True).start()
    threading.Thread(target=server_to_client, args=(up, conn, mode), daemon=True).start()


def main():
    port, target, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
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
        relay(conn, target, mode)


if __name__ == "__main__":
    main()
