# scenarios_startup.sh - what a client may put in its startup packet: the
# options parameter (PGOPTIONS), replication connections, long secrets; and
# the pkt_buf / SET keys of the console. Sourced by suite.sh after
# scenarios_admin.sh (whose admin_start and console it uses).

OPTS_BAD="unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed"

# opts_show CONNINFO OPTIONS: TimeZone and DateStyle as the session sees them
opts_show() {
	PGOPTIONS=$2 pq "$1" query "SHOW TimeZone" "SHOW DateStyle" 2>&1
}

# PostgreSQL itself, without pg_conn's options
opts_pg() { echo "host=$PG_SOCKDIR port=$PG_PORT dbname=testdb user=$PG_SUPERUSER"; }

# options: the three forms and libpq's escapes give the session what
# PostgreSQL gives it; a tracked parameter given directly wins over options
sc_startup_options() {
	local c out want o
	pgring_start "$1" "auth_type = trust
ignore_startup_parameters = extra_float_digits" || return 1
	c=$(pgring_conn testdb u_trust)
	for o in "-c TimeZone=Asia/Tokyo -cDateStyle=German" \
		"--timezone=America/New_York  --DateStyle=SQL,\\ DMY" \
		"-c TimeZone=Europe/Paris -c extra_float_digits=2" \
		"-c timezone=UTC$(printf '%*s' 6000 '') -c datestyle=Postgres"; do
		want=$(opts_show "$(opts_pg)" "$o")
		out=$(opts_show "$c" "$o")
		echo "${o:0:60}: $(echo $out)"
		expect_eq "options '${o:0:60}'" "$out" "$want" || return 1
	done
	# timezone given directly wins over the one in options, as in PostgreSQL
	want=$(PGTZ=Asia/Tokyo opts_show "$(opts_pg)" "-c TimeZone=Europe/Paris")
	out=$(PGTZ=Asia/Tokyo opts_show "$c" "-c TimeZone=Europe/Paris")
	expect_eq "PGTZ over options" "$out" "$want" || return 1
	# psql, as a user would write it
	out=$(PGOPTIONS="-c TimeZone=Europe/Paris" timeout 10 "$PG_BINDIR/psql" -X -At "$c" \
		-c "SHOW TimeZone" 2>&1)
	expect_eq "psql with PGOPTIONS" "$out" "Europe/Paris"
}

# the forms pgring cannot honour are refused with PgBouncer's words, and a
# setting it does not track unless ignore_startup_parameters names it (or
# options itself)
sc_startup_options_refused() {
	local c out o
	pgring_start "$1" "auth_type = trust
ignore_startup_parameters = extra_float_digits" || return 1
	c=$(pgring_conn testdb u_trust)
	for o in "-d 5" "-c TimeZone" "-c" "--TimeZone" "-c =1" "-c TimeZone=UTC -F"; do
		out=$(PGOPTIONS=$o pq "$c" expect-error connect "$OPTS_BAD" 2>&1) ||
			{ echo "'$o': $out"; return 1; }
	done
	out=$(PGOPTIONS="-c work_mem=64kB" pq "$c" expect-error connect \
		"unsupported startup parameter in options: work_mem" 2>&1) || { echo "$out"; return 1; }
	# ignored, so the session keeps PostgreSQL's default
	out=$(PGOPTIONS="-c extra_float_digits=3" pq "$c" query "SHOW extra_float_digits" 2>&1)
	expect_eq "ignored setting" "$out" 1 || return 1
	pgring_stop
	pgring_start "$1" "auth_type = trust
ignore_startup_parameters = options" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(PGOPTIONS="-c work_mem=64kB -c TimeZone=Asia/Tokyo" pq "$c" query "SHOW work_mem" \
		"SHOW TimeZone" 2>&1)
	expect_eq "options ignored wholesale" "$(echo $out)" "4MB Asia/Tokyo" || return 1
	PGOPTIONS="-d 5" pq "$c" expect-error connect "$OPTS_BAD"
}

# opts_session FILE TZ START: a psql session on the one-server pool that shows
# its TimeZone three times, 1 s apart, starting after START s
opts_session() {
	local c=$(pgring_local testdb_p1 u_trust)	# one worker: its one server
	( sleep "$3"; for i in 1 2 3; do echo "SHOW TimeZone;"; sleep 1; done ) |
		PGOPTIONS="-c TimeZone=$2" timeout 20 "$PG_BINDIR/psql" -X -At "$c" >"$1" 2>&1 &
	track_pid $!
	OPTS_PIDS="$OPTS_PIDS $!"
}

# transaction pooling, one server: two clients with different options take
# turns on it, and each sees its own TimeZone every time
sc_startup_options_follow() {
	local a=$T_ROOT/opts-a.out b=$T_ROOT/opts-b.out n t0
	# servers of earlier scenarios may still be ending: count this one's
	t0=$(pg_sql "SELECT now()") || return 1
	pgring_start "$1" "auth_type = trust
pool_mode = transaction" || return 1
	OPTS_PIDS=""
	opts_session "$a" Asia/Tokyo 0
	opts_session "$b" Europe/Paris 0.5
	wait $OPTS_PIDS
	echo "a: $(cat "$a" | tr '\n' ' ') b: $(cat "$b" | tr '\n' ' ')"
	expect_eq "client a" "$(cat "$a")" "$(printf 'Asia/Tokyo\nAsia/Tokyo\nAsia/Tokyo')" || return 1
	expect_eq "client b" "$(cat "$b")" "$(printf 'Europe/Paris\nEurope/Paris\nEurope/Paris')" || return 1
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust' AND backend_start >= '$t0'")
	expect_eq "servers used" "$n" 1
}

# pkt_buf below 1024, which PgBouncer takes: pgring starts, a startup packet
# and results larger than its buffers pass; SET of a key pgring does not act
# on yet to what it does anyway is a no-op, not an error
sc_startup_pkt_buf() {
	local c out
	admin_start "$1" "pkt_buf = 512
pool_mode = transaction" || return 1
	grep -q "receive pool: [0-9]* buffers of 512 bytes" "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	c=$(pgring_conn testdb u_md5 pw_md5)
	out=$(PGOPTIONS="-c TimeZone=Asia/Tokyo$(printf '%*s' 3000 '')" pq "$c" query "SHOW TimeZone" \
		"SELECT length(string_agg(md5(i::text), '')) FROM generate_series(1, 2000) i" 2>&1)
	expect_eq "through 512-byte buffers" "$(echo $out)" "Asia/Tokyo 64000" || return 1
	out=$(console "SET server_tls_sslmode = disable") || { echo "$out"; return 1; }
	echo "SET server_tls_sslmode = disable: $out"
	out=$(console "SET dns_max_ttl = 15") || { echo "$out"; return 1; }
	out=$(console "SET auth_ldap_options = 'host=x'" 2>&1) && { echo "accepted: $out"; return 1; }
	echo "$out" | grep -q "not supported by pgring yet" || { echo "$out"; return 1; }
	pgring_stop
	# below pgring's floor: taken, and the log says what is used
	admin_start "$1" "pkt_buf = 100" || return 1
	grep -q "pkt_buf 100 is below pgring's smallest receive buffer: 256 bytes used" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 6 * 7" 2>&1)
	expect_eq "pkt_buf 100" "$out" 42
}


# long_pw N: N bytes of password, printable, no quote
long_pw() { head -c "$1" /dev/zero | tr '\0' 'k' | sed 's/^/T0k-/' | head -c "$1"; }

# secrets as long as PgBouncer takes them (cloud IAM tokens run to kilobytes):
# a 60 KB plain password in auth_file logs a client in through md5, plain and
# SCRAM,
# and pgring logs in to PostgreSQL with it (SCRAM); a line pgring cannot use is
# skipped, named in the log, and the users around it still log in
sc_startup_long_secret() {
	local pw out c ul
	pw=$(long_pw 60000)
	pg_sql "DROP ROLE IF EXISTS u_long" "SET password_encryption = 'scram-sha-256'" \
		"CREATE ROLE u_long LOGIN PASSWORD '$pw'" \
		>/dev/null || { echo "PostgreSQL refused the role"; return 1; }
	ul="$(default_userlist)
\"u_bad\" \"SCRAM-SHA-256\$4096:abc\$def:ghi\"
\"u_long\" \"$pw\""
	for auth in md5 plain scram-sha-256; do
		pgring_start "$1" "auth_type = $auth" "$ul" || return 1
		grep -q "userlist.txt:4: invalid SCRAM-SHA-256 secret, line skipped" "$PGRING_LOG" ||
			{ pgring_dump_logs; return 1; }
		c=$(pgring_conn testdb u_long)
		out=$(PGPASSWORD=$pw pq "$c" query "SELECT current_user, length('$pw')" 2>&1)
		expect_eq "60 KB password, auth_type $auth" "$(echo $out)" "u_long 60000" || return 1
		out=$(PGPASSWORD=${pw}x pq "$c" expect-error connect "password authentication failed" 2>&1) ||
			{ echo "wrong long password: $out"; return 1; }
		out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT current_user" 2>&1)
		expect_eq "the user after the skipped line" "$out" u_md5 || return 1
		pgring_stop
	done
}

# ---- replication connections ------------------------------------------------

REPL_PW=repl_pw

# repl_start BACKEND: md5 auth, the console, and the superuser (whom the test
# PostgreSQL trusts for replication) in auth_file.  Physical replication
# clients (pg_basebackup) always ask for the database "replication": an
# entry of that name says where they go.
repl_start() {
	pgring_start "$1" "auth_type = md5
admin_users = pgadmin
${2:-}
[databases]
replication = host=127.0.0.1 port=$PG_PORT dbname=postgres" \
		"$(admin_userlist; userlist_line "$PG_SUPERUSER" "$REPL_PW")"
}

repl_conn() {	# DB [replication value]
	echo "host=127.0.0.1 port=$PGRING_PORT dbname=$1 user=$PG_SUPERUSER password=$REPL_PW connect_timeout=5${2:+ replication=$2}"
}

# physical replication through pgring: pg_basebackup with its WAL streamed on
# a second replication connection completes; a replication connection shows
# as such in SHOW CLIENTS and SHOW SERVERS, has a server of its own that goes
# with it; a bad replication value is refused in PostgreSQL's words
sc_startup_basebackup() {
	local dir=$T_ROOT/basebackup.$1 out want f=$T_ROOT/repl-session.out
	repl_start "$1" || return 1
	rm -rf "$dir"
	out=$(timeout 120 "$PG_BINDIR/pg_basebackup" -d "$(repl_conn testdb)" -D "$dir" -X stream \
		-c fast --no-sync -w 2>&1) || { echo "pg_basebackup: $out"; pgring_dump_logs; return 1; }
	[ -s "$dir/PG_VERSION" ] && [ -s "$dir/backup_manifest" ] && [ -d "$dir/pg_wal" ] ||
		{ echo "incomplete backup: $(ls "$dir")"; return 1; }
	echo "pg_basebackup: $(du -sk "$dir" | cut -f1) kB, $(ls "$dir/pg_wal" | grep -c '^0') WAL files"
	rm -rf "$dir"
	# a session that stays open: IDENTIFY_SYSTEM answered as PostgreSQL does
	( echo "IDENTIFY_SYSTEM;"; sleep 2 ) | timeout 10 "$PG_BINDIR/psql" -X -At \
		"$(repl_conn replication true)" >"$f" 2>&1 &
	track_pid $!
	wait_until 5 grep -q '|' "$f" || { echo "no answer: $(cat "$f")"; return 1; }
	want=$(pq "$(pg_conn testdb)" query "SELECT system_identifier FROM pg_control_system()")
	expect_eq "IDENTIFY_SYSTEM systemid" "$(cut -d'|' -f1 "$f")" "$want" || return 1
	out=$(console "SHOW CLIENTS" | awk -F'|' -v u="$PG_SUPERUSER" '$2 == u { print $3 "/" $4 "/" $5 }')
	expect_eq "SHOW CLIENTS database/replication/state" "$out" "replication/physical/active" || return 1
	out=$(console "SHOW SERVERS" | awk -F'|' -v u="$PG_SUPERUSER" '$2 == u { print $4 "/" $5 }')
	expect_eq "SHOW SERVERS replication|state" "$out" "physical/active" || return 1
	out=$(pg_sql "SELECT count(*) FROM pg_stat_replication")
	expect_eq "walsenders on PostgreSQL" "$out" 1 || return 1
	wait_until 10 eval '[ "$(pg_sql "SELECT count(*) FROM pg_stat_replication")" = 0 ]' ||
		{ echo "the walsender outlived its client"; return 1; }
	out=$(console "SHOW SERVERS" | awk -F'|' -v u="$PG_SUPERUSER" '$2 == u' | wc -l)
	expect_eq "servers left" "$out" 0 || return 1
	grep -q "closing because: replication client gone" "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	# an ordinary session of the same user and database is no walsender
	out=$(PGPASSWORD=$REPL_PW pq "$(repl_conn testdb)" query "SELECT 1 + 1" \
		"SELECT count(*) FROM pg_stat_replication" 2>&1)
	expect_eq "ordinary session" "$(echo $out)" "2 0" || return 1
	want=$(pq "$(pg_conn testdb) replication=maybe" expect-error connect "invalid value" 2>&1)
	out=$(pq "$(repl_conn testdb maybe)" expect-error connect "invalid value" 2>&1) ||
		{ echo "$out"; return 1; }
	# PostgreSQL's HINT line aside, the same words
	want=$(echo "${want#*FATAL:  }" | head -n 1)
	expect_eq "replication=maybe" "${out#*FATAL:  }" "$want"
}

# a replication client's server counts against max_db_connections: with the
# one allowed held by a session, it is refused, not queued; once the session's
# server is idle, it is closed to make room
sc_startup_repl_limit() {
	local out rc f=$T_ROOT/idsys.out
	repl_start "$1" "max_db_connections = 1" || return 1
	hold_server "$(repl_conn testdb)" || return 1
	out=$(pq "$(repl_conn testdb database)" expect-error connect \
		"no more connections allowed (max_db_connections)" 2>&1)
	rc=$?
	release_server
	echo "$out"
	[ $rc = 0 ] || return 1
	wait_until 10 eval 'pq "$(repl_conn testdb database)" query "IDENTIFY_SYSTEM" >"$f" 2>&1' ||
		{ cat "$f"; return 1; }
	echo "IDENTIFY_SYSTEM: $(cat "$f")"
	grep -q testdb "$f"
}

# sub_pg_start: a second PostgreSQL (the subscriber) in $T_ROOT/sub on SUB_PORT
sub_pg_start() {
	local dir=$T_ROOT/sub
	SUB_DATA=$dir/data SUB_PORT=$(free_port) || return 1
	mkdir -p "$dir" && own "$dir" || return 1
	as_run_user "$PG_BINDIR/initdb" -D "$SUB_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	cat >>"$SUB_DATA/postgresql.conf" <<-EOF
	listen_addresses = ''
	port = $SUB_PORT
	unix_socket_directories = '$dir'
	fsync = off
	max_connections = 20
	EOF
	own "$SUB_DATA"
	as_run_user "$PG_BINDIR/pg_ctl" -D "$SUB_DATA" -l "$dir/postgresql.log" -w -t 60 start \
		>"$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" "$dir/postgresql.log"; return 1; }
	SUB_CONN="host=$dir port=$SUB_PORT dbname=postgres user=$PG_SUPERUSER"
}

sub_pg_stop() {
	[ -n "${SUB_DATA:-}" ] && [ -f "$SUB_DATA/postmaster.pid" ] || return 0
	as_run_user "$PG_BINDIR/pg_ctl" -D "$SUB_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1
	rm -rf "$T_ROOT/sub"
}

sub_count() { pq "$SUB_CONN" query "SELECT count(*) FROM repl_t" 2>&1; }

# logical replication through pgring: a subscription on a second PostgreSQL,
# connected to the publisher through pgring, copies the table and then
# streams new rows; dropping it drops its slot through pgring too
sc_startup_subscription() {
	local out rc=1
	repl_start "$1" || return 1
	sub_pg_start || { sub_pg_stop; return 1; }
	pg_sql "DROP PUBLICATION IF EXISTS repl_pub" "DROP TABLE IF EXISTS repl_t" \
		"CREATE TABLE repl_t (id int PRIMARY KEY)" \
		"INSERT INTO repl_t SELECT generate_series(1, 100)" \
		"CREATE PUBLICATION repl_pub FOR TABLE repl_t" >/dev/null || { sub_pg_stop; return 1; }
	if pq "$SUB_CONN" query "CREATE TABLE repl_t (id int PRIMARY KEY)" \
		"CREATE SUBSCRIPTION repl_sub CONNECTION '$(repl_conn testdb)' PUBLICATION repl_pub" \
		>/dev/null &&
	   wait_until 30 eval '[ "$(sub_count)" = 100 ]' &&
	   pg_sql "INSERT INTO repl_t SELECT generate_series(101, 150)" >/dev/null &&
	   wait_until 30 eval '[ "$(sub_count)" = 150 ]'; then
		out=$(console "SHOW SERVERS" | awk -F'|' -v u="$PG_SUPERUSER" '$2 == u { print $4 }' | sort -u)
		echo "streaming; SHOW SERVERS replication: $out"
		[ "$out" = logical ] && rc=0
		pq "$SUB_CONN" query "DROP SUBSCRIPTION repl_sub" >/dev/null || rc=1
		out=$(pg_sql "SELECT count(*) FROM pg_replication_slots")
		expect_eq "slots left on the publisher" "$out" 0 || rc=1
	else
		echo "subscriber has $(sub_count) rows"
		tail -n 20 "$T_ROOT/sub/postgresql.log"
		pgring_dump_logs
	fi
	sub_pg_stop
	pg_sql "DROP PUBLICATION IF EXISTS repl_pub" "DROP TABLE IF EXISTS repl_t" >/dev/null
	return $rc
}

SCENARIOS="$SCENARIOS startup_options startup_options_refused startup_options_follow startup_pkt_buf startup_long_secret
	startup_basebackup startup_subscription startup_repl_limit"
