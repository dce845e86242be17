# scenarios_workers_console.sh - with workers = 4 the admin console is still
# one console (doc/workers.md, "Console: gather and broadcast"): SHOW lists
# and counts every worker's connections, PAUSE/KILL/SHUTDOWN act on every
# worker.  TCP clients are spread over the workers by the kernel; each check
# makes sure they were.  Sourced by suite.sh after scenarios_admin.sh (whose
# admin_start and console it uses).

WC_PY=$top_srcdir/test/integration/workers_console.py

# wc_start BACKEND [EXTRA]: four workers, transaction pooling, the console users
wc_start() {
	admin_start "$1" "workers = 4
pool_mode = transaction
${2:-}"
}

# wc_check BACKEND CHECK: workers_console.py's CHECK against a fresh instance
wc_check() {
	local out
	wc_start "$1" || return 1
	out=$(timeout -k 2 90 /usr/bin/python3 "$WC_PY" "$2" "$PGRING_PORT" "$(pg_conn testdb)" 2>&1)
	local rc=$?
	echo "$out"
	[ "$rc" = 0 ] || { pgring_dump_logs; return 1; }
}

# SHOW CLIENTS lists each of 40 clients once, whatever worker has it; POOLS,
# DATABASES, USERS, LISTS and SERVERS count every worker's; the server
# counts are what pg_stat_activity shows; SHOW IO has a row per worker and
# their total
sc_wconsole_lists() { wc_check "$1" lists; }

# SHOW STATS_TOTALS / STATS / TOTALS count the queries of every worker
sc_wconsole_stats() { wc_check "$1" stats; }

# PAUSE db answers once the transactions on every worker ended, not when
# the console's worker's did; RESUME releases every worker's clients
sc_wconsole_pause() { wc_check "$1" pause; }

# KILL_CLIENT of a client on another worker; KILL db closes every worker's
sc_wconsole_kill() { wc_check "$1" kill; }

# DISABLE/ENABLE reach every worker; RECONNECT, then WAIT_CLOSE answers
# once the servers of every worker were released and closed
sc_wconsole_disable() { wc_check "$1" disable; }

# SET from two consoles on two workers at once: both changes on every
# worker (worker 0 makes every snapshot); a SET answers once each has it
sc_wconsole_set() { wc_check "$1" set; }

# SHUTDOWN stops every worker: the process exits, with clients on several
sc_wconsole_shutdown() {
	local out rc i c
	wc_start "$1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	for i in 1 2 3 4 5 6 7 8; do
		pq_bg "$T_ROOT/wc_sd$i.out" "$c" sleep-in-txn "SELECT $i"
	done
	for i in 1 2 3 4 5 6 7 8; do
		wait_until 10 grep -q "in transaction" "$T_ROOT/wc_sd$i.out" ||
			{ echo "client $i never got in"; return 1; }
	done
	out=$(console "SHUTDOWN")	# no answer: the connection ends with the process
	echo "psql said: $out"
	wait_until 10 eval '! alive "$PGRING_PID"' ||
		{ echo "pgring still running 10 s after SHUTDOWN"; pgring_dump_logs; return 1; }
	wait "$PGRING_PID"
	rc=$?
	PGRING_PID=""
	expect_eq "exit status" "$rc" 0
}

# /metrics (served by worker 0) shows every worker's figures: 12 clients in
# a transaction, wherever they landed, and SHOW IO's rows by worker
sc_wconsole_metrics() {
	local i c mport f=$T_ROOT/wc_metrics.txt v pids=()
	mport=$(free_port) || return 1
	wc_start "$1" "metrics_listen = 127.0.0.1:$mport" || return 1
	wait_until 5 listening "$mport" || { echo "nothing listens on $mport"; return 1; }
	c=$(pgring_conn testdb u_md5 pw_md5)
	for i in $(seq 1 12); do
		pq_bg "$T_ROOT/wc_m$i.out" "$c" sleep-in-txn "SELECT $i"
		pids+=("$BG_PID")
	done
	for i in $(seq 1 12); do
		wait_until 10 grep -q "in transaction" "$T_ROOT/wc_m$i.out" ||
			{ echo "client $i never got in"; return 1; }
	done
	timeout -k 2 30 /usr/bin/python3 "$top_srcdir/test/integration/metrics_fetch.py" \
		get "$mport" /metrics >"$f" || { echo "scrape failed: $(head -3 "$f")"; return 1; }
	expect_eq "status" "$(head -1 "$f")" 200 || return 1
	for v in client_active server_active; do
		expect_eq "pgbouncer_pools_${v}_connections" "$(awk -v p="pgbouncer_pools_${v}_connections{database=\"testdb\",user=\"u_md5\"}" \
			'index($0, p) == 1 { print $NF }' "$f")" 12 || return 1
	done
	expect_eq "pgbouncer_up" "$(awk '/^pgbouncer_up / { print $2 }' "$f")" 1 || return 1
	for i in 0 1 2 3; do
		grep -q "^pgring_io_submits_total{backend=\"$1\",worker=\"$i\"} " "$f" ||
			{ echo "no SHOW IO series of worker $i"; grep '^pgring_io_submits' "$f"; return 1; }
	done
	grep -q 'worker="total"' "$f" && { echo "the total row is a series too"; return 1; }
	kill -KILL "${pids[@]}" 2>/dev/null
	return 0
}

# SIGUSR1 pauses and SIGUSR2 resumes every worker, signal after signal;
# SIGTERM with no client left then ends the process
sc_wconsole_signals() {
	local f=$T_ROOT/wc_sig.out c rc
	wc_start "$1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	kill -USR1 "$PGRING_PID"
	wait_until 5 eval '[ "$(console_val "SHOW STATE" paused value)" = yes ]' ||
		{ echo "SIGUSR1 did not pause"; return 1; }
	pq_bg "$f" "$c" query "SELECT 'after usr2'"
	sleep 1
	alive "$BG_PID" || { echo "a query went through after SIGUSR1: $(cat "$f")"; return 1; }
	kill -USR2 "$PGRING_PID"
	wait_until 10 eval '! alive "$BG_PID"' ||
		{ echo "SIGUSR2 did not release the query"; pgring_dump_logs; return 1; }
	wait "$BG_PID"
	expect_eq "query after SIGUSR2" "$(cat "$f")" "after usr2" || return 1
	kill -TERM "$PGRING_PID"
	wait_until 10 eval '! alive "$PGRING_PID"' ||
		{ echo "still running 10 s after SIGTERM"; pgring_dump_logs; return 1; }
	wait "$PGRING_PID"
	rc=$?
	PGRING_PID=""
	expect_eq "exit status" "$rc" 0
}

SCENARIOS="$SCENARIOS wconsole_signals wconsole_metrics wconsole_lists wconsole_stats wconsole_pause wconsole_kill wconsole_disable wconsole_set wconsole_shutdown"
