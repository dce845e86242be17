#!/bin/bash
# kdf.sh - SCRAM logins against a running workload, pgring and PgBouncer side by side
# (issue 14 item 3; `bench/run.sh --kdf [options]` runs it too).
#
# usage: bench/kdf.sh [--rounds N] [--duration S] [--pgring BIN] [--pgbouncer BIN]
#                     [--baseline BIN (an earlier pgring, as pgring-base)] [--out DIR]
#
# A throwaway PostgreSQL (pgbench -i -s 1) with SCRAM roles, and each pooler in
# turn (the order rotates every round), auth_type = scram-sha-256, transaction
# mode, pool of 20. Per pooler and round, each for --duration seconds:
#   base       pgbench -S -c 10 alone: tps, p99
#   login4k    the same, while another pgbench opens a SCRAM connection per
#              transaction (-C -S -c 2) at RATE_4K/s, 4,096-iteration verifier
#   login100k  the same at RATE_100K/s with a 100,000-iteration verifier
#   flood      the same, while one client thread sends unfinished SASL-first
#              messages for a user that does not exist as fast as it can
#   logins     pgbench -C -S -c 10 (4,096-iteration verifier) alone: new SCRAM
#              logins per second of the pooler's CPU (all its threads)
# The victim's p99 and tps under load are given against its own base run.
# The clients' PBKDF2 (pgbench, libpq) costs CPU the machine shares with the
# poolers: the login rates are kept modest for that reason.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
ROUNDS=2 DURATION=8 RATE_4K=100 RATE_100K=20 OUT="" BASELINE_BIN=""
PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer} PGRING_BIN=${PGRING_BIN:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--rate-4k) RATE_4K=$2; shift ;;
	--rate-100k) RATE_100K=$2; shift ;;
	--pgring) PGRING_BIN=$2; shift ;;
	--pgbouncer) PGBOUNCER_BIN=$2; shift ;;
	--baseline) BASELINE_BIN=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "kdf.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$OUT" ] || OUT=$BENCH_DIR/results/kdf-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { say "error: $*"; exit 1; }

# PostgreSQL and the measuring helpers: bench/lib.sh (which sources test/integration/lib.sh)
PG_SCALE=1
PG_HBA=$'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256'
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
PROBE=$SRC_DIR/test/integration/scram_probe.py
[ -x "$PGBENCH" ] || die "no pgbench in $PG_BINDIR"
[ -x "$PGBOUNCER_BIN" ] || die "no PgBouncer at $PGBOUNCER_BIN"
[ -x "${PGRING_BIN:-}" ] || die "no pgring binary: --pgring BIN"
lib_init || die "no temp directory"
T=$T_ROOT
mkdir -p "$T/bin" && cp "$PGRING_BIN" "$T/bin/pgring" && cp "$PGBOUNCER_BIN" "$T/bin/pgbouncer" &&
	cp "$PROBE" "$T/bin/" || exit 1
POOLERS=(pgbouncer pgring)
if [ -n "$BASELINE_BIN" ]; then
	cp "$BASELINE_BIN" "$T/bin/pgring-base" || exit 1
	POOLERS+=(pgring-base)
fi
own "$T"

# ---- PostgreSQL: roles victim (pw), app4k and app100k (pw, verifiers of 4,096
# and 100,000 iterations, set as verifiers so PostgreSQL 15 keeps the count) ----
verifier() { /usr/bin/python3 "$PROBE" verifier pw "$1"; }
V4K=$(verifier 4096) V100K=$(verifier 100000) VVIC=$(verifier 4096)
pg_up() {
	bench_pg_start || return 1
	as_run_user "$PG_BINDIR/psql" -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres bench <<-EOF
	CREATE ROLE victim LOGIN PASSWORD '$VVIC';
	CREATE ROLE app4k LOGIN PASSWORD '$V4K';
	CREATE ROLE app100k LOGIN PASSWORD '$V100K';
	GRANT SELECT ON ALL TABLES IN SCHEMA public TO victim, app4k, app100k;
	EOF
}
pg_up || die "PostgreSQL did not start ($T/pg)"

kdf_pooler_start() {
	local name=$1 dir=$T/$1 port
	port=$(free_port) || return 1
	mkdir -p "$dir" || return 1
	printf '"victim" "%s"\n"app4k" "%s"\n"app100k" "%s"\n' "$VVIC" "$V4K" "$V100K" >"$dir/userlist.txt"
	chmod 600 "$dir/userlist.txt"
	cat >"$dir/pooler.ini" <<-EOF
	[databases]
	bench = host=127.0.0.1 port=$PG_PORT dbname=bench
	[pgbouncer]
	listen_addr = 127.0.0.1
	listen_port = $port
	unix_socket_dir = $dir
	auth_type = scram-sha-256
	auth_file = $dir/userlist.txt
	pool_mode = transaction
	default_pool_size = 20
	max_client_conn = 2000
	log_connections = 0
	log_disconnections = 0
	log_pooler_errors = 0
	logfile = $dir/pooler.log
	pidfile = $dir/pooler.pid
	EOF
	[ "$name" != pgbouncer ] && echo "event_backend = io_uring" >>"$dir/pooler.ini"
	own "$dir"
	rm -f "$dir/pooler.pid"
	if [ "$(id -u)" = 0 ]; then
		"$T/bin/$name" -u "$RUN_USER" "$dir/pooler.ini" >"$dir/stderr.log" 2>&1 </dev/null &
	else
		"$T/bin/$name" "$dir/pooler.ini" >"$dir/stderr.log" 2>&1 </dev/null &
	fi
	P_PID[$name]=$! P_PORT[$name]=$port
	track_pid "${P_PID[$name]}"
	wait_until 10 listening "$port" || { tail "$dir/stderr.log" "$dir/pooler.log" >&2; return 1; }
}

# victim DIR PORT: pgbench -S -c 10 for DURATION; "tps p99_us" (first second dropped)
victim() {
	local dir=$1 port=$2
	mkdir -p "$dir" && own "$dir"
	(cd "$dir" && PGPASSWORD=pw exec "$PGBENCH" -n -S -c 10 -j 2 -T "$((DURATION + 1))" -l \
		--log-prefix="$dir/tx" -h 127.0.0.1 -p "$port" -U victim bench) >"$dir/victim.out" 2>&1
	cat "$dir"/tx.* 2>/dev/null | awk '{ printf "%.6f %s\n", $5 + $6 / 1e6, $3 }' | sort -n |
		awk 'NR == 1 { t0 = $1 } $1 >= t0 + 1 { print $2 }' | sort -n |
		awk -v d="$DURATION" '{ v[NR] = $1 }
		END { if (!NR) { print 0, 0; exit }
			i = int(NR * 0.99); if (i < 1) i = 1
			printf "%.0f %d\n", NR / d, v[i] }'
	rm -f "$dir"/tx.*
}

# logins_bg PORT USER RATE: SCRAM connection per transaction, in the background
logins_bg() {
	local rate=()
	[ "$3" != 0 ] && rate=(-R "$3")
	PGPASSWORD=pw "$PGBENCH" -n -C -S -c 2 -j 2 "${rate[@]}" -T "$((DURATION + 2))" \
		-h 127.0.0.1 -p "$1" -U "$2" bench >"$T/logins.out" 2>&1 &
	BG=$!
}

RAW=$OUT/raw.tsv
printf 'round\tpooler\tcase\ttps\tp99_us\textra\n' >"$RAW"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; printf '  %s\n' "$*" >&2; }

one_pooler() {
	local r=$1 p=$2 port=${P_PORT[$2]} pid=${P_PID[$2]} d=$T/run.$1.$2 out c0 c1 n
	out=$(victim "$d/base" "$port"); row "$r" "$p" base $out -
	logins_bg "$port" app4k "$RATE_4K"
	out=$(victim "$d/l4k" "$port"); wait "$BG"
	row "$r" "$p" login4k $out "logins=$(sed -n 's/.*number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/logins.out")"
	logins_bg "$port" app100k "$RATE_100K"
	out=$(victim "$d/l100k" "$port"); wait "$BG"
	row "$r" "$p" login100k $out "logins=$(sed -n 's/.*number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/logins.out")"
	timeout 60 /usr/bin/python3 "$PROBE" "$port" flood nosuchuser bench "$((DURATION + 2))" >"$T/flood.out" 2>&1 &
	BG=$!
	out=$(victim "$d/flood" "$port"); wait "$BG"
	row "$r" "$p" flood $out "$(cat "$T/flood.out")"
	c0=$(cpu_ns "$pid")
	PGPASSWORD=pw "$PGBENCH" -n -C -S -c 10 -j 2 -T "$DURATION" -h 127.0.0.1 -p "$port" -U app4k bench \
		>"$T/rate.out" 2>&1
	c1=$(cpu_ns "$pid")
	n=$(sed -n 's/.*number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/rate.out")
	row "$r" "$p" logins "$(awk -v n="${n:-0}" -v d="$DURATION" 'BEGIN { printf "%.0f", n / d }')" - \
		"logins_per_cpu_s=$(awk -v n="${n:-0}" -v c=$((c1 - c0)) 'BEGIN { printf "%.0f", c ? n / (c / 1e9) : 0 }')"
}

{
	echo "command: bench/kdf.sh --rounds $ROUNDS --duration $DURATION --rate-4k $RATE_4K --rate-100k $RATE_100K"
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "pgbouncer: $("$PGBOUNCER_BIN" -V 2>/dev/null | head -n 1); pgring: $("$PGRING_BIN" -V 2>/dev/null | head -n 1)"
} >"$OUT/env.txt"
for p in "${POOLERS[@]}"; do kdf_pooler_start "$p" || die "$p did not start"; done
order=("${POOLERS[@]}")
for r in $(seq 1 "$ROUNDS"); do
	say "round $r: ${order[*]}"
	for p in "${order[@]}"; do one_pooler "$r" "$p"; done
	order=("${order[@]:1}" "${order[0]}")
done
for p in "${POOLERS[@]}"; do stop_pid "${P_PID[$p]}" 5 >/dev/null; done

# medians over rounds, then the table
awk -F'\t' 'NR > 1 { k = $2 "\t" $3; n[k]++; tps[k, n[k]] = $4; p99[k, n[k]] = $5
		if ($3 == "logins") { split($6, a, "="); lc[k, n[k]] = a[2] } }
	function med(arr, k, m,   i, v, j, t) { for (i = 1; i <= m; i++) v[i] = arr[k, i] + 0
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
	END { for (k in n) { printf "%s\t%.0f\t%.0f\t%s\n", k, med(tps, k, n[k]), med(p99, k, n[k]),
		(k ~ /logins$/ ? med(lc, k, n[k]) : "-") } }' "$RAW" | sort >"$OUT/medians.tsv"
awk -F'\t' '{ tps[$1, $2] = $3; p99[$1, $2] = $4; lc[$1, $2] = $5 }
	END {
		print "| pooler | base tps | base p99 ms | p99 during 4k logins (x base) | p99 during 100k logins (x base) | tps during unknown-user flood (% of base) | SCRAM logins per CPU-second |"
		print "|---|---|---|---|---|---|---|"
		np = split(poolers, ps, " ")
		for (i = 1; i <= np; i++) { p = ps[i]; b = p99[p, "base"]
			printf "| %s | %d | %.2f | %.2f (%.2f) | %.2f (%.2f) | %d (%.0f%%) | %d |\n", p, tps[p, "base"], b / 1000,
				p99[p, "login4k"] / 1000, b ? p99[p, "login4k"] / b : 0,
				p99[p, "login100k"] / 1000, b ? p99[p, "login100k"] / b : 0,
				tps[p, "flood"], tps[p, "base"] ? 100 * tps[p, "flood"] / tps[p, "base"] : 0, lc[p, "logins"] }
	}' poolers="${POOLERS[*]}" "$OUT/medians.tsv" >"$OUT/summary.md"
cat "$OUT/env.txt" "$OUT/summary.md"
