#!/bin/bash
# device-run.sh - bench/scaling.sh on a bare, offline many-core machine, in one command.
#
# usage (from the repository root, bench/devkit made by bench/device-kit.sh and carried):
#   bench/device-run.sh [--quick] [scaling.sh options]
# Unpacks the kit into $KITROOT or /tmp (PostgreSQL, pgbench, PgBouncer: make-device-kit.sh's kit; the
# pgring build, nullpg, pgload, perf, strace, ss, taskset: tools.tar.gz), checks the machine,
# then runs bench/scaling.sh. Everything it writes goes under $OUT (default /tmp/device-out):
# preflight.txt, scaling/ (raw.tsv, summary.md, scaling.md, env.txt, run.log).
set -uo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DK=${DEVKIT:-$SRC_DIR/bench/devkit}
OUT=${OUT:-/tmp/device-out}
K=${KITROOT:-/tmp}	# where the kit is unpacked: K/pgkit, K/dk
mkdir -p "$OUT" || exit 1
exec > >(tee -a "$OUT/device-run.log") 2>&1

for f in pgkit.tar.xz tools.tar.gz; do
	[ -s "$DK/$f" ] || { echo "device-run.sh: no $DK/$f (bench/device-kit.sh, then carry bench/devkit)"; exit 1; }
done
untar() {	# untar FILE DIR: tar, or Python's tarfile where tar lacks the compressor
	tar -xf "$1" -C "$2" 2>/dev/null ||
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
}
mkdir -p "$K" && rm -rf "$K/pgkit" "$K/dk"
untar "$DK/pgkit.tar.xz" "$K" && untar "$DK/tools.tar.gz" "$K" ||
	{ echo "device-run.sh: cannot unpack the kit"; exit 1; }
# what the kit's env.sh does, except that its user 'pgkit' (PostgreSQL refuses root) is made
# only where there is no postgres user to run the server as (bench/lib.sh takes either)
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1 && ! id pgkit >/dev/null 2>&1; then
	useradd -M -s /bin/bash pgkit 2>/dev/null || adduser --system --no-create-home pgkit >/dev/null 2>&1
fi
chmod -R a+rX "$K/pgkit" "$K/dk"
export PATH=$K/dk/bin:$K/pgkit/bin:$PATH
export LD_LIBRARY_PATH=$K/dk/lib:$K/pgkit/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PG_BINDIR=$K/pgkit/usr/lib/postgresql/15/bin BENCH_TOOLS=$K/dk/bin
# strace -c would slow the pooler it counts: where perf cannot count, no syscall figure
export BENCH_STRACE=0
# where io_uring is not allowed, pgring's epoll backend rather than no figures (env.txt says which)
export PGRING_BACKEND=${PGRING_BACKEND:-auto}
# perf counts system calls on the raw_syscalls tracepoint: tracefs must be there
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
[ -d /sys/kernel/debug/tracing/events ] || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null

{
	echo "kit: $(cat "$K/dk/VERSION")"
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), $(awk '/MemTotal/ { print $2 / 1048576 " GiB" }' /proc/meminfo)"
	lscpu 2>&1 | grep -E '^(Thread|Core|Socket|NUMA)' || true
	echo "user: $(id), nofile hard limit $(ulimit -Hn), load $(cut -d' ' -f1-3 /proc/loadavg)"
	for t in pgbench postgres pgbouncer perf ss taskset awk; do
		printf '%s: %s\n' "$t" "$(command -v "$t" || echo MISSING)"
	done
	echo "perf stat: $(perf stat -e raw_syscalls:sys_enter -- true 2>&1 >/dev/null | grep -m1 -E 'sys_enter|rror|denied' || echo no output)"
	echo "pgring: $("$K/dk/bin/pgring" -V 2>&1 | head -n 1)"
	echo "pgbench: $(pgbench -V 2>&1)"
	echo "pgbouncer: $(pgbouncer -V 2>&1 | head -n 1)"
} >"$OUT/preflight.txt" 2>&1
cat "$OUT/preflight.txt"
grep -q MISSING "$OUT/preflight.txt" && { echo "device-run.sh: a tool is missing"; exit 1; }

start=$(date +%s)
"$SRC_DIR/bench/scaling.sh" --pgring "$K/dk/bin/pgring" --pgbouncer "$K/pgkit/bin/pgbouncer" \
	--out "$OUT/scaling" "$@"
rc=$?
cp "$OUT/scaling/run.log" "$OUT/" 2>/dev/null
echo "device-run.sh: scaling.sh ended with $rc after $(($(date +%s) - start)) s"
exit $rc
