#!/usr/bin/python3
"""edge_proxy.py LISTEN_PORT TARGET_PORT OPEN_FILE - a TCP relay to PostgreSQL
that takes ONE connection (pgring's server), then stops accepting and fills its
accept queue so that every later connect (a cancel connection) hangs in
SYN-SENT, until OPEN_FILE appears: from then on it relays every connection.
Prints "filled" once later connects hang. Ends after 120 s at most (the test
stops it sooner). Loopback only, standard library only."""
import os
import socket
import sys
import threading
import time


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay(conn, target):
    try:
        up = socket.create_connection(("127.0.0.1", target), timeout=5)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    for a, b in ((conn, up), (up, conn)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()


def main():
    port, target, open_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", port))
    lsn.listen(0)       # an accept queue of one: one filler makes it full
    print("listening", flush=True)
    conn, _ = lsn.accept()
    relay(conn, target)
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)
    print("filled", flush=True)
    deadline = time.time() + 120
    while not os.path.exists(open_file):
        if time.time() > deadline:
            return
        time.sleep(0.05)
    filler.close()
    lsn.settimeout(0.2)
    while time.time() < deadline:
        try:
            conn, _ = lsn.accept()
        except socket.timeout:
            continue
        relay(conn, target)


if __name__ == "__main__":
    main()
