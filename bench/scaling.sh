#!/bin/bash
# scaling.sh - pgring's throughput and CPU per transaction against its worker count, on the
# null backend, for a many-core machine (issue 17). Each pooler is pinned to CPUs 0..W-1,
# pgbench and the null backend to the others, so that the load generator never takes the
# pooler's cores; PgBouncer with as many processes on one port (so_reuseport = 1) as pgring
# has workers is the reference at every W (--no-pgbouncer leaves it out).
#
# usage: bench/scaling.sh [--quick] [--workers "1 2 4 8 12"] [--clients N] [--rounds N]
#                         [--duration S] [--warmup S] [--no-pgbouncer] [workers.sh options]
# On a bare machine: bench/device-run.sh (sets up the kit, then runs this).
# Writes raw.tsv, summary.md (workers.sh's) and scaling.md (the table) under --out.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

WORKERS="1 2 4 8 12" CLIENTS=1000 ROUNDS=2 DURATION=8 WARMUP=2 PGB=1 OUT="" NULL_PROCS=4 REST=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) WORKERS="1 2" CLIENTS=100 ROUNDS=1 DURATION=2 WARMUP=1 ;;
	--workers) WORKERS=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--null-procs) NULL_PROCS=$2; shift ;;
	--no-pgbouncer) PGB=0 ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) REST+=("$1") ;;
	esac
	shift
done
[ -n "$OUT" ] || OUT=$BENCH_DIR/results/scaling-$(date +%Y%m%d-%H%M%S)
NCPU=$(nproc)
poolers=""
for w in $WORKERS; do
	if [ "$w" -ge "$NCPU" ]; then
		echo "scaling.sh: $w workers leave no CPU to pgbench on $NCPU CPUs; skipped" >&2
		continue
	fi
	poolers+=" pgring-w$w"
	if [ "$PGB" = 1 ]; then
		if [ "$w" = 1 ]; then poolers+=" pgbouncer"; else poolers+=" pgbouncer-x$w"; fi
	fi
done
[ -n "$poolers" ] || { echo "scaling.sh: no worker count fits $NCPU CPUs" >&2; exit 1; }

"$BENCH_DIR/workers.sh" --pin --targets null --clients "$CLIENTS" --rounds "$ROUNDS" \
	--duration "$DURATION" --warmup "$WARMUP" --null-procs "$NULL_PROCS" --poolers "${poolers# }" \
	--out "$OUT" "${REST[@]}" >/dev/null || exit 1

# the table: per W, pgring's medians, its speedup against W = 1, PgBouncer x W beside it
{
	echo "## pgring scaling with workers = W (null backend, $CLIENTS clients, medians of $ROUNDS rounds of ${DURATION} s)"
	echo
	echo "pgring and PgBouncer pinned to CPUs 0..W-1, pgbench and the null backend to the other"
	echo "$((NCPU)) - W. CPU µs/tx: the pooler's (all threads/processes). Speedup: tps against pgring"
	echo "at W = 1. PgBouncer x W: W processes on one port (so_reuseport = 1; W = 1: one)."
	echo "pooler CPUs and driver CPUs: cores busy; a driver near its $((NCPU)) - W cores, or a pooler"
	echo "well under W, means the load generator, not the pooler, set the pace."
	echo
	echo "| workers | tps | CPU µs/tx | speedup vs 1 | syscalls/tx | CPU shares % (first round) | clients per worker (first round) | pooler CPUs | driver CPUs | PgBouncer x W tps | PgBouncer x W CPU µs/tx | tps pgring / PgBouncer |"
	echo "|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"
	awk -F'\t' -v ws="$WORKERS" 'function f(v, d) { return (v == "" || v == "-") ? "-" : sprintf("%." d "f", v) }
	function r(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	NR > 1 { tps[$3] = $4; cpu[$3] = $5; sc[$3] = $6; pc[$3] = $9; dc[$3] = $10; split($11, s, " "); sh[$3] = s[1]; split($13, s, ", "); wc[$3] = s[1] }
	END { n = split(ws, w, " ")
		for (i = 1; i <= n; i++) { p = "pgring-w" w[i]; b = (w[i] == 1 ? "pgbouncer" : "pgbouncer-x" w[i])
			if (!(p in tps)) continue
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w[i], f(tps[p], 0), f(cpu[p], 1),
				r(tps[p], tps["pgring-w1"]), f(sc[p], 2), sh[p], wc[p], f(pc[p], 2), f(dc[p], 2),
				f(tps[b], 0), f(cpu[b], 1), r(tps[p], tps[b]) } }' "$OUT/summary.tsv"
	echo
	echo '```'
	cat "$OUT/env.txt"
	echo '```'
} >"$OUT/scaling.md"
cat "$OUT/scaling.md"
