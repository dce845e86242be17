#!/usr/bin/python3
"""ready_relay.py LISTEN_PORT TARGET_PORT MODE - a TCP relay to PostgreSQL
that spoils the ReadyForQuery after any DataRow holding "bad_ready": MODE
"status" sends status byte X instead of I/T/E, "empty" a ReadyForQuery with
no status at all; MODE "login" spoils the login's (status X).  Everything else passes as it is; TLS is declined.
Prints "listening" once it accepts. Ends after 600 s at most (the test stops
it sooner). Loopback only, standard library only."""
import sys

import pgrelay

MARK = b"bad_ready"


def spoiler(mode):
    """A filter for one connection: armed by a marked DataRow (or, in login
    mode, from the start), it spoils the next ReadyForQuery."""
    armed = [mode == "login"]

    def filt(msg):
        if msg[:1] == b"D" and MARK in msg:
            armed[0] = True
        if msg[:1] == b"Z" and armed[0]:
            armed[0] = False
            return b"Z\0\0\0\x04" if mode == "empty" else b"Z\0\0\0\x05X"
        return msg
    return filt


def main():
    pgrelay.serve(int(sys.argv[1]), int(sys.argv[2]), lambda: spoiler(sys.argv[3]))


if __name__ == "__main__":
    main()
