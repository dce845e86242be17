# scenarios_edge.sh - edges of the server side: launches that fail before a
# socket exists, cancel connections, protocol negotiation at startup.
# Sourced by suite.sh after scenarios.sh (expect_eq and friends come from there).

# edge_add_db LINE: one more [databases] entry in the written, not yet started, config
edge_add_db() { sed -i "/^\[databases\]/a $1" "$PGRING_CONF"; }

# edge_fails_fast DB WANT: a client of DB is refused within 5 s with WANT in the
# error (on the unix socket: a pool's cached login error is its worker's)
edge_fails_fast() {
	local out t0 t
	t0=$(now)
	out=$(PQ_TIMEOUT=20 pq "$(pgring_local "$1" u_trust)" query "SELECT 1" 2>&1) &&
		{ echo "$1: served: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "$1: refused after $t s: $out"
	echo "$out" | grep -q "$2" || { echo "$1: the error does not say '$2'"; return 1; }
	awk -v t="$t" 'BEGIN { exit !(t < 5) }' || { echo "$1: took $t s"; return 1; }
}

# F4: no address (DNS) or no listener: the client hears the cause at
# query_wait_timeout, not after client_login_timeout; one that comes during
# server_login_retry, no server being up, is refused at once with PgBouncer's
# "server login has been failing, cached error: ..." (conformance issue 16:
# it used to wait for the retry)
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
	# within server_login_retry: no new try, PgBouncer's refusal with the cause
	edge_fails_fast nxdb "server login has been failing, cached error: could not resolve nonexistent.invalid" ||
		return 1
	still_serves "after failed launches"
}

# F4: a database whose host does not resolve, then does (RELOAD): a client
# that waits through the failure and server_login_retry is served by the retry
sc_edge_launch_retry() {
	local out t0 t n f=$T_ROOT/launch_retry.out pid
	pgring_write_config "$1" "auth_type = trust
client_login_timeout = 60
query_wait_timeout = 20
server_login_retry = 3" "$(default_userlist)" || return 1
	edge_add_db "backdb = host=nonexistent.invalid port=$PG_PORT dbname=testdb"
	pgring_launch && pgring_wait_up "$1" || return 1
	t0=$(now)
	timeout -k 2 30 "$PQTOOL" "$(pgring_conn backdb u_trust) connect_timeout=25" query "SELECT 7" \
		>"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 5 grep -q "could not resolve nonexistent.invalid" "$PGRING_LOG" ||
		{ echo "no failed launch in the log"; return 1; }
	n=$(grep -c "re-reading config" "$PGRING_LOG")
	sed -i "s|^backdb = host=nonexistent.invalid|backdb = host=127.0.0.1|" "$PGRING_CONF"
	pgring_reload
	wait_until 5 eval '[ "$(grep -c "re-reading config" "$PGRING_LOG")" -gt "$n" ]' ||
		{ echo "no reload"; return 1; }
	wait "$pid"
	t=$(elapsed "$t0")
	out=$(cat "$f")
	echo "client that waited through the failure: after $t s: $out"
	expect_eq "served once the retry succeeded" "$out" 7
}

SCENARIOS="$SCENARIOS edge_launch_fail edge_launch_retry"

# ---- cancel ----------------------------------------------------------------

: "${EDGE_PROXY:=$top_srcdir/test/integration/edge_proxy.py}"
EDGE_PROXY_PID=""

# edge_proxy_start BACKEND EXTRA: pgring with database proxdb behind
# edge_proxy.py (pool_size=1, transaction mode), its server logged in through
# the proxy, and the proxy then refusing (hanging) further connects.  That one
# server is a worker's: the scenarios' clients, and so their cancel requests
# (PQcancel takes the connection's socket type), go over the unix socket, whose
# clients all live on worker 0, whatever WORKERS says
edge_proxy_start() {
	local pport out f=$T_ROOT/proxy.out
	pport=$(free_port) || return 1
	rm -f "$T_ROOT/proxy.open"
	/usr/bin/python3 "$EDGE_PROXY" "$pport" "$PG_PORT" "$T_ROOT/proxy.open" >"$f" 2>&1 </dev/null &
	EDGE_PROXY_PID=$!
	track_pid "$EDGE_PROXY_PID"
	wait_until 10 grep -q listening "$f" || { echo "proxy did not start:"; cat "$f"; return 1; }
	pgring_write_config "$1" "auth_type = trust
pool_mode = transaction
$2" "$(default_userlist)" || return 1
	EDGE_PROXY_PORT=$pport
	edge_add_db "proxdb = host=127.0.0.1 port=$pport dbname=testdb pool_size=1"
	pgring_launch && pgring_wait_up "$1" || return 1
	out=$(PQ_TIMEOUT=10 pq "$(pgring_local proxdb u_trust)" query "SELECT 1" 2>&1)
	expect_eq "through the proxy" "$out" 1 || return 1
	wait_until 10 grep -q filled "$f" || { echo "proxy did not fill its queue:"; cat "$f"; return 1; }
}

edge_proxy_port() { echo "$EDGE_PROXY_PORT"; }
edge_proxy_stop() { [ -n "$EDGE_PROXY_PID" ] && stop_pid "$EDGE_PROXY_PID" 2; EDGE_PROXY_PID=""; }

# F15: a cancel connection whose connect hangs is given up after
# cancel_wait_timeout, and the client that asked is let go then, not before
# (PQcancel waits for the close) and not never
sc_edge_cancel_wait_timeout() {
	local out ms rc=0
	edge_proxy_start "$1" "cancel_wait_timeout = 2" || { edge_proxy_stop; return 1; }
	out=$(PQ_TIMEOUT=30 pq "$(pgring_local proxdb u_trust)" cancel 300 "SELECT pg_sleep(4)" 2>&1)
	echo "$out"
	ms=$(echo "$out" | sed -n 's/^cancel request done after \([0-9]*\) ms.*/\1/p')
	[ -n "$ms" ] && [ "$ms" -ge 1500 ] && [ "$ms" -lt 5000 ] ||
		{ echo "the cancel request was let go after ${ms:-?} ms, want about 2000"; rc=1; }
	echo "$out" | grep -q "not cancelled" || { echo "the query was cancelled"; rc=1; }
	grep -q "cancel request abandoned after cancel_wait_timeout" "$PGRING_LOG" ||
		{ echo "no cancel_wait_timeout log line"; rc=1; }
	edge_proxy_stop
	[ $rc = 0 ] && still_serves "after an abandoned cancel"
}

# F15: in transaction mode a cancel that reaches PostgreSQL only after its
# client's transaction ended must not cancel the next client's query on the
# same server: A asks to cancel, its connect hangs, A's query ends, B's query
# runs on the server (pool_size=1), then the cancel connection gets through
sc_edge_cancel_wrong_query() {
	local a=$T_ROOT/a.out b=$T_ROOT/b.out pa pb rc=0
	edge_proxy_start "$1" "cancel_wait_timeout = 30" || { edge_proxy_stop; return 1; }
	PQ_TIMEOUT=40 pq "$(pgring_local proxdb u_trust)" cancel 300 "SELECT pg_sleep(2)" >"$a" 2>&1 &
	pa=$!
	sleep 2.8
	PQ_TIMEOUT=40 pq "$(pgring_local proxdb u_trust)" query "SELECT pg_sleep(8), 'B'" >"$b" 2>&1 &
	pb=$!
	sleep 1
	touch "$T_ROOT/proxy.open"	# the cancel's next SYN gets through
	wait "$pb"
	wait "$pa"
	echo "A: $(cat "$a")"
	echo "B: $(cat "$b")"
	grep -q "|B$\|B$" "$b" || { echo "B's query did not complete"; rc=1; }
	grep -q "canceling statement" "$b" && { echo "B's query was cancelled by A's request"; rc=1; }
	grep -q "cancel request dropped: its client no longer holds the server" "$PGRING_LOG" ||
		{ echo "no 'cancel request dropped' log line"; rc=1; }
	edge_proxy_stop
	return $rc
}

# F15: at most CANCEL_CONNS_MAX (64) cancel connections at once: 70 cancels of
# one query whose connects hang: 64 are held open (being forwarded), 6 are
# refused with an error and a log line; after cancel_wait_timeout all are gone.
# The cap is per worker (doc/workers.md): the cancels come over the unix
# socket, so that all 70 are counted on worker 0
sc_edge_cancel_cap() {
	local out rc=0
	edge_proxy_start "$1" "cancel_wait_timeout = 3" || { edge_proxy_stop; return 1; }
	out=$(timeout 30 /usr/bin/python3 "$top_srcdir/test/integration/edge_cancels.py" \
		"$PGRING_PORT" u_trust proxdb 70 4 "$PGRING_DIR" 2>&1)
	echo "$out"
	echo "$out" | grep -q "^held=64 closed=0 errors=6$" || rc=1
	echo "$out" | grep -q "too many cancel requests in progress" || rc=1
	grep -q "64 cancel connections open: a cancel request is refused" "$PGRING_LOG" ||
		{ echo "no log line for the cap"; rc=1; }
	wait_until 10 eval '[ "$(grep -c "abandoned after cancel_wait_timeout" "$PGRING_LOG")" -ge 64 ]' ||
		{ echo "the held cancels were not all abandoned"; rc=1; }
	# and their sockets are closed, not left retrying SYNs
	wait_until 5 eval '! ss -Htnp state syn-sent | grep -q "pid=$PGRING_PID,"' ||
		{ echo "pgring still has connects in SYN-SENT:"; ss -Htnp state syn-sent; rc=1; }
	edge_proxy_stop
	[ $rc = 0 ] && still_serves "after the cancel cap"
}

SCENARIOS="$SCENARIOS edge_cancel_wait_timeout edge_cancel_wrong_query edge_cancel_cap"

# an immediate exit (SIGQUIT) while a cancel connection's connect hangs: the
# exit closes it at once instead of waiting out its cancel_wait_timeout; it
# used to be left to the end of the exit's 2 s grace, then never freed (a
# sanitizer build reported the leak; the log said "did not end in time")
sc_edge_cancel_exit() {
	local a=$T_ROOT/a.out pa t0 rc=0
	edge_proxy_start "$1" "cancel_wait_timeout = 30" || { edge_proxy_stop; return 1; }
	PQ_TIMEOUT=40 pq "$(pgring_local proxdb u_trust)" cancel 200 "SELECT pg_sleep(10)" >"$a" 2>&1 &
	pa=$!
	wait_until 10 eval '[ "$(ss -Htn state syn-sent "( dport = :$(edge_proxy_port) )" | wc -l)" -ge 1 ]' ||
		{ echo "no cancel connection hangs in SYN-SENT"; rc=1; }
	t0=$(date +%s%N)
	kill -QUIT "$PGRING_PID"
	wait_until 5 eval '! alive "$PGRING_PID"' ||
		{ echo "pgring still running 5 s after SIGQUIT"; rc=1; }
	echo "exit took $((($(date +%s%N) - t0) / 1000000)) ms"
	wait "$PGRING_PID" 2>/dev/null
	PGRING_PID=""
	wait "$pa" 2>/dev/null
	edge_proxy_stop
	if grep "did not end in time" "$PGRING_LOG"; then
		echo "the exit waited for the cancel connection"
		rc=1
	fi
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}
SCENARIOS="$SCENARIOS edge_cancel_exit"

# ---- startup negotiation ---------------------------------------------------

: "${EDGE_STARTUP:=$top_srcdir/test/integration/edge_startup.py}"

# F18: protocol 3.2 with _pq_. options: the same NegotiateProtocolVersion as
# PostgreSQL, byte for byte, then a normal login (it was "unsupported startup
# parameter")
sc_edge_negotiate() {
	local pg ring vpg vring
	pgring_start "$1" "auth_type = trust" || return 1
	pg=$(timeout 15 /usr/bin/python3 "$EDGE_STARTUP" "$PG_PORT" u_trust testdb 2>&1)
	ring=$(timeout 15 /usr/bin/python3 "$EDGE_STARTUP" "$PGRING_PORT" u_trust testdb 2>&1)
	echo "PostgreSQL: $pg"
	echo "pgring: $ring"
	vpg=$(echo "$pg" | sed -n 's/^v=//p')
	vring=$(echo "$ring" | sed -n 's/^v=//p')
	[ -n "$vpg" ] || { echo "PostgreSQL sent no NegotiateProtocolVersion"; return 1; }
	expect_eq "NegotiateProtocolVersion" "$vring" "$vpg" || return 1
	echo "$ring" | grep -q '^then=R.*Z$' || { echo "pgring did not log the client in"; return 1; }
	still_serves "after a negotiated login"
}

SCENARIOS="$SCENARIOS edge_negotiate"
