#!/bin/bash
# soak.sh - a mixed workload through one pgring for SOAK_SECONDS with clients
# aborted at random moments: short queries, transactions, bursts of hundreds
# of connections, clients killed mid-query, clients that stop reading a large
# result and vanish.  Every operation must either complete or fail cleanly
# (none may hang), pgring must stay up, and its RSS and fd count at the end
# must be where they were after the warm-up.
#
#   SOAK_SECONDS=60   how long (CI runs it shorter)
#   SOAK_WORKERS=6    parallel client loops
#   BACKEND=auto      event_backend of the instance
#   top_builddir=...  where pgring, pqtool and rawpg are (default ./build)
#
# Ends with "soak: N passed, N failed" (its checks), exits non-zero on failure.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
: "${RAWPG:=$top_builddir/test/integration/rawpg}"
seconds=${SOAK_SECONDS:-60}
workers=${SOAK_WORKERS:-6}
backend=${BACKEND:-auto}
passed=0 failed=0

check() {	# check WHAT CONDITION...
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "soak: ok - $what"
	else
		failed=$((failed + 1))
		echo "soak: FAILED - $what"
	fi
}

for b in "$PGRING_BIN" "$PQTOOL" "$RAWPG"; do
	[ -x "$b" ] || { echo "soak: no $b (build and make check first)"; exit 1; }
done
ulimit -n 8192 2>/dev/null || true
lib_init || exit 1
pg_start || { echo "soak: PostgreSQL did not start"; exit 1; }
pg_sql "CREATE TABLE soak_t (id serial, v text)" "GRANT ALL ON soak_t, soak_t_id_seq TO PUBLIC" >/dev/null ||
	{ echo "soak: setup failed"; exit 1; }
pgring_start "$backend" "auth_type = trust
max_client_conn = 4000
default_pool_size = 10
server_connect_timeout = 3" || { echo "soak: pgring did not start"; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PGRING_PID/status" 2>/dev/null; }
fds() { ls "/proc/$PGRING_PID/fd" 2>/dev/null | wc -l; }
conn=$(pgring_conn testdb u_trust)

# one client loop: OUT gets one line per operation, "ok", "err" or "hang"
worker() {
	local out=$1 end=$2 r rc
	while [ "$(date +%s)" -lt "$end" ]; do
		r=$((RANDOM % 6))
		rc=0
		case $r in
		0) PQ_TIMEOUT=20 pq "$conn" query "SELECT count(*) FROM generate_series(1, 20000)" >/dev/null 2>&1 || rc=$? ;;
		1) PQ_TIMEOUT=20 pq "$conn" query "BEGIN" "INSERT INTO soak_t (v) VALUES ('x')" \
			"SELECT count(*) FROM soak_t" "COMMIT" >/dev/null 2>&1 || rc=$? ;;
		2) # killed mid-query at a random moment
			timeout -s KILL "0.$((RANDOM % 9 + 1))" "$PQTOOL" "$conn" query "SELECT pg_sleep(0.5)" \
				>/dev/null 2>&1
			rc=0 ;;
		3) RAW_TIMEOUT=30 timeout -k 2 30 "$RAWPG" 127.0.0.1 "$PGRING_PORT" many 100 u_trust testdb \
			>/dev/null 2>&1 || rc=$? ;;
		4) # stops reading a large result, then vanishes
			timeout -k 2 10 "$RAWPG" 127.0.0.1 "$PGRING_PORT" noread u_trust testdb \
				"SELECT repeat('x', 1000) FROM generate_series(1, 200000)" 1 >/dev/null 2>&1 || rc=$? ;;
		5) # aborted inside a transaction
			timeout -s KILL "0.$((RANDOM % 5 + 1))" "$PQTOOL" "$conn" sleep-in-txn \
				"INSERT INTO soak_t (v) VALUES ('aborted')" >/dev/null 2>&1
			rc=0 ;;
		esac
		case $rc in
		0) echo "ok $r" ;;
		124 | 137) echo "hang $r" ;;
		*) echo "err $r" ;;
		esac
	done >"$out"
}

# run_workers SECONDS PREFIX: every worker loop at once, for SECONDS
run_workers() {
	local end=$(($(date +%s) + $1)) pids="" i p
	for i in $(seq 1 "$workers"); do
		# the shell's "Killed" notes for the aborted clients go nowhere
		worker "$T_ROOT/$2$i.out" "$end" 2>/dev/null &
		pids="$pids $!"
		track_pid "$!"
	done
	while [ "$(date +%s)" -lt "$end" ]; do
		sleep 2
		r=$(rss)
		[ "${r:-0}" -gt "$max" ] && max=$r
	done
	for p in $pids; do wait "$p"; done
}

clients() { ss -Htn state established "( sport = :$PGRING_PORT )" 2>/dev/null | wc -l; }

# the same load for a while first, so the baseline has every pool and
# allocator arena at its working size
max=0
warm=$((seconds / 4 > 15 ? 15 : seconds / 4 + 1))
run_workers "$warm" warm
wait_until 10 eval '[ "$(clients)" -eq 0 ]'
rss0=$(rss) fd0=$(fds) max=0
echo "soak: $seconds s, $workers workers, backend $backend; after $warm s of warm-up RSS $rss0 kB, $fd0 fds"
run_workers "$seconds" w
# the last aborted clients go; their servers are closed or pooled
wait_until 10 eval '[ "$(clients)" -eq 0 ]'
rss1=$(rss) fd1=$(fds)
ops=$(cat "$T_ROOT"/w*.out | wc -l)
errs=$(cat "$T_ROOT"/w*.out | grep -c '^err')
hangs=$(cat "$T_ROOT"/w*.out | grep -c '^hang')
echo "soak: $ops operations, $errs errors, $hangs hangs; RSS $rss0 kB at start, $max kB at most, $rss1 kB at end; fds $fd0 -> $fd1"
[ "$errs" -eq 0 ] || cat "$T_ROOT"/w*.out | grep '^err' | sort | uniq -c | sed 's/^/soak:   /'

check "pgring is still up" alive "$PGRING_PID"
check "operations ran" [ "$ops" -gt "$workers" ]
check "no operation hung" [ "$hangs" -eq 0 ]
check "no operation failed" [ "$errs" -eq 0 ]
check "no client connection left" [ "$(clients)" -eq 0 ]
# what may differ: idle server connections (default_pool_size = 10)
check "fds: $fd0 -> $fd1 (at most 10 more pooled servers)" [ "$fd1" -le $((fd0 + 10)) ]
check "RSS flat: $rss0 kB -> $rss1 kB (under +8 MB)" [ $((rss1 - rss0)) -lt 8192 ]
check "a query still works" eval '[ "$(pq "$conn" query "SELECT 1" 2>/dev/null)" = 1 ]'
pgring_stop
pg_stop
echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
