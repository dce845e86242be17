# shellcheck shell=bash
# lib.sh - what the bench scripts share (sourced by run.sh, kdf.sh, workers.sh, scaling.sh):
# the throwaway PostgreSQL, the null backend, pooler instances (PgBouncer, K PgBouncers
# on one port with so_reuseport, pgring with workers = N), and the measuring window
# (CPU of every thread of the pooler's processes, system calls and context switches).
#
# The caller sets BENCH_DIR, SRC_DIR, OUT and defines say/die, then sources this file,
# which sources test/integration/lib.sh (throwaway directory, ports, run-as-user).
#
# Knobs (set before calling the functions):
#   PG_BINDIR        PostgreSQL's binaries (lib.sh's default; bench/device-run.sh: the kit's)
#   BENCH_TOOLS      a folder with prebuilt nullpg and pgload (else built here with cc)
#   PG_SCALE         pgbench -i scale (10)     PG_MAXCONN   max_connections (120)
#   PG_HBA           pg_hba.conf lines (empty: initdb's, trust)
#   TLS              1: ssl = on with $T/tls's certificate
#   POOL_SIZE        default_pool_size (20)    MAXCLIENTS   the most clients of one run
#   POOLER_AUTH      the poolers' auth lines ("auth_type = trust")
#   POOLER_USERS_EXTRA  auth_file lines after the "postgres" one
#   PGRING_BACKEND   pgring-wN's event_backend (io_uring; auto falls back to epoll)

# shellcheck disable=SC2034  # read by lib.sh
top_srcdir=$SRC_DIR top_builddir=${BENCH_BUILD_DIR:-/tmp/pgring-bench-build}
# shellcheck source=/dev/null
. "$SRC_DIR/test/integration/lib.sh"

# A bare machine with the device kit (make-device-kit.sh) has no postgres user: the kit's
# env.sh (or device-run.sh) makes 'pgkit' to run the server; where none could be made, nobody
if [ "$(id -u)" = 0 ] && ! id "$RUN_USER" >/dev/null 2>&1; then
	if id pgkit >/dev/null 2>&1; then RUN_USER=pgkit; else RUN_USER=nobody; fi
fi
PGBENCH=$PG_BINDIR/pgbench
: "${PG_SCALE:=10}" "${PG_MAXCONN:=120}" "${PG_HBA:=}" "${TLS:=0}" "${POOL_SIZE:=20}"
: "${MAXCLIENTS:=1000}" "${BENCH_TOOLS:=}"

HAVE_PERF=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
	HAVE_PERF=1
fi
HAVE_STRACE=0	# BENCH_STRACE=0: no strace -c where perf is missing (it slows the pooler)
[ "${BENCH_STRACE:-1}" = 1 ] && command -v strace >/dev/null && HAVE_STRACE=1
SYSCALLS_FROM=none
if [ "$HAVE_PERF" = 1 ]; then SYSCALLS_FROM=perf; elif [ "$HAVE_STRACE" = 1 ]; then SYSCALLS_FROM=strace; fi

# bench_tools: nullpg and pgload into $T/bin (prebuilt from $BENCH_TOOLS, or cc)
bench_tools() {
	local tool
	mkdir -p "$T/bin" || return 1
	for tool in nullpg pgload; do
		if [ -n "$BENCH_TOOLS" ]; then
			cp "$BENCH_TOOLS/$tool" "$T/bin/$tool" || return 1
		else
			cc -std=gnu11 -O2 -Wall -o "$T/bin/$tool" "$BENCH_DIR/$tool.c" >>"$OUT/build.log" 2>&1 ||
				{ say "cannot build bench/$tool.c ($OUT/build.log)"; return 1; }
		fi
	done
}

# raise_nofile: clients and poolers need many descriptors
raise_nofile() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	[ "$(ulimit -n)" -gt $((MAXCLIENTS + 200)) ] ||
		say "warning: open files limit $(ulimit -n) is low for $MAXCLIENTS clients"
}

# ---- PostgreSQL and the null backend -----------------------------------------------
# bench_pg_start: initdb, start on a free loopback port, database bench (pgbench -i)
bench_pg_start() {
	local dir=$T/pg
	PG_DATA=$dir/data PG_SOCKDIR=$dir PG_LOG=$dir/postgresql.log
	PG_PORT=$(free_port) || return 1
	mkdir -p "$dir" && own "$dir" || return 1
	as_run_user "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1 || return 1
	cat >>"$PG_DATA/postgresql.conf" <<-EOF
	listen_addresses = '127.0.0.1'
	port = $PG_PORT
	unix_socket_directories = '$PG_SOCKDIR'
	max_connections = $PG_MAXCONN
	fsync = off
	synchronous_commit = off
	full_page_writes = off
	EOF
	[ "$TLS" = 1 ] && cat >>"$PG_DATA/postgresql.conf" <<-EOF
	ssl = on
	ssl_cert_file = '$T/tls/server.crt'
	ssl_key_file = '$T/tls/server.key'
	EOF
	[ -n "$PG_HBA" ] && printf '%s\n' "$PG_HBA" >"$PG_DATA/pg_hba.conf"
	own "$PG_DATA"
	as_run_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
		>"$dir/pg_ctl.log" 2>&1 || return 1
	as_run_user "$PG_BINDIR/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres bench || return 1
	as_run_user "$PGBENCH" -i -q -s "$PG_SCALE" -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres bench \
		>"$dir/pgbench-init.log" 2>&1
}

# pg_psql SQL...: statements as postgres on database bench
pg_psql() {
	local a=() s
	for s in "$@"; do a+=(-c "$s"); done
	as_run_user "$PG_BINDIR/psql" -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres bench "${a[@]}"
}

# null_start [PROCS] [CPUS]: the null backend (PROCS processes on one socket, pinned to CPUS)
NULL_PORT="" NULL_PID=""
null_start() {
	local pin=()
	[ -n "${2:-}" ] && pin=(taskset -c "$2")
	NULL_PORT=$(free_port) || return 1
	"${pin[@]}" "$T/bin/nullpg" "$NULL_PORT" 127.0.0.1 "${1:-1}" >"$T/nullpg.log" 2>&1 &
	NULL_PID=$!
	track_pid "$NULL_PID"
	wait_until 5 listening "$NULL_PORT"
}

# ---- poolers ---------------------------------------------------------------------
# Names: pgbouncer (one process), pgbouncer-xK (K processes on one port, so_reuseport = 1,
# each a Kth of the pool for the pg target), pgring (io_uring), pgring-epoll, pgring-base
# (the --baseline binary), pgring-wN (workers = N, io_uring). $T/bin holds pgbouncer,
# pgring and pgring-base.
declare -A P_PID P_PIDS P_PORT
POOLER_CPUS=""		# taskset -c list for the poolers, empty: not pinned

# pooler_ini FILE PORT DIR POOL EXTRA: the ini every pooler gets (the same keys for all);
# DBS (run.sh --dbs) more databases ahead of the measured ones
pooler_ini() {
	local i dbs=""
	printf '"postgres" ""\n' >"$3/userlist.txt"
	[ -z "${POOLER_USERS_EXTRA:-}" ] || printf '%s\n' "$POOLER_USERS_EXTRA" >>"$3/userlist.txt"
	for i in $(seq 1 "${DBS:-0}"); do
		dbs+="extra$i = host=127.0.0.1 port=${PG_PORT:-1} dbname=bench"$'\n'
	done
	cat >"$1" <<-EOF
	[databases]
	$dbs
	bench = host=127.0.0.1 port=${PG_PORT:-1} dbname=bench
	null = host=127.0.0.1 port=${NULL_PORT:-1} dbname=null

	[pgbouncer]
	listen_addr = 127.0.0.1
	listen_port = $2
	unix_socket_dir = $3
	${POOLER_AUTH:-auth_type = trust}
	auth_file = $3/userlist.txt
	pool_mode = transaction
	default_pool_size = $4
	max_client_conn = $((MAXCLIENTS + 100))
	log_connections = 0
	log_disconnections = 0
	logfile = $3/pooler.log
	pidfile = $3/pooler.pid
	$5
	EOF
}

# pooler_launch BIN DIR: start one process on DIR/pooler.ini; its pid in LAUNCHED
pooler_launch() {
	local pin=()
	[ -n "$POOLER_CPUS" ] && pin=(taskset -c "$POOLER_CPUS")
	own "$2"
	rm -f "$2/pooler.pid"
	if [ "$(id -u)" = 0 ]; then
		"${pin[@]}" "$1" -u "$RUN_USER" "$2/pooler.ini" >"$2/stderr.log" 2>&1 </dev/null &
	else
		"${pin[@]}" "$1" "$2/pooler.ini" >"$2/stderr.log" 2>&1 </dev/null &
	fi
	LAUNCHED=$!
	track_pid "$LAUNCHED"
}

# pooler_start NAME [EXTRA] [POOL]: a fresh instance on a free port; sets P_PID[NAME] (the
# first process), P_PIDS[NAME] (all), P_PORT[NAME]. EXTRA: more ini lines
pooler_start() {
	local name=$1 extra=${2:-} pool=${3:-$POOL_SIZE} port bin k=1 i dir pids=""
	port=$(free_port) || return 1
	case "$name" in
	pgbouncer) bin=$T/bin/pgbouncer ;;
	pgbouncer-x*) bin=$T/bin/pgbouncer k=${name#pgbouncer-x}
		extra+=$'\n'"so_reuseport = 1" ;;
	pgring) bin=$T/bin/pgring extra+=$'\n'"event_backend = io_uring" ;;
	pgring-epoll) bin=$T/bin/pgring extra+=$'\n'"event_backend = epoll" ;;
	pgring-base) bin=$T/bin/pgring-base extra+=$'\n'"event_backend = io_uring" ;;
	pgring-w*) bin=$T/bin/pgring extra+=$'\n'"event_backend = ${PGRING_BACKEND:-io_uring}"$'\n'"workers = ${name#pgring-w}"
		extra+=$'\n'"admin_users = postgres" ;;	# workers.sh's SHOW CLIENTS
	*) say "unknown pooler $name"; return 1 ;;
	esac
	for ((i = 1; i <= k; i++)); do
		dir=$T/$name
		[ "$k" -gt 1 ] && dir=$T/$name/$i
		mkdir -p "$dir" || return 1
		pooler_ini "$dir/pooler.ini" "$port" "$dir" "$pool" "$extra"
		pooler_launch "$bin" "$dir"
		pids+=" $LAUNCHED"
	done
	P_PIDS[$name]=${pids# } P_PORT[$name]=$port
	P_PID[$name]=${P_PIDS[$name]%% *}
	if ! wait_until 10 listening "$port" || ! wait_until 5 all_bound "$port" "$k"; then
		say "$name did not start:"; tail -n 20 "$T/$name"/stderr.log "$T/$name"/pooler.log \
			"$T/$name"/*/stderr.log "$T/$name"/*/pooler.log 2>/dev/null >&2
		return 1
	fi
}

# all_bound PORT K: K listening sockets on PORT (every PgBouncer of a reuseport group is up)
all_bound() { [ "$(ss -Htln "( sport = :$1 )" 2>/dev/null | wc -l)" -ge "$2" ]; }

pooler_stop() {
	local pid
	for pid in ${P_PIDS[$1]:-${P_PID[$1]:-}}; do stop_pid "$pid" 5 >/dev/null; done
	P_PID[$1]="" P_PIDS[$1]=""
}
pooler_alive() {
	local pid
	for pid in ${P_PIDS[$1]:-${P_PID[$1]:-}}; do alive "$pid" || return 1; done
}

# ---- per-process figures ---------------------------------------------------------
# cpu_ns PID...: nanoseconds on CPU, every thread of the processes (schedstat; /proc/PID/stat
# ticks where schedstat is missing)
cpu_ns() {
	local f sum=0 v pid
	for pid in "$@"; do
		v=0
		for f in /proc/"$pid"/task/*/schedstat; do
			read -r v _ <"$f" 2>/dev/null && sum=$((sum + v))
		done
		[ "$v" = 0 ] && sum=$((sum + $(awk -v hz="$(getconf CLK_TCK)" \
			'{ printf "%d\n", ($14 + $15) * 1e9 / hz }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}
# task_ns PID...: "tid ns" for every thread of the processes
task_ns() {
	local f v pid
	for pid in "$@"; do
		for f in /proc/"$pid"/task/*/schedstat; do
			read -r v _ <"$f" 2>/dev/null && { f=${f%/schedstat}; echo "${f##*/} $v"; }
		done
	done
}
# ctxsw PID...: voluntary + involuntary context switches, all threads
ctxsw() {
	local pid
	for pid in "$@"; do cat /proc/"$pid"/task/*/status 2>/dev/null; done |
		awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# window "PIDS" SECONDS FILE ["OTHER PIDS"]: measure the pooler's processes for SECONDS;
# FILE gets "seconds cpu_ns syscalls ctxsw t0 t1 other_cpu_ns" (syscalls -1 when neither perf
# nor strace) and FILE.threads "tid ns" per thread over the window
window() {
	local pids=$1 secs=$2 file=$3 others=${4:-} c0 c1 o0 o1 s0 s1 t0 t1 sc=-1 cs
	# shellcheck disable=SC2086,SC2046
	{
		task_ns $pids >"$file.t0"
		t0=$(now) c0=$(cpu_ns $pids) s0=$(ctxsw $pids) o0=$(cpu_ns $others)
		if [ "$HAVE_PERF" = 1 ]; then
			perf stat -x, -o "$file.perf" -e raw_syscalls:sys_enter,context-switches \
				-p "${pids// /,}" -- sleep "$secs" >/dev/null 2>&1
		elif [ "$HAVE_STRACE" = 1 ]; then
			timeout -s INT "$secs" strace -c -f -q $(printf -- "-p %s " $pids) -o "$file.strace" \
				>/dev/null 2>&1
		else
			sleep "$secs"
		fi
		t1=$(now) c1=$(cpu_ns $pids) s1=$(ctxsw $pids) o1=$(cpu_ns $others)
		task_ns $pids >"$file.t1"
	}
	cs=$((s1 - s0))
	if [ -s "$file.perf" ]; then
		sc=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$file.perf")
		cs=$(awk -F, '$3 == "context-switches" { print $1 }' "$file.perf")
	elif [ -s "$file.strace" ]; then
		sc=$(awk '$NF == "total" { print $(NF-2) }' "$file.strace")
	fi
	awk 'NR == FNR { a[$1] = $2; next } { print $1, $2 - a[$1] }' "$file.t0" "$file.t1" \
		>"$file.threads"
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $((c1 - c0)) ${sc:--1} ${cs:-0} $t0 $t1 $((o1 - o0))" >"$file"
}

# thread_shares FILE.threads: the busy threads' shares of the pooler's CPU, in thread id
# order (worker i's thread is made before worker i+1's), "51/49"; threads under 2 % left out
thread_shares() {
	sort -n "$1" | awk '{ t[NR] = $2; s += $2 } END {
		if (s <= 0) { print "-"; exit }
		for (i = 1; i <= NR; i++) if (t[i] / s >= 0.02) out = out (out ? "/" : "") sprintf("%.0f", 100 * t[i] / s)
		print out }'
}

# established PORT: client connections the pooler has accepted
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }
# servers PORT: connections open to a backend port (the pooler's server connections)
servers() { ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l; }
