# scenarios_edge.sh - edges of the server side: launches that fail before a
# socket exists, cancel connections, protocol negotiation at startup.
# Sourced by suite.sh after scenarios.sh (expect_eq and friends come from there).

# edge_add_db LINE: one more [databases] entry in the written, not yet started, config
edge_add_db() { sed -i "/^\[databases\]/a $1" "$PGRING_CONF"; }

# edge_fails_fast DB WANT: a client of DB is refused within 5 s with WANT in the error
edge_fails_fast() {
	local out t0 t
	t0=$(now)
	out=$(PQ_TIMEOUT=20 pq "$(pgring_conn "$1" u_trust)" query "SELECT 1" 2>&1) &&
		{ echo "$1: served: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "$1: refused after $t s: $out"
	echo "$out" | grep -q "$2" || { echo "$1: the error does not say '$2'"; return 1; }
	awk -v t="$t" 'BEGIN { exit !(t < 5) }' || { echo "$1: took $t s"; return 1; }
}

# F4: no address (DNS) or no listener: the client hears the cause at once, not
# after client_login_timeout; one that comes during server_login_retry waits
# for the retry and hears the cause at query_wait_timeout
sc_edge_launch_fail() {
	pgring_write_config "$1" "auth_type = trust
client_login_timeout = 60
query_wait_timeout = 2
server_login_retry = 30" "$(default_userlist)" || return 1
	edge_add_db "nxdb = host=nonexistent.invalid port=$PG_PORT dbname=testdb"
	edge_add_db "closeddb = host=127.0.0.1 port=$(free_port) dbname=testdb"
	pgring_launch && pgring_wait_up "$1" || return 1
	edge_fails_fast nxdb "could not resolve nonexistent.invalid" || return 1
	edge_fails_fast closeddb "could not connect to server" || return 1
	# within server_login_retry: no new try, the cause at query_wait_timeout
	edge_fails_fast nxdb "query_wait_timeout (server login failed: could not resolve nonexistent.invalid" ||
		return 1
	still_serves "after failed launches"
}

# F4: a database whose host does not resolve, then does (RELOAD): a client that
# waits through server_login_retry is served by the retry
sc_edge_launch_retry() {
	local out t0 t n
	pgring_write_config "$1" "auth_type = trust
client_login_timeout = 60
query_wait_timeout = 20
server_login_retry = 3" "$(default_userlist)" || return 1
	edge_add_db "backdb = host=nonexistent.invalid port=$PG_PORT dbname=testdb"
	pgring_launch && pgring_wait_up "$1" || return 1
	edge_fails_fast backdb "could not resolve nonexistent.invalid" || return 1
	n=$(grep -c "re-reading config" "$PGRING_LOG")
	sed -i "s|^backdb = host=nonexistent.invalid|backdb = host=127.0.0.1|" "$PGRING_CONF"
	pgring_reload
	wait_until 5 eval '[ "$(grep -c "re-reading config" "$PGRING_LOG")" -gt "$n" ]' ||
		{ echo "no reload"; return 1; }
	t0=$(now)
	out=$(PQ_TIMEOUT=20 pq "$(pgring_conn backdb u_trust)" query "SELECT 7" 2>&1)
	t=$(elapsed "$t0")
	echo "client during the retry interval: after $t s: $out"
	expect_eq "served once the retry succeeded" "$out" 7
}

SCENARIOS="$SCENARIOS edge_launch_fail edge_launch_retry"
