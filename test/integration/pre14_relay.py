#!/usr/bin/python3
"""pre14_relay.py LISTEN_PORT TARGET_PORT - a TCP relay to PostgreSQL that
makes it look older than 14: of what the server says, the ParameterStatus
messages for in_hot_standby and default_transaction_read_only (reported from
14 on) are dropped, at login and after; TLS is declined.  Everything else
passes as it is.
Prints "listening" once it accepts. Ends after 600 s at most (the test stops
it sooner). Loopback only, standard library only."""
import sys

import pgrelay

HIDDEN = (b"in_hot_standby", b"default_transaction_read_only")


def hidden(msg):
    return msg[:1] == b"S" and msg[5:].split(b"\0", 1)[0] in HIDDEN


def main():
    pgrelay.serve(int(sys.argv[1]), int(sys.argv[2]),
                  lambda: lambda msg: b"" if hidden(msg) else msg)


if __name__ == "__main__":
    main()
