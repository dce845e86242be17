# scenarios_conform.sh - where pgring must do what PgBouncer's documentation
# says: shared limits, server checks, server login failures, the messages and
# log lines operators grep for, prepared statements around DEALLOCATE/DISCARD.
# Sourced by suite.sh after scenarios.sh (expect_eq and friends come from there).

# conf_add_db LINE: one more [databases] entry in the written, not yet started, config
conf_add_db() { sed -i "/^\[databases\]/a $1" "$PGRING_CONF"; }

# conf_backends USER: backends of USER in PostgreSQL, by database (db=count, sorted)
conf_backends() {
	pg_sql "SELECT coalesce(string_agg(d || '=' || n, ' ' ORDER BY d), '') FROM
		(SELECT datname AS d, count(*) AS n FROM pg_stat_activity
		 WHERE usename = '$1' AND backend_type = 'client backend' GROUP BY 1) s"
}

# ---- server_check_query ----------------------------------------------------

# server_check_delay = 0 checks before every hand-over, and the client gets the
# checked server (it did not: the check ran again and again, the client waited)
sc_conform_check_delay0() {
	local c out i
	pgring_start "$1" "auth_type = trust
pool_mode = transaction
server_check_delay = 0
server_check_query = SELECT 1
query_wait_timeout = 5" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	for i in 1 2 3; do
		out=$(PQ_TIMEOUT=10 pq "$c" query "SELECT $i" 2>&1)
		expect_eq "client $i with server_check_delay = 0" "$out" "$i" || return 1
	done
	# the default, PgBouncer's "<empty>": an empty query
	pgring_stop
	pgring_start "$1" "auth_type = trust
server_check_delay = 0
query_wait_timeout = 5" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	for i in 4 5; do
		out=$(PQ_TIMEOUT=10 pq "$c" query "SELECT $i" 2>&1)
		expect_eq "client $i with the empty check query" "$out" "$i" || return 1
	done
}

# A check query that fails closes the server, says so in the log, and the
# client is served by a fresh one
sc_conform_check_fails() {
	local c out i
	pgring_start "$1" "auth_type = trust
server_check_delay = 0
server_check_query = SELECT 1/0
query_wait_timeout = 5" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	for i in 1 2 3; do
		out=$(PQ_TIMEOUT=10 pq "$c" query "SELECT $i" 2>&1)
		expect_eq "client $i with a failing check" "$out" "$i" || return 1
	done
	grep -q "closing because: server_check_query failed" "$PGRING_LOG" ||
		{ echo "no 'closing because: server_check_query failed' in the log"; return 1; }
}

SCENARIOS="$SCENARIOS conform_check_delay0 conform_check_fails"
