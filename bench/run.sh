#!/bin/bash
# run.sh - pgring against PgBouncer, side by side, same settings, alternating rounds.
#
# usage: bench/run.sh [--quick] [options]   (see bench/README.md; --help lists options)
#
# Starts a throwaway PostgreSQL, a null backend (bench/nullpg.c), PgBouncer and
# pgring (io_uring; epoll too with --epoll), all in transaction mode with a pool
# of 20, and runs each workload against each pooler in turn, the order rotating
# every round. Per run it measures, over a window that starts once every client
# is connected: transactions, latency p50/p99, the pooler's CPU time (all its
# threads, /proc schedstat), its system calls and context switches (perf stat,
# or strace -c / /proc where perf is missing). Then the medians over rounds,
# the ratios pgring/PgBouncer, a Markdown table and gnuplot PNGs.
set -uo pipefail

ARGS="$*"
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)

# ---- options -----------------------------------------------------------------
ROUNDS=3 WARMUP=2 DURATION=10 CLIENTS="10 100 1000" MODES="simple extended"
TARGETS="pg null" IDLE_N=10000 SCALE=10 EPOLL=0 PREPARED=0 NULL_DRIVER=pgload
OUT="" PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer} PGRING_BIN=${PGRING_BIN:-} BASELINE_BIN=""
BUILD_DIR=${BENCH_BUILD_DIR:-/tmp/pgring-bench-build}
POOL_SIZE=20 TLS=0 DBS=0

usage() {
	cat <<-EOF
	usage: bench/run.sh [--quick] [options]
	  --quick            2 rounds of 1+4 s, 10 and 100 clients, 1,000 idle clients, scale 1
	  --rounds N         alternating rounds (default $ROUNDS); medians over them
	  --warmup S         seconds after all clients connected before measuring ($WARMUP)
	  --duration S       measured seconds per run ($DURATION)
	  --clients "LIST"   client counts ("$CLIENTS")
	  --modes "LIST"     pgbench protocol modes ("$MODES")
	  --prepared         add the prepared mode
	  --targets "LIST"   pg (real PostgreSQL, pgbench -S) and/or null (null backend) ("$TARGETS");
	                     authq: new SCRAM logins (pgbench -C -S) of a role auth_query looks up;
	                     scram: the same logins with the role's SCRAM verifier in the
	                     auth_file (with --tls: the handshake rate, TLS + SCRAM per login)
	  --null-driver D    pgload (light C generator, default) or pgbench, against the null backend
	  --idle N           idle clients for the RSS figure, 0 to skip ($IDLE_N)
	  --scale N          pgbench scale factor ($SCALE)
	  --epoll            also run pgring on its epoll backend
	  --dbs N            N more [databases] entries, listed before bench and null (a
	                     deployment with many databases: settings are looked up by name)
	  --tls              TLS on both sides (client_tls_sslmode and server_tls_sslmode =
	                     require, the same test certificates for both poolers, pgbench
	                     with sslmode=require, PostgreSQL with ssl = on); no null
	                     target and no idle figure (the C drivers speak no TLS)
	  --pgring BIN       the pgring binary (env PGRING_BIN; default: built in $BUILD_DIR)
	  --pgbouncer BIN    the PgBouncer binary ($PGBOUNCER_BIN)
	  --baseline BIN     also run this pgring binary (io_uring), as pooler pgring-base:
	                     an earlier build, for before/after figures from the same run
	  --out DIR          results folder (default bench/results/DATE-TIME)
	  --kdf [OPTIONS]    instead: SCRAM logins under load, bench/kdf.sh (its --help)
	EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--kdf) shift; exec "$BENCH_DIR/kdf.sh" "$@" ;;	# SCRAM logins under load (kdf.sh)
	--quick) ROUNDS=2 WARMUP=1 DURATION=4 CLIENTS="10 100" IDLE_N=1000 SCALE=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--modes) MODES=$2; shift ;;
	--prepared) PREPARED=1 ;;
	--targets) TARGETS=$2; shift ;;
	--null-driver) NULL_DRIVER=$2; shift ;;
	--idle) IDLE_N=$2; shift ;;
	--scale) SCALE=$2; shift ;;
	--epoll) EPOLL=1 ;;
	--dbs) DBS=$2; shift ;;
	--tls) TLS=1 ;;
	--pgring) PGRING_BIN=$2; shift ;;
	--pgbouncer) PGBOUNCER_BIN=$2; shift ;;
	--baseline) BASELINE_BIN=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ "$PREPARED" = 1 ] && MODES="$MODES prepared"
if [ "$TLS" = 1 ]; then
	IDLE_N=0 TARGETS=$(echo " $TARGETS " | sed 's/ null / /g; s/^ *//; s/ *$//')
	[ -n "$TARGETS" ] || TARGETS=pg
fi
[ -n "$OUT" ] || OUT=$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { say "error: $*"; exit 1; }

# ---- tools and binaries --------------------------------------------------------
# bench/lib.sh: PostgreSQL, the null backend, poolers, the measuring window; it sources
# test/integration/lib.sh (throwaway directory, ports, run-as-user)
PG_SCALE=$SCALE
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
[ -x "$PGBENCH" ] || die "no pgbench in $PG_BINDIR (scripts/install-deps.sh)"
[ -x "$PGBOUNCER_BIN" ] || die "no PgBouncer at $PGBOUNCER_BIN (scripts/install-deps.sh)"
HAVE_GNUPLOT=0
command -v gnuplot >/dev/null && HAVE_GNUPLOT=1

if [ -z "$PGRING_BIN" ]; then
	say "building pgring in $BUILD_DIR"
	[ -x "$SRC_DIR/configure" ] || (cd "$SRC_DIR" && ./autogen.sh) >>"$OUT/build.log" 2>&1 ||
		die "autogen failed ($OUT/build.log)"
	mkdir -p "$BUILD_DIR" || exit 1
	(cd "$BUILD_DIR" && { [ -f Makefile ] || "$SRC_DIR/configure"; } && make -j"$(nproc)" pgring) \
		>>"$OUT/build.log" 2>&1 || die "pgring build failed ($OUT/build.log)"
	PGRING_BIN=$BUILD_DIR/pgring
fi
[ -x "$PGRING_BIN" ] || die "no pgring at $PGRING_BIN"

lib_init || die "no temp directory"
T=$T_ROOT
bench_tools || exit 1
# the service user needs to run binaries from under $T
cp "$PGRING_BIN" "$T/bin/pgring" && cp "$PGBOUNCER_BIN" "$T/bin/pgbouncer" || exit 1
if [ -n "$BASELINE_BIN" ]; then
	[ -x "$BASELINE_BIN" ] || die "no pgring at $BASELINE_BIN (--baseline)"
	cp "$BASELINE_BIN" "$T/bin/pgring-base" || exit 1
fi
own "$T"

MAXCLIENTS=0
for c in $CLIENTS $IDLE_N; do [ "$c" -gt "$MAXCLIENTS" ] && MAXCLIENTS=$c; done
raise_nofile

# ---- PostgreSQL and the null backend -----------------------------------------------
# run_pg_start: bench/lib.sh's PostgreSQL, and the authq target's role: in PostgreSQL
# only, with a SCRAM verifier
run_pg_start() {
	bench_pg_start || return 1
	pg_psql "SET password_encryption = 'scram-sha-256'" \
		"CREATE ROLE $AQ_ROLE LOGIN PASSWORD '$AQ_PASSWORD'" \
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO $AQ_ROLE" >"$T/pg/authq-role.log" 2>&1 ||
		return 1
	# the scram target's auth_file line: PostgreSQL's own verifier
	AQ_SECRET=$(as_run_user "$PG_BINDIR/psql" -X -At -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres bench \
		-c "SELECT rolpassword FROM pg_authid WHERE rolname = '$AQ_ROLE'") && [ -n "$AQ_SECRET" ]
}

# bench_certs: a CA and a certificate for localhost, for PostgreSQL and both poolers
bench_certs() {
	mkdir -p "$T/tls" || return 1
	(cd "$T/tls" && exec 2>openssl.log &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=bench CA" &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out server.crt -days 2 && chmod 600 server.key) || return 1
	own "$T/tls"
}

# ---- poolers ---------------------------------------------------------------------
POOLERS=(pgbouncer pgring)
[ "$EPOLL" = 1 ] && POOLERS+=(pgring-epoll)
[ -n "$BASELINE_BIN" ] && POOLERS+=(pgring-base)

# The authq target: clients log in with SCRAM as a role that is in PostgreSQL
# only; both poolers look it up with the same auth_query, as postgres
AQ_ROLE=bench_aq AQ_PASSWORD=bench_aq_pw AQ_SECRET=""
AQ_QUERY="SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=\$1 AND rolcanlogin"

# run_pooler_start NAME [TARGET]: bench/lib.sh's pooler_start with this run's auth and TLS
run_pooler_start() {
	local extra=""
	POOLER_AUTH="auth_type = trust" POOLER_USERS_EXTRA=""
	[ "${2:-}" = authq ] &&
		POOLER_AUTH="auth_type = scram-sha-256"$'\n'"auth_user = postgres"$'\n'"auth_query = $AQ_QUERY"
	# scram: the verifier in the auth_file, nothing looked up; PostgreSQL
	# trusts the pool's server logins, so a login costs the pooler the
	# client's TCP, TLS (with --tls) and SCRAM exchange only
	[ "${2:-}" = scram ] &&
		POOLER_AUTH="auth_type = scram-sha-256" POOLER_USERS_EXTRA="\"$AQ_ROLE\" \"$AQ_SECRET\""
	[ "$TLS" = 1 ] && extra=$(printf '%s\n' "client_tls_sslmode = require" \
		"client_tls_key_file = $T/tls/server.key" "client_tls_cert_file = $T/tls/server.crt" \
		"server_tls_sslmode = require")
	pooler_start "$1" "$extra"
}

# ---- one run -----------------------------------------------------------------------
RAW=$OUT/raw.tsv
printf 'round\ttarget\tmode\tclients\tpooler\ttps\tp50_us\tp99_us\tcpu_us_tx\tsyscalls_tx\tctxsw_tx\n' >"$RAW"

# emit ROUND TARGET MODE CLIENTS POOLER TX P50 P99 WINDOWFILE
emit() {
	local secs cpu sc cs
	read -r secs cpu sc cs _ <"$9"
	awk -v r="$1" -v t="$2" -v m="$3" -v c="$4" -v p="$5" -v tx="$6" -v p50="$7" -v p99="$8" \
		-v secs="$secs" -v cpu="$cpu" -v sc="$sc" -v cs="$cs" 'BEGIN {
		if (tx <= 0) { printf "%s\t%s\t%s\t%s\t%s\tFAIL\t-\t-\t-\t-\t-\n", r, t, m, c, p; exit }
		printf "%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%.2f\t%s\t%.3f\n", r, t, m, c, p, tx / secs,
			p50, p99, cpu / 1000 / tx, (sc < 0 ? "-" : sprintf("%.3f", sc / tx)), cs / tx }' \
		>>"$RAW"
	tail -n 1 "$RAW" | tr '\t' ' ' | sed 's/^/  /' >&2
}

# run_pgbench ROUND TARGET MODE CLIENTS POOLER
# (targets authq and scram: a new connection per transaction, -C, as the
# SCRAM role; a transaction is a login, and no moment has every client connected)
run_pgbench() {
	local pooler=$5 port=${P_PORT[$5]} pid=${P_PID[$5]} db=bench dir jobs=2 bpid tx p50 p99
	local user=postgres conn=""
	[ "$2" = null ] && db=null
	case "$2" in authq | scram) user=$AQ_ROLE conn=-C ;; esac
	dir=$T/run.$1.$2.$3.$4.$5
	mkdir -p "$dir" && own "$dir"
	[ "$4" -lt 2 ] && jobs=1
	(cd "$dir" && { [ "$TLS" = 0 ] || export PGSSLMODE=require; } &&
		PGPASSWORD=$AQ_PASSWORD exec "$PGBENCH" -n -S $conn -M "$3" -c "$4" -j "$jobs" \
		-T $((WARMUP + DURATION + 3)) -l --log-prefix="$dir/tx" -h 127.0.0.1 -p "$port" \
		-U "$user" "$db") >"$dir/pgbench.out" 2>&1 &
	bpid=$!
	track_pid "$bpid"
	if [ -n "$conn" ]; then
		sleep 1
		alive "$bpid" || { say "pgbench -C against $pooler ended early: $(tail -n 3 "$dir/pgbench.out")"; }
	fi
	if [ -z "$conn" ] && ! wait_until 120 eval "[ \$(established $port) -ge $4 ] || ! kill -0 $bpid 2>/dev/null" ||
		! alive "$bpid"; then
		say "pgbench did not connect $4 clients to $pooler"; tail -n 5 "$dir/pgbench.out" >&2
		wait "$bpid" 2>/dev/null
		echo "0 0 -1 0 0 0" >"$dir/window"
		emit "$@" 0 0 0 "$dir/window"
		return
	fi
	sleep "$WARMUP"
	window "$pid" "$DURATION" "$dir/window"
	wait "$bpid"
	grep -q 'number of failed transactions: [1-9]\|error' "$dir/pgbench.out" &&
		say "$pooler: pgbench reported errors: $(grep -m1 -i 'error' "$dir/pgbench.out")"
	# transactions that ended inside the window, and their latencies
	read -r _ _ _ _ t0 t1 <"$dir/window"
	read -r tx p50 p99 < <(cat "$dir"/tx.* 2>/dev/null |
		awk -v a="$t0" -v b="$t1" '{ t = $5 + $6 / 1e6; if (t >= a && t < b) print $3 }' |
		sort -n | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print 0, 0, 0; exit }
			i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			print NR, v[i50], v[i99] }')
	emit "$@" "$tx" "$p50" "$p99" "$dir/window"
	rm -f "$dir"/tx.*
}

# run_pgload ROUND TARGET MODE CLIENTS POOLER
run_pgload() {
	local pooler=$5 port=${P_PORT[$5]} pid=${P_PID[$5]} db=bench dir fd lpid line res tx p50 p99
	[ "$2" = null ] && db=null
	dir=$T/run.$1.$2.$3.$4.$5
	mkdir -p "$dir"
	exec {fd}< <(exec "$T/bin/pgload" run 127.0.0.1 "$port" postgres "$db" "$4" "$WARMUP" "$DURATION" \
		"$3" 2>"$dir/pgload.err")
	lpid=$!
	track_pid "$lpid"
	if ! read -r -t 120 -u "$fd" line || [ "$line" != go ]; then
		say "pgload could not connect $4 clients to $pooler: $(head -c 300 "$dir/pgload.err")"
		exec {fd}<&-
		echo "0 0 -1 0 0 0" >"$dir/window"
		emit "$@" 0 0 0 "$dir/window"
		return
	fi
	sleep "$WARMUP"
	window "$pid" "$DURATION" "$dir/window"
	read -r -t 60 -u "$fd" res
	exec {fd}<&-
	wait "$lpid" 2>/dev/null
	# pgload counts its own window (WARMUP..WARMUP+DURATION after "go"): scale to ours
	tx=$(echo "$res" | sed -n 's/.*tps=\([0-9.]*\).*/\1/p')
	p50=$(echo "$res" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
	p99=$(echo "$res" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
	read -r secs _ <"$dir/window"
	tx=$(awk -v t="${tx:-0}" -v s="$secs" 'BEGIN { printf "%.0f", t * s }')
	emit "$@" "$tx" "${p50:-0}" "${p99:-0}" "$dir/window"
}

# idle_rss ROUND POOLER: RSS per idle client, on a fresh instance
IDLE=$OUT/idle.tsv
printf 'round\tpooler\tclients\trss_before_kb\trss_after_kb\tbytes_per_client\n' >"$IDLE"
idle_rss() {
	local pooler=$2 pid port r0 r1 lpid f=$T/idle.$1.$2
	run_pooler_start "$pooler" || return
	pid=${P_PID[$pooler]} port=${P_PORT[$pooler]}
	# one client first, so server-side state (parameters, a server) exists before the baseline
	timeout 20 "$T/bin/pgload" run 127.0.0.1 "$port" postgres null 1 0 1 simple >/dev/null 2>&1
	sleep 0.5
	r0=$(rss_kb "$pid")
	"$T/bin/pgload" idle 127.0.0.1 "$port" postgres null "$IDLE_N" >"$f" 2>&1 &
	lpid=$!
	track_pid "$lpid"
	if wait_until 120 grep -q '^ready' "$f"; then
		sleep 0.5
		r1=$(rss_kb "$pid")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$pooler" "$IDLE_N" "$r0" "$r1" \
			$(((r1 - r0) * 1024 / IDLE_N)) >>"$IDLE"
		tail -n 1 "$IDLE" | tr '\t' ' ' | sed 's/^/  idle: /' >&2
	else
		say "$pooler: $IDLE_N idle clients did not all log in: $(tail -n 2 "$f")"
	fi
	stop_pid "$lpid" 5 >/dev/null
	pooler_stop "$pooler"
}

# ---- the rounds ----------------------------------------------------------------------
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command: bench/run.sh $ARGS"
	echo "settings: rounds=$ROUNDS warmup=${WARMUP}s duration=${DURATION}s clients=[$CLIENTS] modes=[$MODES] targets=[$TARGETS] idle=$IDLE_N scale=$SCALE pool=$POOL_SIZE null_driver=$NULL_DRIVER tls=$TLS dbs=$DBS"
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
	echo "pgring: $PGRING_BIN ($(cd "$SRC_DIR" && git describe --always --dirty 2>/dev/null))"
	echo "pgbouncer: $("$PGBOUNCER_BIN" -V 2>/dev/null | head -n 1)"
	echo "postgresql: $("$PG_BINDIR/postgres" -V)"
	echo "syscalls from: $SYSCALLS_FROM"
	echo "load before: $(uptime)"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

[ "$TLS" = 1 ] && { bench_certs || die "could not make the TLS certificates ($T/tls)"; }
case " $TARGETS " in *" pg "* | *" authq "* | *" scram "*) say "PostgreSQL: initdb, pgbench -i -s $SCALE"; run_pg_start ||
	die "PostgreSQL did not start ($T/pg)" ;; esac
[ -n "$PG_PORT" ] || PG_PORT=1
null_start || die "nullpg did not start"

rotate() {	# rotate N WORDS...: the words, starting at the N-th (mod count)
	local n=$1; shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do printf '%s ' "${a[(i + n) % ${#a[@]}]}"; done
}

for ((round = 1; round <= ROUNDS; round++)); do
	say "round $round/$ROUNDS: load $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ "$IDLE_N" -gt 0 ]; then
		for p in $(rotate "$round" "${POOLERS[@]}"); do idle_rss "$round" "$p"; done
	fi
	for p in "${POOLERS[@]}"; do run_pooler_start "$p" || die "$p did not start"; done
	for target in $TARGETS; do
		modes=$MODES
		if [ "$target" = authq ] || [ "$target" = scram ]; then	# own configuration; logins, one mode
			modes=simple
			for p in "${POOLERS[@]}"; do pooler_stop "$p"; run_pooler_start "$p" "$target" ||
				die "$p did not start"; done
		fi
		for mode in $modes; do
			for c in $CLIENTS; do
				for p in $(rotate "$round" "${POOLERS[@]}"); do
					if [ "$target" = null ] && [ "$NULL_DRIVER" = pgload ] && [ "$mode" != prepared ]; then
						run_pgload "$round" "$target" "$mode" "$c" "$p"
					else
						run_pgbench "$round" "$target" "$mode" "$c" "$p"
					fi
					alive "${P_PID[$p]}" || { say "$p died"; run_pooler_start "$p" "$target" ||
						die "$p did not restart"; }
				done
			done
		done
		if [ "$target" = authq ] || [ "$target" = scram ]; then
			for p in "${POOLERS[@]}"; do pooler_stop "$p"; run_pooler_start "$p" ||
				die "$p did not start"; done
		fi
	done
	for p in "${POOLERS[@]}"; do pooler_stop "$p"; done
done
echo "load after: $(uptime)" >>"$OUT/env.txt"

# ---- medians, ratios, table, plots --------------------------------------------------
"$BENCH_DIR/report.sh" "$OUT" "$HAVE_GNUPLOT"
say "results in $OUT (summary.md)"
