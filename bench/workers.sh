#!/bin/bash
# workers.sh - pgring with workers = 1 and 2 against one PgBouncer and against two
# PgBouncers on one port (so_reuseport = 1, PgBouncer's own way to use more cores), issue 17.
#
# usage: bench/workers.sh [--quick] [options]    (--help lists them)
#
# Per round, per target (null: bench/nullpg.c; pg: PostgreSQL), per client count, each
# pooler in turn (the order rotates every round), a fresh instance per run:
# pgbench -n -S -M simple -c C, and over a window that starts once every client is
# connected: tps (pgbench's per-second progress lines inside the window), the pooler's CPU
# µs per transaction (every thread of every process of it, /proc schedstat), system calls
# and context switches per transaction (perf stat; strace -c where perf is missing), the
# server connections it held, and how its CPU was spread over its busy threads (pgring:
# one thread per worker, in worker order; two PgBouncers: one process each). Medians over
# rounds in summary.md, every run in raw.tsv.
#
# --pin (bench/scaling.sh): a pooler with N workers or N processes runs on CPUs 0..N-1,
# pgbench and the null backend on the others.
set -uo pipefail

ARGS="$*"
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)

ROUNDS=3 WARMUP=2 DURATION=10 CLIENTS="100 1000" TARGETS="null pg" MODE=simple
POOLERS="pgbouncer pgbouncer-x2 pgring-w1 pgring-w2" PIN=0 NULL_PROCS=1 JOBS="" OUT=""
PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer} PGRING_BIN=${PGRING_BIN:-}
POOL_SIZE=20 PG_SCALE=10

usage() {
	cat <<-EOF
	usage: bench/workers.sh [--quick] [options]
	  --quick            smoke test: 1 round of 1+3 s, 100 clients, scale 1
	  --rounds N         alternating rounds, medians over them ($ROUNDS)
	  --warmup S         seconds after every client connected before measuring ($WARMUP)
	  --duration S       measured seconds per run ($DURATION)
	  --clients "LIST"   client counts ("$CLIENTS")
	  --targets "LIST"   null (bench/nullpg.c) and/or pg (PostgreSQL) ("$TARGETS")
	  --poolers "LIST"   pgbouncer, pgbouncer-xK (K processes, so_reuseport), pgring-wN
	                     (workers = N); NAME:P gives that one default_pool_size P
	                     ("$POOLERS")
	  --mode M           pgbench -M ($MODE)
	  --pool N           default_pool_size ($POOL_SIZE); K PgBouncers get N/K each on the
	                     pg target (the same server connections in all); pgring N
	  --scale N          pgbench -i scale ($PG_SCALE)
	  --jobs N           pgbench -j (default: the CPUs pgbench may use, at most the clients)
	  --null-procs N     null backend processes ($NULL_PROCS)
	  --pin              pin a pooler of N workers/processes to CPUs 0..N-1, pgbench and
	                     the null backend to the rest (bench/scaling.sh)
	  --pgring BIN       the pgring binary (env PGRING_BIN; default build/pgring)
	  --pgbouncer BIN    the PgBouncer binary ($PGBOUNCER_BIN)
	  --out DIR          results folder (default bench/results/workers-DATE-TIME)
	EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) ROUNDS=1 WARMUP=1 DURATION=3 CLIENTS=100 PG_SCALE=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--targets) TARGETS=$2; shift ;;
	--poolers) POOLERS=$2; shift ;;
	--mode) MODE=$2; shift ;;
	--pool) POOL_SIZE=$2; shift ;;
	--scale) PG_SCALE=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--null-procs) NULL_PROCS=$2; shift ;;
	--pin) PIN=1 ;;
	--pgring) PGRING_BIN=$2; shift ;;
	--pgbouncer) PGBOUNCER_BIN=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "workers.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ -n "$OUT" ] || OUT=$BENCH_DIR/results/workers-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { say "error: $*"; exit 1; }

# the most workers or processes of one pooler: PostgreSQL's max_connections must hold
# pgring's pools (per worker until the limits are shared) and the admin's margin
# the CPUs this process may run on (a container's cpuset need not start at 0): --pin gives
# a pooler the first N of them, pgbench and the null backend the rest
read -ra CPUS < <(awk '/^Cpus_allowed_list/ { n = split($2, r, ","); for (i = 1; i <= n; i++) {
	m = split(r[i], ab, "-"); for (c = ab[1] + 0; c <= (m > 1 ? ab[2] : ab[1]) + 0; c++) printf "%d ", c } }' /proc/self/status)
[ "${#CPUS[@]}" -gt 0 ] || read -ra CPUS < <(seq 0 $(($(nproc) - 1)))
NCPU=${#CPUS[@]}
# cpu_list FROM COUNT: taskset -c's list for CPUS[FROM .. FROM+COUNT-1]
cpu_list() { local IFS=,; echo "${CPUS[*]:$1:$2}"; }
MAXW=1
for p in $POOLERS; do
	p=${p%%:*} n=${p##*-[wx]}
	case "$n" in '' | *[!0-9]*) n=1 ;; esac
	[ "$n" -gt "$MAXW" ] && MAXW=$n
done
PG_MAXCONN=$((POOL_SIZE * MAXW + 20))
[ "$PG_MAXCONN" -lt 120 ] && PG_MAXCONN=120
MAXCLIENTS=0
for c in $CLIENTS; do [ "$c" -gt "$MAXCLIENTS" ] && MAXCLIENTS=$c; done

[ -n "$PGRING_BIN" ] || PGRING_BIN=$SRC_DIR/build/pgring
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
[ -x "$PGRING_BIN" ] || die "no pgring at $PGRING_BIN (--pgring BIN)"
[ -x "$PGBENCH" ] || die "no pgbench in $PG_BINDIR"
case " $POOLERS " in *" pgbouncer"*) [ -x "$PGBOUNCER_BIN" ] || die "no PgBouncer at $PGBOUNCER_BIN" ;; esac
for tool in ss taskset; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[ "$PIN" = 1 ] && [ "$MAXW" -ge "$NCPU" ] && die "--pin: $MAXW pooler CPUs leave none to pgbench on $NCPU"

lib_init || die "no temp directory"
T=$T_ROOT
bench_tools || exit 1
cp "$PGRING_BIN" "$T/bin/pgring" && cp "$PGBOUNCER_BIN" "$T/bin/pgbouncer" || exit 1
own "$T"
raise_nofile

# ---- one run ----------------------------------------------------------------------------
RAW=$OUT/raw.tsv
printf 'round\ttarget\tclients\tpooler\ttps\tcpu_us_tx\tsyscalls_tx\tctxsw_tx\tservers\tshares\tpooler_cpus\tdriver_cpus\tload\tworker_clients\n' >"$RAW"

BACKEND_SEEN=""
# ncpus POOLER: the CPUs a pooler is pinned to (its workers or processes)
ncpus() {
	local n=${1##*-[wx]}
	case "$n" in '' | *[!0-9]*) n=1 ;; esac
	echo "$n"
}

# children PID: the processes PID forked (the null backend's)
children() { awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null; }

# worker_clients POOLER PORT CLIENTS: pgring's clients per worker, "48/52", from SHOW CLIENTS
# on the unix socket (worker 0's console; ids carry the worker index in their top 8 bits).
# While the console lists only its own worker's clients: "w0 48/100". K PgBouncers: each
# process's, from ss -p.
worker_clients() {
	if [ "${1#pgbouncer-x}" != "$1" ]; then
		ss -Htnp state established "( sport = :$2 )" 2>/dev/null | grep -o 'pid=[0-9]*' |
			awk -v pids="${P_PIDS[$1]}" 'BEGIN { k = split(pids, p, " ") } { n[substr($1, 5)]++ }
			END { for (i = 1; i <= k; i++) out = out (i > 1 ? "/" : "") (n[p[i]] + 0); print out }'
		return
	fi
	[ "${1#pgring}" != "$1" ] || { echo -; return; }
	timeout 10 "$PG_BINDIR/psql" -X -A -t -F ' ' -h "$T/$1" -p "$2" -U postgres pgbouncer \
		-c "SHOW CLIENTS" 2>/dev/null |
		awk -v c="$3" -v nw="$(ncpus "$1")" '$3 == "bench" || $3 == "null" {
			w = int($NF / 72057594037927936); n[w]++; tot++ }
		END { if (tot == c) { for (i = 0; i < nw; i++) out = out (i ? "/" : "") (n[i] + 0); print out }
			else printf "w0 %d/%d\n", n[0], c }'
}

# one_run ROUND TARGET CLIENTS POOLER
one_run() {
	local r=$1 target=$2 c=$3 label=$4 p=${4%%:*} dir db=$2 pool=$POOL_SIZE n jobs pin=() bpid pids port
	local secs cpu sc cs t0 t1 other tps srv wcl
	dir=$T/run.$r.$target.$c.${label/:/.}
	mkdir -p "$dir" && own "$dir"
	[ "$target" = pg ] && db=bench
	n=$(ncpus "$p")
	# K PgBouncers share the pg target's server connections out
	[ "$target" = pg ] && [ "${p#pgbouncer-x}" != "$p" ] && pool=$(((POOL_SIZE + n - 1) / n))
	[ "$label" != "$p" ] && pool=${label#*:}	# NAME:POOL, this pooler's own pool size
	jobs=${JOBS:-$NCPU}
	POOLER_CPUS=""
	if [ "$PIN" = 1 ]; then
		POOLER_CPUS=$(cpu_list 0 "$n")
		pin=(taskset -c "$(cpu_list "$n" $((NCPU - n)))")
		jobs=${JOBS:-$((NCPU - n))}
	fi
	[ "$jobs" -gt "$c" ] && jobs=$c
	pooler_start "$p" "" "$pool" || { say "$p did not start"; return 1; }
	port=${P_PORT[$p]} pids=${P_PIDS[$p]}
	if [ "${p#pgring}" != "$p" ] && [ -z "$BACKEND_SEEN" ] &&
		wait_until 5 grep -q 'event backend' "$T/$p/pooler.log"; then
		BACKEND_SEEN=$(grep -m1 -o 'event backend.*' "$T/$p/pooler.log")
		echo "pgring $BACKEND_SEEN" >>"$OUT/env.txt"
		say "pgring $BACKEND_SEEN"
	fi
	(cd "$dir" && exec "${pin[@]}" "$PGBENCH" -n -S -M "$MODE" -c "$c" -j "$jobs" \
		-T $((WARMUP + DURATION + 120)) -P 1 --progress-timestamp -h 127.0.0.1 -p "$port" \
		-U postgres "$db") >"$dir/pgbench.out" 2>&1 &
	bpid=$!
	track_pid "$bpid"
	if ! wait_until 120 eval "[ \$(established $port) -ge $c ] || ! kill -0 $bpid 2>/dev/null" ||
		! alive "$bpid"; then
		say "pgbench did not connect $c clients to $p: $(tail -n 3 "$dir/pgbench.out")"
		stop_pid "$bpid" 2; pooler_stop "$p"
		printf '%s\t%s\t%s\t%s\tFAIL\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$r" "$target" "$c" "$label" >>"$RAW"
		return 0
	fi
	sleep "$WARMUP"
	# shellcheck disable=SC2046
	window "$pids" "$DURATION" "$dir/window" "$bpid $NULL_PID $(children "$NULL_PID")"
	wcl=$(worker_clients "$p" "$port" "$c")
	srv=$(servers "$([ "$target" = pg ] && echo "$PG_PORT" || echo "$NULL_PORT")")
	# its progress lines are written: no need to wait out -T
	stop_pid "$bpid" 5 >/dev/null
	grep -qi 'error\|aborted\|failed transactions: [1-9]' "$dir/pgbench.out" &&
		say "$p: pgbench reported errors: $(grep -m1 -i 'error\|aborted\|failed' "$dir/pgbench.out")"
	pooler_alive "$p" || say "$p died during the run"
	pooler_stop "$p"
	read -r secs cpu sc cs t0 t1 other <"$dir/window"
	# progress lines: "progress: EPOCH s, TPS tps, ..."; those whose second lies in the window
	tps=$(awk -v a="$t0" -v b="$t1" '$1 == "progress:" && $2 - 1 >= a - 0.05 && $2 <= b + 0.05 {
		s += $4; n++ } END { printf "%.0f", n ? s / n : 0 }' "$dir/pgbench.out")
	awk -v r="$r" -v t="$target" -v c="$c" -v p="$label" -v tps="$tps" -v secs="$secs" -v cpu="$cpu" \
		-v sc="$sc" -v cs="$cs" -v srv="$srv" -v sh="$(thread_shares "$dir/window.threads")" \
		-v other="$other" -v load="$(cut -d' ' -f1 /proc/loadavg)" -v wcl="${wcl:--}" 'BEGIN {
		if (tps <= 0 || secs <= 0) { printf "%s\t%s\t%s\t%s\tFAIL\t-\t-\t-\t-\t-\t-\t-\t%s\t-\n", r, t, c, p, load; exit }
		tx = tps * secs
		printf "%s\t%s\t%s\t%s\t%.0f\t%.2f\t%s\t%.3f\t%s\t%s\t%.2f\t%.2f\t%s\t%s\n", r, t, c, p, tps,
			cpu / 1000 / tx, (sc < 0 ? "-" : sprintf("%.3f", sc / tx)), cs / tx, srv, sh,
			cpu / 1e9 / secs, other / 1e9 / secs, load, wcl }' >>"$RAW"
	tail -n 1 "$RAW" | tr '\t' ' ' | sed 's/^/  /' >&2
}

rotate() {	# rotate N WORDS...: the words, starting at the N-th (mod count)
	local n=$1; shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do printf '%s ' "${a[(i + n) % ${#a[@]}]}"; done
}

# ---- the rounds ---------------------------------------------------------------------------
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command: bench/workers.sh $ARGS"
	echo "settings: rounds=$ROUNDS warmup=${WARMUP}s duration=${DURATION}s clients=[$CLIENTS] targets=[$TARGETS] poolers=[$POOLERS] mode=$MODE pool=$POOL_SIZE scale=$PG_SCALE pin=$PIN null_procs=$NULL_PROCS jobs=${JOBS:-auto}"
	echo "machine: $NCPU CPUs ($(cpu_list 0 "$NCPU")), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
	command -v lscpu >/dev/null &&
		echo "cpus: $(lscpu | awk -F': *' '/^(Thread|Core|Socket|NUMA node\(s\))/ { printf "%s%s: %s", s, $1, $2; s = ", " }')"
	echo "pgring: $PGRING_BIN ($(cd "$SRC_DIR" && git describe --always --dirty 2>/dev/null))"
	echo "pgbouncer: $("$PGBOUNCER_BIN" -V 2>/dev/null | head -n 1)"
	echo "postgresql: $("$PG_BINDIR/postgres" -V)"
	echo "syscalls from: $SYSCALLS_FROM"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

case " $TARGETS " in *" pg "*)
	say "PostgreSQL: initdb, pgbench -i -s $PG_SCALE, max_connections $PG_MAXCONN"
	bench_pg_start || die "PostgreSQL did not start ($T/pg)" ;;
esac
null_pin=""
[ "$PIN" = 1 ] && null_pin=$(cpu_list "$MAXW" $((NCPU - MAXW)))
null_start "$NULL_PROCS" "$null_pin" || die "nullpg did not start"

read -ra PLIST <<<"$POOLERS"
for ((round = 1; round <= ROUNDS; round++)); do
	say "round $round/$ROUNDS: load $(cut -d' ' -f1-3 /proc/loadavg)"
	for target in $TARGETS; do
		for c in $CLIENTS; do
			for p in $(rotate "$round" "${PLIST[@]}"); do one_run "$round" "$target" "$c" "$p"; done
		done
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
"$BENCH_DIR/workers-report.sh" "$OUT"
say "results in $OUT (summary.md)"
