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
	# PgBouncer's layout: peer_id in bytes 1 (low) and 2 (high) of the key,
	# the hops in the last byte's two low bits, a positive pid
	out=$(/usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" key \
		"$PEER_B_DIR:$PEER_PORT" u_trust testdb)
	echo "B's key: $out"
	echo "$out" | grep -q "^[0-7].0200.. .......[37bf]$" || { echo "not PgBouncer's layout"; rc=1; }
	# a key whose hops are spent is not forwarded again
	set -- $out
	/usr/bin/python3 "$top_srcdir/test/integration/peer_cancels.py" cancel \
		"$PEER_A_DIR:$PEER_PORT" "$1" "$(printf %08x $((0x$2 & ~3)))"
	wait_until 5 grep -q "cancel request for peer 2 dropped: it has been forwarded too often" \
		"$PEER_A_LOG" || { echo "a spent key was not refused"; rc=1; }
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

# ---- console commands of issues 15.6 and 16.7 -------------------------------

# pc_start BACKEND [EXTRA]: trust, u_trust the admin, u_md5 a stats user
pc_start() {
	pgring_start "$1" "auth_type = trust
admin_users = u_trust
stats_users = u_md5
${2:-}"
}

# pc SQL: the console as u_trust over TCP, psql unaligned with a header
pc() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off -v ON_ERROR_STOP=1 \
		"$(pgring_conn pgbouncer "${PC_USER:-u_trust}")" -c "$1" 2>&1
}

# the id of SHOW CLIENTS' row for USER@DB (the last column)
pc_client_id() {
	pc "SHOW CLIENTS" | awk -F'|' -v u="$1" -v d="$2" '$2 == u && $3 == d { print $NF; exit }'
}

PC_SOCKET_COLS="type|user|database|replication|state|addr|port|local_addr|local_port|connect_time|request_time|wait|wait_us|close_needed|ptr|link|remote_pid|tls|application_name|prepared_statements|id"
PC_LOW_COLS="recv_pos|pkt_pos|pkt_remain|send_pos|send_remain|pkt_avail|send_avail"
PC_FDS_COLS="fd|task|user|database|addr|port|cancel|link|client_encoding|std_strings|datestyle|timezone|password|scram_client_key|scram_server_key"

# Issue 15.6 / 16.7: KILL_CLIENT id closes that client (its running query
# with it) and no other; an unknown id is an error; stats users may not
sc_console_kill_client() {
	local id out rc=0 bg=$T_ROOT/kill_client.out other
	pc_start "$1" || return 1
	pq "$(pgring_conn testdb u_trust)" query "SELECT pg_sleep(20)" >"$bg" 2>&1 &
	pq "$(pgring_conn testdb_unix u_md5)" query "SELECT pg_sleep(3)" >/dev/null 2>&1 &
	other=$!
	wait_until 5 eval '[ -n "$(pc_client_id u_trust testdb)" ]' || { echo "no client row"; return 1; }
	id=$(pc_client_id u_trust testdb)
	echo "client id $id"
	out=$(PC_USER=u_md5 pc "KILL_CLIENT $id")
	echo "$out" | grep -q "admin access needed" || { echo "stats user's KILL_CLIENT: $out"; rc=1; }
	out=$(pc "KILL_CLIENT $id")
	expect_eq "KILL_CLIENT answer" "$out" "KILL_CLIENT" || rc=1
	wait_until 5 eval '[ -s "$bg" ]' || { echo "the killed client heard nothing"; rc=1; }
	echo "killed client: $(cat "$bg")"
	grep -q "client killed by admin" "$bg" || rc=1
	[ -z "$(pc_client_id u_trust testdb)" ] || { echo "still in SHOW CLIENTS"; rc=1; }
	[ -n "$(pc_client_id u_md5 testdb_unix)" ] || { echo "the other client went too"; rc=1; }
	wait "$other" || { echo "the other client's query failed"; rc=1; }
	out=$(pc "KILL_CLIENT 987654321")
	echo "$out" | grep -q "client 987654321 not found" || { echo "unknown id: $out"; rc=1; }
	out=$(pc "KILL_CLIENT")
	echo "$out" | grep -q "KILL_CLIENT needs the id" || { echo "no id: $out"; rc=1; }
	grep -q "KILL_CLIENT $id command issued" "$PGRING_LOG" || { echo "no log line"; rc=1; }
	still_serves "after KILL_CLIENT" || rc=1
	return $rc
}

# Issue 15.6: SHOW SOCKETS / ACTIVE_SOCKETS have SHOW CLIENTS' columns and
# PgBouncer's buffer columns; SOCKETS lists clients, servers and the console;
# ACTIVE_SOCKETS leaves idle ones out; SHOW FDS lists listeners, clients and
# servers with PgBouncer's columns
sc_console_sockets() {
	local out rc=0 cid
	pc_start "$1" || return 1
	pq "$(pgring_conn testdb u_trust)" query "SELECT 1" >/dev/null || return 1
	out=$(pc "SHOW SOCKETS")
	expect_eq "SHOW SOCKETS header" "$(echo "$out" | head -n 1)" "$PC_SOCKET_COLS|$PC_LOW_COLS" || rc=1
	echo "$out" | grep -q "^C|u_trust|pgbouncer|none|active|" || { echo "no console row: $out"; rc=1; }
	echo "$out" | grep -q "^S|u_trust|testdb|none|idle|" || { echo "no idle server row: $out"; rc=1; }
	out=$(pc "SHOW ACTIVE_SOCKETS")
	expect_eq "SHOW ACTIVE_SOCKETS header" "$(echo "$out" | head -n 1)" "$PC_SOCKET_COLS|$PC_LOW_COLS" || rc=1
	echo "$out" | grep -q "^S|u_trust|testdb|none|idle|" && { echo "an idle server is active: $out"; rc=1; }
	out=$(pc "SHOW FDS")
	expect_eq "SHOW FDS header" "$(echo "$out" | head -n 1)" "$PC_FDS_COLS" || rc=1
	echo "$out" | grep -q "^[0-9]*|pooler|||127.0.0.1:$PGRING_PORT|$PGRING_PORT|" ||
		{ echo "no TCP listener row: $out"; rc=1; }
	echo "$out" | grep -q "^[0-9]*|pooler|||$PGRING_DIR/.s.PGSQL.$PGRING_PORT|" ||
		{ echo "no unix listener row: $out"; rc=1; }
	echo "$out" | grep -q "^[0-9]*|client|u_trust|pgbouncer|127.0.0.1|[0-9]*|-\{0,1\}[0-9]*||" ||
		{ echo "no console client row: $out"; rc=1; }
	echo "$out" | grep -q "^[0-9]*|server|u_trust|testdb|127.0.0.1|$PG_PORT|-\{0,1\}[0-9]*||UTF8|on|" ||
		{ echo "no server row: $out"; rc=1; }
	out=$(pc "SHOW HELP")
	echo "$out" | grep -q "SHOW FDS|SOCKETS|ACTIVE_SOCKETS" || { echo "SHOW HELP: $out"; rc=1; }
	return $rc
}

SCENARIOS="$SCENARIOS console_kill_client console_sockets"

# Issue 16.7: the user pgbouncer gets the admin console without a password
# over the unix socket from pgring's own uid, as PgBouncer documents; over
# TCP, or from another uid, it is asked for one like anyone else
sc_console_own_uid() {
	local out rc=0 unix tcp
	pgring_start "$1" "auth_type = md5" || return 1
	unix="host=$PGRING_DIR port=$PGRING_PORT dbname=pgbouncer user=pgbouncer"
	tcp="host=127.0.0.1 port=$PGRING_PORT dbname=pgbouncer user=pgbouncer"
	out=$(as_run_user env PGPASSWORD= timeout 20 "$PG_BINDIR/psql" -X -A -t -w "$unix" -c "SHOW STATE" 2>&1)
	echo "$out" | grep -qx "paused|no" || { echo "own uid over the unix socket: $out"; rc=1; }
	# an admin command: it is an admin, not a stats user
	out=$(as_run_user timeout 20 "$PG_BINDIR/psql" -X -A -t -w "$unix" -c "RELOAD" 2>&1)
	expect_eq "RELOAD by pgbouncer" "$out" "RELOAD" || rc=1
	out=$(as_run_user timeout 20 "$PG_BINDIR/psql" -X -A -t -w "$tcp" -c "SHOW STATE" 2>&1)
	echo "$out" | grep -q "password" || { echo "over TCP without a password: $out"; rc=1; }
	if [ "$(id -u)" = 0 ]; then
		out=$(timeout 20 "$PG_BINDIR/psql" -X -A -t -w "$unix" -c "SHOW STATE" 2>&1)
		echo "$out" | grep -q "password" || { echo "root (another uid) without a password: $out"; rc=1; }
	fi
	# another user name gets no such pass
	out=$(as_run_user timeout 20 "$PG_BINDIR/psql" -X -A -t -w \
		"host=$PGRING_DIR port=$PGRING_PORT dbname=pgbouncer user=u_md5" -c "SHOW STATE" 2>&1)
	echo "$out" | grep -q "password" || { echo "u_md5 without a password: $out"; rc=1; }
	return $rc
}

SCENARIOS="$SCENARIOS console_own_uid"

# Issue 16.7: total_client_login_count (PgBouncer after 1.25.2) counts each
# client that logs in to the database; STATS_TOTALS and TOTALS show it too
sc_console_login_count() {
	local v0 v1 t1 n=7 i
	pc_start "$1" "stats_period = 1" || return 1
	pq "$(pgring_conn testdb u_trust)" query "SELECT 1" >/dev/null || return 1
	v0=$(pc "SHOW STATS" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "total_client_login_count") c = i; next }
		$1 == "testdb" { print $c }')
	for i in $(seq $n); do
		pq "$(pgring_conn testdb u_trust)" query "SELECT $i" >/dev/null || return 1
	done
	v1=$(pc "SHOW STATS" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "total_client_login_count") c = i; next }
		$1 == "testdb" { print $c }')
	t1=$(pc "SHOW STATS_TOTALS" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "client_login_count") c = i; next }
		$1 == "testdb" { print $c }')
	echo "total_client_login_count: $v0 -> $v1, STATS_TOTALS $t1"
	expect_eq "logins counted" "$v0:$((v1 - v0))" "1:$n" || return 1
	expect_eq "STATS_TOTALS agrees" "$t1" "$v1" || return 1
	pc "SHOW TOTALS" | grep -qx "total_client_login_count|$v1" || { pc "SHOW TOTALS"; return 1; }
}

SCENARIOS="$SCENARIOS console_login_count"

# Issue 15.6: SUSPEND is for admins; SHOW STATE says when the pooler is
# suspended (scenarios_suspend.sh has the rest); ENABLE/DISABLE say what they
# did and log the command even when it is refused
sc_console_suspend_disable() {
	local out rc=0
	pc_start "$1" || return 1
	out=$(PC_USER=u_md5 pc "SUSPEND")
	echo "$out" | grep -q "admin access needed" || { echo "stats user's SUSPEND: $out"; rc=1; }
	pc "SHOW STATE" | grep -qx "suspended|no" || { echo "suspended after a refused SUSPEND"; rc=1; }
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off -v ON_ERROR_STOP=1 \
		"$(pgring_conn pgbouncer u_trust)" -c "SUSPEND" -c "SHOW STATE" -c "RESUME" 2>&1)
	echo "$out" | grep -qx "suspended|yes" || { echo "SUSPEND; SHOW STATE: $out"; rc=1; }
	pc "SHOW STATE" | grep -qx "suspended|no" || { echo "still suspended after RESUME"; rc=1; }
	still_serves "after SUSPEND" || rc=1
	out=$(pc "DISABLE testdb")
	expect_eq "DISABLE" "$out" "DISABLE" || rc=1
	out=$(PQ_TIMEOUT=10 pq "$(pgring_conn testdb u_trust)" query "SELECT 1" 2>&1)
	echo "$out" | grep -q "database \"testdb\" is disabled" || { echo "disabled: $out"; rc=1; }
	out=$(pc "ENABLE testdb")
	expect_eq "ENABLE" "$out" "ENABLE" || rc=1
	still_serves "after ENABLE" || rc=1
	out=$(pc "DISABLE nosuchdb")
	echo "$out" | grep -q "no such database: nosuchdb" || { echo "DISABLE nosuchdb: $out"; rc=1; }
	out=$(pc "DISABLE pgbouncer")
	echo "$out" | grep -q "cannot disable admin db: pgbouncer" || { echo "DISABLE pgbouncer: $out"; rc=1; }
	grep -q "DISABLE 'nosuchdb' command issued" "$PGRING_LOG" || { echo "refused DISABLE not logged"; rc=1; }
	return $rc
}

SCENARIOS="$SCENARIOS console_suspend_disable"
