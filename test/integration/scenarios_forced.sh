# scenarios_forced.sh - a [databases] entry with a forced user= under password
# authentication (issue 16): the client proves its own password, the servers
# log in as the forced user, an unknown user learns nothing, and SHOW USERS
# counts the clients by the user they logged in as. Sourced by suite.sh after
# scenarios.sh; uses conf_add_db, conf_bg, conf_kill_bg (scenarios_conform.sh).

# fu_users: SHOW USERS as "name current_connections current_client_connections" lines
fu_users() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F' ' -t \
		"$(pgring_conn pgbouncer u_trust pw_trust)" -c "SHOW USERS" 2>&1 |
		awk '{ print $1, $(NF-2), $NF }'
}

# forced_user AUTH USER PW: fdb forces u_trust
forced_user() {
	local backend=$1 auth=$2 user=$3 pw=$4 h=$T_ROOT/fu.h out rc=0
	pgring_write_config "$backend" "auth_type = $auth
admin_users = u_trust" "$(default_userlist)" || return 1
	conf_add_db "fdb = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust"
	pgring_launch && pgring_wait_up "$backend" || return 1
	# the session and the holder below over the unix socket: with workers > 1
	# a TCP client's worker opens a server of its own, and SHOW USERS would
	# count both (each worker's pool keeps its idle server)
	out=$(pq "$(pgring_local fdb "$user" "$pw")" query "SELECT current_user || ' ' || session_user" 2>&1)
	expect_eq "$user's session through the forced-user entry" "$out" "u_trust u_trust" || rc=1
	login_refused fdb "$user" wrong-pw "password authentication failed for user \"$user\"" || rc=1
	# an unknown user, right or wrong password of another: told as a wrong password
	login_refused fdb u_nobody "$pw" "password authentication failed for user \"u_nobody\"" || rc=1
	out=$(pq "$(pgring_conn fdb u_nobody "$pw")" expect-error connect "no such" 2>&1) &&
		{ echo "an unknown user learns it is unknown: $out"; rc=1; }
	# SHOW USERS: the client counts for the user it logged in as, the server
	# for the forced user (PgBouncer's current_client_connections and
	# current_connections)
	conf_bg "$h" "$(pgring_local fdb "$user" "$pw")" sleep-in-txn "SELECT 1"
	wait_until 10 grep -qs "in transaction" "$h" || { echo "holder: $(cat "$h")"; return 1; }
	out=$(fu_users)
	echo "SHOW USERS (name current_connections current_client_connections):"
	echo "$out"
	echo "$out" | grep -qx "$user 0 1" || { echo "$user: want 0 servers, 1 client"; rc=1; }
	echo "$out" | grep -qx "u_trust 1 0" || { echo "u_trust: want 1 server, 0 clients"; rc=1; }
	conf_kill_bg
	return $rc
}

sc_forced_user_md5() { forced_user "$1" md5 u_md5 pw_md5; }
sc_forced_user_scram() { forced_user "$1" scram-sha-256 u_scram pw_scram; }

SCENARIOS="$SCENARIOS forced_user_md5 forced_user_scram"

# ---- every per-entry key of PgBouncer 1.25's [databases] and [users] --------

# ek_active TAG: backends running a query that carries /*TAG*/
ek_active() {
	pg_sql "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%/*$1*/%'
		AND pid <> pg_backend_pid()"
}

# ek_parallel N DB USER PW SECONDS TAG: N clients run pg_sleep(SECONDS) at once
ek_parallel() {
	local i
	for ((i = 0; i < $1; i++)); do
		pq "$(pgring_conn "$2" "$3" "$4")" query "SELECT pg_sleep($5) /*$6*/" >/dev/null 2>&1 &
		EK_BG="$EK_BG $!"
	done
}

ek_wait_bg() { local p; for p in $EK_BG; do wait "$p"; done; EK_BG=""; }

# [databases] keys (connection strings): server_lifetime, max_db_connections,
# connect_query, application_name, client_encoding, datestyle, timezone,
# reserve_pool_size and its old name reserve_pool; [users] pool_size,
# reserve_pool_size and max_user_connections.  (pool_mode, min_pool_size,
# query_wait_timeout, max_db_client_connections, max_user_client_connections
# and transaction_timeout have scenarios of their own.)
sc_conform_entry_keys_pools() {
	local p=127.0.0.1 pid1 pid2 out rc=0 n
	EK_BG=""
	pgring_write_config "$1" "auth_type = trust
reserve_pool_timeout = 0.3

[users]
u_md5 = pool_size=1 reserve_pool_size=1
u_scram = max_user_connections=1" "$(default_userlist)" || return 1
	conf_add_db "lt = host=$p port=$PG_PORT dbname=testdb server_lifetime=1"
	conf_add_db "mdc = host=$p port=$PG_PORT dbname=testdb pool_size=5 max_db_connections=1"
	conf_add_db "cq = host=$p port=$PG_PORT dbname=testdb connect_query='SET work_mem = 1234'"
	conf_add_db "ap = host=$p port=$PG_PORT dbname=testdb application_name=dbapp client_encoding=LATIN1 datestyle=Postgres timezone=Asia/Tokyo"
	conf_add_db "rp = host=$p port=$PG_PORT dbname=testdb pool_size=1 reserve_pool_size=1"
	conf_add_db "rpo = host=$p port=$PG_PORT dbname=testdb pool_size=1 reserve_pool=1"
	pgring_launch && pgring_wait_up "$1" || return 1
	# server_lifetime=1 on the entry (the global one is an hour); over the
	# unix socket, so that the second client would reuse the first's server
	# (one worker's) if the lifetime were not kept, whatever WORKERS says
	pid1=$(pq "$(pgring_local lt u_trust)" query "SELECT pg_backend_pid()" 2>&1)
	sleep 2.5
	pid2=$(pq "$(pgring_local lt u_trust)" query "SELECT pg_backend_pid()" 2>&1)
	[ -n "$pid1" ] && [ "$pid1" != "$pid2" ] || { echo "server_lifetime: backend $pid1 then $pid2"; rc=1; }
	grep -q "server lifetime over" "$PGRING_LOG" || { echo "no 'server lifetime over'"; rc=1; }
	# connect_query; application_name, client_encoding, datestyle, timezone
	out=$(pq "$(pgring_conn cq u_trust)" query "SHOW work_mem" 2>&1)
	expect_eq "connect_query's work_mem" "$out" 1234kB || rc=1
	out=$(pq "$(pgring_conn ap u_trust)" query "SELECT current_setting('application_name') || ' ' ||
		current_setting('client_encoding') || ' ' || current_setting('DateStyle') || ' ' ||
		current_setting('TimeZone')" 2>&1)
	expect_eq "the entry's startup parameters" "$out" "dbapp LATIN1 Postgres, MDY Asia/Tokyo" || rc=1
	# max_db_connections=1 caps pool_size=5; reserve_pool_size=1 (and
	# reserve_pool=1) adds one to pool_size=1 after reserve_pool_timeout;
	# [users] pool_size=1 reserve_pool_size=1: two of three; [users]
	# max_user_connections=1: one
	ek_parallel 2 mdc u_trust "" 1.5 mdc
	ek_parallel 3 rp u_trust "" 1.5 rp
	ek_parallel 3 rpo u_trust "" 1.5 rpo
	ek_parallel 3 testdb u_md5 pw_md5 1.5 upool
	ek_parallel 2 testdb u_scram pw_scram 1.5 umax
	sleep 1
	for n in mdc:1 rp:2 rpo:2 upool:2 umax:1; do
		out=$(ek_active "${n%:*}")
		expect_eq "queries running at once through ${n%:*}" "$out" "${n#*:}" || rc=1
	done
	ek_wait_bg
	return $rc
}

# [users] timeouts: query_timeout, idle_transaction_timeout, client_idle_timeout
# (transaction pooling: as in PgBouncer, client_idle_timeout is for a client
# that holds no server, and a session holds one)
sc_conform_entry_keys_timeouts() {
	local rc=0 out h=$T_ROOT/ek.txn
	pgring_write_config "$1" "auth_type = trust
pool_mode = transaction

[users]
u_md5 = query_timeout=1
u_scram = idle_transaction_timeout=1
u_trust = client_idle_timeout=1" "$(default_userlist)" || return 1
	pgring_launch && pgring_wait_up "$1" || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT pg_sleep(5)" 2>&1) &&
		{ echo "u_md5's 5 s query was not cut: $out"; rc=1; }
	echo "$out" | grep -q "query_timeout" || { echo "u_md5: $out"; rc=1; }
	conf_bg "$h" "$(pgring_conn testdb u_scram pw_scram)" sleep-in-txn "SELECT 1"
	wait_until 5 grep -qs "closing because: idle transaction timeout" "$PGRING_LOG" ||
		{ echo "u_scram's idle transaction was not closed: $(cat "$h")"; rc=1; }
	conf_kill_bg
	ex_sess_open ekidle "$(pgring_conn testdb u_trust)" || return 1
	ex_sess "SELECT 'idle';"
	ex_sess_expect idle || rc=1
	wait_until 5 grep -qs "closing because: client_idle_timeout" "$PGRING_LOG" ||
		{ echo "u_trust's idle client was not closed"; rc=1; }
	ex_sess_close
	# and nobody else: u_trust's query of 2 s runs to its end
	out=$(pq "$(pgring_conn testdb u_trust)" query "SELECT pg_sleep(2), 'done'" 2>&1)
	echo "$out" | grep -q done || { echo "u_trust's 2 s query: $out"; rc=1; }
	return $rc
}

SCENARIOS="$SCENARIOS conform_entry_keys_pools conform_entry_keys_timeouts"

# Through a forced user=, the client-side [users] timeouts are the login
# user's, as PgBouncer's (query_wait_timeout and client_idle_timeout go by the
# client's login credentials; the server-side ones by the pool's user):
# u_md5's 1 s ends u_md5's wait and idleness, not u_scram's through the
# same pool.
sc_forced_user_timeouts() {
	local h=$T_ROOT/fut.h w=$T_ROOT/fut.w out rc=0 t0 el
	pgring_write_config "$1" "auth_type = trust
pool_mode = transaction

[users]
u_md5 = query_wait_timeout=1 client_idle_timeout=1" "$(default_userlist)" || return 1
	conf_add_db "fdb = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust pool_size=1"
	pgring_launch && pgring_wait_up "$1" || return 1
	conf_bg "$h" "$(pgring_conn fdb u_scram)" sleep-in-txn "SELECT 1"
	wait_until 10 grep -qs "in transaction" "$h" || { echo "holder: $(cat "$h")"; return 1; }
	conf_bg "$w" "$(pgring_conn fdb u_scram)" query "SELECT 'served'"
	t0=$(now)
	out=$(PQ_TIMEOUT=8 pq "$(pgring_conn fdb u_md5)" query "SELECT 1" 2>&1)
	el=$(elapsed "$t0")
	echo "u_md5 waiting: $out (${el} s)"
	echo "$out" | grep -q "query_wait_timeout" || { echo "u_md5's query_wait_timeout=1 did not end its wait"; rc=1; }
	sleep 1
	grep -q "query_wait_timeout" "$w" && { echo "u_scram's wait was ended too: $(cat "$w")"; rc=1; }
	conf_kill_bg
	# idle between transactions: u_md5 is closed, u_scram is not
	ex_sess_open futidle "$(pgring_conn fdb u_md5)" || return 1
	ex_sess "SELECT 'idle';"
	ex_sess_expect idle || rc=1
	out=$(pq "$(pgring_conn fdb u_scram)" query "SELECT 1" "SELECT pg_sleep(2.5)" "SELECT 'still here'" 2>&1)
	echo "$out" | grep -q "still here" || { echo "u_scram's session: $out"; rc=1; }
	wait_until 5 grep -qs "fdb/u_md5@.*closing because: client_idle_timeout" "$PGRING_LOG" ||
		{ echo "u_md5's idle client was not closed"; rc=1; }
	ex_sess_close
	return $rc
}

SCENARIOS="$SCENARIOS forced_user_timeouts"
