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
	out=$(pq "$(pgring_conn fdb "$user" "$pw")" query "SELECT current_user || ' ' || session_user" 2>&1)
	expect_eq "$user's session through the forced-user entry" "$out" "u_trust u_trust" || rc=1
	login_refused fdb "$user" wrong-pw "password authentication failed for user \"$user\"" || rc=1
	# an unknown user, right or wrong password of another: told as a wrong password
	login_refused fdb u_nobody "$pw" "password authentication failed for user \"u_nobody\"" || rc=1
	out=$(pq "$(pgring_conn fdb u_nobody "$pw")" expect-error connect "no such" 2>&1) &&
		{ echo "an unknown user learns it is unknown: $out"; rc=1; }
	# SHOW USERS: the client counts for the user it logged in as, the server
	# for the forced user (PgBouncer's current_client_connections and
	# current_connections)
	conf_bg "$h" "$(pgring_conn fdb "$user" "$pw")" sleep-in-txn "SELECT 1"
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
