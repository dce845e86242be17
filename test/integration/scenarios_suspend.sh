# scenarios_suspend.sh - SUSPEND and RESUME as PgBouncer documents them
# (issue 15): every socket but the console's flushed and no longer read, the
# answer only once the buffers are empty, nothing refused meanwhile.
# Sourced by suite.sh after scenarios.sh; the client is suspend_check.py.

# sp_check MODE BACKEND [EXTRA]: an instance (trust, u_trust an admin) and the check
sp_check() {
	local out rc
	pgring_start "$2" "auth_type = trust
admin_users = u_trust
${3:-}" || return 1
	out=$(timeout 90 /usr/bin/python3 "$top_srcdir/test/integration/suspend_check.py" \
		"$1" "127.0.0.1:$PGRING_PORT" u_trust testdb u_trust 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" = 0 ] || { pgring_dump_logs; return 1; }
}

# A session's query sent during SUSPEND is not answered (nor refused) until
# RESUME, then gets its right answer; a newcomer waits in the listen backlog
# and is served after RESUME.
sc_suspend_query() {
	sp_check query "$1" || return 1
	grep -q "SUSPEND command issued" "$PGRING_LOG" || { echo "SUSPEND not logged"; return 1; }
	still_serves "after SUSPEND and RESUME"
}

# SUSPEND does not answer while a client's answer is still queued in pgring
# (a reader that does not read); it answers once that reader has taken it.
sc_suspend_slow_reader() {
	sp_check slow "$1"
}

# suspend_timeout: a reader that never reads is closed after it, and
# SUSPEND answers then.
sc_suspend_timeout() {
	sp_check timeout "$1" "suspend_timeout = 1" || return 1
	grep -q "suspend_timeout" "$PGRING_LOG" || { echo "the close is not logged"; return 1; }
}

SCENARIOS="$SCENARIOS suspend_query suspend_slow_reader suspend_timeout"

# Servers pgring closes are told with a Terminate first, as PgBouncer does,
# so that PostgreSQL does not log "unexpected EOF on client connection" (a
# DEBUG1 line when no transaction is open: this scenario turns it on for
# u_trust): at a clean exit (SIGTERM and SIGINT) and at server_idle_timeout.
sc_exit_terminate() {
	local before n rc=0 sig i bg
	pg_sql "ALTER ROLE u_trust SET log_min_messages = debug1" >/dev/null || return 1
	# the check can see the line: a session that just closes makes one
	before=$(wc -c <"$PG_LOG")
	/usr/bin/python3 "$top_srcdir/test/integration/suspend_check.py" eof "127.0.0.1:$PG_PORT" \
		u_trust testdb - || rc=1
	wait_until 5 eval 'tail -c +"$((before + 1))" "$PG_LOG" | grep -q "unexpected EOF on client connection"' ||
		{ echo "a session closed without Terminate left no line in PostgreSQL's log"; rc=1; }
	for sig in TERM INT; do
		pgring_start "$1" "auth_type = trust
server_idle_timeout = 1" || { rc=1; break; }
		before=$(wc -c <"$PG_LOG")
		# two servers of testdb (one goes at server_idle_timeout) and one of testdb_p1
		pq "$(pgring_conn testdb u_trust)" query "SELECT pg_sleep(0.3)" >/dev/null &
		bg=$!
		pq "$(pgring_conn testdb u_trust)" query "SELECT pg_sleep(0.3)" >/dev/null || rc=1
		wait "$bg" || rc=1
		sleep 2.5	# the janitor closes the idle ones
		for i in 1 2; do
			pq "$(pgring_conn testdb_p1 u_trust)" query "SELECT 1" >/dev/null || rc=1
		done
		kill -"$sig" "$PGRING_PID"
		ex_gone "$PGRING_PID" 5 || { echo "pgring did not exit after SIG$sig"; rc=1; }
		PGRING_PID=""
		sleep 0.3	# PostgreSQL's backends log as they end
		n=$(tail -c +"$((before + 1))" "$PG_LOG" | grep -c "unexpected EOF on client connection")
		expect_eq "SIG$sig: unexpected EOF lines in PostgreSQL's log" "$n" 0 || rc=1
		grep -q "server idle timeout" "$PGRING_LOG" || { echo "no server idle timeout logged"; rc=1; }
	done
	pg_sql "ALTER ROLE u_trust RESET log_min_messages" >/dev/null || rc=1
	return $rc
}

SCENARIOS="$SCENARIOS exit_terminate"

# SIGTERM while suspended: the frozen clients could never finish, so pgring
# goes down at once, as PgBouncer does ("suspend was in progress, going down
# immediately", exit status 1), rather than wait for ever.
sc_suspend_sigterm() {
	local st out
	pgring_start "$1" "auth_type = trust
admin_users = u_trust" || return 1
	ex_sess_open spterm "$(pgring_conn testdb u_trust)" || return 1
	ex_sess "SELECT 'in';"
	ex_sess_expect in || return 1
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -A -t "$(pgring_conn pgbouncer u_trust)" -c "SUSPEND" 2>&1)
	expect_eq "SUSPEND" "$out" SUSPEND || return 1
	kill -TERM "$PGRING_PID"
	ex_gone "$PGRING_PID" 2 || { echo "pgring still running 2 s after SIGTERM while suspended"; return 1; }
	wait "$PGRING_PID"
	st=$?
	PGRING_PID=""
	ex_sess_close
	expect_eq "exit status" "$st" 1 || return 1
	grep -q "suspend was in progress, going down immediately" "$PGRING_LOG" ||
		{ echo "no log line"; return 1; }
}

SCENARIOS="$SCENARIOS suspend_sigterm"

# PAUSE holds a new replication client as PgBouncer's does (its launches
# wait for RESUME): no walsender is started while paused, and the client is
# served after RESUME.  Uses repl_start / repl_conn (scenarios_startup.sh).
sc_pause_holds_replication() {
	local f=$T_ROOT/prepl.out out
	repl_start "$1" || return 1
	out=$(console "PAUSE")
	expect_eq "PAUSE" "$out" PAUSE || return 1
	( echo "IDENTIFY_SYSTEM;"; sleep 4 ) | timeout 15 "$PG_BINDIR/psql" -X -At \
		"$(repl_conn replication true)" >"$f" 2>&1 &
	track_pid $!
	sleep 1.5
	[ ! -s "$f" ] || { echo "answered during PAUSE: $(cat "$f")"; return 1; }
	out=$(pg_sql "SELECT count(*) FROM pg_stat_replication")
	expect_eq "walsenders during PAUSE" "$out" 0 || return 1
	out=$(console "SHOW CLIENTS" | awk -F'|' -v u="$PG_SUPERUSER" '$2 == u { print $4 "/" $5 }')
	expect_eq "SHOW CLIENTS replication/state during PAUSE" "$out" "physical/waiting" || return 1
	out=$(console "RESUME")
	expect_eq "RESUME" "$out" RESUME || return 1
	wait_until 5 grep -q '|' "$f" || { echo "no answer after RESUME: $(cat "$f")"; return 1; }
	echo "IDENTIFY_SYSTEM after RESUME: $(cat "$f")"
}

SCENARIOS="$SCENARIOS pause_holds_replication"

# scripts/pgring-handover.sh, twice (A to B, B back to A), while pgbench
# opens a connection per transaction: no transaction fails, each old
# instance exits, the last one serves.  EXIT_PGBENCH_CLIENTS (default 4).
sc_exit_handover_script() {
	local c=${EXIT_PGBENCH_CLIENTS:-4} a b f=$T_ROOT/hs-pgbench.out script=$T_ROOT/hs.sql
	local pb rc u=() out pid
	command -v pgbench >/dev/null || { SKIP_REASON="no pgbench"; return 77; }
	pgring_start "$1" "auth_type = trust
so_reuseport = 1" || return 1
	a=$PGRING_CONF
	b=$PGRING_DIR/b/pgring.ini
	mkdir -p "$PGRING_DIR/b" && cp "$PGRING_DIR/userlist.txt" "$PGRING_DIR/b/" || return 1
	sed "s#$PGRING_DIR/#$PGRING_DIR/b/#g; s#^unix_socket_dir = .*#unix_socket_dir = $PGRING_DIR/b#" "$a" >"$b" ||
		return 1
	own "$PGRING_DIR"
	[ "$(id -u)" = 0 ] && u=(-u "$RUN_USER")
	echo "SELECT 1;" >"$script"
	timeout -k 2 60 pgbench -n -C -c "$c" -T 4 -f "$script" \
		-h 127.0.0.1 -p "$PGRING_PORT" -U u_trust testdb >"$f" 2>&1 &
	pb=$!
	track_pid "$pb"
	sleep 0.7
	out=$("$top_srcdir/scripts/pgring-handover.sh" -b "$PGRING_BIN" "${u[@]}" -t 10 "$a" "$b" 2>&1)
	rc=$?
	echo "$out"
	pid=$(cat "$PGRING_DIR/b/pgring.pid" 2>/dev/null) && track_pid "$pid"
	[ "$rc" = 0 ] || { echo "hand-over A to B: status $rc"; return 1; }
	alive "$PGRING_PID" && { echo "the old instance did not exit"; return 1; }
	wait "$PGRING_PID"
	PGRING_PID=""
	sleep 1
	out=$("$top_srcdir/scripts/pgring-handover.sh" -b "$PGRING_BIN" "${u[@]}" -t 10 "$b" "$a" 2>&1)
	rc=$?
	echo "$out"
	PGRING_PID=$(cat "$PGRING_DIR/pgring.pid" 2>/dev/null) && track_pid "$PGRING_PID"
	[ "$rc" = 0 ] || { echo "hand-over B to A: status $rc"; return 1; }
	wait "$pb"
	rc=$?
	grep -v "^\(scaling\|query mode\|number of thr\|maximum\|duration\|latency\|transaction type\|pgbench (\)" "$f"
	[ "$rc" = 0 ] || { echo "pgbench failed ($rc) across the hand-overs"; return 1; }
	grep -q "aborted" "$f" && { echo "pgbench clients aborted"; return 1; }
	grep -Eq "number of failed transactions: 0 " "$f" || ! grep -q "failed transactions" "$f" ||
		{ echo "failed transactions"; return 1; }
	grep -q "login attempt" "$PGRING_DIR/b/pgring.log" || { echo "B never served"; return 1; }
	out=$("$top_srcdir/scripts/pgring-handover.sh" -b "$PGRING_BIN" "$a" "$a" 2>&1) &&
		{ echo "the script took one config for both: $out"; return 1; }
	echo "$out" | grep -q "pidfiles of their own" || { echo "refusal: $out"; return 1; }
	still_serves "after two hand-overs"
}

SCENARIOS="$SCENARIOS exit_handover_script"

# SIGUSR2 resumes from SUSPEND as RESUME does (PgBouncer: "continuing from
# SUSPEND"): accepting and reading start again
sc_suspend_sigusr2() {
	local out
	pgring_start "$1" "auth_type = trust
admin_users = u_trust" || return 1
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -A -t "$(pgring_conn pgbouncer u_trust)" -c "SUSPEND" 2>&1)
	expect_eq "SUSPEND" "$out" SUSPEND || return 1
	out=$(PQ_TIMEOUT=2 pq "$(pgring_conn testdb u_trust)" query "SELECT 1" 2>&1) &&
		{ echo "served while suspended: $out"; return 1; }
	kill -USR2 "$PGRING_PID"
	still_serves "after SIGUSR2" || return 1
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -A -t "$(pgring_conn pgbouncer u_trust)" -c "SHOW STATE" 2>&1)
	echo "$out" | grep -qx "suspended|no" || { echo "SHOW STATE: $out"; return 1; }
	grep -q "got SIGUSR2, resuming" "$PGRING_LOG" || { echo "not logged"; return 1; }
}

SCENARIOS="$SCENARIOS suspend_sigusr2"
