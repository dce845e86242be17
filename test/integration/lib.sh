# lib.sh - helpers the integration suite sources: a throwaway PostgreSQL, pgring
# instances, TAP output and a cleanup trap. Loopback only; every wait is bounded.
#
# Knobs (environment):
#   PGRING_BIN   the pooler to test (default $top_builddir/pgring); pointing it at
#                /usr/sbin/pgbouncer runs the same scenarios against PgBouncer
#   PQTOOL       the libpq client (default $top_builddir/test/integration/pqtool)
#   PG_BINDIR    PostgreSQL's bin directory (default: newest /usr/lib/postgresql/*/bin)
#   PGRING_EXTRA_CONF  lines added to every instance's [pgbouncer] section
#   PG_EXTRA_CONF      lines added to the throwaway PostgreSQL's postgresql.conf
#                (e.g. "log_min_duration_statement = 0" logs every Parse, Bind
#                and Execute with its statement name, to follow a failure)
#   KEEP_TMP=1   leave the temp directory behind for a post-mortem

# ---- where things are ----------------------------------------------------

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ -z "${top_builddir:-}" ]; then
	if [ -x "$PWD/pgring" ]; then top_builddir=$PWD; else top_builddir=$top_srcdir/build; fi
fi
: "${PGRING_BIN:=$top_builddir/pgring}"
: "${PQTOOL:=$top_builddir/test/integration/pqtool}"
if [ -z "${PG_BINDIR:-}" ]; then
	PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$PG_BINDIR" ] || PG_BINDIR=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /usr/bin/pg_ctl)")
fi

# PgBouncer has no event_backend key and logs no backend line
case "$(basename "$PGRING_BIN")" in
pgbouncer*) PGRING_IS_PGBOUNCER=1 ;;
*) PGRING_IS_PGBOUNCER=0 ;;
esac

# The user PostgreSQL and pgring run as: postgres when we are root, else ourselves.
if [ "$(id -u)" = 0 ]; then
	RUN_USER=postgres
else
	RUN_USER=$(id -un)
fi
PG_SUPERUSER=postgres

# Nothing from the caller's libpq environment may steer the clients.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSERVICEFILE \
	PGOPTIONS PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGAPPNAME
export PGCONNECT_TIMEOUT=5 PGGSSENCMODE=disable

# ---- state -----------------------------------------------------------------

T_ROOT=""		# everything lives under here
PG_DATA="" PG_SOCKDIR="" PG_PORT="" PG_LOG=""
PGRING_DIR="" PGRING_PORT="" PGRING_PID="" PGRING_CONF="" PGRING_LOG="" PGRING_ERR=""
PGRING_N=0		# instances started so far; each gets its own directory
STARTED_PIDS=""		# every process we started and might have to end
USED_PORTS=""
TAP_N=0 TAP_FAILED=0

# ---- small helpers ---------------------------------------------------------

diag() {
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
}

# diag_file FILE [LINES]: the tail of a log, as TAP comments
diag_file() {
	[ -s "$1" ] || return 0
	diag "--- tail of $1"
	tail -n "${2:-25}" "$1" | sed 's/^/#   /'
}

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# elapsed START: seconds since START, one decimal
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# as_run_user CMD...: run as the service user (postgres when root), from a
# directory that user can enter
as_run_user() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$T_ROOT" && runuser -u "$RUN_USER" -- "$@")
	else
		(cd "$T_ROOT" && "$@")
	fi
}

# own DIR...: hand paths to the service user
own() {
	[ "$(id -u)" = 0 ] && chown -R "$RUN_USER": "$@"
	return 0
}

port_in_use() {
	ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
	case " $USED_PORTS " in *" $1 "*) return 0 ;; esac
	return 1
}

# Ports are reserved across suites running side by side (CI runs several
# passes at once): a directory per port under PORT_DIR, made atomically by
# mkdir, naming its owner (the suite's pid); a dead owner's is taken over
PORT_DIR=/tmp/pgring-test-ports
port_reserve() {
	local d=$PORT_DIR/$1 owner
	[ -d "$PORT_DIR" ] || { mkdir -p "$PORT_DIR" && chmod 1777 "$PORT_DIR"; } 2>/dev/null
	if ! mkdir "$d" 2>/dev/null; then
		owner=$(cat "$d/owner" 2>/dev/null) || return 1
		alive "$owner" && return 1
		rm -rf "$d" && mkdir "$d" 2>/dev/null || return 1
	fi
	echo "$$" >"$d/owner"
	[ -n "$T_ROOT" ] && echo "$1" >>"$T_ROOT/ports"
	return 0
}
# port_release_all: this suite's reservations go at its end
port_release_all() {
	local p
	[ -n "$T_ROOT" ] && [ -f "$T_ROOT/ports" ] || return 0
	while read -r p; do
		[ "$(cat "$PORT_DIR/$p/owner" 2>/dev/null)" = "$$" ] && rm -rf "${PORT_DIR:?}/$p"
	done <"$T_ROOT/ports"
}

# free_port: a port nothing listens on or connects from, below the ephemeral
# range, and that no other suite on this machine has taken
free_port() {
	local p i
	for i in $(seq 1 300); do
		p=$((20000 + RANDOM % 12000))
		if ! port_in_use "$p" && port_reserve "$p"; then
			USED_PORTS="$USED_PORTS $p"
			echo "$p"
			return 0
		fi
	done
	return 1
}

# The sanitizer build (scripts/test-sanitizers.sh) is several times slower,
# and under ASan freed memory sits in a quarantine of up to 256 MB: RSS says
# nothing there, so only the plain build checks it.
under_sanitizers() { [ -n "${SANITIZER_LOG_DIR:-}" ]; }
rss_checked() { ! under_sanitizers; }

# wait_until SECONDS CMD...: poll CMD every 0.1 s; 0 once it succeeds
wait_until() {
	local deadline=$(($(date +%s) + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

listening() { ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .; }
alive() { kill -0 "$1" 2>/dev/null; }

has_ipv6_loopback() {
	[ -r /proc/net/if_inet6 ] && grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6
}

# pid_start PID: when the process began (clock ticks since boot, field 22 of
# /proc/PID/stat, read past the command name, which may hold spaces)
pid_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $s
	echo "${20}"
}
# Each entry is PID:START, so that the cleanup kills only processes that are
# still ours: pid_max is 32768 here, and over a long run (several suites at
# once, in CI) a number is handed out again, to another suite's process or
# to the very script that runs the suites.
# A process that has already ended (and been reaped: a start refused at once)
# is recorded with start 0, which no process matches; tracking never fails.
track_pid() {
	local start
	start=$(pid_start "$1") || start=0
	STARTED_PIDS="$STARTED_PIDS $1:$start"
}

# stop_pid PID [SECONDS]: TERM, then KILL if it lingers; 0 if TERM sufficed
stop_pid() {
	local pid=$1 secs=${2:-5}
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	if wait_until "$secs" eval "! kill -0 $pid 2>/dev/null"; then
		wait "$pid" 2>/dev/null
		return 0
	fi
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

# ---- TAP -------------------------------------------------------------------

tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP $2"; }
tap_plan() { echo "1..$TAP_N"; }
bail_out() { echo "Bail out! $*"; exit 1; }

# ---- clients ---------------------------------------------------------------

# pq ARGS...: pqtool with a time limit, so no client can hang the suite
pq() { timeout -k 2 "${PQ_TIMEOUT:-60}" "$PQTOOL" "$@"; }

# conninfo strings: through pgring (TCP), and straight to PostgreSQL's socket
pgring_conn() {	# DB USER [PASSWORD] [HOST]
	local c="host=${4:-127.0.0.1} port=$PGRING_PORT dbname=$1 user=$2 connect_timeout=5"
	[ -n "${3:-}" ] && c="$c password=$3"
	echo "$c"
}
# pgring_local DB USER [PASSWORD]: over pgring's unix socket, whose clients
# all live on worker 0: for a scenario whose clients must share one worker's
# pools (server reuse, a cached login error) whatever WORKERS says
pgring_local() { pgring_conn "$1" "$2" "${3:-}" "$PGRING_DIR"; }
pg_conn() { echo "host=$PG_SOCKDIR port=$PG_PORT dbname=${1:-testdb} user=$PG_SUPERUSER options=-cclient_min_messages=warning"; }

# pg_sql SQL...: run statements as superuser straight on PostgreSQL (testdb)
pg_sql() { pq "$(pg_conn testdb)" query "$@"; }

# ---- PostgreSQL ------------------------------------------------------------

lib_init() {
	T_ROOT=$(mktemp -d /tmp/pgring-it.XXXXXX) || return 1
	chmod 755 "$T_ROOT"
	own "$T_ROOT"
	trap lib_cleanup EXIT
	trap 'exit 130' INT TERM HUP
}

# pg_start: initdb into $T_ROOT/pg and start it on a free port with roles
# u_trust, u_md5, u_scram (passwords pw_trust, pw_md5, pw_scram) whose pg_hba
# methods are trust, md5 and scram-sha-256, and a database testdb
pg_start() {
	local dir=$T_ROOT/pg
	PG_DATA=$dir/data PG_SOCKDIR=$dir PG_LOG=$dir/postgresql.log
	PG_PORT=$(free_port) || return 1
	mkdir -p "$dir" && own "$dir" || return 1
	if ! as_run_user "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		diag "initdb failed"; diag_file "$dir/initdb.log"; return 1
	fi
	cat >>"$PG_DATA/postgresql.conf" <<-EOF
	listen_addresses = '127.0.0.1'
	port = $PG_PORT
	unix_socket_directories = '$PG_SOCKDIR'
	max_connections = 60
	fsync = off
	synchronous_commit = off
	full_page_writes = off
	synchronize_seqscans = off
	wal_level = logical
	${PG_EXTRA_CONF:-}
	EOF
	cat >"$PG_DATA/pg_hba.conf" <<-EOF
	local all $PG_SUPERUSER trust
	local all u_trust trust
	local all u_md5 md5
	local all u_scram scram-sha-256
	host all u_trust 127.0.0.1/32 trust
	host all u_md5 127.0.0.1/32 md5
	host all u_scram 127.0.0.1/32 scram-sha-256
	host all $PG_SUPERUSER 127.0.0.1/32 trust
	host replication $PG_SUPERUSER 127.0.0.1/32 trust
	host all all 127.0.0.1/32 scram-sha-256
	EOF
	own "$PG_DATA"
	if ! as_run_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
		diag "PostgreSQL did not start"; diag_file "$dir/pg_ctl.log"; diag_file "$PG_LOG"; return 1
	fi
	pq "$(pg_conn postgres)" query \
		"SET password_encryption = 'scram-sha-256'" \
		"CREATE ROLE u_trust LOGIN PASSWORD 'pw_trust'" \
		"CREATE ROLE u_scram LOGIN PASSWORD 'pw_scram'" \
		"SET password_encryption = 'md5'" \
		"CREATE ROLE u_md5 LOGIN PASSWORD 'pw_md5'" \
		"CREATE DATABASE testdb OWNER u_trust" >/dev/null || return 1
	pg_sql "GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC" >/dev/null || return 1
}

pg_stop() {
	[ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
	as_run_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1
}

pg_restart() {
	as_run_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m fast -w -t 60 restart \
		>>"$T_ROOT/pg/pg_ctl.log" 2>&1
}

# pg_secret ROLE: the role's password as PostgreSQL stores it (md5... or SCRAM-SHA-256$...)
pg_secret() { pg_sql "SELECT rolpassword FROM pg_authid WHERE rolname = '$1'"; }

# ---- pgring ----------------------------------------------------------------

# The auth_file every instance gets unless the scenario passes its own:
# plain passwords for the three roles.
default_userlist() {
	printf '"%s" "%s"\n' u_trust pw_trust u_md5 pw_md5 u_scram pw_scram
}

# pgring_write_config BACKEND EXTRA USERLIST: a fresh instance directory with
# pgring.ini and userlist.txt; sets PGRING_DIR, PGRING_PORT, PGRING_CONF, logs
pgring_write_config() {
	local backend=$1 extra=$2 userlist=$3 listen=127.0.0.1
	PGRING_N=$((PGRING_N + 1))
	PGRING_DIR=$T_ROOT/r$PGRING_N
	PGRING_PORT=$(free_port) || return 1
	PGRING_CONF=$PGRING_DIR/pgring.ini
	PGRING_LOG=$PGRING_DIR/pgring.log
	PGRING_ERR=$PGRING_DIR/stderr.log
	has_ipv6_loopback && listen=127.0.0.1,::1
	mkdir -p "$PGRING_DIR" || return 1
	printf '%s\n' "$userlist" >"$PGRING_DIR/userlist.txt"
	# as PostgreSQL wants key files: no group or world access (else a warning)
	chmod 0600 "$PGRING_DIR/userlist.txt"
	{
		echo "[databases]"
		echo "testdb = host=127.0.0.1 port=$PG_PORT dbname=testdb"
		echo "testdb_unix = host=$PG_SOCKDIR port=$PG_PORT dbname=testdb"
		echo "testdb_p1 = host=127.0.0.1 port=$PG_PORT dbname=testdb pool_size=1"
		echo
		echo "[pgbouncer]"
		echo "listen_addr = $listen"
		echo "listen_port = $PGRING_PORT"
		echo "unix_socket_dir = $PGRING_DIR"
		echo "auth_file = $PGRING_DIR/userlist.txt"
		echo "logfile = $PGRING_LOG"
		echo "pidfile = $PGRING_DIR/pgring.pid"
		[ "$PGRING_IS_PGBOUNCER" = 1 ] || echo "event_backend = $backend"
		# WORKERS=N runs the suite on N event loops; a scenario's own
		# workers line (in extra) comes later and wins
		[ "$PGRING_IS_PGBOUNCER" = 1 ] || [ -z "${WORKERS:-}" ] || echo "workers = $WORKERS"
		[ -n "$extra" ] && printf '%s\n' "$extra"
		[ -n "${PGRING_EXTRA_CONF:-}" ] && printf '%s\n' "$PGRING_EXTRA_CONF"
	} >"$PGRING_CONF"
	own "$PGRING_DIR"
}

# pgring_check_backend BACKEND: the log names the event backend asked for
pgring_check_backend() {
	[ "$PGRING_IS_PGBOUNCER" = 1 ] && return 0
	case "$1" in
	auto) grep -qs 'event backend: ' "$PGRING_LOG" "$PGRING_ERR" ;;
	*) grep -qs "event backend: $1\$\|event backend: $1[^_a-z]" "$PGRING_LOG" "$PGRING_ERR" ;;
	esac
}

# pgring_launch [MEMLOCK_KB]: start the binary on the written config, as a
# child we can signal. As root it runs `-u postgres`, as pgbouncer would be;
# with MEMLOCK_KB it runs as the service user itself under `ulimit -l`.
pgring_launch() {
	local limit=${1:-} bin=$PGRING_BIN
	if [ -n "$limit" ] && [ "$(id -u)" = 0 ]; then
		# the service user may not be able to reach the build tree
		bin=$T_ROOT/pgring-bin
		[ -x "$bin" ] || { cp "$PGRING_BIN" "$bin" && chmod 755 "$bin"; } || return 1
		(cd "$T_ROOT" && exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- \
			bash -c 'ulimit -l "$0" && exec "$@"' "$limit" "$bin" "$PGRING_CONF") \
			>"$PGRING_ERR" 2>&1 </dev/null &
	elif [ -n "$limit" ]; then
		bash -c 'ulimit -l "$0" && exec "$@"' "$limit" "$bin" "$PGRING_CONF" \
			>"$PGRING_ERR" 2>&1 </dev/null &
	elif [ "$(id -u)" = 0 ]; then
		"$bin" -u "$RUN_USER" "$PGRING_CONF" >"$PGRING_ERR" 2>&1 </dev/null &
	else
		"$bin" "$PGRING_CONF" >"$PGRING_ERR" 2>&1 </dev/null &
	fi
	PGRING_PID=$!
	track_pid "$PGRING_PID"
}

# up on TCP and on the unix socket, or dead: either ends the wait
pgring_up_or_dead() {
	! alive "$PGRING_PID" && return 0
	listening "$PGRING_PORT" && [ -S "$PGRING_DIR/.s.PGSQL.$PGRING_PORT" ]
}

# pgring_wait_up BACKEND: wait until the instance listens and its log names BACKEND
pgring_wait_up() {
	if ! wait_until 10 pgring_up_or_dead || ! alive "$PGRING_PID" || ! listening "$PGRING_PORT"; then
		diag "pgring did not come up on port $PGRING_PORT"
		pgring_dump_logs
		return 1
	fi
	if ! wait_until 5 pgring_check_backend "$1"; then
		diag "pgring's log does not name event backend $1"
		pgring_dump_logs
		return 1
	fi
}

# pgring_start BACKEND [EXTRA-PGBOUNCER-LINES] [USERLIST]: a fresh instance with
# event_backend = BACKEND, up and listening, its log naming BACKEND
pgring_start() {
	local backend=$1 extra=${2:-} userlist=${3:-$(default_userlist)}
	pgring_write_config "$backend" "$extra" "$userlist" || return 1
	pgring_launch || return 1
	pgring_wait_up "$backend"
}

pgring_dump_logs() {
	diag "config $PGRING_CONF:"
	sed 's/^/#   /' "$PGRING_CONF"
	diag_file "$PGRING_ERR"
	diag_file "$PGRING_LOG"
}

# pgring_stop: end the current instance (TERM, then KILL after 5 s)
pgring_stop() {
	[ -n "$PGRING_PID" ] || return 0
	if ! stop_pid "$PGRING_PID" 5; then
		diag "pgring (pid $PGRING_PID) ignored SIGTERM for 5 s; killed"
	fi
	PGRING_PID=""
}

pgring_reload() { kill -HUP "$PGRING_PID"; }

# pgring_vmhwm: peak resident set of the running instance, in kB
pgring_vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$PGRING_PID/status" 2>/dev/null; }

# ---- TLS -------------------------------------------------------------------

# tls_certs: a throwaway CA and certificates under $T_ROOT/tls, made once with
# the openssl CLI: ca.crt; server.{crt,key} (CN and SAN localhost only, so
# that 127.0.0.1 is a wrong name for verify-full); server2.{crt,key} (the same names, another serial: a reload
# test tells them apart); client.{crt,key} (CN u_trust); and other-ca.crt, a
# CA that signed none of them.  Sets TLS_DIR.
tls_certs() {
	TLS_DIR=$T_ROOT/tls
	[ -f "$TLS_DIR/done" ] && return 0
	mkdir -p "$TLS_DIR" || return 1
	(
		cd "$TLS_DIR" || exit 1
		exec 2>openssl.log
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=pgring test CA" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt \
			-days 2 -subj "/CN=pgring other CA" || exit 1
		printf 'subjectAltName=DNS:localhost\n' >san.cnf
		for n in server server2 client; do
			cn=localhost
			[ "$n" = client ] && cn=u_trust
			openssl req -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" \
				-subj "/CN=$cn" || exit 1
			openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
				-out "$n.crt" -days 2 -extfile san.cnf || exit 1
		done
		chmod 600 ./*.key
	) || { diag "could not make test certificates"; diag_file "$TLS_DIR/openssl.log"; return 1; }
	own "$TLS_DIR"
	touch "$TLS_DIR/done"
}

# pg_ssl on|off: ssl in the shared PostgreSQL, with tls_certs' server
# certificate (a reload; connections already open are not touched)
pg_ssl() {
	if [ "$1" = on ]; then
		tls_certs || return 1
		pg_sql "ALTER SYSTEM SET ssl_cert_file = '$TLS_DIR/server.crt'" \
			"ALTER SYSTEM SET ssl_key_file = '$TLS_DIR/server.key'" \
			"ALTER SYSTEM SET ssl_ca_file = '$TLS_DIR/ca.crt'" \
			"ALTER SYSTEM SET ssl = on" >/dev/null || return 1
	else
		pg_sql "ALTER SYSTEM RESET ssl" >/dev/null || return 1
	fi
	pg_sql "SELECT pg_reload_conf()" >/dev/null || return 1
	wait_until 10 pg_ssl_is "$1"
}
pg_ssl_is() { [ "$(pg_sql "SHOW ssl")" = "$1" ]; }

# ---- cleanup ---------------------------------------------------------------

lib_cleanup() {
	local pid
	for pid in $STARTED_PIDS; do
		# ours only if it began when the one we started did
		[ -n "${pid#*:}" ] && [ "$(pid_start "${pid%%:*}")" = "${pid#*:}" ] &&
			kill -KILL "${pid%%:*}" 2>/dev/null
	done
	pg_stop immediate
	port_release_all
	if [ -n "$T_ROOT" ] && [ -d "$T_ROOT" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			echo "# kept $T_ROOT" >&2
		else
			rm -rf "$T_ROOT"
		fi
	fi
}
