# scenarios_exit.sh - the process lifecycle (issues 15 and 16): an exit leaves
# nothing listening, a shutdown stops accepting at once while the clients it
# waits for carry on, a so_reuseport hand-over loses no connection, reload
# keeps the keys PgBouncer does not reload, pidfile, -d, -u, -R, and the
# signals' corner cases.  Sourced by suite.sh after scenarios.sh; uses
# admin_start / console (scenarios_admin.sh) and still_serves (scenarios_robust.sh).

# ex_gone PID [SECONDS]: wait, polling every 10 ms, until PID has exited
ex_gone() {
	local i max=$(( ${2:-5} * 100 ))
	for ((i = 0; i < max; i++)); do
		alive "$1" || return 0
		sleep 0.01
	done
	return 1
}

# ex_refused [PORT]: a TCP connection to 127.0.0.1:PORT is refused by the
# kernel (nothing listens), not accepted
ex_refused() {
	local out
	out=$(timeout -k 1 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "${1:-$PGRING_PORT}" 2>&1) && return 1
	case "$out" in *"refused"*) return 0 ;; esac
	echo "connection attempt: $out"
	return 1
}

# ex_up [SECONDS]: the instance just launched listens on TCP and its unix
# socket (polled every 10 ms), or is dead
ex_up() {
	local i max=$(( ${1:-10} * 100 ))
	for ((i = 0; i < max; i++)); do
		alive "$PGRING_PID" || return 1
		listening "$PGRING_PORT" && [ -S "$PGRING_DIR/.s.PGSQL.$PGRING_PORT" ] && return 0
		sleep 0.01
	done
	return 1
}

# A session: psql reading SQL from a fifo that fd 7 writes.
# ex_sess_open NAME CONNINFO; ex_sess SQL; ex_sess_expect LINE; ex_sess_close
ex_sess_open() {
	EX_FIFO=$T_ROOT/$1.fifo
	EX_OUT=$T_ROOT/$1.out
	rm -f "$EX_FIFO" "$EX_OUT"
	mkfifo "$EX_FIFO" || return 1
	timeout -k 2 60 "$PG_BINDIR/psql" -X -A -t -q "$2" <"$EX_FIFO" >"$EX_OUT" 2>&1 &
	EX_SESS_PID=$!
	track_pid "$EX_SESS_PID"
	exec 7>"$EX_FIFO"
}
ex_sess() { echo "$1" >&7; }
ex_sess_expect() {
	wait_until "${2:-5}" grep -qx -- "$1" "$EX_OUT" && return 0
	echo "the session did not answer '$1'; it said:"
	cat "$EX_OUT"
	return 1
}
ex_sess_close() {
	exec 7>&-
	wait "$EX_SESS_PID" 2>/dev/null
}

# Restart loop: SIGTERM, SIGINT, console SHUTDOWN in turn, and a new instance
# on the same port as soon as the old process has exited: between the exit
# and the restart nothing listens, and every start binds at the first try
# and answers a query.  Issue 15 saw the port held 7-13 ms after the exit of
# an io_uring instance (its multishot accept never cancelled).
sc_exit_restart_loop() {
	local n=${EXIT_RESTARTS:-50} i how pid rc t0 out
	admin_start "$1" || return 1
	t0=$(now)
	for ((i = 1; i <= n; i++)); do
		case $((i % 3)) in
		1) how=SIGTERM ;;
		2) how=SIGINT ;;
		0) how=SHUTDOWN ;;
		esac
		out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT $i" 2>&1)
		expect_eq "restart $i: a query" "$out" "$i" || { pgring_dump_logs; return 1; }
		pid=$PGRING_PID
		if [ $how = SHUTDOWN ]; then
			console "SHUTDOWN" >/dev/null 2>&1
		else
			kill -"${how#SIG}" "$pid"
		fi
		ex_gone "$pid" 5 || { echo "restart $i: still running 5 s after $how"; return 1; }
		wait "$pid"
		rc=$?
		# at once: the kernel must not hold our listener after the exit
		if listening "$PGRING_PORT"; then
			echo "restart $i: port $PGRING_PORT still listening after the exit ($how):"
			ss -Htlnp "( sport = :$PGRING_PORT )"
			return 1
		fi
		expect_eq "restart $i: exit status after $how" "$rc" 0 || { pgring_dump_logs; return 1; }
		[ ! -e "$PGRING_DIR/.s.PGSQL.$PGRING_PORT" ] ||
			{ echo "restart $i: unix socket left after $how"; return 1; }
		[ ! -e "$PGRING_DIR/pgring.pid" ] || { echo "restart $i: pidfile left after $how"; return 1; }
		pgring_launch || return 1
		if ! ex_up 10; then
			echo "restart $i: the new instance did not come up after $how:"
			pgring_dump_logs
			return 1
		fi
	done
	grep -q "Address already in use" "$PGRING_ERR" "$PGRING_LOG" &&
		{ echo "a start failed to bind"; return 1; }
	echo "$n restarts in $(elapsed "$t0") s"
}

# SIGTERM with a client in a session: a new TCP connection is refused within
# 100 ms (the listener is closed, not merely no longer accepted from), the
# unix socket is gone, the client still runs queries, and pgring exits
# within a second of the client leaving.
sc_exit_sigterm_session() {
	local t0 el
	pgring_start "$1" "auth_type = trust" || return 1
	ex_sess_open sterm "$(pgring_conn testdb u_trust)" || return 1
	ex_sess "SELECT 'before';"
	ex_sess_expect before || return 1
	kill -TERM "$PGRING_PID"
	sleep 0.1
	ex_refused || { echo "a TCP connection 100 ms after SIGTERM was not refused"; return 1; }
	[ ! -e "$PGRING_DIR/.s.PGSQL.$PGRING_PORT" ] || { echo "unix socket still there after SIGTERM"; return 1; }
	ex_sess "SELECT 'still ' || 40 + 2;"
	ex_sess_expect "still 42" || return 1
	alive "$PGRING_PID" || { echo "pgring exited with a client still in"; return 1; }
	t0=$(now)
	ex_sess_close
	ex_gone "$PGRING_PID" 5 || { echo "pgring still running 5 s after its last client left"; return 1; }
	el=$(elapsed "$t0")
	echo "exited ${el} s after the client left"
	awk -v e="$el" 'BEGIN { exit !(e < 1.0) }' || { echo "took ${el} s, more than 1 s"; return 1; }
	wait "$PGRING_PID"
	expect_eq "exit status" "$?" 0 || return 1
	PGRING_PID=""
}

# SIGINT with a client inside a transaction: new logins are refused, the
# client can still COMMIT and the row is in PostgreSQL, and pgring exits once
# the server is released (transaction pooling: at the COMMIT).
sc_exit_sigint_txn() {
	local out
	pg_sql "DROP TABLE IF EXISTS exit_t" "CREATE TABLE exit_t (x int)" >/dev/null || return 1
	pg_sql "GRANT ALL ON exit_t TO u_trust" >/dev/null || return 1
	pgring_start "$1" "auth_type = trust
pool_mode = transaction" || return 1
	ex_sess_open sint "$(pgring_conn testdb u_trust)" || return 1
	ex_sess "BEGIN;"
	ex_sess "INSERT INTO exit_t VALUES (7);"
	ex_sess "SELECT 'in';"
	ex_sess_expect in || return 1
	kill -INT "$PGRING_PID"
	sleep 0.1
	ex_refused || { echo "a TCP connection 100 ms after SIGINT was not refused"; return 1; }
	out=$(PQ_TIMEOUT=5 pq "host=$PGRING_DIR port=$PGRING_PORT dbname=testdb user=u_trust" query "SELECT 1" 2>&1) &&
		{ echo "a new login on the unix socket got in after SIGINT: $out"; return 1; }
	alive "$PGRING_PID" || { echo "pgring exited with a transaction open"; return 1; }
	ex_sess "COMMIT;"
	ex_gone "$PGRING_PID" 5 || { echo "pgring still running 5 s after the server was released"; return 1; }
	wait "$PGRING_PID"
	expect_eq "exit status" "$?" 0 || return 1
	PGRING_PID=""
	ex_sess_close
	grep -E "ERROR|FATAL" "$EX_OUT" | grep -v "shutting down\|terminat\|closed" &&
		{ echo "the client's COMMIT failed"; return 1; }
	expect_eq "the committed row in PostgreSQL" "$(pg_sql "SELECT x FROM exit_t")" 7
}

# ex_handover_to DIR: a new instance on the config in DIR (same port), then
# SIGTERM to the running one, which must drain and exit 0
ex_handover_to() {
	local old=$PGRING_PID conf=$PGRING_CONF n
	n=$(ss -Htln "( sport = :$PGRING_PORT )" | wc -l)
	PGRING_CONF=$1/pgring.ini
	pgring_launch || return 1
	PGRING_CONF=$conf
	wait_until 10 eval '[ "$(ss -Htln "( sport = :$PGRING_PORT )" | wc -l)" -gt '"$n"' ]' ||
		{ echo "the new instance did not listen"; cat "$1/pgring.log" "$PGRING_ERR"; return 1; }
	sleep 0.3
	kill -TERM "$old"
	ex_gone "$old" 10 || { echo "the old instance did not exit after SIGTERM"; return 1; }
	wait "$old"
	expect_eq "the old instance's exit status" "$?" 0
}

# so_reuseport hand-over: a second instance on the same port, then SIGTERM to
# the first, while pgbench opens a connection per transaction: no transaction
# fails, every old instance exits, the last one serves.  Each instance has a
# directory of its own (unix socket, pidfile, log), as PgBouncer asks.
# EXIT_HANDOVERS (default 3) hand-overs, EXIT_PGBENCH_CLIENTS (4) clients.
sc_exit_reuseport_handover() {
	local n=${EXIT_HANDOVERS:-3} c=${EXIT_PGBENCH_CLIENTS:-4} d i dirs f=$T_ROOT/pgbench.out
	local script=$T_ROOT/select1.sql pb rc served=0
	command -v pgbench >/dev/null || { SKIP_REASON="no pgbench"; return 77; }
	pgring_start "$1" "auth_type = trust
so_reuseport = 1" || return 1
	dirs="$PGRING_DIR"
	for ((i = 1; i <= n; i++)); do
		d=$PGRING_DIR/h$i
		mkdir -p "$d" || return 1
		cp "$PGRING_DIR/userlist.txt" "$d/" || return 1
		sed "s#$PGRING_DIR/#$d/#g; s#^unix_socket_dir = .*#unix_socket_dir = $d#" "$PGRING_CONF" \
			>"$d/pgring.ini" || return 1
		dirs="$dirs $d"
	done
	own "$PGRING_DIR"
	echo "SELECT 1;" >"$script"
	PGPASSWORD=pw_trust timeout -k 2 60 pgbench -n -C -c "$c" -T $((2 + n)) -f "$script" \
		-h 127.0.0.1 -p "$PGRING_PORT" -U u_trust testdb >"$f" 2>&1 &
	pb=$!
	track_pid "$pb"
	sleep 0.7
	for ((i = 1; i <= n; i++)); do
		ex_handover_to "$PGRING_DIR/h$i" || return 1
	done
	wait "$pb"
	rc=$?
	grep -v "^\(scaling\|query mode\|number of thr\|maximum\|duration\|latency\|transaction type\|pgbench (\)" "$f"
	[ "$rc" = 0 ] || { echo "pgbench failed ($rc) across $n hand-overs"; return 1; }
	grep -q "aborted" "$f" && { echo "pgbench clients aborted"; return 1; }
	grep -Eq "number of failed transactions: 0 " "$f" || ! grep -q "failed transactions" "$f" ||
		{ echo "failed transactions"; return 1; }
	for d in $dirs; do
		grep -q "login attempt" "$d/pgring.log" && served=$((served + 1))
	done
	echo "instances that served clients: $served of $((n + 1))"
	[ "$served" -ge 2 ] || { echo "the clients never moved to a new instance"; return 1; }
	still_serves "the last instance, after the hand-overs" || return 1
}

# Keys PgBouncer does not reload keep their running value, with a warning;
# SHOW CONFIG shows what runs; the pidfile removed at exit is the one written.
sc_exit_reload_no_reload() {
	local port newport
	admin_start "$1" || return 1
	port=$PGRING_PORT
	newport=$(free_port) || return 1
	sed -i "s/^listen_port = .*/listen_port = $newport/; s#^pidfile = .*#pidfile = $PGRING_DIR/other.pid#" \
		"$PGRING_CONF"
	pgring_reload
	wait_until 5 grep -q "listen_port = $newport is not reloadable" "$PGRING_LOG" ||
		{ echo "no warning about listen_port"; diag_file "$PGRING_LOG" 10; return 1; }
	grep -q "pidfile = $PGRING_DIR/other.pid is not reloadable" "$PGRING_LOG" ||
		{ echo "no warning about pidfile"; return 1; }
	expect_eq "SHOW CONFIG listen_port" "$(console_val "SHOW CONFIG" listen_port value)" "$port" || return 1
	expect_eq "SHOW CONFIG pidfile" "$(console_val "SHOW CONFIG" pidfile value)" "$PGRING_DIR/pgring.pid" || return 1
	expect_eq "a query after the reload" \
		"$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 42" 2>&1)" 42 || return 1
	kill -TERM "$PGRING_PID"
	ex_gone "$PGRING_PID" 5 || return 1
	PGRING_PID=""
	[ ! -e "$PGRING_DIR/pgring.pid" ] || { echo "the pidfile written at start was left"; return 1; }
	[ ! -e "$PGRING_DIR/other.pid" ] || { echo "a pidfile never written appeared"; return 1; }
}

# run the binary as the service user (it may not be able to reach the build tree)
ex_bin() {
	local bin=$T_ROOT/pgring-bin
	[ -x "$bin" ] || { cp "$PGRING_BIN" "$bin" && chmod 755 "$bin"; } || return 1
	echo "$bin"
}
ex_as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@"
	else
		"$@"
	fi
}

# The pidfile: a live pid in it refuses the start, EPERM from kill(pid, 0)
# included (pid 1 is not ours), and a second start on a running instance's
# pidfile is refused by its lock.
sc_exit_pidfile() {
	local out bin
	bin=$(ex_bin) || return 1
	pgring_write_config "$1" "auth_type = trust" "$(default_userlist)" || return 1
	echo 1 >"$PGRING_DIR/pgring.pid"
	own "$PGRING_DIR"
	out=$(cd "$T_ROOT" && ex_as_user timeout -k 2 10 "$bin" "$PGRING_CONF" 2>&1) &&
		{ echo "started over a pidfile naming running pid 1: $out"; return 1; }
	echo "$out" | grep -q "process 1 is running" || { echo "pid 1 in the pidfile: $out"; return 1; }
	rm -f "$PGRING_DIR/pgring.pid"
	pgring_launch || return 1
	pgring_wait_up "$1" || return 1
	# the same pidfile, another port: the lock refuses it
	sed "s/^listen_port = .*/listen_port = $(free_port)/; s#^unix_socket_dir = .*#unix_socket_dir = $T_ROOT#" \
		"$PGRING_CONF" >"$PGRING_DIR/second.ini"
	own "$PGRING_DIR"
	out=$(cd "$T_ROOT" && ex_as_user timeout -k 2 10 "$bin" "$PGRING_DIR/second.ini" 2>&1) &&
		{ echo "a second instance started on the same pidfile: $out"; return 1; }
	echo "$out" | grep -q "pidfile .* is locked: process $PGRING_PID is running" ||
		{ echo "second start: $out"; return 1; }
	expect_eq "the pidfile" "$(cat "$PGRING_DIR/pgring.pid")" "$PGRING_PID" || return 1
	still_serves "after the refused second start"
}

# -d: detached, in /, with umask 022; -u without root is refused with a
# message; -R is refused as not supported.
sc_exit_daemon_opts() {
	local out bin pid
	bin=$(ex_bin) || return 1
	pgring_write_config "$1" "auth_type = trust" "$(default_userlist)" || return 1
	out=$(ex_as_user "$bin" -R "$PGRING_CONF" 2>&1) && { echo "-R was accepted: $out"; return 1; }
	echo "$out" | grep -q "online restart (-R) is not supported" || { echo "-R: $out"; return 1; }
	if [ "$(id -u)" = 0 ]; then
		out=$(cd "$T_ROOT" && ex_as_user timeout -k 2 10 "$bin" -u root "$PGRING_CONF" 2>&1) &&
			{ echo "-u root as $RUN_USER started: $out"; return 1; }
		echo "$out" | grep -q "only root can switch users" || { echo "-u without root: $out"; return 1; }
	fi
	(cd "$T_ROOT" && umask 077 && ex_as_user "$bin" -d "$PGRING_CONF") >"$PGRING_ERR" 2>&1 ||
		{ echo "-d failed: $(cat "$PGRING_ERR")"; return 1; }
	wait_until 10 eval '[ -s "$PGRING_DIR/pgring.pid" ] && listening "$PGRING_PORT"' ||
		{ echo "the daemon did not come up"; pgring_dump_logs; return 1; }
	pid=$(cat "$PGRING_DIR/pgring.pid")
	PGRING_PID=$pid
	expect_eq "the daemon's cwd" "$(readlink "/proc/$pid/cwd")" / || return 1
	expect_eq "the daemon's umask" "$(awk '/^Umask:/ { print $2 }' "/proc/$pid/status")" 0022 || return 1
	still_serves "the daemon" || return 1
	kill -TERM "$pid"
	ex_gone "$pid" 5 || { echo "the daemon did not exit on SIGTERM"; return 1; }
	PGRING_PID=""
}

# Signals as PgBouncer 1.23+ documents them: a second SIGINT exits at once,
# SIGUSR2 does not call a shutdown off, SIGQUIT is an immediate shutdown, and
# a client waiting for a server (paused) when SHUTDOWN WAIT_FOR_SERVERS
# begins is told and disconnected rather than held.
sc_exit_signals() {
	local out f=$T_ROOT/waiter.out w
	admin_start "$1" "pool_mode = transaction" || return 1
	ex_sess_open sig1 "$(pgring_conn testdb u_md5 pw_md5)" || return 1
	ex_sess "BEGIN;"
	ex_sess "SELECT 'in';"
	ex_sess_expect in || return 1
	# PAUSE: the open transaction keeps its server; a new query waits
	console "PAUSE" >/dev/null 2>&1 &
	sleep 0.3
	PQ_TIMEOUT=20 pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 'waiter'" >"$f" 2>&1 &
	w=$!
	sleep 0.5
	alive "$w" || { echo "the waiting client did not wait under PAUSE: $(cat "$f")"; return 1; }
	out=$(console "SHUTDOWN WAIT_FOR_SERVERS" 2>&1) || { echo "SHUTDOWN WAIT_FOR_SERVERS: $out"; return 1; }
	ex_gone "$w" 3 || { echo "the paused client is still held after SHUTDOWN WAIT_FOR_SERVERS"; return 1; }
	grep -q "shutting down" "$f" || { echo "the paused client was not told: $(cat "$f")"; return 1; }
	kill -USR2 "$PGRING_PID"
	sleep 0.2
	grep -q "got SIGUSR2 during a shutdown: ignored" "$PGRING_LOG" || { echo "SIGUSR2 not logged as ignored"; return 1; }
	ex_refused || { echo "accepting again after SIGUSR2"; return 1; }
	alive "$PGRING_PID" || { echo "exited with a transaction open"; return 1; }
	kill -INT "$PGRING_PID"
	ex_gone "$PGRING_PID" 2 || { echo "a second SIGINT did not exit at once"; return 1; }
	wait "$PGRING_PID"
	expect_eq "exit status after a second SIGINT" "$?" 0 || return 1
	ex_sess_close
	# SIGQUIT: immediate shutdown, an orderly exit
	admin_start "$1" || return 1
	kill -QUIT "$PGRING_PID"
	ex_gone "$PGRING_PID" 2 || { echo "SIGQUIT did not exit at once"; return 1; }
	wait "$PGRING_PID"
	expect_eq "exit status after SIGQUIT" "$?" 0 || return 1
	PGRING_PID=""
	grep -q "got SIGQUIT" "$PGRING_LOG" || { echo "SIGQUIT not in the log"; return 1; }
	! listening "$PGRING_PORT" || { echo "still listening after SIGQUIT"; return 1; }
}

SCENARIOS="$SCENARIOS exit_restart_loop exit_sigterm_session exit_sigint_txn
	exit_reuseport_handover exit_reload_no_reload exit_pidfile exit_daemon_opts exit_signals"
