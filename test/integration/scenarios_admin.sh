# scenarios_admin.sh - the admin console: SHOW columns, counters, PAUSE/RESUME,
# RELOAD/SIGHUP/SET, access rights, SHUTDOWN, psql \x, a console loop beside
# pooled traffic. Sourced by suite.sh after scenarios.sh.

ADMIN_PW=adminpw
STATS_PW=statspw

admin_userlist() {
	default_userlist
	userlist_line pgadmin "$ADMIN_PW"
	userlist_line pgstats "$STATS_PW"
}

# admin_start BACKEND [EXTRA]: md5 auth, an admin and a stats user
admin_start() {
	pgring_start "$1" "auth_type = md5
admin_users = pgadmin
stats_users = pgstats, someone_else
${2:-}" "$(admin_userlist)"
}

# console [-u USER PW] [-d DB] SQL: psql on the console, unaligned, '|' between
# columns, header first, no footer
console() {
	local user=pgadmin pw=$ADMIN_PW db=pgbouncer
	[ "$1" = -u ] && { user=$2 pw=$3; shift 3; }
	[ "$1" = -d ] && { db=$2; shift 2; }
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off -v ON_ERROR_STOP=1 \
		"$(pgring_conn "$db" "$user" "$pw")" -c "$1" 2>&1
}

# console_val SQL KEY COLUMN: the COLUMN of the row whose first column is KEY
console_val() {
	console "$1" | awk -F'|' -v key="$2" -v col="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		$1 == key && c { print $c; found = 1; exit }
		END { if (!found) exit 1 }'
}

# PgBouncer 1.25's column lists (../shared/notes/pgbouncer-compat.md), plus SHOW IO
declare -A ADMIN_COLS=(
	[STATS]="database|total_server_assignment_count|total_xact_count|total_query_count|total_received|total_sent|total_xact_time|total_query_time|total_wait_time|total_client_parse_count|total_server_parse_count|total_bind_count|total_client_login_count|avg_server_assignment_count|avg_xact_count|avg_query_count|avg_recv|avg_sent|avg_xact_time|avg_query_time|avg_wait_time|avg_client_parse_count|avg_server_parse_count|avg_bind_count|avg_client_login_count"
	[STATS_TOTALS]="database|server_assignment_count|xact_count|query_count|bytes_received|bytes_sent|xact_time|query_time|wait_time|client_parse_count|server_parse_count|bind_count|client_login_count"
	[STATS_AVERAGES]="database|server_assignment_count|xact_count|query_count|bytes_received|bytes_sent|xact_time|query_time|wait_time|avg_client_parse_count|avg_server_parse_count|avg_bind_count|avg_client_login_count"
	[TOTALS]="name|value"
	[POOLS]="database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|sv_active_cancel|sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode|load_balance_hosts"
	[CLIENTS]="type|user|database|replication|state|addr|port|local_addr|local_port|connect_time|request_time|wait|wait_us|close_needed|ptr|link|remote_pid|tls|application_name|prepared_statements|id"
	[SERVERS]="type|user|database|replication|state|addr|port|local_addr|local_port|connect_time|request_time|wait|wait_us|close_needed|ptr|link|remote_pid|tls|application_name|prepared_statements|id"
	[DATABASES]="name|host|port|database|force_user|pool_size|min_pool_size|reserve_pool_size|server_lifetime|pool_mode|load_balance_hosts|max_connections|current_connections|max_client_connections|current_client_connections|paused|disabled"
	[USERS]="name|pool_size|reserve_pool_size|pool_mode|max_user_connections|current_connections|max_user_client_connections|current_client_connections"
	[CONFIG]="key|value|default|changeable"
	[LISTS]="list|items"
	[MEM]="name|size|used|free|memtotal"
	[STATE]="key|value"
	[VERSION]="version"
	[IO]="backend|submits|sqes|cqes|sqes_per_submit|recv_calls|send_calls|syscalls|cq_overflows|enobufs|cancels|turns"
)

# every SHOW's header, through both console names, with a pooled client and
# server present so that CLIENTS and SERVERS have rows
sc_admin_show_columns() {
	local cmd out want rc=0 db
	admin_start "$1" || return 1
	pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" >/dev/null || { echo "pooled query failed"; return 1; }
	for db in pgbouncer pgring; do
		for cmd in "${!ADMIN_COLS[@]}"; do
			[ "$cmd" = IO ] && [ "$PGRING_IS_PGBOUNCER" = 1 ] && continue
			out=$(console -d "$db" "SHOW $cmd;") || { echo "SHOW $cmd via $db failed: $out"; rc=1; continue; }
			want=${ADMIN_COLS[$cmd]}
			# several workers: SHOW IO has a row per worker, named
			[ "$cmd" = IO ] && [ "${WORKERS:-1}" -gt 1 ] && want="$want|worker"
			if [ "$(echo "$out" | head -n 1)" != "$want" ]; then
				echo "SHOW $cmd via $db: header"
				echo "  got:  $(echo "$out" | head -n 1)"
				echo "  want: $want"
				rc=1
			fi
		done
	done
	# rows that must be there
	out=$(console "SHOW LISTS") && echo "$out" | grep -qx 'pools|[0-9]*' || { echo "SHOW LISTS: $out"; rc=1; }
	out=$(console "show servers") && echo "$out" | grep -q '^S|u_md5|testdb|' || { echo "SHOW SERVERS lacks testdb's server: $out"; rc=1; }
	out=$(console "Show Clients ;") && echo "$out" | grep -q '^C|pgadmin|pgbouncer|' || { echo "SHOW CLIENTS lacks the console: $out"; rc=1; }
	out=$(console "SHOW CONFIG") && echo "$out" | grep -qx 'admin_users|pgadmin||yes' || { echo "SHOW CONFIG admin_users: $(echo "$out" | grep admin_users)"; rc=1; }
	out=$(console "SHOW STATE") && echo "$out" | grep -qx 'paused|no' || { echo "SHOW STATE: $out"; rc=1; }
	if [ "$PGRING_IS_PGBOUNCER" = 0 ]; then
		out=$(console "SHOW IO") || { echo "SHOW IO: $out"; rc=1; }
		echo "$out" | sed -n 2p | grep -q "^$1|" || { echo "SHOW IO names no backend $1: $out"; rc=1; }
		echo "SHOW IO: $(echo "$out" | sed -n 2p)"
	fi
	out=$(console "SHOW NOSUCHTHING") && { echo "SHOW NOSUCHTHING succeeded: $out"; rc=1; }
	echo "$out" | grep -q "invalid command" || { echo "SHOW NOSUCHTHING: $out"; rc=1; }
	return $rc
}

# the pools of today's features in the rows: the auth_query pool (testdb as
# aq_auth) and a database with a host list (TCP, then the unix socket); the
# headers are PgBouncer's and every row has as many fields as its header
sc_admin_show_new_pools() {
	local cmd out rc=0
	authq_start "$1" scram-sha-256 "auth_user = aq_auth" \
		"hl = host=127.0.0.1,$PG_SOCKDIR port=$PG_PORT dbname=testdb user=u_trust" || return 1
	login_ok testdb aq_scram pw_aq_scram || return 1
	expect_eq "a query to the host list" "$(pq "$(pgring_conn hl u_md5 pw_md5)" query "SELECT 1" 2>&1)" 1 || return 1
	for cmd in SERVERS DATABASES POOLS CLIENTS USERS; do
		out=$(console -u u_md5 pw_md5 "SHOW $cmd") || { echo "SHOW $cmd: $out"; rc=1; continue; }
		expect_eq "SHOW $cmd header" "$(echo "$out" | head -n 1)" "${ADMIN_COLS[$cmd]}" || rc=1
		echo "$out" | awk -F'|' 'NR == 1 { n = NF; next } NF != n { print "  row of " NF " fields, header " n ": " $0; bad = 1 }
			END { exit bad }' || { echo "SHOW $cmd"; rc=1; }
	done
	out=$(console -u u_md5 pw_md5 "SHOW POOLS")
	echo "$out" | grep -q '^testdb|aq_auth|' || { echo "no auth pool: $out"; rc=1; }
	echo "$out" | grep -q '^hl|u_trust|' || { echo "no host-list pool: $out"; rc=1; }
	out=$(console -u u_md5 pw_md5 "SHOW SERVERS")
	echo "$out" | grep -q '^S|aq_auth|testdb|' || { echo "no auth server: $out"; rc=1; }
	echo "$out" | grep -q '^S|u_trust|hl|' || { echo "no host-list server: $out"; rc=1; }
	console -u u_md5 pw_md5 "SHOW DATABASES" | grep '^hl|'
	return $rc
}

# N known queries through the pooler move the counters by N
sc_admin_counters() {
	local n=25 i sqls=() x0 q0 r0 s0 a0 x1 q1 r1 s1 a1 out t0
	admin_start "$1" "stats_period = 1" || return 1
	pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 0" >/dev/null || return 1
	x0=$(console_val "SHOW STATS_TOTALS" testdb xact_count) &&
	q0=$(console_val "SHOW STATS_TOTALS" testdb query_count) &&
	r0=$(console_val "SHOW STATS_TOTALS" testdb bytes_received) &&
	s0=$(console_val "SHOW STATS" testdb total_sent) &&
	a0=$(console_val "SHOW STATS_TOTALS" testdb server_assignment_count) ||
		{ echo "no testdb row: $(console "SHOW STATS_TOTALS")"; return 1; }
	for i in $(seq 1 $n); do sqls+=("SELECT $i"); done
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "${sqls[@]}") || { echo "queries: $out"; return 1; }
	x1=$(console_val "SHOW STATS_TOTALS" testdb xact_count)
	q1=$(console_val "SHOW STATS_TOTALS" testdb query_count)
	r1=$(console_val "SHOW STATS_TOTALS" testdb bytes_received)
	s1=$(console_val "SHOW STATS" testdb total_sent)
	a1=$(console_val "SHOW STATS_TOTALS" testdb server_assignment_count)
	echo "xacts $x0 -> $x1, queries $q0 -> $q1, received $r0 -> $r1, sent $s0 -> $s1, assignments $a0 -> $a1"
	expect_eq "xact_count moved by" "$((x1 - x0))" "$n" || return 1
	expect_eq "query_count moved by" "$((q1 - q0))" "$n" || return 1
	expect_eq "server_assignment_count moved by (session pooling)" "$((a1 - a0))" 1 || return 1
	# each SELECT is a Query message of at least 5 + len("SELECT n") + 1 bytes
	[ $((r1 - r0)) -ge $((n * 14)) ] || { echo "bytes received moved by $((r1 - r0))"; return 1; }
	[ $((s1 - s0)) -gt $((n * 20)) ] || { echo "bytes sent moved by $((s1 - s0))"; return 1; }
	out=$(console "SHOW TOTALS") && echo "$out" | grep -q '^total_query_count|' ||
		{ echo "SHOW TOTALS: $out"; return 1; }
	# log_stats: a line per database per stats_period
	t0=$(now)
	wait_until 5 grep -q '\[testdb\] stats: [0-9]* xacts/s, [0-9]* queries/s' "$PGRING_LOG" ||
		{ echo "no stats line for testdb in the log"; pgring_dump_logs; return 1; }
	grep -m1 '\[testdb\] stats:' "$PGRING_LOG"
}

# pq_bg FILE CONNINFO SQL...: a client in the background, its pid (pqtool's
# own, so that a kill reaches it) in BG_PID; the suite kills it at the end
pq_bg() {
	local f=$1
	shift
	"$PQTOOL" "$@" >"$f" 2>&1 &
	BG_PID=$!
	track_pid "$BG_PID"
}

# PAUSE holds new queries, RESUME lets them through; SIGUSR1/SIGUSR2 the same
sc_admin_pause_resume() {
	local f=$T_ROOT/paused.out out c
	admin_start "$1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	pq "$c" query "SELECT 1" >/dev/null || return 1
	out=$(console "PAUSE") || { echo "PAUSE: $out"; return 1; }
	expect_eq "SHOW STATE paused" "$(console_val "SHOW STATE" paused value)" yes || return 1
	expect_eq "SHOW DATABASES testdb paused" "$(console_val "SHOW DATABASES" testdb paused)" 1 || return 1
	out=$(console "PAUSE") && { echo "a second PAUSE succeeded"; return 1; }
	echo "$out" | grep -q "already suspended/paused" || { echo "second PAUSE: $out"; return 1; }
	pq_bg "$f" "$c" query "SELECT 'released'"
	sleep 1.5
	if ! alive "$BG_PID"; then
		echo "a query went through while paused: $(cat "$f")"
		return 1
	fi
	expect_eq "cl_waiting while paused" "$(console_val "SHOW POOLS" testdb cl_waiting)" 1 || return 1
	expect_eq "servers while paused" "$(console_val "SHOW POOLS" testdb sv_idle)" 0 || return 1
	out=$(console "RESUME") || { echo "RESUME: $out"; return 1; }
	wait_until 10 eval '! alive "$BG_PID"' || { echo "the held query did not finish after RESUME"; return 1; }
	wait "$BG_PID" || { echo "held query failed: $(cat "$f")"; return 1; }
	expect_eq "held query's result" "$(cat "$f")" released || return 1
	# per database, then by signal
	out=$(console "PAUSE testdb") || { echo "PAUSE testdb: $out"; return 1; }
	pq "$(pgring_conn testdb_p1 u_md5 pw_md5)" query "SELECT 1" >/dev/null ||
		{ echo "another database was held by PAUSE testdb"; return 1; }
	out=$(console "RESUME testdb") || { echo "RESUME testdb: $out"; return 1; }
	out=$(console "RESUME testdb") && { echo "RESUME of a running database succeeded"; return 1; }
	kill -USR1 "$PGRING_PID"
	wait_until 5 eval '[ "$(console_val "SHOW STATE" paused value)" = yes ]' ||
		{ echo "SIGUSR1 did not pause"; return 1; }
	pq_bg "$f" "$c" query "SELECT 'after usr2'"
	sleep 1
	alive "$BG_PID" || { echo "a query went through after SIGUSR1: $(cat "$f")"; return 1; }
	kill -USR2 "$PGRING_PID"
	wait_until 10 eval '! alive "$BG_PID"' || { echo "SIGUSR2 did not release the query"; return 1; }
	wait "$BG_PID"
	expect_eq "query after SIGUSR2" "$(cat "$f")" "after usr2"
}

# DISABLE refuses new clients of a database, ENABLE lets them in; KILL drops
# its connections and leaves it paused
sc_admin_disable_kill() {
	local out c f=$T_ROOT/killed.out
	admin_start "$1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	out=$(console "DISABLE testdb") || { echo "DISABLE: $out"; return 1; }
	expect_eq "SHOW DATABASES disabled" "$(console_val "SHOW DATABASES" testdb disabled)" 1 || return 1
	pq "$c" expect-error connect 'database "testdb" is disabled' || return 1
	out=$(console "ENABLE testdb") || { echo "ENABLE: $out"; return 1; }
	pq "$c" query "SELECT 1" >/dev/null || { echo "refused after ENABLE"; return 1; }
	out=$(console "DISABLE") && { echo "DISABLE without a database succeeded"; return 1; }
	out=$(console "DISABLE nosuchdb") && { echo "DISABLE nosuchdb succeeded"; return 1; }
	echo "$out" | grep -q "no such database: nosuchdb" || { echo "DISABLE nosuchdb: $out"; return 1; }
	pq_bg "$f" "$c" sleep-in-txn "SELECT 1"
	wait_until 10 grep -q "in transaction" "$f" || { echo "client never got in: $(cat "$f")"; return 1; }
	out=$(console "KILL testdb") || { echo "KILL: $out"; return 1; }
	# the sleeping client does not read, so pgring's view is what counts
	expect_eq "clients after KILL" \
		"$(console_val "SHOW DATABASES" testdb current_client_connections)" 0 || return 1
	kill -KILL "$BG_PID" 2>/dev/null
	wait "$BG_PID" 2>/dev/null
	expect_eq "servers after KILL" "$(console_val "SHOW DATABASES" testdb current_connections)" 0 || return 1
	expect_eq "paused after KILL" "$(console_val "SHOW DATABASES" testdb paused)" 1 || return 1
	out=$(console "RESUME testdb") || { echo "RESUME after KILL: $out"; return 1; }
	pq "$c" query "SELECT 1" >/dev/null || { echo "no query after KILL and RESUME"; return 1; }
}

pool_size_shown() { console_val "SHOW DATABASES" testdb pool_size; }

# set_conf_key KEY VALUE: change or add a [pgbouncer] key in the instance's file
set_conf_key() {
	if grep -q "^$1 = " "$PGRING_CONF"; then
		sed -i "s|^$1 = .*|$1 = $2|" "$PGRING_CONF"
	else
		echo "$1 = $2" >>"$PGRING_CONF"
	fi
}

# RELOAD and SIGHUP apply default_pool_size; a bad file is refused and the
# running config kept; SET changes a reloadable key and refuses others
sc_admin_reload() {
	local out
	admin_start "$1" || return 1
	expect_eq "pool_size at start" "$(pool_size_shown)" 20 || return 1
	set_conf_key default_pool_size 7
	out=$(console "RELOAD") || { echo "RELOAD: $out"; return 1; }
	expect_eq "pool_size after RELOAD" "$(pool_size_shown)" 7 || return 1
	set_conf_key default_pool_size 9
	pgring_reload
	wait_until 5 eval '[ "$(pool_size_shown)" = 9 ]' ||
		{ echo "pool_size after SIGHUP: $(pool_size_shown)"; return 1; }
	# a bad value: refused, and the old config stays
	set_conf_key default_pool_size banana
	out=$(console "RELOAD") && { echo "RELOAD of a bad file succeeded: $out"; return 1; }
	echo "$out" | grep -q "RELOAD failed" || { echo "bad RELOAD: $out"; return 1; }
	pgring_reload
	sleep 0.5
	alive "$PGRING_PID" || { echo "pgring died on a bad reload"; return 1; }
	expect_eq "pool_size after bad reloads" "$(pool_size_shown)" 9 || return 1
	grep -q "pgring.ini:[0-9]*.*default_pool_size" "$PGRING_LOG" ||
		{ echo "the log does not name file:line of the bad key"; pgring_dump_logs; return 1; }
	pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" >/dev/null || { echo "no pooled query after bad reload"; return 1; }
	set_conf_key default_pool_size 9
	# SET
	out=$(console "SET default_pool_size = 4") || { echo "SET: $out"; return 1; }
	expect_eq "pool_size after SET" "$(pool_size_shown)" 4 || return 1
	expect_eq "SHOW CONFIG after SET" "$(console_val "SHOW CONFIG" default_pool_size value)" 4 || return 1
	out=$(console "SET listen_port = 1") && { echo "SET listen_port succeeded"; return 1; }
	out=$(console "SET default_pool_size = 'lots'") && { echo "SET to a bad value succeeded"; return 1; }
	echo "$out" | grep -q "SET failed" || { echo "bad SET: $out"; return 1; }
	expect_eq "pool_size after bad SETs" "$(pool_size_shown)" 4
}

# stats_users SHOW but may not control; other users cannot reach the console
sc_admin_access() {
	local out rc=0
	admin_start "$1" || return 1
	out=$(console -u pgstats "$STATS_PW" "SHOW POOLS") || { echo "stats user SHOW POOLS: $out"; rc=1; }
	for cmd in PAUSE "RESUME" "RELOAD" "KILL testdb" "SET default_pool_size = 3" "SHUTDOWN"; do
		out=$(console -u pgstats "$STATS_PW" "$cmd") && { echo "stats user ran $cmd"; rc=1; }
		echo "$out" | grep -q "admin access needed" || { echo "stats user $cmd: $out"; rc=1; }
	done
	expect_eq "paused after the stats user's PAUSE" "$(console_val "SHOW STATE" paused value)" no || rc=1
	pq "$(pgring_conn pgbouncer u_md5 pw_md5)" expect-error connect "not allowed" || rc=1
	pq "$(pgring_conn pgring u_md5 pw_md5)" expect-error connect "not allowed" || rc=1
	pq "$(pgring_conn pgbouncer pgadmin wrong)" expect-error connect \
		'password authentication failed for user "pgadmin"' || rc=1
	# only the simple query protocol
	out=$(console "SELECT 1") && { echo "SELECT 1 on the console succeeded"; rc=1; }
	alive "$PGRING_PID" || { echo "pgring died"; rc=1; }
	return $rc
}

# SHUTDOWN on the console: pgring exits 0 and removes its pidfile
sc_admin_shutdown() {
	local out rc
	admin_start "$1" || return 1
	pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" >/dev/null || return 1
	out=$(console "SHUTDOWN")	# no answer: the connection ends with the process
	echo "psql said: $out"
	if ! wait_until 10 eval '! alive "$PGRING_PID"'; then
		echo "pgring still running 10 s after SHUTDOWN"
		return 1
	fi
	wait "$PGRING_PID"
	rc=$?
	PGRING_PID=""
	expect_eq "exit status" "$rc" 0 || return 1
	[ ! -e "$PGRING_DIR/pgring.pid" ] || { echo "pidfile left behind"; return 1; }
	grep -q "SHUTDOWN command issued" "$PGRING_LOG" || { echo "no SHUTDOWN in the log"; return 1; }
}

# SHUTDOWN WAIT_FOR_CLIENTS: answered, new clients refused, exits when the last goes
sc_admin_shutdown_wait() {
	local out f=$T_ROOT/sess.out c
	admin_start "$1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	pq_bg "$f" "$c" sleep-in-txn "SELECT 1"
	wait_until 10 grep -q "in transaction" "$f" || { echo "client never got in"; return 1; }
	out=$(console "SHUTDOWN WAIT_FOR_CLIENTS") || { echo "SHUTDOWN WAIT_FOR_CLIENTS: $out"; return 1; }
	sleep 0.5
	alive "$PGRING_PID" || { echo "exited with a client still connected"; return 1; }
	# a new client is not let in (accepts have stopped)
	PQ_TIMEOUT=10 pq "host=127.0.0.1 port=$PGRING_PORT dbname=testdb user=u_md5 password=pw_md5 connect_timeout=2" \
		query "SELECT 1" && { echo "a new client got in after SHUTDOWN WAIT_FOR_CLIENTS"; return 1; }
	kill -KILL "$BG_PID"
	wait "$BG_PID" 2>/dev/null
	wait_until 10 eval '! alive "$PGRING_PID"' || { echo "did not exit after the last client left"; return 1; }
	wait "$PGRING_PID"
	expect_eq "exit status" "$?" 0
	PGRING_PID=""
}

# psql's expanded output (\x) of console results
sc_admin_psql_expanded() {
	local out
	admin_start "$1" || return 1
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X "$(pgring_conn pgbouncer pgadmin "$ADMIN_PW")" \
		-c '\x' -c 'SHOW VERSION' -c 'SHOW POOLS' 2>&1) || { echo "psql: $out"; return 1; }
	echo "$out"
	echo "$out" | grep -q -- '-\[ RECORD 1 \]' || { echo "no expanded records"; return 1; }
	echo "$out" | grep -Eq '^version +\| ' || { echo "no version field"; return 1; }
	echo "$out" | grep -Eq '^pool_mode +\| statement' || { echo "no pool_mode field"; return 1; }
}

# A libpq client querying the console in a loop while pooled clients work:
# every pooled answer is right and nothing fails
sc_admin_console_loop() {
	local i sql=() shows=() fa=$T_ROOT/pooled_a.out fb=$T_ROOT/pooled_b.out fc=$T_ROOT/console.out
	local pa pb pc want
	admin_start "$1" "pool_mode = transaction" || return 1
	for i in $(seq 1 400); do sql+=("SELECT $i"); done
	for i in $(seq 1 100); do shows+=("SHOW STATS" "SHOW POOLS" "SHOW CLIENTS" "SHOW SERVERS"); done
	pq_bg "$fa" "$(pgring_conn testdb u_md5 pw_md5)" query "${sql[@]}"
	pa=$BG_PID
	pq_bg "$fb" "$(pgring_conn testdb_p1 u_md5 pw_md5)" query "${sql[@]}"
	pb=$BG_PID
	pq_bg "$fc" "$(pgring_conn pgbouncer pgadmin "$ADMIN_PW")" query "${shows[@]}"
	pc=$BG_PID
	wait "$pa" || { echo "pooled client A failed: $(tail -n 3 "$fa")"; return 1; }
	wait "$pb" || { echo "pooled client B failed: $(tail -n 3 "$fb")"; return 1; }
	wait "$pc" || { echo "console client failed: $(tail -n 3 "$fc")"; return 1; }
	want=$(seq 1 400)
	expect_eq "pooled client A's answers" "$(cat "$fa")" "$want" || return 1
	expect_eq "pooled client B's answers" "$(cat "$fb")" "$want" || return 1
	echo "console rows: $(wc -l <"$fc")"
	[ "$(grep -c "^testdb$(printf '\t')" "$fc")" -ge 100 ] || { echo "console output lacks testdb rows"; return 1; }
	alive "$PGRING_PID" || { echo "pgring died"; return 1; }
}

SCENARIOS="$SCENARIOS admin_show_columns admin_show_new_pools admin_counters admin_pause_resume admin_disable_kill
	admin_reload admin_access admin_shutdown admin_shutdown_wait admin_psql_expanded
	admin_console_loop"
