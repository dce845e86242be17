# scenarios_authq.sh - auth_user / auth_query / auth_dbname: roles that exist
# only in PostgreSQL log in through pgring, with md5 and SCRAM passwords; a
# role not returned, a wrong password and an expired role look the same to
# the client and differ in the log; per-database keys; an auth database that
# is down; a login storm shares the auth pool. Sourced by suite.sh.

AQ_N=50		# concurrent logins of different roles

# The roles, once per suite: aq_auth and aq_auth2 run the query (superusers,
# as the default query reads pg_authid); the others are known to PostgreSQL
# alone. TCP logins of aq_md5 go by md5 (the suite's pg_hba says SCRAM for
# "all", which an md5 hash cannot answer).
authq_setup() {
	local sql i
	[ -n "${AQ_READY:-}" ] && return 0
	sql="DO \$\$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aq_auth') THEN
		CREATE ROLE aq_auth LOGIN SUPERUSER PASSWORD 'pw_auth';
		CREATE ROLE aq_auth2 LOGIN SUPERUSER PASSWORD 'pw_auth2';
		CREATE ROLE aq_scram LOGIN PASSWORD 'pw_aq_scram';
		CREATE ROLE aq_expired LOGIN PASSWORD 'pw_aq_expired' VALID UNTIL '2001-01-01';
		CREATE ROLE aq_nologin NOLOGIN PASSWORD 'pw_aq_nologin';
		SET LOCAL password_encryption = 'md5';
		CREATE ROLE aq_md5 LOGIN PASSWORD 'pw_aq_md5';
		SET LOCAL password_encryption = 'scram-sha-256';
		FOR i IN 1..$AQ_N LOOP
			EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', 'aq_u' || i, 'pw_u' || i);
		END LOOP;
	END IF;
	END \$\$"
	pg_sql "$sql" >/dev/null || { echo "could not create the roles"; return 1; }
	expect_eq "aq_md5 stored as md5" "$(pg_secret aq_md5 | cut -c1-3)" md5 || return 1
	expect_eq "aq_scram stored as SCRAM" "$(pg_secret aq_scram | cut -c1-13)" SCRAM-SHA-256 ||
		return 1
	if ! grep -q aq_md5 "$PG_DATA/pg_hba.conf"; then
		sed -i "1i host all aq_md5 127.0.0.1/32 md5" "$PG_DATA/pg_hba.conf"
		pg_sql "SELECT pg_reload_conf()" >/dev/null || return 1
		sleep 0.5
	fi
	AQ_READY=1
}

# auth_file: only the auth users (and the suite's own roles)
authq_userlist() {
	default_userlist
	userlist_line aq_auth pw_auth
	userlist_line aq_auth2 pw_auth2
}

# authq_start BACKEND AUTH_TYPE [EXTRA-PGBOUNCER] [EXTRA-DATABASES]
authq_start() {
	authq_setup || return 1
	pgring_write_config "$1" "auth_type = $2
admin_users = u_md5
${3:-}" "$(authq_userlist)" || return 1
	# more [databases] entries
	if [ -n "${4:-}" ]; then
		printf '%s\n' "$4" >"$PGRING_DIR/dbs.txt"
		awk -v f="$PGRING_DIR/dbs.txt" '{ print } /^\[databases\]$/ {
			while ((getline l < f) > 0) print l }' "$PGRING_CONF" >"$PGRING_CONF.new" &&
			mv "$PGRING_CONF.new" "$PGRING_CONF" && own "$PGRING_DIR" || return 1
	fi
	pgring_launch || return 1
	pgring_wait_up "$1"
}

# authq_err DB USER PASSWORD [HOST]: the client's error, the role's name made x
authq_err() {
	pq "$(pgring_conn "$1" "$2" "$3" "${4:-}")" query "SELECT 1" 2>&1 |
		sed -e "s/\"$2\"/\"x\"/g" -e 's/port [0-9]* failed/port P failed/'
}

# authq_logged PATTERN: the log says it (within 3 s: the log is written as it happens)
authq_logged() {
	wait_until 3 grep -q -- "$1" "$PGRING_LOG" && return 0
	echo "the log does not say: $1"
	diag_file "$PGRING_LOG" 15
	return 1
}

# md5 and SCRAM roles that exist only in PostgreSQL log in, with each
# auth_type: pgring logs in to PostgreSQL with the md5 hash, or with the
# client's own SCRAM proof; the auth pool shows in SHOW POOLS
sc_authq_login() {
	local t out
	for t in md5 scram-sha-256; do
		authq_start "$1" "$t" "auth_user = aq_auth" || return 1
		login_ok testdb aq_scram pw_aq_scram || return 1
		# a second login, with the pool's server up: the lookup runs again
		login_ok testdb aq_scram pw_aq_scram || return 1
		if [ "$t" = md5 ]; then
			login_ok testdb aq_md5 pw_aq_md5 || return 1
		else	# an md5 hash cannot answer SCRAM (PgBouncer refuses it too)
			login_refused testdb aq_md5 pw_aq_md5 "password authentication failed" ||
				return 1
		fi
		out=$(console -u u_md5 pw_md5 "SHOW POOLS" | grep '^testdb|aq_auth|')
		[ -n "$out" ] || { echo "no testdb/aq_auth pool in SHOW POOLS"; console -u u_md5 pw_md5 "SHOW POOLS"; return 1; }
		echo "auth pool [$t]: $out"
		pgring_stop
	done
	# plain: the cleartext password against the md5 hash; trust: the role must exist
	authq_start "$1" plain "auth_user = aq_auth" || return 1
	login_ok testdb aq_md5 pw_aq_md5 || return 1
	login_refused testdb aq_md5 wrong "password authentication failed" || return 1
	pgring_stop
	authq_start "$1" trust "auth_user = aq_auth" || return 1
	login_ok testdb aq_md5 "" || return 1
	login_refused testdb aq_nosuch "" '"trust" authentication failed' || return 1
	authq_logged "auth_query returned no row"
}

# a wrong password, a role auth_query does not return (none, or NOLOGIN)
# and an expired one: one error for the client, the reason in the log
sc_authq_refused() {
	local t want u out
	for t in md5 scram-sha-256; do
		authq_start "$1" "$t" "auth_user = aq_auth" || return 1
		want=$(authq_err testdb aq_scram wrong)
		echo "[$t] $want"
		case $want in
		*'FATAL:  password authentication failed for user "x"'*) ;;
		*) echo "[$t] wrong password: unexpected error"; return 1 ;;
		esac
		for u in aq_nosuch aq_nologin aq_expired; do
			out=$(authq_err testdb "$u" "pw_$u")
			expect_eq "[$t] $u" "$out" "$want" || return 1
		done
		authq_logged "aq_scram@.*SASL authentication failed\|aq_scram.*password authentication failed" ||
			return 1
		authq_logged "aq_nosuch.*auth_query returned no row" || return 1
		authq_logged "aq_nologin.*auth_query returned no row" || return 1
		authq_logged "aq_expired.*rolvaliduntil has passed" || return 1
		pgring_stop
	done
}

# auth_user, auth_query and auth_dbname of a [databases] entry: only that
# entry looks users up, as its auth user, with its query, in its auth database
sc_authq_per_db() {
	local dbs out
	dbs="aqdb2 = host=127.0.0.1 port=$PG_PORT dbname=testdb auth_user=aq_auth2 auth_dbname=aqauth2 auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=\$1'
aqauth2 = host=127.0.0.1 port=$PG_PORT dbname=postgres"
	authq_start "$1" scram-sha-256 "" "$dbs" || return 1
	login_ok aqdb2 aq_scram pw_aq_scram || return 1
	login_refused testdb aq_scram pw_aq_scram "password authentication failed" || return 1
	out=$(pg_sql "SELECT datname FROM pg_stat_activity WHERE usename = 'aq_auth2'")
	expect_eq "the lookup's server: aq_auth2 in postgres" "$out" postgres || return 1
	out=$(console -u u_md5 pw_md5 "SHOW POOLS" | grep -c '^aqauth2|aq_auth2|')
	expect_eq "aqauth2/aq_auth2 in SHOW POOLS" "$out" 1 || return 1
	authq_logged "aq_scram.*no such user"
}

# the console: a role in PostgreSQL only and in admin_users gets in when
# auth_dbname names where to look it up (PgBouncer 1.25's rule), not without
sc_authq_console() {
	local out
	authq_start "$1" scram-sha-256 "auth_user = aq_auth
admin_users = aq_scram" || return 1
	login_refused pgbouncer aq_scram pw_aq_scram "password authentication failed" || return 1
	pgring_stop
	authq_start "$1" scram-sha-256 "auth_user = aq_auth
auth_dbname = testdb
admin_users = aq_scram" || return 1
	out=$(console -u aq_scram pw_aq_scram "SHOW POOLS" | grep -c '^testdb|aq_auth|')
	expect_eq "console by auth_query, the lookup in testdb" "$out" 1 || return 1
	login_refused pgbouncer aq_scram wrong "password authentication failed"
}

# the auth database is down: the client hears of it within
# query_wait_timeout, and the log says why; the next one at once (both over
# the unix socket: the auth pool's cached login error is its worker's)
sc_authq_auth_db_down() {
	local dead t0 out took
	dead=$(free_port) || return 1
	authq_start "$1" scram-sha-256 "auth_user = aq_auth
auth_dbname = aqdown
query_wait_timeout = 2" "aqdown = host=127.0.0.1 port=$dead dbname=testdb" || return 1
	t0=$(now)
	out=$(authq_err testdb aq_scram pw_aq_scram "$PGRING_DIR")
	took=$(elapsed "$t0")
	echo "after $took s: $out"
	case $out in *query_wait_timeout*) ;; *) echo "want query_wait_timeout"; return 1 ;; esac
	awk -v t="$took" 'BEGIN { exit !(t >= 1.5 && t < 5) }' ||
		{ echo "took $took s, want about 2"; return 1; }
	authq_logged "could not connect to server" || return 1
	authq_logged "aq_scram.*query_wait_timeout" || return 1
	# within server_login_retry the next login fails at once, with the cause
	t0=$(now)
	out=$(authq_err testdb aq_md5 pw_aq_md5 "$PGRING_DIR")
	took=$(elapsed "$t0")
	echo "after $took s: $out"
	case $out in *"server login has been failing"*) ;; *) echo "want the cached error"; return 1 ;; esac
	awk -v t="$took" 'BEGIN { exit !(t < 1.5) }' || { echo "took $took s"; return 1; }
}

# a query that fails, and one that never answers: the client hears of it
# (within query_wait_timeout for the second), the log says why, and the
# pools go on serving
sc_authq_query_fails() {
	local t0 out took
	authq_start "$1" scram-sha-256 "auth_user = aq_auth
query_wait_timeout = 2" "aqbad = host=127.0.0.1 port=$PG_PORT dbname=testdb auth_query='SELECT rolname, rolpassword FROM nowhere WHERE rolname=\$1'
aqslow = host=127.0.0.1 port=$PG_PORT dbname=testdb auth_query='SELECT rolname, rolpassword FROM pg_authid, pg_sleep(5) WHERE rolname=\$1'
aqshape = host=127.0.0.1 port=$PG_PORT dbname=testdb auth_query='SELECT rolname, rolpassword, 1 FROM pg_authid WHERE rolname=\$1'
aqnap = host=127.0.0.1 port=$PG_PORT dbname=testdb auth_query='SELECT rolname, rolpassword FROM pg_authid, pg_sleep(1) WHERE rolname=\$1'" ||
		return 1
	# a client that gives up while its query runs: the server drains the
	# answer and stays, and serves the next lookup (both on the unix socket:
	# the auth pool is its worker's)
	timeout 0.4 "$PQTOOL" "$(pgring_local aqnap aq_scram pw_aq_scram)" query "SELECT 1" >/dev/null 2>&1
	sleep 1
	expect_eq "login aq_scram@aqnap" \
		"$(pq "$(pgring_local aqnap aq_scram pw_aq_scram)" query "SELECT current_user" 2>&1)" aq_scram ||
		return 1
	out=$(grep -c 'aqnap/aq_auth@.*new connection to server' "$PGRING_LOG")
	expect_eq "aqnap's auth servers opened" "$out" 1 || return 1
	if grep 'aqnap/aq_auth@.*closing because' "$PGRING_LOG"; then
		echo "the auth server was closed"; return 1
	fi
	out=$(authq_err aqshape aq_scram pw_aq_scram)
	case $out in *"FATAL:  auth_query failed"*) ;; *) echo "3 columns: $out"; return 1 ;; esac
	authq_logged "aq_scram.*auth_query must return two columns" || return 1
	for t0 in 1 2; do	# twice: the failed query left its server usable
		out=$(authq_err aqbad aq_scram pw_aq_scram)
		echo "$out"
		case $out in *"FATAL:  auth_query failed"*) ;; *) echo "want auth_query failed"; return 1 ;; esac
	done
	authq_logged 'aq_scram.*auth_query failed in aqbad as aq_auth: 42P01 relation "nowhere" does not exist' ||
		return 1
	t0=$(now)
	out=$(authq_err aqslow aq_scram pw_aq_scram)
	took=$(elapsed "$t0")
	echo "after $took s: $out"
	case $out in *"FATAL:  query_wait_timeout"*) ;; *) echo "want query_wait_timeout"; return 1 ;; esac
	awk -v t="$took" 'BEGIN { exit !(t >= 1.5 && t < 5) }' ||
		{ echo "took $took s, want about 2"; return 1; }
	authq_logged "aq_scram.*no answer within query_wait_timeout (the query ran too long)" || return 1
	login_ok testdb aq_scram pw_aq_scram
}

# aq_watch_auth RUNNING MAX: writes to MAX the most backends of the storm's auth
# pool (another scenario's hung query may linger as aq_auth) seen while RUNNING exists
aq_watch_auth() {
	local max=0 n
	while [ -e "$1" ]; do
		n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'aq_auth'
			AND application_name = 'aqstorm'" 2>/dev/null)
		[ -n "$n" ] && [ "$n" -gt "$max" ] && max=$n
		echo "$max" >"$2"
		sleep 0.05
	done
}

# AQ_N different roles log in at once: every one gets in, and the lookups
# share an auth pool of 3 servers (PostgreSQL's pg_stat_activity says so)
sc_authq_storm() {
	local dir=$T_ROOT/aqstorm.$1 i pids="" fails=0 max out
	authq_start "$1" scram-sha-256 "auth_user = aq_auth
auth_dbname = aqauth" "aqauth = host=127.0.0.1 port=$PG_PORT dbname=testdb pool_size=3 application_name=aqstorm
aqmany = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust" || return 1
	mkdir -p "$dir" && touch "$dir/running" || return 1
	aq_watch_auth "$dir/running" "$dir/max" &
	track_pid $!
	for i in $(seq 1 $AQ_N); do
		# a patient client (a loaded or sanitizer-built run is slow): each
		# login is to get in, however long the queue
		pq "$(pgring_conn aqmany "aq_u$i" "pw_u$i") connect_timeout=50" query "SELECT 'in'" \
			>"$dir/out.$i" 2>&1 &
		pids="$pids $!"
	done
	for i in $pids; do wait "$i" || fails=$((fails + 1)); done
	rm -f "$dir/running"
	wait_until 5 eval "! jobs %% >/dev/null 2>&1" 2>/dev/null
	sleep 0.2
	max=$(cat "$dir/max" 2>/dev/null)
	for i in $(seq 1 $AQ_N); do
		grep -qx in "$dir/out.$i" || { echo "aq_u$i: $(cat "$dir/out.$i")"; fails=$((fails + 1)); }
	done
	echo "$AQ_N logins, $fails failed; at most ${max:-?} aq_auth backends"
	[ "$fails" = 0 ] || return 1
	[ -n "$max" ] && [ "$max" -ge 1 ] && [ "$max" -le 3 ] ||
		{ echo "the auth pool went past its pool_size of 3"; return 1; }
	out=$(console -u u_md5 pw_md5 "SHOW POOLS" | grep '^aqauth|aq_auth|')
	echo "auth pool: $out"
	[ -n "$out" ]
}

# auth_type = hba with auth_query: md5 and SCRAM rules let roles known only to
# PostgreSQL in; a reject rule refuses before any lookup (the auth user's
# statements are logged by PostgreSQL: none names the rejected role); peer
# asks no password, but the role must exist (PgBouncer's rule), so the
# lookup still runs (as root: throwaway OS users, as sc_hba_peer)
sc_authq_hba() {
	local d at mp m c rc=0 a=pgraqp$$a b=pgraqp$$b out
	d=$(hba_dir authq) || return 1
	cat >"$d/hba.conf" <<-EOF
	host testdb aq_md5 127.0.0.1/32 md5
	host testdb aq_scram 127.0.0.1/32 scram-sha-256
	host testdb aq_u3 127.0.0.1/32 reject
	host pgbouncer u_md5 127.0.0.1/32 md5
	local forced all peer
	EOF
	mp=$(free_port) || return 1
	authq_setup || return 1
	pg_sql "ALTER ROLE aq_auth2 SET log_statement = 'all'" >/dev/null || return 1
	authq_start "$1" hba "auth_user = aq_auth2
metrics_listen = 127.0.0.1:$mp
auth_hba_file = $d/hba.conf" "forced = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust" ||
		rc=1
	at=$(stat -c %s "$PG_LOG")
	[ $rc = 0 ] && { login_ok testdb aq_md5 pw_aq_md5 && login_ok testdb aq_scram pw_aq_scram; } || rc=1
	[ $rc = 0 ] && { login_refused testdb aq_u3 pw_u3 "pg_hba.conf rejects connection" || rc=1; }
	if [ $rc = 0 ]; then	# the lookups that ran are in PostgreSQL's log, the rejected one not
		out=$(tail -c +"$((at + 1))" "$PG_LOG")
		echo "$out" | grep -q "parameters: \$1 = 'aq_md5'" ||
			{ echo "PostgreSQL logged no lookup of aq_md5"; rc=1; }
		echo "$out" | grep -q "'aq_u3'" && { echo "aq_u3 was looked up"; echo "$out" | grep aq_u3; rc=1; }
	fi
	pg_sql "ALTER ROLE aq_auth2 RESET log_statement" >/dev/null || rc=1
	# /metrics shows the auth pool as SHOW POOLS does
	if [ $rc = 0 ]; then
		c=$(console -u u_md5 pw_md5 "SHOW POOLS" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "sv_idle") k = i }
			$1 == "testdb" && $2 == "aq_auth2" { print $k }')
		m=$(mfetch get "$mp" /metrics | sed -n 's/^pgbouncer_pools_server_idle_connections{database="testdb",user="aq_auth2"} //p')
		echo "the auth pool's sv_idle: console '$c', metrics '$m'"
		[ -n "$c" ] && [ "$c" = "$m" ] || rc=1
	fi
	[ $rc = 0 ] && [ "$(id -u)" = 0 ] || return $rc
	useradd -M -r -s /usr/sbin/nologin "$a" && PEER_USERS="$a" || return 1
	useradd -M -r -s /usr/sbin/nologin "$b" && PEER_USERS="$a $b" || { peer_cleanup; return 1; }
	cp "$PQTOOL" "$T_ROOT/pqtool-bin" && chmod 755 "$T_ROOT/pqtool-bin" || { peer_cleanup; return 1; }
	pg_sql "CREATE ROLE $a LOGIN PASSWORD 'pw_a'" >/dev/null || { peer_cleanup; return 1; }
	# a: a role in PostgreSQL only, in without a password; b: no role at all
	out=$(as_os_user "$a" "$a" forced)
	expect_eq "peer $a, known to auth_query" "$out" u_trust || rc=1
	out=$(as_os_user "$b" "$b" forced)
	echo "$out" | grep -qF "Peer authentication failed for user \"$b\"" || { echo "peer $b: $out"; rc=1; }
	authq_logged "$b.*auth_query returned no row" || rc=1
	pg_sql "DROP ROLE $a" >/dev/null || rc=1
	peer_cleanup
	return $rc
}

SCENARIOS="$SCENARIOS authq_login authq_refused authq_per_db authq_console authq_auth_db_down authq_query_fails
	authq_storm authq_hba"
