# scenarios_txn.sh - transaction and statement pooling, pool limits, the wait
# queue, timeouts, cancel and parameter tracking (sourced by suite.sh)

TXN="pool_mode = transaction"

# pgbench_init: pgbench's tables in testdb, readable by everyone
pgbench_init() {
	[ -n "${PGBENCH_READY:-}" ] && return 0
	as_run_user "$PG_BINDIR/pgbench" -q -i -s 1 -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_SUPERUSER" testdb \
		>"$T_ROOT/pgbench-init.log" 2>&1 || { cat "$T_ROOT/pgbench-init.log"; return 1; }
	pg_sql "GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC" >/dev/null || return 1
	PGBENCH_READY=1
}

# pgbench_through CLIENTS SECONDS ARGS...: pgbench through pgring as u_trust;
# passes when every transaction succeeded and some ran
pgbench_through() {
	local clients=$1 secs=$2 out=$T_ROOT/pgbench.out rc n failed
	shift 2
	timeout -k 5 $((secs + 60)) "$PG_BINDIR/pgbench" -n -c "$clients" -j 2 -T "$secs" "$@" \
		-h 127.0.0.1 -p "$PGRING_PORT" -U u_trust testdb >"$out" 2>&1
	rc=$?
	grep -E '^(transaction type|query mode|number of clients|number of (transactions|failed)|latency average|tps)' "$out"
	n=$(awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1] + 0 }' "$out")
	failed=$(awk -F': ' '/^number of failed transactions/ { print $2 + 0 }' "$out")
	if [ "$rc" != 0 ] || [ -z "$n" ] || [ "$n" = 0 ] || [ "${failed:-0}" != 0 ] ||
		grep -qE 'aborted|error' "$out"; then
		echo "pgbench exit status $rc, $n transactions, ${failed:-?} failed:"
		grep -E 'abort|error|ERROR|FATAL' "$out" | sort | uniq -c | head -20
		return 1
	fi
}

# hold_server CONNINFO: a client that holds a server inside a transaction, in
# the background; its pid in HOLDER (the suite stops it if the scenario fails)
hold_server() {
	local f
	f=$(mktemp "$T_ROOT/holder.XXXXXX")
	"$PQTOOL" "$1" sleep-in-txn "SELECT 1" >"$f" 2>&1 &
	HOLDER=$!
	track_pid "$HOLDER"
	wait_until 10 grep -q "in transaction" "$f" || { echo "the holder never got in:"; cat "$f"; return 1; }
}

# release_server: the holder leaves
release_server() {
	kill "$HOLDER" 2>/dev/null
	wait "$HOLDER" 2>/dev/null
	return 0
}

# 500 clients on a pool of 10, pgbench -S in simple and in extended mode
txn_pgbench() {
	pgbench_init || return 1
	pgring_start "$1" "auth_type = trust
$TXN
default_pool_size = 10
max_client_conn = 1000" || return 1
	pgbench_through 500 5 -S -M "$2" || return 1
	servers_at_most 10
}

sc_txn_pgbench_simple() { txn_pgbench "$1" simple; }
sc_txn_pgbench_extended() { txn_pgbench "$1" extended; }

# servers_at_most N: PostgreSQL never saw more than N backends for u_trust
servers_at_most() {
	local n
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust'") || return 1
	echo "u_trust backends now: $n"
	[ "$n" -le "$1" ] || { echo "more than $1 server connections"; return 1; }
}

# pgbench's \startpipeline: several queries per round trip, one Sync
sc_txn_pipeline() {
	local script=$T_ROOT/pipeline.sql
	pgbench_init || return 1
	cat >"$script" <<-'EOF'
	\set aid random(1, 100000)
	\startpipeline
	SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
	SELECT abalance FROM pgbench_accounts WHERE aid = :aid + 1;
	SELECT 1;
	\endpipeline
	EOF
	chmod 644 "$script"
	pgring_start "$1" "auth_type = trust
$TXN
default_pool_size = 5
max_client_conn = 200" || return 1
	pgbench_through 100 4 -M extended -f "$script"
}

# SET LOCAL, an error and a rolled-back transaction leave nothing behind for
# the next client of the same server
sc_txn_no_leak() {
	local c out pid1 pid2
	pgring_start "$1" "auth_type = trust
$TXN" || return 1
	c=$(pgring_local testdb_p1 u_trust)	# one worker: its one server
	out=$(pq "$c" query "BEGIN" "SET LOCAL statement_timeout = '4321s'" \
		"SELECT current_setting('statement_timeout')" "COMMIT" "SELECT pg_backend_pid()" 2>&1) ||
		{ echo "client A: $out"; return 1; }
	expect_eq "SET LOCAL inside the transaction" "$(echo "$out" | sed -n 1p)" 4321s || return 1
	pid1=$(echo "$out" | sed -n 2p)
	# an error outside a transaction leaves the server clean and in the pool
	out=$(pq "$c" query "SELECT 1/0" 2>&1) && { echo "1/0 did not fail: $out"; return 1; }
	echo "$out" | grep -q "division by zero" || { echo "client B: $out"; return 1; }
	out=$(pq "$c" txstatus "SELECT pg_backend_pid(), current_setting('statement_timeout')" 2>&1) ||
		{ echo "client C: $out"; return 1; }
	pid2=$(echo "$out" | sed -n 1p | cut -f1)
	expect_eq "the same server" "$pid2" "$pid1" || return 1
	expect_eq "client C sees" "$(echo "$out" | sed -n 1p | cut -f2-)" 0 || return 1
	expect_eq "client C's transaction state" "$(echo "$out" | sed -n 2p)" "txstatus: idle" || return 1
	# a client that leaves inside a failed transaction: its server is not
	# handed on in that state
	out=$(pq "$c" query "BEGIN" "SET LOCAL work_mem = '7MB'" "SELECT 1/0" 2>&1) && { echo "no error: $out"; return 1; }
	out=$(pq "$c" txstatus "SELECT current_setting('work_mem') <> '7MB'" 2>&1)
	expect_eq "client E" "$out" "$(printf 't\ntxstatus: idle')"
}

# a client without a server waits; query_wait_timeout ends the wait
sc_txn_wait_timeout() {
	local c out t0 t
	pgring_start "$1" "auth_type = trust
$TXN
query_wait_timeout = 1" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	hold_server "$c" || return 1
	t0=$(now)
	out=$(PQ_TIMEOUT=15 pq "$c" query "SELECT 2" 2>&1) && { echo "waiter got a server: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "waiter failed after $t s: $out"
	echo "$out" | grep -q "query_wait_timeout" || return 1
	awk -v t="$t" 'BEGIN { exit !(t >= 0.9 && t < 4) }' || { echo "not about 1 s"; return 1; }
	release_server
	# the holder is gone: its server comes back and serves the next client
	out=$(PQ_TIMEOUT=10 pq "$c" query "SELECT 3" 2>&1)
	expect_eq "after the holder left" "$out" 3
}

# cancel of a running pg_sleep in transaction mode, forwarded within a second
sc_txn_cancel() {
	local c out ms
	pgring_start "$1" "auth_type = trust
$TXN" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(PQ_TIMEOUT=30 pq "$c" cancel 500 "SELECT pg_sleep(20)" 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q "canceling statement due to user request" || return 1
	ms=$(echo "$out" | sed -n 's/^cancelled after \([0-9]*\) ms.*/\1/p')
	[ -n "$ms" ] && [ "$ms" -lt 1000 ] || { echo "cancel took ${ms:-?} ms"; return 1; }
	# and the server it ran on serves again
	out=$(pq "$c" query "SELECT 1" 2>&1)
	expect_eq "after the cancel" "$out" 1
}

# application_name follows each client over one shared server
sc_txn_application_name() {
	local base out a b
	pgring_start "$1" "auth_type = trust
$TXN" || return 1
	base=$(pgring_local testdb_p1 u_trust)	# one worker: its one server
	for round in 1 2; do
		a=$(pq "$base application_name=app_a" query "SELECT current_setting('application_name'), pg_backend_pid()" 2>&1) ||
			{ echo "a: $a"; return 1; }
		b=$(pq "$base application_name=app_b" query "SELECT current_setting('application_name'), pg_backend_pid()" 2>&1) ||
			{ echo "b: $b"; return 1; }
		expect_eq "round $round client a" "$(echo "$a" | cut -f1)" app_a || return 1
		expect_eq "round $round client b" "$(echo "$b" | cut -f1)" app_b || return 1
		expect_eq "round $round one server" "$(echo "$a" | cut -f2)" "$(echo "$b" | cut -f2)" || return 1
	done
	# PostgreSQL's own view of the backend follows too
	out=$(pq "$base application_name=app_c" query "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()" 2>&1)
	expect_eq "pg_stat_activity" "$out" app_c
}

# statement mode refuses a transaction block, as PgBouncer does
sc_statement_mode() {
	local c out
	pgring_start "$1" "auth_type = trust
pool_mode = statement" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(pq "$c" query "SELECT 1" "SELECT 2" 2>&1)
	expect_eq "single statements" "$out" "$(printf '1\n2')" || return 1
	out=$(pq "$c" query "BEGIN" "SELECT 1" 2>&1) && { echo "BEGIN accepted: $out"; return 1; }
	echo "$out"
	echo "$out" | grep -q "transaction blocks not allowed in statement pooling mode"
}

# pool_mode per database and per user: session wins over transaction
sc_pool_mode_overrides() {
	local out
	pgring_write_config "$1" "auth_type = trust
$TXN" "$(default_userlist)" || return 1
	sed -i "s|^testdb_p1 = .*|& pool_mode=session|" "$PGRING_CONF"
	printf '[users]\nu_md5 = pool_mode=session\n' >>"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || return 1
	# in session mode a temp table stays with the client across transactions
	out=$(pq "$(pgring_conn testdb_p1 u_trust)" query "CREATE TEMP TABLE t_s (x int)" "SELECT count(*) FROM t_s" 2>&1)
	expect_eq "per-database session mode" "$out" 0 || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "CREATE TEMP TABLE t_u (x int)" "SELECT count(*) FROM t_u" 2>&1)
	expect_eq "per-user session mode" "$out" 0 || return 1
	# in transaction mode the next transaction may be on another server, so
	# pgring gives no promise; with two clients holding servers it is another
	out=$(pq "$(pgring_conn testdb u_trust)" query "SELECT current_setting('application_name') IS NOT NULL" 2>&1)
	expect_eq "transaction mode still serves" "$out" t
}

# max_client_conn: the excess client gets PgBouncer's error, the others go on
sc_max_client_conn() {
	local c p1 p2 out
	pgring_start "$1" "auth_type = trust
$TXN
max_client_conn = 2" || return 1
	c=$(pgring_conn testdb u_trust)
	hold_server "$c" || return 1
	p1=$HOLDER
	hold_server "$c" || return 1
	p2=$HOLDER
	out=$(pq "$c" expect-error connect "no more connections allowed (max_client_conn)" 2>&1) ||
		{ echo "third client: $out"; return 1; }
	kill "$p1"
	wait "$p1" 2>/dev/null
	out=$(pq "$c" query "SELECT 5" 2>&1)
	expect_eq "after one left" "$out" 5 || return 1
	alive "$p2" || { echo "the second client died"; return 1; }
	release_server
}

# query_timeout, idle_transaction_timeout, client_idle_timeout
sc_txn_timeouts() {
	local c out t0 t
	pgring_start "$1" "auth_type = trust
$TXN
query_timeout = 1
idle_transaction_timeout = 1
client_idle_timeout = 2" || return 1
	c=$(pgring_conn testdb u_trust)
	t0=$(now)
	out=$(PQ_TIMEOUT=15 pq "$c" query "SELECT pg_sleep(5)" 2>&1) && { echo "no timeout: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "query: $out ($t s)"
	echo "$out" | grep -q "query_timeout" || return 1
	awk -v t="$t" 'BEGIN { exit !(t < 3) }' || { echo "query_timeout took $t s"; return 1; }
	hold_server "$c" || return 1
	wait_until 5 grep -q "idle transaction timeout" "$PGRING_LOG" ||
		{ echo "no idle transaction timeout in the log"; return 1; }
	release_server
	# an idle client is closed after client_idle_timeout
	out=$( (sleep 4; echo "SELECT 'late';") | timeout 20 "$PG_BINDIR/psql" -X -At "$c" 2>&1)
	echo "idle psql: $out"
	echo "$out" | grep -q late && { echo "the idle client was not closed"; return 1; }
	grep -q "client_idle_timeout" "$PGRING_LOG" || { echo "no client_idle_timeout in the log"; return 1; }
	out=$(pq "$c" query "SELECT 7" 2>&1)
	expect_eq "still serving" "$out" 7
}

# min_pool_size opens servers ahead; server_idle_timeout closes them again
# (down to min_pool_size); server_lifetime retires busy ones
sc_pool_sizes() {
	local c n
	pgring_start "$1" "auth_type = trust
$TXN
min_pool_size = 3
server_idle_timeout = 1
server_lifetime = 1" || return 1
	c=$(pgring_conn testdb u_trust)
	pq "$c" query "SELECT 1" >/dev/null || return 1
	wait_until 5 eval '[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '"'u_trust'"'")" = 3 ]' ||
		{ echo "min_pool_size 3 not reached: $(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust'")"; return 1; }
	# lifetime 1 s: the servers are replaced, the count stays at min_pool_size
	wait_until 6 grep -q "server lifetime over" "$PGRING_LOG" || { echo "no server lifetime close"; return 1; }
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust'")
	echo "servers after lifetime: $n"
	pq "$c" query "SELECT 1" >/dev/null
}

# a RELOAD that makes default_pool_size smaller: the idle servers past the
# new size close within a janitor tick or two ("too many servers in the
# pool", as in PgBouncer), not at server_idle_timeout or server_lifetime
sc_pool_size_shrink() {
	local c t0 i pids="" n
	t0=$(pg_sql "SELECT clock_timestamp()") || return 1
	pgring_start "$1" "auth_type = trust
$TXN
default_pool_size = 5" || return 1
	c=$(pgring_conn testdb u_trust)
	# five transactions at once open five servers, idle after them
	for i in 1 2 3 4 5; do
		pq "$c" query "SELECT pg_sleep(1)" >/dev/null 2>&1 &
		pids="$pids $!"
	done
	for i in $pids; do wait "$i" || { echo "a sleeper failed"; return 1; }; done
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND backend_start >= '$t0'")
	echo "servers before the reload: $n"
	[ "$n" = 5 ] || { echo "five sleepers did not open 5 servers"; return 1; }
	sed -i 's/^default_pool_size = 5$/default_pool_size = 2/' "$PGRING_CONF"
	pgring_reload
	wait_until 5 eval '[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '"'u_trust'"' AND backend_start >= '"'$t0'"'")" -le 2 ]' ||
		{ echo "still $(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND backend_start >= '$t0'") servers 5 s after the reload"; return 1; }
	grep -q "closing because: too many servers in the pool" "$PGRING_LOG" ||
		{ echo "no 'too many servers in the pool' log line"; return 1; }
	expect_eq "a query after the shrink" "$(pq "$c" query "SELECT 7" 2>&1)" 7
}

# reserve_pool_size: after reserve_pool_timeout a waiting client gets an extra server
sc_reserve_pool() {
	local c out t0 t
	pgring_start "$1" "auth_type = trust
$TXN
reserve_pool_size = 1
reserve_pool_timeout = 0.5
query_wait_timeout = 10" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	hold_server "$c" || return 1
	t0=$(now)
	# on a failure the holder goes too: pgring's SIGTERM waits for its clients
	out=$(PQ_TIMEOUT=15 pq "$c" query "SELECT 9" 2>&1) || { echo "waiter: $out"; release_server; return 1; }
	t=$(elapsed "$t0")
	echo "waiter served after $t s"
	expect_eq "waiter" "$out" 9 || return 1
	awk -v t="$t" 'BEGIN { exit !(t >= 0.4 && t < 3) }' || { echo "not about 0.5 s"; return 1; }
	grep -q "taking connection from reserve_pool" "$PGRING_LOG" || { echo "no reserve_pool log line"; return 1; }
	release_server
}

# max_db_connections caps servers across users of one database
sc_max_db_connections() {
	local c1 c2 out
	pgring_start "$1" "auth_type = trust
$TXN
max_db_connections = 1
query_wait_timeout = 2" || return 1
	c1=$(pgring_conn testdb u_trust)
	c2=$(pgring_conn testdb u_md5 pw_md5)
	hold_server "$c1" || return 1
	# its login waits for a server too (for PostgreSQL's welcome), and times out
	out=$(PQ_TIMEOUT=15 pq "$c2" query "SELECT 1" 2>&1) && { echo "second user got a server: $out"; return 1; }
	echo "$out" | grep -q query_wait_timeout || { echo "$out"; return 1; }
	release_server
	# the idle server of u_trust's pool is evicted to make room for u_md5's
	out=$(PQ_TIMEOUT=15 pq "$c2" query "SELECT current_user" 2>&1)
	expect_eq "after the holder left" "$out" u_md5
}

# PostgreSQL unreachable: a waiting client waits for the retries (PgBouncer's
# behaviour, conformance issue 16) and hears why at query_wait_timeout
sc_server_down() {
	local c out t0 t
	pgring_write_config "$1" "auth_type = trust
$TXN
query_wait_timeout = 2
server_login_retry = 1" "$(default_userlist)" || return 1
	sed -i "s|^testdb = .*|testdb = host=127.0.0.1 port=$(free_port) dbname=testdb|" "$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || return 1
	c=$(pgring_conn testdb u_trust)
	t0=$(now)
	out=$(PQ_TIMEOUT=15 pq "$c" query "SELECT 1" 2>&1) && { echo "connected: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "failed after $t s: $out"
	awk -v t="$t" 'BEGIN { exit !(t < 5) }' || return 1
	echo "$out" | grep -q "could not connect to server" || { echo "the cause is not told"; return 1; }
	alive "$PGRING_PID"
}

# a client that connects and says nothing is sent away after client_login_timeout
sc_client_login_timeout() {
	local t0 t f=$T_ROOT/silent.out
	pgring_start "$1" "auth_type = trust
client_login_timeout = 1" || return 1
	t0=$(now)
	# the connection stays silent; pgring's error and close end the read
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && cat <&3' "$PGRING_PORT" >"$f" 2>&1
	t=$(elapsed "$t0")
	echo "closed after $t s: $(tr -c '[:print:]' ' ' <"$f")"
	grep -q "client_login_timeout" "$f" || { echo "no client_login_timeout error"; return 1; }
	# tcp_defer_accept (1 s by default) holds a silent connection in the
	# kernel before pgring sees it: 1 s of that, then 1 s of timeout
	awk -v t="$t" 'BEGIN { exit !(t >= 0.9 && t < 4) }' || { echo "not about 2 s"; return 1; }
}

SCENARIOS="$SCENARIOS client_login_timeout txn_pgbench_simple txn_pgbench_extended txn_pipeline txn_no_leak
	txn_wait_timeout txn_cancel txn_application_name statement_mode pool_mode_overrides
	max_client_conn txn_timeouts pool_sizes pool_size_shrink reserve_pool max_db_connections server_down"
