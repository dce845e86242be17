# scenarios_workers_limits.sh - workers = 4 (doc/workers.md, "Limits: reserve
# before launch"): pool_size, max_client_conn, max_db_connections and
# max_user_connections hold over the process, not per worker.  TCP clients
# are spread over the workers by the kernel; PostgreSQL's pg_stat_activity,
# sampled every few milliseconds from one session, is the judge.  Sourced by
# suite.sh; the pgbench helpers come from scenarios_txn.sh.

WL_WORKERS="workers = 4"

# wl_poll_start USER [DB]: a PostgreSQL session counts USER's backends (on
# testdb; USER '*': u_trust's and u_md5's) until wl_poll_stop, which sets
# WL_MAX to the highest count seen.  Only backends that started since: those
# of an earlier scenario's pgring may still be on their way out.  pg_stat_clear_snapshot: the view is
# otherwise read once per transaction.
wl_poll_start() {
	local who="usename = '$1'"
	[ "$1" = '*' ] && who="usename IN ('u_trust', 'u_md5')"
	pg_sql "CREATE TABLE IF NOT EXISTS wl_stop (x int)" >/dev/null || return 1
	pg_sql "TRUNCATE wl_stop" >/dev/null || return 1
	pg_sql "CREATE OR REPLACE FUNCTION wl_max_backends(secs float8) RETURNS int
LANGUAGE plpgsql AS \$\$
DECLARE m int := 0; n int; t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT count(*) INTO n FROM pg_stat_activity
			WHERE $who AND datname = 'testdb' AND backend_type = 'client backend'
				AND backend_start >= t0;
		m := greatest(m, n);
		EXIT WHEN EXISTS (SELECT 1 FROM wl_stop)
			OR clock_timestamp() - t0 > secs * interval '1 second';
		PERFORM pg_sleep(0.002);
	END LOOP;
	RETURN m;
END \$\$" >/dev/null || return 1
	WL_POLL_OUT=$(mktemp "$T_ROOT/wl_poll.XXXXXX")
	PQ_TIMEOUT=200 pq "$(pg_conn testdb)" query "SELECT wl_max_backends(180)" >"$WL_POLL_OUT" 2>&1 &
	WL_POLL=$!
	track_pid "$WL_POLL"
	# the session is up and sampling before the load starts
	wait_until 10 eval "[ \"\$(pg_sql \"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT wl_max%'\")\" -ge 1 ]" ||
		{ echo "the sampling session did not start"; cat "$WL_POLL_OUT"; return 1; }
}

wl_poll_stop() {
	pg_sql "INSERT INTO wl_stop VALUES (1)" >/dev/null
	wait "$WL_POLL"
	WL_MAX=$(cat "$WL_POLL_OUT")
	case $WL_MAX in
	'' | *[!0-9]*) echo "sampling failed: $WL_MAX"; return 1 ;;
	esac
}

# wl_pgbench OUT USER DB CLIENTS TXNS SQL: pgbench through pgring, a new
# connection per transaction (-C), in the background (pid in WL_BENCH);
# TXNS per client, or Tn: for n seconds
wl_pgbench() {
	local out=$1 user=$2 db=$3 clients=$4 txns="-t $5" script
	case $5 in T*) txns="-T ${5#T}" ;; esac
	script=$(mktemp "$T_ROOT/wl_script.XXXXXX")
	echo "$6" >"$script"
	chmod 644 "$script"
	PGPASSWORD=pw_md5 timeout -k 5 170 "$PG_BINDIR/pgbench" -n -C -c "$clients" -j 4 $txns \
		-f "$script" -h 127.0.0.1 -p "$PGRING_PORT" -U "$user" "$db" >"$out" 2>&1 &
	WL_BENCH=$!
	track_pid "$WL_BENCH"
}

# wl_pgbench_ok OUT PID TOTAL: that run ended well and ran all TOTAL
# transactions (TOTAL -: a timed run, some and none failed)
wl_pgbench_ok() {
	local rc n failed
	wait "$2"
	rc=$?
	n=$(awk -F': ' '/^number of transactions actually processed/ { print $2 }' "$1")
	failed=$(awk -F': ' '/^number of failed transactions/ { print $2 + 0 }' "$1")
	echo "pgbench: exit $rc, processed $n"
	if [ "$3" = - ] && [ "$rc" = 0 ] && [ "${n:-0}" -gt 0 ] && [ "${failed:-0}" = 0 ]; then
		return 0
	fi
	if [ "$rc" != 0 ] || [ "$n" != "$3/$3" ]; then
		grep -E 'abort|error|ERROR|FATAL|timeout' "$1" | sort | uniq -c | head -20
		return 1
	fi
}

# a pool of 2 shared by 200 clients over 4 workers: PostgreSQL never sees a
# third connection, and every client is served (none waits for a timeout)
sc_workers_pool_size() {
	local out=$T_ROOT/wl_bench.out
	command -v "$PG_BINDIR/pgbench" >/dev/null || { SKIP_REASON="no pgbench"; return 77; }
	pgring_start "$1" "auth_type = trust
$WL_WORKERS
pool_mode = transaction
default_pool_size = 2
max_client_conn = 400
query_wait_timeout = 60" || return 1
	wl_poll_start u_trust || return 1
	wl_pgbench "$out" u_trust testdb 200 2 "SELECT pg_sleep(0.01);"
	wl_pgbench_ok "$out" "$WL_BENCH" 400 || { wl_poll_stop; return 1; }
	wl_poll_stop || return 1
	echo "u_trust backends at most: $WL_MAX"
	[ "$WL_MAX" -le 2 ] || { echo "more than default_pool_size = 2"; return 1; }
	[ "$WL_MAX" -ge 1 ] || { echo "no backend seen: the sampling is blind"; return 1; }
	! grep -q "query_wait_timeout" "$PGRING_LOG" || { echo "a client timed out"; return 1; }
}

# wl_pgring_fds: the sockets pgring's process holds
wl_pgring_fds() {
	find "/proc/$PGRING_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l
}

# max_client_conn over the process: the 21st client is refused whatever
# worker takes it, and the accept throttle holds over the process too: past
# max_client_conn, 16 sockets per worker (and the accepts in flight, one per
# listener and worker), not max_client_conn + 16 per worker
sc_workers_max_client_conn() {
	local c p i out base n holders="" idle
	pgring_start "$1" "auth_type = trust
$WL_WORKERS
max_client_conn = 20" || return 1
	c=$(pgring_conn testdb u_trust)
	for i in $(seq 1 20); do
		hold_server "$c" || return 1
		holders="$holders $HOLDER"
	done
	# TCP clients hash over the four workers: each of these lands somewhere
	for i in $(seq 1 12); do
		out=$(pq "$c" expect-error connect "no more connections allowed (max_client_conn)" 2>&1) ||
			{ echo "client $((i + 20)): $out"; return 1; }
	done
	grep -q "no more connections allowed (max_client_conn)" "$PGRING_LOG" ||
		{ echo "the refusal is not logged"; return 1; }
	# sockets that never log in: 64 past the 20 clients at most, where
	# per-worker throttles would take 4 x 36, less the holders
	base=$(wl_pgring_fds)
	idle=$T_ROOT/wl_idle.py
	cat >"$idle" <<-'EOF'
	import socket, sys, time
	socks = []
	for _ in range(int(sys.argv[2])):
	    s = socket.socket()
	    s.connect(("127.0.0.1", int(sys.argv[1])))
	    socks.append(s)
	print("open", flush=True)
	time.sleep(30)
	EOF
	/usr/bin/python3 "$idle" "$PGRING_PORT" 300 >"$idle.out" 2>&1 &
	p=$!
	track_pid "$p"
	wait_until 10 grep -q open "$idle.out" || { echo "idle sockets: $(cat "$idle.out")"; return 1; }
	sleep 1		# the workers take what they may from their backlogs
	n=$(( $(wl_pgring_fds) - base ))
	echo "idle sockets accepted: $n of 300"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	[ "$n" -le 72 ] || { echo "more than 16 per worker past max_client_conn"; return 1; }
	[ "$n" -ge 16 ] || { echo "the margin is not used"; return 1; }
	for p in $holders; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# room again: served
	wait_until 10 eval '[ "$(pq "$c" query "SELECT 7" 2>/dev/null)" = 7 ]' ||
		{ echo "not served after the holders left: $(pq "$c" query "SELECT 7" 2>&1)"; return 1; }
}

# wl_two_pools BACKEND KEY WHO WHAT USER1 DB1 USER2 DB2: KEY = 2 and two pools
# under load over four workers; the sampled backends of WHO (wl_poll_start)
# never pass 2, and every transaction is served (WL_EXTRA: more settings)
wl_two_pools() {
	local o1=$T_ROOT/wl_b1.out o2=$T_ROOT/wl_b2.out b1
	command -v "$PG_BINDIR/pgbench" >/dev/null || { SKIP_REASON="no pgbench"; return 77; }
	pgring_start "$1" "auth_type = trust
$WL_WORKERS
pool_mode = transaction
default_pool_size = 10
$2 = 2
max_client_conn = 400
query_wait_timeout = 60
${WL_EXTRA:-}" || return 1
	wl_poll_start "$3" || return 1
	wl_pgbench "$o1" "$5" "$6" 40 3 "SELECT pg_sleep(0.01);"
	b1=$WL_BENCH
	wl_pgbench "$o2" "$7" "$8" 40 3 "SELECT pg_sleep(0.01);"
	wl_pgbench_ok "$o1" "$b1" 120 && wl_pgbench_ok "$o2" "$WL_BENCH" 120 || { wl_poll_stop; return 1; }
	wl_poll_stop || return 1
	echo "$4 backends at most: $WL_MAX"
	[ "$WL_MAX" -le 2 ] || { echo "more than $2 = 2"; return 1; }
	[ "$WL_MAX" -ge 1 ] || { echo "no backend seen: the sampling is blind"; return 1; }
}

# max_db_connections over the process: two users' pools of one database on
# four workers never hold more than 2 servers together, and all are served
sc_workers_max_db_connections() {
	wl_two_pools "$1" max_db_connections '*' testdb u_trust testdb u_md5 testdb
}

# the same with TLS to PostgreSQL: a closed TLS server is drained too (its
# Terminate and close_notify sent inside TLS, then PostgreSQL's end awaited)
# before its units go back
sc_workers_max_db_connections_tls() {
	tls_certs || return 1
	WL_EXTRA="server_tls_sslmode = require" pg_ssl_run \
		wl_two_pools "$1" max_db_connections '*' testdb u_trust testdb u_md5 testdb
}

# max_user_connections over the process: one user's pools of two databases
# (both on PostgreSQL's testdb) hold at most 2 servers together
sc_workers_max_user_connections() {
	wl_two_pools "$1" max_user_connections u_trust u_trust u_trust testdb u_trust testdb_unix
}

# max_db_client_connections and max_user_client_connections over the
# process: with 3 clients in, whatever worker a 4th lands on refuses it
sc_workers_client_limits() {
	local c i out holders="" p which
	for which in db user; do
		pgring_start "$1" "auth_type = trust
$WL_WORKERS
max_${which}_client_connections = 3" || return 1
		c=$(pgring_conn testdb u_trust)
		for i in 1 2 3; do
			hold_server "$c" || return 1
			holders="$holders $HOLDER"
		done
		for i in $(seq 1 12); do
			out=$(pq "$c" expect-error connect "client connections exceeded (max_${which}_client_connections)" 2>&1) ||
				{ echo "$which: client $((i + 3)): $out"; return 1; }
		done
		for p in $holders; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
		holders=""
		# their units went back: served again
		wait_until 10 eval '[ "$(pq "$c" query "SELECT 7" 2>/dev/null)" = 7 ]' ||
			{ echo "$which: not served after the holders left: $(pq "$c" query "SELECT 7" 2>&1)"; return 1; }
		pgring_stop
	done
}

# wl_u_trust_backends: u_trust's backends on testdb now, of those started
# since WL_T0 (an earlier scenario's may still be on their way out)
wl_u_trust_backends() {
	pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND datname = 'testdb'
		AND backend_start >= '$WL_T0'"
}

# a RELOAD that shrinks default_pool_size under load: once the servers past
# the new size have gone (too many servers in the pool, or server_lifetime),
# PostgreSQL never sees more
sc_workers_reload_shrink() {
	local out=$T_ROOT/wl_bench.out n
	command -v "$PG_BINDIR/pgbench" >/dev/null || { SKIP_REASON="no pgbench"; return 77; }
	WL_T0=$(pg_sql "SELECT clock_timestamp()") || return 1
	pgring_start "$1" "auth_type = trust
$WL_WORKERS
pool_mode = transaction
default_pool_size = 6
server_lifetime = 1
max_client_conn = 400
query_wait_timeout = 60" || return 1
	wl_pgbench "$out" u_trust testdb 60 T20 "SELECT pg_sleep(0.01);"
	wait_until 10 eval '[ "$(wl_u_trust_backends)" -ge 3 ]' ||
		{ echo "the load never used more than 2 servers: $(wl_u_trust_backends)"; return 1; }
	sed -i 's/^default_pool_size = 6$/default_pool_size = 2/' "$PGRING_CONF"
	pgring_reload
	wait_until 10 eval '[ "$(wl_u_trust_backends)" -le 2 ]' ||
		{ echo "still $(wl_u_trust_backends) servers 10 s after the reload"; return 1; }
	wl_poll_start u_trust || return 1
	sleep 3
	alive "$WL_BENCH" || { echo "the load ended before the sampling"; wl_poll_stop; return 1; }
	wl_poll_stop || return 1
	echo "u_trust backends at most after the reload: $WL_MAX"
	wl_pgbench_ok "$out" "$WL_BENCH" - || return 1
	[ "$WL_MAX" -le 2 ] || { echo "more than the new default_pool_size = 2"; return 1; }
	[ "$WL_MAX" -ge 1 ] || { echo "no backend seen: the sampling is blind"; return 1; }
	# and the process still hears signals after the reload
	kill -TERM "$PGRING_PID"
	wait_until 10 pgring_dead || { echo "SIGTERM after the reload: still running"; return 1; }
}

SCENARIOS="$SCENARIOS workers_pool_size workers_max_client_conn workers_max_db_connections workers_max_db_connections_tls"
SCENARIOS="$SCENARIOS workers_max_user_connections workers_reload_shrink workers_client_limits"
