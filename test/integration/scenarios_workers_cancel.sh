# scenarios_workers_cancel.sh - with workers = 4 a CancelRequest reaches the
# client it names whichever worker the kernel gave its connection to
# (doc/workers.md, "Cancel").  Clients and cancels come over TCP, spread over
# the workers by SO_REUSEPORT: about 3 cancels in 4 land on a worker that is
# not their client's, which must ask the owner.  Sourced by suite.sh.

# a pool per worker as large as the sessions, so that every query runs
# (a cancel of a query still waiting for a server cancels nothing)
WXC_CONF="auth_type = trust
workers = 4
default_pool_size = 24
verbose = 1"

wxc_start() {
	pgring_start "$1" "$WXC_CONF" || return 1
	grep -q "process up: .*, 4 workers" "$PGRING_LOG" ||
		{ echo "not 4 workers"; pgring_dump_logs; return 1; }
}

# wxc_warm: servers idle on every worker, so that the sessions' first
# queries start at once (a query still waiting for its server login when
# its cancel comes is not canceled, and runs its 30 s: on a loaded machine
# 0.3 s is not always enough for 16 logins)
wxc_warm() {
	local i pids=()
	for i in $(seq 1 32); do
		PQ_TIMEOUT=20 pq "$(pgring_conn testdb u_trust)" query "SELECT pg_sleep(0.5)" \
			>/dev/null 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
}

# wxc_routed: cancels went through another worker (the lookup's log line)
wxc_routed() {
	grep -q "worker [0-3] says its query is canceled" "$PGRING_LOG" ||
		{ echo "no cancel was passed between workers"; pgring_dump_logs; return 1; }
}

# 16 libpq clients at once, each cancelling its pg_sleep(30) with PQcancel:
# every query ends within 2 s of its cancel, canceled by the user
sc_workers_cancel_pq() {
	local i dir=$T_ROOT/wxc_pq.$1 pids=() rc=0 ms out
	wxc_start "$1" || return 1
	wxc_warm
	mkdir -p "$dir"
	for i in $(seq 1 16); do
		PQ_TIMEOUT=40 pq "$(pgring_conn testdb u_trust)" cancel 700 "SELECT pg_sleep(30)" \
			>"$dir/c$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 1 16); do
		out=$(cat "$dir/c$i")
		echo "$out" | grep -q "ERROR:  canceling statement due to user request" ||
			{ echo "client $i: $out"; rc=1; continue; }
		ms=$(echo "$out" | sed -n 's/^cancelled after \([0-9]*\) ms.*/\1/p')
		[ -n "$ms" ] && [ "$ms" -lt 2000 ] || { echo "client $i: slow: $out"; rc=1; }
	done
	[ $rc = 0 ] || { pgring_dump_logs; return 1; }
	wxc_routed
}

# the protocol by hand: 16 sessions, 3 rounds of cancels, each ending its
# query with SQLSTATE 57014 within a second; then the same with each cancel
# connection closed by its client as soon as written (the cancel goes on)
sc_workers_cancel_raw() {
	local out rc=0 n mode
	wxc_start "$1" || return 1
	wxc_warm
	for mode in wait close; do
		out=$(timeout 120 /usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" \
			"127.0.0.1:$PGRING_PORT" "127.0.0.1:$PGRING_PORT" u_trust testdb 16 3 \
			"$mode" 2>&1)
		echo "$out" | grep -q "^cancels=48 canceled=48 slow=0 " ||
			{ echo "$mode: $out"; rc=1; }
	done
	[ $rc = 0 ] || { pgring_dump_logs; return 1; }
	n=$(grep -c "(its requester is gone)" "$PGRING_LOG")
	echo "cancels answered after their requester closed: $n"
	wxc_routed
}

# keys no client holds, naming each worker and none: the connection just
# closes, as PostgreSQL's does, and pgring goes on serving
sc_workers_cancel_unknown() {
	local b out rc=0
	wxc_start "$1" || return 1
	for b in 00 01 02 03 04 ff 00 01 02 03; do
		out=$(timeout 10 /usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" \
			cancel "127.0.0.1:$PGRING_PORT" "12345$b" "$(printf '%08x' $((RANDOM * RANDOM)))" 2>&1)
		expect_eq "unknown key ..$b" "$out" "answer: b''" || rc=1
	done
	out=$(PQ_TIMEOUT=10 pq "$(pgring_conn testdb u_trust)" query "SELECT 40 + 2" 2>&1)
	expect_eq "serving after the unknown keys" "$out" 42 || rc=1
	alive "$PGRING_PID" || { echo "pgring is gone"; rc=1; }
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

# transaction mode: a cancel that crossed workers and reaches PostgreSQL
# only after its client's transaction ended is dropped, not sent into the
# next client's query on that server (the owner is asked again once the
# cancel connection is up); edge_proxy.py makes the cancel's connect hang
# (workers_cancel_txn.py says how)
sc_workers_cancel_txn() {
	local out pport sports="" i f=$T_ROOT/wxc_proxy.out rc=0
	pport=$(free_port) || return 1
	for i in $(seq 1 24); do
		sports="$sports${sports:+,}$(free_port)" || return 1
	done
	rm -f "$T_ROOT/wxc_proxy.open"
	/usr/bin/python3 "$top_srcdir/test/integration/edge_proxy.py" "$pport" "$PG_PORT" \
		"$T_ROOT/wxc_proxy.open" >"$f" 2>&1 </dev/null &
	EDGE_PROXY_PID=$!
	track_pid "$EDGE_PROXY_PID"
	wait_until 10 grep -q listening "$f" || { echo "proxy did not start:"; cat "$f"; return 1; }
	pgring_write_config "$1" "$WXC_CONF
pool_mode = transaction
cancel_wait_timeout = 30" "$(default_userlist)" || return 1
	sed -i "/^\[databases\]/a proxdb = host=127.0.0.1 port=$pport dbname=testdb pool_size=1" \
		"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || { edge_proxy_stop; return 1; }
	out=$(timeout 60 /usr/bin/python3 "$top_srcdir/test/integration/workers_cancel_txn.py" \
		"$PGRING_PORT" testdb proxdb u_trust "$T_ROOT/wxc_proxy.open" "$sports" 2>&1)
	echo "$out"
	edge_proxy_stop
	echo "$out" | grep -q "^A: row A$" || { echo "A's query did not end by itself"; rc=1; }
	echo "$out" | grep -q "^B: row B$" || { echo "B's query was not left alone"; rc=1; }
	echo "$out" | grep -q "^cancel answered: b''$" || { echo "the cancel connection was not closed"; rc=1; }
	grep -q "cancel request dropped: its client no longer holds the server" "$PGRING_LOG" ||
		{ echo "no 'cancel request dropped' log line"; rc=1; }
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

# an immediate exit (SIGQUIT) while cancels cross workers: questions and
# answers still queued are only freed, none touches a worker that is gone;
# pgring is gone within 5 s (a sanitizer build also checks every free)
sc_workers_cancel_exit() {
	local py
	wxc_start "$1" || return 1
	wxc_warm
	timeout 60 /usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" \
		"127.0.0.1:$PGRING_PORT" "127.0.0.1:$PGRING_PORT" u_trust testdb 16 4 close \
		>/dev/null 2>&1 &
	py=$!
	# the first cancels crossed workers: the rest of the round is under way
	wait_until 20 grep -q "worker [0-3] says" "$PGRING_LOG" ||
		{ echo "no cancel crossed workers"; kill "$py"; pgring_dump_logs; return 1; }
	kill -QUIT "$PGRING_PID"
	wait_until 5 eval '! alive "$PGRING_PID"' ||
		{ echo "pgring still running 5 s after SIGQUIT"; kill "$py"; pgring_dump_logs; return 1; }
	wait "$PGRING_PID"
	PGRING_PID=""
	kill "$py" 2>/dev/null
	wait "$py" 2>/dev/null
	echo "cancels answered before the exit: $(grep -c "worker [0-3] says" "$PGRING_LOG")"
}

SCENARIOS="$SCENARIOS workers_cancel_pq workers_cancel_raw workers_cancel_unknown workers_cancel_txn"
SCENARIOS="$SCENARIOS workers_cancel_exit"
