# scenarios_robust.sh - faults, malformed input and load: a client that never
# reads, a backend killed mid-query, PostgreSQL down and back, malformed and
# oversized packets, thousands of concurrent connections.  Each checks that
# the client at fault gets an error, and that pgring stays up and serves others.
# Sourced by suite.sh after scenarios.sh (expect_eq and friends come from there).

: "${RAWPG:=$top_builddir/test/integration/rawpg}"
# concurrent clients of robust_many (the suite raises its fd limit to fit)
: "${ROBUST_MANY_N:=4000}"

# rawpg ARGS...: the raw-protocol client against the current instance
rawpg() { timeout -k 2 "${RAW_TIMEOUT:-90}" "$RAWPG" 127.0.0.1 "$PGRING_PORT" "$@"; }

pgring_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PGRING_PID/status" 2>/dev/null; }
pgring_fds() { ls "/proc/$PGRING_PID/fd" 2>/dev/null | wc -l; }
# pgring's sockets to PostgreSQL (its servers, logging in or draining too)
pgring_server_fds() { ss -Htanp "( dport = :$PG_PORT )" 2>/dev/null | grep -c "pid=$PGRING_PID,"; }
# its fds less those: what clients would leave behind.  How many servers a
# round of clients opens depends on timing (with several workers, servers
# handed over, logins still in flight as the last clients leave)
pgring_client_fds() { echo $(($(pgring_fds) - $(pgring_server_fds))); }

# a query through pgring works (another client, while something else goes on)
still_serves() {
	local out
	out=$(PQ_TIMEOUT=10 pq "$(pgring_conn testdb u_trust)" query "SELECT 40 + 2" 2>&1)
	expect_eq "a query through pgring ($1)" "$out" 42 || return 1
	alive "$PGRING_PID" || { echo "pgring is gone ($1)"; return 1; }
}

# A client sends a query whose result is ~1 GB and never reads: pgring stops
# reading from that server (backpressure), its RSS stays flat, others go on
sc_robust_noread() {
	local f=$T_ROOT/noread.out pid rss0 rss max=0 i
	[ -x "$RAWPG" ] || { echo "no $RAWPG"; return 1; }
	pgring_start "$1" "auth_type = trust" || return 1
	still_serves "warm-up" || return 1
	rss0=$(pgring_rss)
	# not through the rawpg function: $! must be the process to signal
	timeout -k 2 60 "$RAWPG" 127.0.0.1 "$PGRING_PORT" noread u_trust testdb \
		"SELECT repeat('x', 1000) FROM generate_series(1, 1000000)" 30 >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 10 grep -q "query sent" "$f" || { echo "the non-reading client did not start:"; cat "$f"; return 1; }
	for i in 1 2 3 4 5 6; do
		sleep 1
		rss=$(pgring_rss)
		[ "${rss:-0}" -gt "$max" ] && max=$rss
		still_serves "while a client does not read, ${i} s" || return 1
	done
	echo "pgring VmRSS: $rss0 kB before, at most $max kB while the client did not read"
	if rss_checked && [ $((max - rss0)) -ge 32768 ]; then
		echo "RSS grew by $((max - rss0)) kB (limit 32768)"
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# pgring notices the client is gone although it was not reading from it
	wait_until 5 eval '! ss -Htn state established "( sport = :$PGRING_PORT )" | grep -q .' ||
		{ echo "pgring still holds client connections 5 s after the client left:"
		  ss -Htn state established "( sport = :$PGRING_PORT )"; return 1; }
	still_serves "after the non-reading client left" || return 1
}

# backend_pid_of SQL: the PostgreSQL backend running SQL (not us), once it shows
backend_pid_of() {
	pg_sql "SELECT pid FROM pg_stat_activity WHERE query = '$1' AND pid <> pg_backend_pid()" 2>/dev/null |
		head -n 1
}

# pg_terminate_backend under a client mid-query: it gets an error at once and
# the pool gives the next client a working connection
sc_robust_backend_killed() {
	local f=$T_ROOT/killed.out pid bpid t0 t out rc
	pgring_start "$1" "auth_type = trust" || return 1
	pq "$(pgring_conn testdb_p1 u_trust)" query "SELECT pg_sleep(60)" >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 10 eval 'bpid=$(backend_pid_of "SELECT pg_sleep(60)"); [ -n "$bpid" ]' ||
		{ echo "the query never showed in pg_stat_activity"; return 1; }
	t0=$(now)
	pg_sql "SELECT pg_terminate_backend($bpid)" >/dev/null || { echo "pg_terminate_backend failed"; return 1; }
	wait_until 5 eval "! kill -0 $pid 2>/dev/null" || { echo "the client still waits 5 s after its backend died"; return 1; }
	wait "$pid"
	rc=$?
	t=$(elapsed "$t0")
	echo "client ended $t s after its backend was killed (exit $rc): $(tr '\n' ' ' <"$f")"
	[ "$rc" -ne 0 ] || { echo "the client's query succeeded though its backend was killed"; return 1; }
	grep -qi "terminat\|server closed\|connection" "$f" || { echo "no error message that says what happened"; return 1; }
	# the pool (size 1) recovers: the next client on the same pool works
	out=$(PQ_TIMEOUT=10 pq "$(pgring_conn testdb_p1 u_trust)" query "SELECT 'recovered'" 2>&1)
	expect_eq "next client on the pool" "$out" recovered || return 1
	still_serves "after the kill"
}

pg_start_again() {
	as_run_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >>"$T_ROOT/pg/pg_ctl.log" 2>&1
}

# PostgreSQL stopped: a waiting client stays queued while the pool retries
# (PgBouncer's behaviour, conformance issue 16) and gets an error at
# query_wait_timeout; when PostgreSQL is back, pgring serves again
sc_robust_pg_down() {
	local out t0 t rc=0
	pgring_start "$1" "auth_type = trust
server_connect_timeout = 3
query_wait_timeout = 3
server_login_retry = 1" || return 1
	# both clients on the unix socket, on worker 0: the second logs in on
	# what the pool learnt from the first's server, and then waits for one
	expect_eq "a query through pgring (before the stop)" \
		"$(PQ_TIMEOUT=10 pq "$(pgring_local testdb u_trust)" query "SELECT 40 + 2" 2>&1)" 42 || return 1
	pg_stop fast || { echo "pg_ctl stop failed"; pg_start_again; return 1; }
	# let pgring see its idle server go (a query racing the shutdown is
	# another matter)
	sleep 1
	t0=$(now)
	# rawpg shows each ErrorResponse (libpq's message may keep only the close)
	out=$(timeout -k 2 90 "$RAWPG" "$PGRING_DIR" "$PGRING_PORT" raw u_trust testdb "$(hex_query "SELECT 1")" 2>&1) || rc=1
	t=$(elapsed "$t0")
	echo "with PostgreSQL down, after $t s: $(echo "$out" | tr '\n' ' ')"
	[ "$rc" = 0 ] || echo "the client did not get an ErrorResponse and a close from pgring"
	[ "$(awk -v t="$t" 'BEGIN { print (t <= 3 + 2) }')" = 1 ] ||
		{ echo "the error took $t s (query_wait_timeout = 3)"; rc=1; }
	alive "$PGRING_PID" || { echo "pgring is gone"; rc=1; }
	pg_start_again || { echo "PostgreSQL did not start again"; diag_file "$PG_LOG"; return 1; }
	wait_until 10 eval 'PQ_TIMEOUT=5 pq "$(pgring_conn testdb u_trust)" query "SELECT 1" >/dev/null 2>&1' ||
		{ echo "pgring did not serve within 10 s of PostgreSQL's return"; return 1; }
	echo "served again $(elapsed "$t0") s after the stop"
	return $rc
}

# raw_refused WHAT USER HEX SUBSTRING: the connection gets an ErrorResponse
# containing SUBSTRING and is closed; pgring logs it and serves others
raw_refused() {
	local out
	out=$(rawpg raw "$2" testdb "$3" 2>&1)
	echo "$1: $(echo "$out" | tr '\n' ' ')"
	echo "$out" | grep -q "^closed$" || { echo "$1: the connection was not closed"; return 1; }
	echo "$out" | grep -q "^error .*$4" || { echo "$1: no ErrorResponse with '$4'"; return 1; }
	still_serves "after: $1"
}

# hex_query SQL: a Query message, as hex
hex_query() {
	local body
	body="$(printf %s "$1" | od -An -tx1 -v | tr -d ' \n')00"
	printf '51%08x%s' $((${#body} / 2 + 4)) "$body"
}

# hex_startup USER DB: a StartupMessage, as hex
hex_startup() {
	local body len
	body=$(printf '00030000%s00%s00%s00%s0000' "$(printf user | od -An -tx1 | tr -d ' \n')" \
		"$(printf %s "$1" | od -An -tx1 | tr -d ' \n')" \
		"$(printf database | od -An -tx1 | tr -d ' \n')" \
		"$(printf %s "$2" | od -An -tx1 | tr -d ' \n')")
	len=$((${#body} / 2 + 4))
	printf '%08x%s' "$len" "$body"
}

sc_robust_malformed() {
	local rc=0 before
	[ -x "$RAWPG" ] || { echo "no $RAWPG"; return 1; }
	pgring_start "$1" "auth_type = trust" || return 1
	raw_refused "startup length 3" - 00000003 "08P01" || rc=1
	raw_refused "startup length 2 GB" - 7fffffff00030000 "08P01" || rc=1
	raw_refused "startup without terminator" - 0000001000030000757365720061626364 "08P01" || rc=1
	raw_refused "unknown protocol version" - 0000000800090000 "08P01" || rc=1
	raw_refused "garbage after startup" - "$(hex_startup u_trust testdb)ffffffffffffffffffff" "08P01" || rc=1
	raw_refused "length 3 after login" u_trust 5100000003 "08P01" || rc=1
	# under the default max_packet_size this goes on to PostgreSQL, which drops
	# the connection: pgring tells the client
	raw_refused "length 2 GB after login" u_trust 517ffffff0 "" || rc=1
	raw_refused "unknown message type after login" u_trust 7a00000004 "08P01" || rc=1
	raw_refused "password message after login" u_trust 700000000878797a00 "" || rc=1
	before=$(grep -c "invalid packet length\|too long\|unsupported\|invalid startup" "$PGRING_LOG" 2>/dev/null)
	echo "pgring logged $before of the refusals"
	[ "${before:-0}" -ge 4 ] || { echo "pgring's log does not tell about the malformed packets:"; diag_file "$PGRING_LOG" 15; rc=1; }
	return $rc
}

# max_packet_size: a longer message is refused with an error, not buffered;
# shorter ones pass
sc_robust_max_packet_size() {
	local big out c
	pgring_start "$1" "auth_type = trust
max_packet_size = 10000" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(pq "$c" query "SELECT length('$(head -c 5000 /dev/zero | tr '\0' x)')" 2>&1)
	expect_eq "a 5000-byte query under max_packet_size" "$out" 5000 || return 1
	big=$(head -c 20000 /dev/zero | tr '\0' x)
	raw_refused "a 20000-byte query" u_trust "$(hex_query "SELECT length('$big')")" "08P01" || return 1
	# a 2 GB length is refused at its header, before any body arrives
	raw_refused "declared length 2 GB" u_trust 517ffffff0 "08P01" || return 1
	grep -q "too long (max_packet_size)" "$PGRING_LOG" || { echo "no log line naming max_packet_size"; diag_file "$PGRING_LOG" 10; return 1; }
}

# ROBUST_MANY_N clients connected at once, each runs a query, twice over:
# pgring's fds go back to where they were and its RSS does not creep
sc_robust_many() {
	local n=$ROBUST_MANY_N want out fd0 fd1 fd2 rss1 rss2
	[ -x "$RAWPG" ] || { echo "no $RAWPG"; return 1; }
	want=$((n + 200))
	if [ "$(ulimit -n)" -lt "$want" ] && ! ulimit -n "$want" 2>/dev/null; then
		echo "cannot raise the fd limit to $want (hard limit $(ulimit -Hn))"
		return 1
	fi
	pgring_start "$1" "auth_type = trust
max_client_conn = $((n + 100))" || return 1
	fd0=$(pgring_client_fds)
	out=$(RAW_TIMEOUT=120 rawpg many "$n" u_trust testdb 2>&1) || { echo "round 1: $out" | tail -n 5; return 1; }
	echo "round 1: $(echo "$out" | tail -n 1)"
	wait_until 10 eval '[ "$(pgring_client_fds)" -le $((fd0 + 5)) ]' ||
		{ echo "fds other than servers: $fd0 before, $(pgring_client_fds) after round 1"; return 1; }
	fd1=$(pgring_client_fds) rss1=$(pgring_rss)
	out=$(RAW_TIMEOUT=120 rawpg many "$n" u_trust testdb 2>&1) || { echo "round 2: $out" | tail -n 5; return 1; }
	echo "round 2: $(echo "$out" | tail -n 1)"
	wait_until 10 eval '[ "$(pgring_client_fds)" -le $((fd1 + 5)) ]' ||
		{ echo "fds other than servers: $fd1 after round 1, $(pgring_client_fds) after round 2"; return 1; }
	fd2=$(pgring_client_fds) rss2=$(pgring_rss)
	echo "fds other than servers $fd0 / $fd1 / $fd2 (servers now $(pgring_server_fds))," \
		"RSS after round 1 $rss1 kB, after round 2 $rss2 kB"
	if rss_checked && [ $((rss2 - rss1)) -ge 16384 ]; then
		echo "RSS grew by $((rss2 - rss1)) kB between equal rounds"
		return 1
	fi
	still_serves "after $n clients twice"
}

# Garbage config and auth_file: at start-up a clear error (file and line) and
# a non-zero exit; on reload the error is logged and the running config kept
sc_robust_bad_config() {
	local out rc=0 conf
	pgring_start "$1" "auth_type = md5" || return 1
	conf=$PGRING_CONF
	login_ok testdb u_md5 pw_md5 || return 1
	# reload with a garbage config: kept, and said so
	cp "$conf" "$conf.good"
	printf '[pgbouncer]\nlisten_port = not-a-port\n\x01\x02garbage = = =\n' >>"$conf"
	pgring_reload
	wait_until 5 grep -q "reload failed" "$PGRING_LOG" ||
		{ echo "no log line for the failed reload:"; diag_file "$PGRING_LOG" 10; rc=1; }
	grep "reload failed" "$PGRING_LOG" | tail -n 1
	grep "reload failed" "$PGRING_LOG" | tail -n 1 | grep -q "pgring.ini:[0-9]" ||
		{ echo "the reload error does not name file and line"; rc=1; }
	login_ok testdb u_md5 pw_md5 || rc=1
	cp "$conf.good" "$conf"
	# reload with a garbage auth_file: kept, and said so
	cp "$PGRING_DIR/userlist.txt" "$PGRING_DIR/userlist.good"
	printf 'u_md5 pw_md5\n"unterminated\n' >"$PGRING_DIR/userlist.txt"
	pgring_reload
	wait_until 5 eval '[ "$(grep -c "reload failed" "$PGRING_LOG")" -ge 2 ]' ||
		{ echo "no log line for the bad auth_file:"; diag_file "$PGRING_LOG" 10; rc=1; }
	grep "reload failed" "$PGRING_LOG" | tail -n 1
	login_ok testdb u_md5 pw_md5 || rc=1
	alive "$PGRING_PID" || { echo "pgring is gone"; return 1; }
	cp "$PGRING_DIR/userlist.good" "$PGRING_DIR/userlist.txt"
	pgring_stop
	# start-up with a garbage config: exits non-zero, names file and line
	printf '[pgbouncer]\nmax_client_conn = lots\n' >>"$conf"
	local urc=0 uopt=""
	[ "$(id -u)" = 0 ] && uopt="-u $RUN_USER"
	# shellcheck disable=SC2086
	out=$(timeout 10 "$PGRING_BIN" $uopt "$conf" 2>&1) || urc=$?
	case $urc in
	0 | 124) echo "pgring started on a garbage config (exit $urc)"; rc=1 ;;
	esac
	echo "start-up on a garbage config: $out" | tail -n 2
	echo "$out" | grep -q "pgring.ini:[0-9]*.*max_client_conn" ||
		grep -q "pgring.ini:[0-9]*.*max_client_conn" "$PGRING_LOG" ||
		{ echo "the start-up error does not name file, line and key"; rc=1; }
	return $rc
}

# A low fd limit and a flood of connections: pgring stays up, says why it
# cannot accept (without flooding its log) and serves again afterwards
sc_robust_low_fd() {
	local out lines t0 t pid_file=$T_ROOT/lowfd.pid
	# server_login_retry = 2: a server socket refused during the flood
	# (EMFILE) is a failed login, cached that long; the default 15 s runs
	# past the wait below on a slow build (ThreadSanitizer)
	# query_wait_timeout = 5: with several workers, clients of a worker whose
	# pool has no server wait for one (holding their fds) rather than get the
	# cached error, until this timeout (doc/workers.md); the flood's leftovers
	# must let go of the fd table before "serves again" can hold
	pgring_write_config "$1" "auth_type = trust
max_client_conn = 1000
server_login_retry = 2
query_wait_timeout = 5" "$(default_userlist)" || return 1
	# the limit applies to pgring alone: set it in a subshell that starts it;
	# each worker past the first holds about 5 fds of its own (ring, eventfds,
	# listeners), which the room for clients keeps
	(ulimit -n $((64 + 5 * (${WORKERS:-1} - 1))) && pgring_launch && echo "$PGRING_PID" >"$pid_file")
	PGRING_PID=$(cat "$pid_file" 2>/dev/null)
	[ -n "$PGRING_PID" ] || { echo "pgring did not start"; return 1; }
	track_pid "$PGRING_PID"
	pgring_wait_up "$1" || return 1
	echo "pgring's fd limit: $(awk '/Max open files/ { print $4 }' "/proc/$PGRING_PID/limits")"
	# 300 clients at once with room for about 50: some must be turned away
	t0=$(now)
	out=$(RAW_TIMEOUT=20 rawpg many 300 u_trust testdb 2>&1)
	t=$(elapsed "$t0")
	echo "flood of $t s: $(echo "$out" | tail -n 1)"
	alive "$PGRING_PID" || { echo "pgring died under the flood"; pgring_dump_logs; return 1; }
	# a refused client's own lines ("closing because:", "pooler error:") may
	# quote the cause; they are one per client, as in PgBouncer, not the flood
	lines=$(grep -v "closing because: \|pooler error: " "$PGRING_LOG" |
		grep -c "Too many open files\|EMFILE\|fd limit\|max_client_conn")
	echo "log lines about it: $lines"
	[ "$lines" -ge 1 ] || { echo "pgring does not say why it refused connections"; diag_file "$PGRING_LOG" 10; return 1; }
	# the accept retry runs every 100 ms: at most that many lines, not one per
	# attempt of every client
	[ "$(awk -v l="$lines" -v t="$t" 'BEGIN { print (l <= 12 * (t + 1)) }')" = 1 ] ||
		{ echo "pgring's log is flooded ($lines lines in $t s)"; return 1; }
	# served again: three queries in a row (with several workers, on up to
	# three workers' pools, each of which may have cached a refused socket
	# until the flood's sockets were gone)
	wait_until 25 serves_thrice >/dev/null 2>&1 || { serves_thrice; return 1; }
}

serves_thrice() {
	still_serves "after the flood" && still_serves "after the flood, again" &&
		still_serves "after the flood, a third time"
}


: "${READY_RELAY:=$top_srcdir/test/integration/ready_relay.py}"

# A ReadyForQuery whose status is none of I, T and E, or missing, leaves the
# server in a state nobody knows (ready_relay.py spoils the one after a row
# holding "bad_ready"): its client gets an error on its next query instead of
# being served by it, pgring logs why, and the next client gets a new server.
# At login (mode login) the login fails, the client told why.
sc_robust_bad_ready() {
	local mode port out relays="" pid rc=0
	pgring_write_config "$1" "auth_type = trust
pool_mode = transaction" "$(default_userlist)" || return 1
	for mode in status empty login; do
		port=$(free_port) || return 1
		/usr/bin/python3 "$READY_RELAY" "$port" "$PG_PORT" "$mode" \
			>"$T_ROOT/ready_relay.$mode.log" 2>&1 </dev/null &
		track_pid $!
		relays="$relays $!"
		wait_until 5 listening "$port" || { echo "relay ($mode) did not listen"; return 1; }
		sed -i "/^\[databases\]/a ready_$mode = host=127.0.0.1 port=$port dbname=testdb pool_size=1" \
			"$PGRING_CONF"
	done
	pgring_launch && pgring_wait_up "$1" || return 1
	for mode in status empty; do
		out=$(PQ_TIMEOUT=10 pq "$(pgring_conn "ready_$mode" u_trust)" query \
			"SELECT 'bad_ready'" "SELECT 'served after it'" 2>&1) &&
			{ echo "$mode: a server after a spoiled ReadyForQuery served on: $out"; rc=1; }
		echo "$mode: $out"
		out=$(PQ_TIMEOUT=10 pq "$(pgring_conn "ready_$mode" u_trust)" query "SELECT 1" 2>&1)
		expect_eq "$mode: the next client" "$out" 1 || rc=1
	done
	out=$(PQ_TIMEOUT=10 pq "$(pgring_conn ready_login u_trust)" expect-error "SELECT 1" \
		"malformed ReadyForQuery from server" 2>&1) || { echo "login: $out"; rc=1; }
	echo "login: $out"
	out=$(grep -c "malformed ReadyForQuery from server" "$PGRING_LOG")
	[ "${out:-0}" -ge 3 ] || { echo "pgring's log does not tell (${out:-0} lines)"; diag_file "$PGRING_LOG" 15; rc=1; }
	for pid in $relays; do stop_pid "$pid" 2; done
	return $rc
}

SCENARIOS="$SCENARIOS robust_bad_config robust_low_fd robust_noread robust_backend_killed robust_pg_down robust_malformed
	robust_max_packet_size robust_many robust_bad_ready"
