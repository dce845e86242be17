#!/usr/bin/python3
"""pre14_relay.py LISTEN_PORT TARGET_PORT - a TCP relay to PostgreSQL that
makes it look older than 14: of what the server says, the ParameterStatus
messages for in_hot_standby and default_transaction_read_only (reported from
14 on) are dropped, at login and after; TLS is declined.  Everything else
passes as it is.
Prints "listening" once it accepts. Ends after 600 s at most (the test stops
it sooner). Loopback only, standard library only."""
import socket
import sys
import threading
import time

HIDDEN = (b"in_hot_standby", b"default_transaction_read_only")
SSL_CODES = (80877103, 80877104)    # SSLRequest, GSSENCRequest


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


def hidden(msg):
    return msg[:1] == b"S" and bytes(msg[5:]).split(b"\0", 1)[0] in HIDDEN


def server_to_client(srv, cli):
    """Framed: type byte + int32 length (itself included) + body."""
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
                if not hidden(buf[:end]):
                    out += buf[:end]
                del buf[:end]
            if out:
                cli.sendall(out)
    except OSError:
        pass
    close_both(srv, cli)


def relay(conn, target):
    try:
        up = socket.create_connection(("127.0.0.1", target), timeout=5)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=client_to_server, args=(conn, up), daemon=True).start()
    threading.Thread(target=server_to_client, args=(up, conn), daemon=True).start()


def main():
    port, target = int(sys.argv[1]), int(sys.argv[2])
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
        relay(conn, target)


if __name__ == "__main__":
    main()
