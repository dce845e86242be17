# scenarios_keys.sh - PgBouncer keys that pgring used to accept and ignore:
# disable_pqexec, transaction_timeout, server_fast_close, application_name_add_host,
# server_round_robin, autodb_idle_timeout, track_extra_parameters, and the
# warning for those it does not implement. Sourced by suite.sh after
# scenarios_admin.sh (whose admin_start and console it uses).

# disable_pqexec: a simple Query ends the session with PgBouncer's error; the
# extended protocol keeps working, and so does the console
sc_keys_disable_pqexec() {
	local c out
	admin_start "$1" "disable_pqexec = 1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	out=$(pq "$c" xquery "SELECT 40 + 2" "SELECT current_user" 2>&1)
	expect_eq "extended protocol" "$out" "$(printf '42\nu_md5')" || return 1
	out=$(pq "$c" query "SELECT 1" 2>&1) && { echo "simple Query accepted: $out"; return 1; }
	echo "simple Query: $out"
	echo "$out" | grep -q "PQexec disallowed" || return 1
	grep -q 'client used "Query" packet type' "$PGRING_LOG" || { echo "not logged"; return 1; }
	# the session is over: PostgreSQL never saw the statement
	out=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_md5' AND query = 'SELECT 1'")
	expect_eq "statement reached PostgreSQL" "$out" 0 || return 1
	out=$(console "SHOW CONFIG" | grep '^disable_pqexec|')
	expect_eq "SHOW CONFIG" "$out" "disable_pqexec|1|0|no" || return 1
	out=$(pq "$c" xquery "SELECT 7" 2>&1)
	expect_eq "still serving" "$out" 7
}

# transaction_timeout: a transaction that lasts longer is ended, the client
# told, the server closed; statements outside a transaction never count,
# however long the session; [users] overrides it
sc_keys_transaction_timeout() {
	local c out t0 t n
	pgring_start "$1" "auth_type = trust
transaction_timeout = 1" || return 1
	c=$(pgring_conn testdb u_trust)
	# three autocommit statements of 0.6 s: 1.8 s of session, no long transaction
	out=$(PQ_TIMEOUT=15 pq "$c" query "SELECT pg_sleep(0.6)" "SELECT pg_sleep(0.6)" "SELECT 'auto'" "SELECT pg_sleep(0.6)" 2>&1)
	expect_eq "autocommit statements" "$(echo "$out" | grep -c auto)" 1 || { echo "$out"; return 1; }
	# the same inside one transaction: ended after about 1 s
	t0=$(now)
	out=$(PQ_TIMEOUT=15 pq "$c" query "BEGIN" "SELECT pg_sleep(0.6)" "SELECT pg_sleep(0.6)" \
		"SELECT pg_sleep(0.6)" "SELECT 'committed'" "COMMIT" 2>&1) && { echo "no timeout: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "long transaction: $out ($t s)"
	echo "$out" | grep -q "transaction timeout" || return 1
	echo "$out" | grep -q committed && return 1
	awk -v t="$t" 'BEGIN { exit !(t < 1.9) }' || { echo "took $t s"; return 1; }
	grep -q "closing because: transaction timeout" "$PGRING_LOG" || { echo "server close not logged"; return 1; }
	# an idle transaction (no idle_transaction_timeout set) ends the same way
	hold_server "$c" || return 1
	wait_until 5 eval '[ "$(grep -c "closing because: transaction timeout" "$PGRING_LOG")" -ge 2 ]' ||
		{ echo "idle transaction not ended"; release_server; return 1; }
	release_server
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND state LIKE 'idle in transaction%'")
	expect_eq "transactions left open on PostgreSQL" "$n" 0 || return 1
	out=$(pq "$c" query "SELECT 7" 2>&1)
	expect_eq "still serving" "$out" 7 || return 1
	# [users] transaction_timeout over the global one
	pgring_stop
	pgring_start "$1" "auth_type = trust
transaction_timeout = 0
[users]
u_trust = transaction_timeout=0.5" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(PQ_TIMEOUT=15 pq "$c" query "BEGIN" "SELECT pg_sleep(0.4)" "SELECT pg_sleep(0.4)" \
		"SELECT pg_sleep(0.4)" "COMMIT" 2>&1) && { echo "no per-user timeout: $out"; return 1; }
	echo "per-user: $out"
	echo "$out" | grep -q "transaction timeout"
}

# fast_close_session FILE: a psql session in the background that runs a
# transaction across a RECONNECT, commits, then comes back for more; its
# output in FILE, its pid in FC_PID
fast_close_session() {
	local c=$(pgring_conn testdb u_md5 pw_md5)
	( echo "SELECT 'first';"; echo "BEGIN;"; echo "SELECT 'in txn';"; sleep 2;
	  echo "SELECT 'still in txn';"; echo "COMMIT;"; sleep 1.5; echo "SELECT 'late';" ) |
		PGCONNECT_TIMEOUT=5 timeout 20 "$PG_BINDIR/psql" -X -At "$c" >"$1" 2>&1 &
	FC_PID=$!
	track_pid "$FC_PID"
	wait_until 5 grep -q "in txn" "$1" || { echo "psql never got in:"; cat "$1"; return 1; }
}

# server_fast_close (session pooling): after RECONNECT, a session's server is
# closed as soon as its transaction is over, the session with it; the running
# transaction is not cut. Without it, the session lives on.
sc_keys_server_fast_close() {
	local f=$T_ROOT/fast-close.out out
	admin_start "$1" "server_fast_close = 1" || return 1
	fast_close_session "$f" || return 1
	out=$(console "RECONNECT testdb") || { echo "$out"; return 1; }
	wait "$FC_PID"
	echo "with server_fast_close:"; cat "$f"
	grep -q "still in txn" "$f" || { echo "the running transaction was cut"; return 1; }
	grep -q "^COMMIT" "$f" || { echo "no COMMIT"; return 1; }
	grep -q late "$f" && { echo "the session outlived RECONNECT"; return 1; }
	grep -q "database configuration changed" "$f" || return 1
	grep -q "closing because: database configuration changed" "$PGRING_LOG" || return 1
	# and without it, PgBouncer's default: the session keeps its server
	pgring_stop
	admin_start "$1" || return 1
	fast_close_session "$f" || return 1
	console "RECONNECT testdb" >/dev/null || return 1
	wait "$FC_PID"
	echo "without:"; cat "$f"
	grep -q late "$f"
}

# application_name_add_host: " - host:port" after the client's
# application_name ("app" when it gave none), once, at login
sc_keys_appname_add_host() {
	local base out re='127\.0\.0\.1:[0-9]+$'
	pgring_start "$1" "auth_type = trust
pool_mode = transaction
application_name_add_host = 1" || return 1
	base=$(pgring_conn testdb_p1 u_trust)
	out=$(pq "$base application_name=myapp" query "SELECT current_setting('application_name')" 2>&1)
	echo "given: $out"
	[[ "$out" =~ ^myapp\ -\ $re ]] || return 1
	# PostgreSQL's own view of the session, on the one shared server
	out=$(pq "$base application_name=other" query \
		"SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()" 2>&1)
	echo "pg_stat_activity: $out"
	[[ "$out" =~ ^other\ -\ $re ]] || return 1
	out=$(pq "$base" query "SELECT current_setting('application_name')" 2>&1)
	echo "none given: $out"
	[[ "$out" =~ ^app\ -\ $re ]] || return 1
	# a later SET is the client's own
	out=$(pq "$base application_name=myapp" query "SET application_name = 'mine'" \
		"SELECT current_setting('application_name')" 2>&1)
	expect_eq "after SET" "$out" mine
}

# server_round_robin: idle servers are reused in turn rather than last in,
# first out (the clients on the unix socket: a server never leaves its worker)
round_robin_pids() {
	local c=$(pgring_local testdb u_trust) p1 p2
	# two servers at once, then both idle
	pq "$c" query "SELECT pg_sleep(0.5)" >/dev/null & p1=$!
	pq "$c" query "SELECT pg_sleep(0.5)" >/dev/null & p2=$!
	wait "$p1" && wait "$p2" || return 1
	pq "$c" query "SELECT pg_backend_pid()" "SELECT pg_backend_pid()" "SELECT pg_backend_pid()" \
		"SELECT pg_backend_pid()" | sort -u | wc -l
}

sc_keys_server_round_robin() {
	local n
	pgring_start "$1" "auth_type = trust
pool_mode = transaction
server_round_robin = 1" || return 1
	n=$(round_robin_pids) || return 1
	expect_eq "backends used in turn" "$n" 2 || return 1
	pgring_stop
	pgring_start "$1" "auth_type = trust
pool_mode = transaction" || return 1
	n=$(round_robin_pids) || return 1
	expect_eq "backends used LIFO" "$n" 1
}

# track_extra_parameters: the listed parameters follow each client from
# server to server like application_name; the default list is IntervalStyle
sc_keys_track_extra_parameters() {
	local f=$T_ROOT/track.out base out pid
	pgring_start "$1" "auth_type = trust
pool_mode = transaction
track_extra_parameters = IntervalStyle, default_transaction_read_only" || return 1
	base=$(pgring_local testdb_p1 u_trust)	# both on worker 0, which has the server
	# client A sets both, then waits while client B takes the one server
	( echo "SET default_transaction_read_only = on;"; echo "SET IntervalStyle = 'iso_8601';";
	  echo "SELECT 'set';"; sleep 2;
	  echo "SHOW default_transaction_read_only;"; echo "SHOW IntervalStyle;" ) |
		PGCONNECT_TIMEOUT=5 timeout 20 "$PG_BINDIR/psql" -X -At "$base" >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 5 grep -q "^set" "$f" || { echo "A never got in:"; cat "$f"; return 1; }
	out=$(pq "$base" query "SHOW default_transaction_read_only" "SHOW IntervalStyle" "SELECT pg_backend_pid()" 2>&1)
	echo "B: $out"
	expect_eq "B's settings" "$(echo "$out" | head -2)" "$(printf 'off\npostgres')" || return 1
	wait "$pid"
	echo "A: $(cat "$f")"
	expect_eq "A's settings" "$(grep -v '^S\|^set' "$f")" "$(printf 'on\niso_8601')" || return 1
	# the server pgring sets it on is the very one B used
	out=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND datname = 'testdb'")
	expect_eq "one server" "$out" 1
}

# has_db NAME: SHOW DATABASES lists NAME
has_db() { console "SHOW DATABASES" | grep -q "^$1|"; }
has_pool() { console "SHOW POOLS" | grep -q "^$1|"; }
no_db_no_pool() { ! has_db "$1" && ! has_pool "$1"; }

# autodb_idle_timeout: the pool of a database the "*" entry served is freed
# once nothing has used it for that long (its servers gone first, after
# server_idle_timeout); the database leaves SHOW DATABASES, POOLS, STATS and
# comes back on the next login. Pools of [databases] entries stay.
sc_keys_autodb_idle_timeout() {
	local c out
	admin_start "$1" "autodb_idle_timeout = 1
server_idle_timeout = 1
[databases]
* = host=127.0.0.1 port=$PG_PORT" || return 1
	c=$(pgring_conn postgres u_md5 pw_md5)
	out=$(pq "$c" query "SELECT current_database()" 2>&1)
	expect_eq "auto-database" "$out" postgres || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" 2>&1)
	expect_eq "configured database" "$out" 1 || return 1
	has_db postgres && has_pool postgres || { echo "auto-database not listed"; console "SHOW POOLS"; return 1; }
	console "SHOW STATS" | grep -q "^postgres|" || { echo "no stats row"; return 1; }
	# a client still connected keeps it
	hold_server "$c" || return 1
	sleep 3
	has_pool postgres || { echo "freed while in use"; release_server; return 1; }
	release_server
	wait_until 10 no_db_no_pool postgres || { echo "never freed:"; console "SHOW POOLS"; return 1; }
	grep -q "postgres/u_md5: freeing the pool of an auto-database" "$PGRING_LOG" || return 1
	console "SHOW STATS" | grep -q "^postgres|" && { echo "stats row left"; return 1; }
	has_pool testdb || { echo "the configured database's pool went too"; return 1; }
	out=$(console "SHOW LISTS" | grep '^pools|')
	expect_eq "SHOW LISTS pools" "$out" "pools|2" || return 1
	# and it is made again on demand
	out=$(pq "$c" query "SELECT current_database()" 2>&1)
	expect_eq "auto-database again" "$out" postgres || return 1
	has_pool postgres
}

# keys pgring does not implement say so at start, as the other such keys do
sc_keys_not_yet_warned() {
	local k
	pgring_start "$1" "auth_type = trust
sbuf_loopcnt = 10" || return 1
	for k in sbuf_loopcnt; do
		grep -q "parameter $k is not supported by pgring yet, ignored" "$PGRING_ERR" "$PGRING_LOG" ||
			{ echo "no warning for $k"; pgring_dump_logs; return 1; }
	done
}

SCENARIOS="$SCENARIOS keys_disable_pqexec keys_transaction_timeout keys_server_fast_close
	keys_appname_add_host keys_server_round_robin keys_autodb_idle_timeout
	keys_track_extra_parameters keys_not_yet_warned"
