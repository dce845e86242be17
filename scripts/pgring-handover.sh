#!/bin/bash
# pgring-handover.sh - rolling restart without a failed connection (so_reuseport)
#
# Usage: pgring-handover.sh [-b PGRING] [-u USER] [-t SECONDS] RUNNING.ini NEW.ini
#
# RUNNING.ini is the config of the pgring that runs now (its pidfile names
# it); NEW.ini the config the new one starts with: the same listen_port, both
# with so_reuseport = 1, each with a pidfile and unix_socket_dir of its own.
# The script starts the new pgring as a daemon (-d; -u USER passed on when
# run as root), waits until it listens beside the old one, then sends the old
# one SIGTERM: the old one stops accepting at once, serves the connections
# it has, and exits when its clients are gone.  It waits up to SECONDS
# (default 120) for that exit.  Next time, swap the two configs.
#
# Exit status: 0 done; 1 usage or config error, nothing changed; 2 the new
# pgring did not come up (the old one still serves); 3 the old one had not
# exited within SECONDS (it is still draining; the new one serves).
set -u

bin=${PGRING:-pgring}
user=""
wait_s=120

die() { echo "pgring-handover: $1" >&2; exit "${2:-1}"; }

# ini_get FILE KEY: the value of KEY in FILE's [pgbouncer] section
ini_get() {
	awk -v key="$2" '
		/^[ \t]*\[/ { sect = $0; gsub(/[ \t\[\]]/, "", sect); next }
		sect == "pgbouncer" && $0 ~ "^[ \t]*" key "[ \t]*=" {
			sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]*$/, ""); v = $0
		}
		END { print v }' "$1"
}

# listeners PORT: how many sockets listen on TCP port PORT
listeners() { ss -Htln "( sport = :$1 )" 2>/dev/null | wc -l; }

alive() { kill -0 "$1" 2>/dev/null; }

while getopts b:u:t: opt; do
	case $opt in
	b) bin=$OPTARG ;;
	u) user=$OPTARG ;;
	t) wait_s=$OPTARG ;;
	*) die "usage: pgring-handover.sh [-b PGRING] [-u USER] [-t SECONDS] RUNNING.ini NEW.ini" ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 2 ] || die "usage: pgring-handover.sh [-b PGRING] [-u USER] [-t SECONDS] RUNNING.ini NEW.ini"
old_conf=$1
new_conf=$2
if ! [ -r "$old_conf" ] || ! [ -r "$new_conf" ]; then
	die "cannot read $old_conf or $new_conf"
fi

port=$(ini_get "$old_conf" listen_port)
port=${port:-6432}
new_port=$(ini_get "$new_conf" listen_port)
[ "${new_port:-6432}" = "$port" ] || die "$new_conf must have the same listen_port ($port)"
for f in "$old_conf" "$new_conf"; do
	[ "$(ini_get "$f" so_reuseport)" = 1 ] || die "$f needs so_reuseport = 1"
done
old_pidfile=$(ini_get "$old_conf" pidfile)
new_pidfile=$(ini_get "$new_conf" pidfile)
if [ -z "$old_pidfile" ] || [ -z "$new_pidfile" ]; then
	die "both configs need a pidfile"
fi
[ "$old_pidfile" != "$new_pidfile" ] || die "the two configs need pidfiles of their own"
[ "$(ini_get "$old_conf" unix_socket_dir)" != "$(ini_get "$new_conf" unix_socket_dir)" ] ||
	die "the two configs need unix_socket_dirs of their own"
old_pid=$(cat "$old_pidfile" 2>/dev/null)
alive "$old_pid" || die "no running pgring for $old_conf (pidfile $old_pidfile)"

before=$(listeners "$port")
args=(-d)
[ -n "$user" ] && args+=(-u "$user")
"$bin" "${args[@]}" "$new_conf" || die "the new pgring did not start: see its log" 2
# up: its pidfile names a live process, and one more socket listens on the port
for ((i = 0; i < 200; i++)); do
	new_pid=$(cat "$new_pidfile" 2>/dev/null) && alive "$new_pid" &&
		[ "$(listeners "$port")" -gt "$before" ] && break
	new_pid=""
	sleep 0.05
done
[ -n "$new_pid" ] || die "the new pgring did not listen on port $port within 10 s; the old one ($old_pid) still serves" 2
echo "pgring-handover: new pgring $new_pid listens on port $port; stopping $old_pid"

kill -TERM "$old_pid" || die "could not signal $old_pid" 3
for ((i = 0; i < wait_s * 10; i++)); do
	alive "$old_pid" || { echo "pgring-handover: $old_pid has exited; $new_pid serves"; exit 0; }
	sleep 0.1
done
die "$old_pid is still serving its clients after $wait_s s (it exits when they leave); $new_pid serves new ones" 3
