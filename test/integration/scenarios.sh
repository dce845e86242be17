# scenarios.sh - the integration scenarios, one function each: sc_NAME BACKEND.
# Return 0 on pass, 1 on failure (after saying why on stdout), 77 to skip with
# the reason in SKIP_REASON. pgring instances a scenario starts are stopped by
# the suite afterwards, so a scenario may simply return on failure.

SKIP_REASON=""

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] && return 0
	echo "$1: got '$2', want '$3'"
	return 1
}

# login_ok DB USER PASSWORD: a query through pgring runs as USER
login_ok() {
	local out
	out=$(pq "$(pgring_conn "$1" "$2" "$3")" query "SELECT current_user" 2>&1)
	expect_eq "login $2@$1" "$out" "$2"
}

# login_matrix "USER:PASSWORD ...": each logs in via the TCP and the unix-socket
# database entries, so pgring's own login to PostgreSQL runs over both
login_matrix() {
	local up user pw db rc=0
	for up in $1; do
		user=${up%%:*} pw=${up#*:}
		for db in testdb testdb_unix; do
			login_ok "$db" "$user" "$pw" || rc=1
		done
	done
	return $rc
}

# login_refused DB USER PASSWORD SUBSTRING
login_refused() {	# DB USER PASSWORD MESSAGE [HOST]
	local out
	if ! out=$(pq "$(pgring_conn "$1" "$2" "$3" "${5:-}")" expect-error connect "$4" 2>&1); then
		echo "login $2@$1 with password '$3': want an error containing '$4'; got:"
		echo "$out"
		return 1
	fi
	echo "refused as expected: $out"
}

userlist_line() { printf '"%s" "%s"\n' "$1" "$2"; }

# ---- client auth × auth_file secret × server auth ---------------------------

# auth_type trust; plain secrets; PostgreSQL asks trust, md5 and SCRAM
sc_login_trust() {
	pgring_start "$1" "auth_type = trust" || return 1
	login_matrix "u_trust: u_md5: u_scram:"
}

# auth_type md5 over plain secrets; PostgreSQL asks md5 and SCRAM
sc_login_md5_plain() {
	pgring_start "$1" "auth_type = md5" || return 1
	login_matrix "u_md5:pw_md5 u_scram:pw_scram"
}

# auth_type md5 over md5 hashes: pgring passes the hash on to PostgreSQL's md5
sc_login_md5_hash() {
	local ul
	ul="$(userlist_line u_md5 "$(pg_secret u_md5)")
$(userlist_line u_trust "md5$(printf '%s' pw_trustu_trust | md5sum | cut -d' ' -f1)")"
	pgring_start "$1" "auth_type = md5" "$ul" || return 1
	login_matrix "u_md5:pw_md5 u_trust:pw_trust"
}

# auth_type scram-sha-256 over plain secrets; PostgreSQL asks SCRAM, md5, trust
sc_login_scram_plain() {
	pgring_start "$1" "auth_type = scram-sha-256" || return 1
	login_matrix "u_scram:pw_scram u_md5:pw_md5 u_trust:pw_trust"
}

# auth_file holds only PostgreSQL's SCRAM verifiers: pgring logs in to
# PostgreSQL's SCRAM with the keys the client proved
sc_login_scram_verifier() {
	local ul
	ul="$(userlist_line u_scram "$(pg_secret u_scram)")
$(userlist_line u_trust "$(pg_secret u_trust)")"
	case "$ul" in *'SCRAM-SHA-256$'*) ;; *) echo "no SCRAM verifiers from pg_authid: $ul"; return 1 ;; esac
	pgring_start "$1" "auth_type = scram-sha-256" "$ul" || return 1
	login_matrix "u_scram:pw_scram u_trust:pw_trust"
}

# auth_type plain against each kind of secret: plain, md5 hash, SCRAM verifier
sc_login_plain() {
	local ul
	ul="$(userlist_line u_scram pw_scram)
$(userlist_line u_md5 "$(pg_secret u_md5)")
$(userlist_line u_trust "$(pg_secret u_trust)")"
	pgring_start "$1" "auth_type = plain" "$ul" || return 1
	login_matrix "u_scram:pw_scram u_md5:pw_md5 u_trust:pw_trust"
}

# wrong password: refused with PostgreSQL's wording; the right one still works
wrong_password() {
	local backend=$1 auth=$2 ul=$3 rc=0 user
	pgring_start "$backend" "auth_type = $auth" "$ul" || return 1
	for user in u_md5 u_scram; do
		login_refused testdb "$user" wrong-pw "password authentication failed for user \"$user\"" || rc=1
	done
	login_matrix "u_md5:pw_md5 u_scram:pw_scram" || rc=1
	return $rc
}

sc_wrong_password_md5() { wrong_password "$1" md5 "$(default_userlist)"; }
sc_wrong_password_plain() { wrong_password "$1" plain "$(default_userlist)"; }
sc_wrong_password_scram() {
	# one plain secret, one verifier
	wrong_password "$1" scram-sha-256 "$(userlist_line u_md5 pw_md5)
$(userlist_line u_scram "$(pg_secret u_scram)")"
}

# unknown database: with password auth a wrong password, or an unknown user,
# learns nothing more than from a wrong password; the right password is told
# that the database does not exist
unknown_db_hidden() {
	local user=$2 pw=$3 out
	pgring_start "$1" "auth_type = $4" || return 1
	login_refused nosuchdb "$user" wrong-pw "password authentication failed for user \"$user\"" || return 1
	login_refused nosuchdb u_nobody "$pw" "password authentication failed for user \"u_nobody\"" || return 1
	out=$(pq "$(pgring_conn nosuchdb "$user" wrong-pw)" expect-error connect "no such database" 2>&1) &&
		{ echo "a wrong password is told the database is unknown: $out"; return 1; }
	login_refused nosuchdb "$user" "$pw" "no such database: nosuchdb" || return 1
	login_ok testdb "$user" "$pw"
}
sc_unknown_db_md5() { unknown_db_hidden "$1" u_md5 pw_md5 md5; }
sc_unknown_db_scram() { unknown_db_hidden "$1" u_scram pw_scram scram-sha-256; }

sc_unknown_db_trust() {
	pgring_start "$1" "auth_type = trust" || return 1
	login_refused nosuchdb u_trust "" "no such database: nosuchdb"
}

# ---- pooling behaviour -------------------------------------------------------

# pool_size=1: the next client gets the same backend, with the session reset
# (both on the unix socket: a server never leaves its worker)
sc_session_reset() {
	local c out pid1 pid2
	pgring_start "$1" "auth_type = trust" || return 1
	c=$(pgring_local testdb_p1 u_trust)
	out=$(pq "$c" query "SELECT pg_backend_pid()" "SET statement_timeout = '4321s'" \
		"CREATE TEMP TABLE leak_t (x int)" "PREPARE leak_p AS SELECT 1" \
		"SHOW statement_timeout" 2>&1) || { echo "first client: $out"; return 1; }
	pid1=$(echo "$out" | sed -n 1p)
	expect_eq "statement_timeout in the first session" "$(echo "$out" | sed -n 2p)" 4321s || return 1
	out=$(pq "$c" query "SELECT pg_backend_pid(), current_setting('statement_timeout'),
		to_regclass('pg_temp.leak_t') IS NULL, (SELECT count(*) FROM pg_prepared_statements)" 2>&1) ||
		{ echo "second client: $out"; return 1; }
	pid2=$(echo "$out" | cut -f1)
	expect_eq "backend pid of the second client" "$pid2" "$pid1" || return 1
	expect_eq "statement_timeout, temp table gone, prepared statements" \
		"$(echo "$out" | cut -f2-)" "$(printf '0\tt\t0')"
}

# ~100 MB through COPY FROM STDIN and COPY TO STDOUT, byte for byte
copy_input() {
	local f=$T_ROOT/copy.in
	[ -s "$f" ] || awk 'BEGIN {
		s = "the quick brown fox jumps over the lazy dog / 0123456789 / été ünïcödé / ½ € ✓ / ";
		for (i = 1; i <= 1000000; i++) printf "%d\t%s%d\n", i, s, i * 7919 % 1000003
	}' >"$f"
	echo "$f"
}

sc_copy_100mb() {
	local c in out=$T_ROOT/copy.out sum_in sum_out res
	in=$(copy_input)
	pgring_start "$1" "auth_type = trust" || return 1
	c=$(pgring_conn testdb u_trust)
	pq "$c" query "SET client_min_messages = warning" "DROP TABLE IF EXISTS copy_t" "CREATE UNLOGGED TABLE copy_t (id int, payload text)" \
		>/dev/null || return 1
	res=$(PQ_TIMEOUT=120 pq "$c" copy-in copy_t "$in" 2>&1) || { echo "copy in: $res"; return 1; }
	expect_eq "COPY FROM result" "$res" "COPY 1000000" || return 1
	res=$(PQ_TIMEOUT=120 pq "$c" copy-out "COPY copy_t TO STDOUT" "$out" 2>&1) ||
		{ echo "copy out: $res"; rm -f "$out"; return 1; }
	sum_in=$(md5sum <"$in") sum_out=$(md5sum <"$out")
	echo "in $(stat -c %s "$in") bytes, out $(stat -c %s "$out") bytes"
	rm -f "$out"
	pq "$c" query "DROP TABLE copy_t" >/dev/null
	expect_eq "md5 of what came back" "$sum_out" "$sum_in"
}

# ~1 GB result through a client that stalls first: pgring must stop reading
# from the server rather than buffer, so its peak RSS stays small
sc_stream_1gb() {
	local out hwm
	pgring_start "$1" "auth_type = trust" || return 1
	out=$(PQ_TIMEOUT=180 pq "$(pgring_conn testdb u_trust)" stream \
		"SELECT repeat('x', 1000) FROM generate_series(1, 1000000)" 2000 2>&1) ||
		{ echo "stream: $out"; return 1; }
	expect_eq "streamed" "$out" "rows=1000000 bytes=1000000000" || return 1
	hwm=$(pgring_vmhwm)
	echo "pgring VmHWM: ${hwm:-?} kB"
	rss_checked || return 0
	[ -n "$hwm" ] && [ "$hwm" -lt 65536 ] || { echo "VmHWM ${hwm:-unknown} kB, limit 65536 kB"; return 1; }
}

# ---- listeners ---------------------------------------------------------------

psql_via() {	# HOST: a query through pgring with psql -h HOST
	local out
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -At -h "$1" -p "$PGRING_PORT" -U u_trust -d testdb \
		-c "SELECT current_user || ' in ' || current_database()" 2>&1)
	echo "psql -h $1: $out"
	[ "$out" = "u_trust in testdb" ]
}

sc_listen_ipv4() {
	pgring_start "$1" "auth_type = trust" || return 1
	psql_via 127.0.0.1
}

sc_listen_ipv6() {
	if ! has_ipv6_loopback; then
		SKIP_REASON="no IPv6 loopback on this machine"
		return 77
	fi
	pgring_start "$1" "auth_type = trust" || return 1
	psql_via ::1
}

sc_listen_unix() {
	pgring_start "$1" "auth_type = trust" || return 1
	psql_via "$PGRING_DIR"
}

# ---- failures around pgring ----------------------------------------------------

# PostgreSQL restarts under a pooled connection; the next client still gets in
sc_pg_restart() {
	local c out t0 tries=0
	pgring_start "$1" "auth_type = trust" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(pq "$c" query "SELECT 1" 2>&1) || { echo "before the restart: $out"; return 1; }
	pg_restart || { echo "pg_ctl restart failed"; diag_file "$PG_LOG"; return 1; }
	t0=$(now)
	while :; do
		tries=$((tries + 1))
		out=$(PQ_TIMEOUT=5 pq "$c" query "SELECT 1" 2>&1) && break
		echo "try $tries after $(elapsed "$t0") s: $out"
		if [ "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print (b - a > 5) }')" = 1 ]; then
			echo "no working client through pgring within 5 s of the restart"
			return 1
		fi
		sleep 0.3
	done
	echo "a client got through $(elapsed "$t0") s after the restart, try $tries"
	alive "$PGRING_PID" || { echo "pgring is gone"; return 1; }
}

# A client dies inside a transaction: its work is gone and the next client
# gets a clean server connection promptly
sc_client_killed() {
	local c out pid t0 t f=$T_ROOT/sleeper.out
	pg_sql "DROP TABLE IF EXISTS kill_t" "CREATE TABLE kill_t (x int)" \
		"GRANT ALL ON kill_t TO PUBLIC" >/dev/null || return 1
	pgring_start "$1" "auth_type = trust" || return 1
	c=$(pgring_conn testdb_p1 u_trust)
	"$PQTOOL" "$c" sleep-in-txn "INSERT INTO kill_t VALUES (1)" >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	if ! wait_until 10 grep -q "in transaction" "$f"; then
		echo "client A never got inside its transaction:"; cat "$f"
		kill -KILL "$pid" 2>/dev/null
		return 1
	fi
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	t0=$(now)
	out=$(PQ_TIMEOUT=10 pq "$c" txstatus "SELECT count(*) FROM kill_t" 2>&1) ||
		{ echo "client B: $out"; return 1; }
	t=$(elapsed "$t0")
	echo "client B done $t s after A was killed"
	expect_eq "client B sees" "$out" "$(printf '0\ntxstatus: idle')" || return 1
	[ "$(awk -v t="$t" 'BEGIN { print (t <= 5) }')" = 1 ] || { echo "client B waited more than 5 s"; return 1; }
}

# ---- io_uring and RLIMIT_MEMLOCK (io_uring pass only) ----------------------------

memlock_applicable() {
	if [ "$PGRING_IS_PGBOUNCER" = 1 ]; then
		SKIP_REASON="PgBouncer has no io_uring backend"
		return 1
	fi
}

# auto under a 64 KiB memlock limit: falls back to epoll, says why, and serves
sc_memlock_auto_falls_back() {
	memlock_applicable || return 77
	pgring_write_config auto "auth_type = trust" "$(default_userlist)" || return 1
	pgring_launch 64 || return 1
	pgring_wait_up epoll || return 1
	if ! grep -hs 'event backend: epoll' "$PGRING_LOG" "$PGRING_ERR" | grep -qi 'memlock'; then
		echo "the fallback line does not mention memlock/LimitMEMLOCK:"
		grep -hs 'event backend' "$PGRING_LOG" "$PGRING_ERR" | sort -u
		return 1
	fi
	grep -hs 'event backend' "$PGRING_LOG" "$PGRING_ERR" | sort -u
	login_ok testdb u_trust ""
}

# io_uring demanded under a 64 KiB memlock limit: refuses to start, says why
sc_memlock_io_uring_refuses() {
	local rc
	memlock_applicable || return 77
	pgring_write_config io_uring "auth_type = trust" "$(default_userlist)" || return 1
	pgring_launch 64 || return 1
	if ! wait_until 10 eval '! alive "$PGRING_PID"'; then
		echo "pgring kept running with event_backend = io_uring and no memlock to spare"
		listening "$PGRING_PORT" && echo "(and it listens on $PGRING_PORT)"
		pgring_dump_logs
		return 1
	fi
	wait "$PGRING_PID"
	rc=$?
	PGRING_PID=""
	cat "$PGRING_ERR" "$PGRING_LOG" 2>/dev/null | sort -u
	[ "$rc" != 0 ] || { echo "exit status 0"; return 1; }
	grep -qsi 'memlock' "$PGRING_ERR" "$PGRING_LOG" || { echo "no word of memlock in the error"; return 1; }
	echo "refused with exit status $rc"
}

# As root with -u: the logfile pgring creates belongs to the service user,
# so that a later start as that user (or PgBouncer's) can open it
sc_logfile_owner() {
	local owner
	pgring_start "$1" "auth_type = trust" || return 1
	owner=$(stat -c %U "$PGRING_LOG")
	expect_eq "owner of $PGRING_LOG" "$owner" "$RUN_USER"
}

# As root without -u: refuses, as PgBouncer does
sc_root_without_u() {
	local rc
	pgring_write_config "$1" "auth_type = trust" "$(default_userlist)" || return 1
	own "$PGRING_DIR"
	timeout -k 2 10 "$PGRING_BIN" "$PGRING_CONF" >"$PGRING_ERR" 2>&1 </dev/null
	rc=$?
	cat "$PGRING_ERR"
	listening "$PGRING_PORT" && { echo "something listens on $PGRING_PORT"; return 1; }
	case $rc in
	0) echo "ran as root and exited 0"; return 1 ;;
	124 | 137) echo "ran as root (still running after 10 s)"; return 1 ;;
	esac
	echo "refused with exit status $rc"
}

# The order the suite runs them in; suite.sh adds the io_uring-only and root-only ones.
SCENARIOS="login_trust login_md5_plain login_md5_hash login_scram_plain login_scram_verifier
	login_plain wrong_password_md5 wrong_password_scram wrong_password_plain
	unknown_db_md5 unknown_db_scram unknown_db_trust session_reset copy_100mb stream_1gb
	listen_ipv4 listen_ipv6 listen_unix pg_restart client_killed"
SCENARIOS_IO_URING_ONLY="memlock_auto_falls_back memlock_io_uring_refuses"
SCENARIOS_ROOT_ONLY="root_without_u logfile_owner"
