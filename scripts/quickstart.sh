#!/bin/bash
# quickstart.sh - builds pgring, starts a throwaway PostgreSQL and pgring in
# front of it, and prints how to connect and how to stop both.
#   PG_PORT (default 15432, below the kernel's range for outgoing connections, 32768-60999) and PGRING_PORT (default 6432) move the two ports.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
pg_port=${PG_PORT:-15432}
port=${PGRING_PORT:-6432}
jobs=$(nproc 2>/dev/null || echo 2)

die() { echo "quickstart: $*" >&2; exit 1; }
busy() { ss -Htln "( sport = :$1 )" | grep -q .; }

# Root runs both servers as postgres, as the Debian packages do.
if [ "$(id -u)" = 0 ]; then
	svc=postgres
	as_svc() { (cd / && runuser -u postgres -- "$@"); }
else
	svc=$(id -un)
	as_svc() { "$@"; }
fi

"$src/scripts/install-deps.sh"

# ---- build ----
cd "$src"
[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure
make -j"$jobs"
bin=$src/build/pgring

# ---- PostgreSQL ----
busy "$port" && die "port $port is taken (a pgbouncer service? another quickstart?); set PGRING_PORT"
while busy "$pg_port"; do pg_port=$((pg_port + 1)); done
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/pgring-quickstart.XXXXXX)
chmod 755 "$dir"
[ "$svc" = postgres ] && chown postgres: "$dir"

as_svc "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir'
password_encryption = 'scram-sha-256'
EOF
cat >"$dir/data/pg_hba.conf" <<EOF
local all postgres trust
host all all 127.0.0.1/32 scram-sha-256
EOF
as_svc "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w start >/dev/null
psql_su() { "$pgbin/psql" -X -q -At -h "$dir" -p "$pg_port" -U postgres "$@"; }
psql_su -d postgres -c "CREATE ROLE demo LOGIN PASSWORD 'demo'" -c "CREATE DATABASE demo OWNER demo"

# ---- pgring ----
# The auth_file holds PostgreSQL's own SCRAM verifier, not the password: pgring
# checks the client with it and logs in to PostgreSQL with the client's proof.
verifier=$(psql_su -d postgres -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'demo'")
printf '"demo" "%s"\n' "$verifier" >"$dir/userlist.txt"
# as PostgreSQL wants key files (pgring warns otherwise): its owner only
chmod 0600 "$dir/userlist.txt"
cat >"$dir/pgring.ini" <<EOF
[databases]
demo = host=127.0.0.1 port=$pg_port dbname=demo

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
logfile = $dir/pgring.log
pidfile = $dir/pgring.pid
; demo may also use the admin console (the virtual database pgbouncer)
admin_users = demo
; io_uring when the kernel allows it, epoll otherwise
event_backend = auto
EOF
cat >"$dir/stop.sh" <<EOF
#!/bin/sh
# stops the quickstart's pgring and PostgreSQL and removes $dir
[ -f $dir/pgring.pid ] && kill \$(cat $dir/pgring.pid)
$( [ "$svc" = postgres ] && printf 'runuser -u postgres -- ' )$pgbin/pg_ctl -D $dir/data -m fast stop
rm -rf $dir
EOF
chmod 755 "$dir/stop.sh"
[ "$svc" = postgres ] && chown -R postgres: "$dir"

if [ "$(id -u)" = 0 ]; then
	"$bin" -d -u postgres "$dir/pgring.ini"
else
	"$bin" -d "$dir/pgring.ini"
fi
for _ in $(seq 50); do
	busy "$port" && break
	sleep 0.2
done
if ! busy "$port"; then
	tail -n 20 "$dir/pgring.log" >&2 || true
	die "pgring did not start; PostgreSQL is still up: $dir/stop.sh stops it"
fi

echo
grep -h 'event backend' "$dir/pgring.log" | tail -n 1 || true
cat <<EOF

pgring listens on 127.0.0.1:$port and in $dir; PostgreSQL on port $pg_port.
Connect through pgring:

    PGPASSWORD=demo psql -h 127.0.0.1 -p $port -U demo demo

The admin console (SHOW STATS, SHOW POOLS, ...):

    PGPASSWORD=demo psql -h 127.0.0.1 -p $port -U demo pgbouncer

Config: $dir/pgring.ini, log: $dir/pgring.log
Stop both and clean up:

    $dir/stop.sh
EOF
