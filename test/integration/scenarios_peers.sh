# scenarios_peers.sh - [peers] and peer_id: two pgring processes on one port
# (so_reuseport), cancel keys that carry the peer_id, cancels forwarded to
# the process that owns the key; SHOW PEERS / PEER_POOLS; the console
# commands of issue 15/16 (KILL_CLIENT, SHOW FDS/SOCKETS/ACTIVE_SOCKETS,
# SUSPEND, ids). Sourced by suite.sh after scenarios.sh.

# peers_start BACKEND POOL_SIZE: processes A (peer_id 1) and B (peer_id 2)
# listening on one TCP port with so_reuseport, each on a unix socket of its
# own (PEER_A_DIR, PEER_B_DIR), each naming both in [peers] by that socket
peers_start() {
	local backend=$1 size=$2 extra
	extra="auth_type = trust
so_reuseport = 1
admin_users = u_trust
default_pool_size = 30"
	pgring_write_config "$backend" "$extra
peer_id = 1" "$(default_userlist)" || return 1
	PEER_A_DIR=$PGRING_DIR PEER_A_CONF=$PGRING_CONF PEER_A_LOG=$PGRING_LOG PEER_PORT=$PGRING_PORT
	pgring_write_config "$backend" "$extra
peer_id = 2" "$(default_userlist)" || return 1
	PEER_B_DIR=$PGRING_DIR PEER_B_CONF=$PGRING_CONF PEER_B_LOG=$PGRING_LOG
	sed -i "s/^listen_port = .*/listen_port = $PEER_PORT/" "$PEER_B_CONF"
	[ -n "${PEERS_VERBOSE:-}" ] && sed -i "s/^\[pgbouncer\]/[pgbouncer]\nverbose = 2/" "$PEER_A_CONF" "$PEER_B_CONF"
	for f in "$PEER_A_CONF" "$PEER_B_CONF"; do
		printf '[peers]\n1 = host=%s port=%s pool_size=%s\n2 = host=%s port=%s pool_size=%s\n' \
			"$PEER_A_DIR" "$PEER_PORT" "$size" "$PEER_B_DIR" "$PEER_PORT" "$size" >>"$f"
	done
	PGRING_PORT=$PEER_PORT
	for x in A B; do
		eval "PGRING_DIR=\$PEER_${x}_DIR PGRING_CONF=\$PEER_${x}_CONF PGRING_LOG=\$PEER_${x}_LOG"
		PGRING_ERR=$PGRING_DIR/stderr.log
		pgring_launch || return 1
		eval "PEER_${x}_PID=$PGRING_PID"
		pgring_wait_up "$backend" || return 1
	done
}

peers_logs() {
	diag "A's log:"; grep -iv "login attempt\|closing because: client" "$PEER_A_LOG" | tail -n 15 | sed 's/^/#   /'
	diag "B's log:"; grep -iv "login attempt\|closing because: client" "$PEER_B_LOG" | tail -n 15 | sed 's/^/#   /'
}

peers_stop() {
	PGRING_PID=$PEER_A_PID pgring_stop
	PGRING_PID=$PEER_B_PID pgring_stop
}

# peer_console DIR SQL: the console of the process whose unix socket is in DIR
peer_console() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off -v ON_ERROR_STOP=1 \
		"host=$1 port=$PEER_PORT dbname=pgbouncer user=u_trust" -c "$2" 2>&1
}

# peer_cancels LOGIN CANCEL SESSIONS ROUNDS: every cancel ends its query in < 1 s
peer_cancels() {
	local out
	out=$(timeout 120 /usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" \
		"$1" "$2" u_trust testdb "$3" "$4" 2>&1)
	echo "$out"
	echo "$out" | grep -q "^cancels=$(($3 * $4)) canceled=$(($3 * $4)) slow=0 " ||
		{ echo "not every cancel ended its query within a second"; peers_logs; return 1; }
}

# Issue 15.4, the deterministic half: sessions on A's own socket, their
# cancels sent to B's own socket: B must forward every one to A (pool_size 2
# queues most of them); SHOW PEERS lists both entries
sc_peers_forward() {
	local out rc=0
	peers_start "$1" 2 || return 1
	peer_cancels "$PEER_A_DIR:$PEER_PORT" "$PEER_B_DIR:$PEER_PORT" 20 5 || rc=1
	# and the other way round
	peer_cancels "$PEER_B_DIR:$PEER_PORT" "$PEER_A_DIR:$PEER_PORT" 20 5 || rc=1
	out=$(peer_console "$PEER_B_DIR" "SHOW PEERS")
	expect_eq "SHOW PEERS" "$out" "peer_id|host|port|pool_size
1|$PEER_A_DIR|$PEER_PORT|2
2|$PEER_B_DIR|$PEER_PORT|2" || rc=1
	out=$(peer_console "$PEER_B_DIR" "SHOW PEER_POOLS")
	expect_eq "SHOW PEER_POOLS, nothing in flight" "$out" \
		"peer_id|cl_active_cancel_req|cl_waiting_cancel_req|sv_active_cancel|sv_login
1|0|0|0|0
2|0|0|0|0" || rc=1
	peers_stop
	return $rc
}

# Issue 15.4: 200 cancels through the shared port, wherever the kernel puts
# the session and the cancel, each ends its query within a second; both
# processes forwarded some (their debug lines say so)
sc_peers_reuseport() {
	local rc=0 na nb
	PEERS_VERBOSE=1 peers_start "$1" 4 || return 1
	peer_cancels "127.0.0.1:$PEER_PORT" "127.0.0.1:$PEER_PORT" 20 10 || rc=1
	na=$(grep -c "cancel request forwarded to peer 2" "$PEER_A_LOG")
	nb=$(grep -c "cancel request forwarded to peer 1" "$PEER_B_LOG")
	echo "forwarded: A to B $na, B to A $nb"
	[ $((na + nb)) -gt 0 ] || { echo "no cancel was forwarded"; rc=1; }
	peers_stop
	return $rc
}

# peer_reload_b: B re-reads its file; waits for the log line
peer_reload_b() {
	local n
	n=$(grep -c "re-reading config" "$PEER_B_LOG")
	kill -HUP "$PEER_B_PID"
	wait_until 5 eval '[ "$(grep -c "re-reading config" "$PEER_B_LOG")" -gt "$n" ]' ||
		{ echo "B did not reload"; return 1; }
}

# RELOAD follows [peers]: without A's entry B forwards nothing (the cancel is
# lost, as for any unknown key); with it back, and a new pool_size, it does
sc_peers_reload() {
	local out rc=0
	peers_start "$1" 2 || return 1
	sed -i '/^1 = host=/d' "$PEER_B_CONF"
	peer_reload_b || return 1
	out=$(peer_console "$PEER_B_DIR" "SHOW PEERS")
	expect_eq "SHOW PEERS without 1" "$out" "peer_id|host|port|pool_size
2|$PEER_B_DIR|$PEER_PORT|2" || rc=1
	out=$(timeout 60 /usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" \
		"$PEER_A_DIR:$PEER_PORT" "$PEER_B_DIR:$PEER_PORT" u_trust testdb 1 1 2>&1)
	echo "$out"
	echo "$out" | grep -q "^cancels=1 canceled=0 " || { echo "forwarded after the reload"; rc=1; }
	printf '1 = host=%s port=%s pool_size=5\n' "$PEER_A_DIR" "$PEER_PORT" >>"$PEER_B_CONF"
	peer_reload_b || return 1
	out=$(peer_console "$PEER_B_DIR" "SHOW PEERS")
	expect_eq "SHOW PEERS with 1 back" "$out" "peer_id|host|port|pool_size
1|$PEER_A_DIR|$PEER_PORT|5
2|$PEER_B_DIR|$PEER_PORT|2" || rc=1
	peer_cancels "$PEER_A_DIR:$PEER_PORT" "$PEER_B_DIR:$PEER_PORT" 5 2 || rc=1
	peers_stop
	return $rc
}

SCENARIOS="$SCENARIOS peers_forward peers_reuseport peers_reload"
