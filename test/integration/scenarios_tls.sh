# scenarios_tls.sh - TLS on both sides: client_tls_* and server_tls_*, direct
# TLS, pipelined bytes after SSLRequest, cancel and reload, bulk through TLS

# tls_client_conf [SSLMODE]: client TLS lines with tls_certs' server certificate
tls_client_conf() {
	printf '%s\n' "auth_type = trust" "client_tls_sslmode = ${1:-require}" \
		"client_tls_key_file = $TLS_DIR/server.key" \
		"client_tls_cert_file = $TLS_DIR/server.crt" \
		"client_tls_ca_file = $TLS_DIR/ca.crt"
}

# tls_psql CONNINFO SQL: psql through pgring; prints what it printed, status of psql
tls_psql() {
	timeout -k 2 30 "$PG_BINDIR/psql" -X -At -c "$2" "port=$PGRING_PORT user=u_trust connect_timeout=5 $1" 2>&1
}

# psql with sslmode=require and verify-full; the tls column and the log line
sc_tls_client_psql() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)
log_connections = 1
admin_users = u_trust
server_tls_sslmode = disable" || return 1
	out=$(tls_psql "host=127.0.0.1 dbname=testdb sslmode=require" "SELECT 1") || { echo "$out"; return 1; }
	expect_eq "sslmode=require" "$out" 1 || return 1
	out=$(tls_psql "host=localhost dbname=testdb sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt" \
		"SELECT 2") || { echo "$out"; return 1; }
	expect_eq "sslmode=verify-full" "$out" 2 || return 1
	grep -q "login attempt: db=testdb user=u_trust tls=TLSv1.3/TLS_" "$PGRING_LOG" ||
		{ echo "no tls= in the login line"; pgring_dump_logs; return 1; }
	out=$(tls_psql "host=127.0.0.1 dbname=pgbouncer sslmode=require" "SHOW CLIENTS" |
		awk -F'|' '$2 == "u_trust" && $3 == "pgbouncer" { print $18 }')
	case "$out" in
	TLSv1.3/TLS_*) echo "SHOW CLIENTS tls: $out" ;;
	*) echo "SHOW CLIENTS tls column: '$out'"; return 1 ;;
	esac
}

# a certificate from another CA fails verify-full, and nothing is run
sc_tls_client_wrong_ca() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)" || return 1
	if out=$(tls_psql "host=localhost dbname=testdb sslmode=verify-full sslrootcert=$TLS_DIR/other-ca.crt" \
		"SELECT 1"); then
		echo "verify-full with the wrong CA succeeded: $out"
		return 1
	fi
	echo "wrong CA: $out"
	case "$out" in *"certificate verify failed"*) ;; *) return 1 ;; esac
}

# client_tls_sslmode = require refuses a plaintext client with PgBouncer's words;
# disable answers SSLRequest with N, as before
sc_tls_client_required() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)" || return 1
	if out=$(tls_psql "host=127.0.0.1 dbname=testdb sslmode=disable" "SELECT 1"); then
		echo "plaintext client got in: $out"
		return 1
	fi
	echo "plaintext: $out"
	case "$out" in *"SSL required"*) ;; *) return 1 ;; esac
	# the unix socket is trusted, as in PgBouncer
	out=$(tls_psql "host=$PGRING_DIR dbname=testdb" "SELECT 3") || { echo "$out"; return 1; }
	expect_eq "unix socket" "$out" 3 || return 1
	pgring_stop
	pgring_start "$1" "auth_type = trust" || return 1
	if out=$(tls_psql "host=127.0.0.1 dbname=testdb sslmode=require" "SELECT 1"); then
		echo "sslmode=require got TLS from a pgring without client TLS: $out"
		return 1
	fi
	case "$out" in *"does not support SSL"*) ;; *) echo "$out"; return 1 ;; esac
}


: "${TLS_CLIENT:=$top_srcdir/test/integration/tls_client.py}"
tls_py() { timeout -k 2 40 /usr/bin/python3 "$TLS_CLIENT" "$@" 2>&1; }

# PostgreSQL 17's direct TLS: a ClientHello first, with ALPN postgresql;
# without ALPN the connection is closed, as PostgreSQL and PgBouncer do
sc_tls_direct() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)" || return 1
	out=$(tls_py direct 127.0.0.1 "$PGRING_PORT" "$TLS_DIR/ca.crt" alpn u_trust testdb)
	echo "with ALPN: $out"
	case "$out" in "ready tls=TLSv1.3 alpn=postgresql") ;; *) return 1 ;; esac
	out=$(tls_py direct 127.0.0.1 "$PGRING_PORT" "$TLS_DIR/ca.crt" noalpn u_trust testdb)
	echo "without ALPN: $out"
	case "$out" in closed:*) ;; *) return 1 ;; esac
	grep -q "without ALPN protocol negotiation extension" "$PGRING_LOG" || { echo "no log line"; return 1; }
}

# bytes sent after SSLRequest, before the handshake, are refused, not read
# as a plaintext startup packet (CVE-2021-23214); GSSENCRequest gets N
sc_tls_pipelined() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf prefer)" || return 1
	out=$(tls_py pipelined 127.0.0.1 "$PGRING_PORT" u_trust testdb)
	echo "$out"
	expect_eq "pipelined" "$out" "error: 08P01 received unencrypted data after SSL request" || return 1
	# prefer: GSSENCRequest still gets N, TLS after it works, and plaintext is allowed
	out=$(tls_py gssenc 127.0.0.1 "$PGRING_PORT" "$TLS_DIR/ca.crt" u_trust testdb)
	echo "$out"
	expect_eq "GSSENCRequest, then SSLRequest" "$out" "gssenc=b'N' ssl=b'S' ready tls=TLSv1.3" || return 1
	out=$(tls_psql "host=127.0.0.1 dbname=testdb sslmode=disable" "SELECT 4") || { echo "$out"; return 1; }
	expect_eq "plaintext under prefer" "$out" 4
}

# a CancelRequest over TLS (libpq 17 sends one so) and libpq 15's in clear
# text, with client_tls_sslmode = require; transaction mode
sc_tls_cancel() {
	local out ms
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)
pool_mode = transaction" || return 1
	out=$(tls_py cancel 127.0.0.1 "$PGRING_PORT" "$TLS_DIR/ca.crt" u_trust testdb)
	echo "over TLS: $out"
	ms=$(echo "$out" | sed -n 's/^query: 57014 canceling statement due to user request after \([0-9]*\) ms$/\1/p')
	[ -n "$ms" ] && [ "$ms" -lt 5000 ] || return 1
	out=$(PQ_TIMEOUT=30 pq "$(pgring_conn testdb u_trust) sslmode=require" cancel 500 "SELECT pg_sleep(20)" 2>&1)
	echo "libpq: $out"
	echo "$out" | grep -q "canceling statement due to user request"
}

# pgbench and psycopg2 over TLS, transaction mode
sc_tls_clients() {
	local out
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)
pool_mode = transaction
default_pool_size = 4" || return 1
	printf 'SELECT 1;\n' >"$T_ROOT/tls_bench.sql"
	out=$(PGSSLMODE=require timeout -k 2 60 pgbench -n -c 8 -j 2 -t 200 -f "$T_ROOT/tls_bench.sql" \
		-h 127.0.0.1 -p "$PGRING_PORT" -U u_trust testdb 2>&1) || { echo "$out"; return 1; }
	echo "$out" | grep -q "number of transactions actually processed: 1600/1600" ||
		{ echo "$out"; return 1; }
	echo "pgbench: $(echo "$out" | grep '^tps')"
	out=$(timeout -k 2 30 /usr/bin/python3 -c '
import sys, psycopg2
c = psycopg2.connect(host="localhost", port=int(sys.argv[1]), dbname="testdb", user="u_trust",
                     sslmode="verify-full", sslrootcert=sys.argv[2])
cur = c.cursor()
cur.execute("SELECT %s::int + 1", (41,))
print(cur.fetchone()[0], c.info.ssl_in_use if hasattr(c, "info") else True)
' "$PGRING_PORT" "$TLS_DIR/ca.crt" 2>&1)
	echo "psycopg2: $out"
	expect_eq "psycopg2" "$out" "42 True"
}

# cert_sha FILE: SHA-256 of a certificate's DER, as tls_client.py peer-cert prints it
cert_sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# RELOAD with a new certificate: a new client sees it; a missing file on
# reload keeps the running one, with a log line
sc_tls_reload() {
	local out conf
	tls_certs || return 1
	pgring_start "$1" "$(tls_client_conf require)" || return 1
	out=$(tls_py peer-cert 127.0.0.1 "$PGRING_PORT")
	expect_eq "certificate at start" "$out" "$(cert_sha "$TLS_DIR/server.crt")" || return 1
	sed -i "s|/server\.|/server2.|g" "$PGRING_CONF"
	pgring_reload
	wait_until 10 grep -q "re-reading config" "$PGRING_LOG" || return 1
	sleep 0.3
	out=$(tls_py peer-cert 127.0.0.1 "$PGRING_PORT")
	expect_eq "certificate after RELOAD" "$out" "$(cert_sha "$TLS_DIR/server2.crt")" || return 1
	sed -i "s|/server2\.crt|/missing.crt|" "$PGRING_CONF"
	pgring_reload
	wait_until 10 grep -q "TLS reload failed, keeping the running TLS settings: client_tls_cert_file $TLS_DIR/missing.crt" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
	out=$(tls_py peer-cert 127.0.0.1 "$PGRING_PORT")
	expect_eq "certificate after a bad RELOAD" "$out" "$(cert_sha "$TLS_DIR/server2.crt")"
}

# bad files are fatal at start-up, naming the file
sc_tls_bad_files() {
	local out
	tls_certs || return 1
	pgring_write_config "$1" "$(tls_client_conf require | sed "s|/server\.crt|/nope.crt|")" \
		"$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval '! alive $PGRING_PID' || { echo "started with a missing certificate"; return 1; }
	grep -q "FATAL TLS setup failed: client_tls_cert_file $TLS_DIR/nope.crt" "$PGRING_ERR" ||
		{ pgring_dump_logs; return 1; }
	pgring_write_config "$1" "$(tls_client_conf require | sed "s|/server\.key|/client.key|")" \
		"$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval '! alive $PGRING_PID' || { echo "started with a key of another certificate"; return 1; }
	grep -q "FATAL TLS setup failed: client_tls_key_file $TLS_DIR/client.key does not match client_tls_cert_file" "$PGRING_ERR" ||
		{ pgring_dump_logs; return 1; }
}

# ---- server side -----------------------------------------------------------

# tls_hostssl_role: u_ssl may log in over TLS only (hostssl), trust
tls_hostssl_role() {
	if ! grep -q u_ssl "$PG_DATA/pg_hba.conf"; then
		sed -i "1i hostssl all u_ssl 127.0.0.1/32 trust\nhostnossl all u_ssl 127.0.0.1/32 reject" \
			"$PG_DATA/pg_hba.conf" || return 1
		pg_sql "DO \$\$ BEGIN CREATE ROLE u_ssl LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
			"GRANT ALL ON DATABASE testdb TO u_ssl" >/dev/null || return 1
	fi
	pg_sql "SELECT pg_reload_conf()" >/dev/null
}

# pg_ssl_run CMD...: CMD with ssl on in PostgreSQL, off again after, whatever CMD did
pg_ssl_run() {
	local rc
	pg_ssl on || { echo "could not turn ssl on"; return 1; }
	tls_hostssl_role || { pg_ssl off; return 1; }
	"$@"
	rc=$?
	pg_ssl off || { echo "could not turn ssl off"; return 1; }
	return $rc
}

tls_userlist() { default_userlist; printf '"u_ssl" ""\n'; }

tls_server_body() {
	local out db extra
	for mode in require verify-ca verify-full; do
		extra="auth_type = trust
admin_users = u_trust
server_tls_sslmode = $mode
server_tls_ca_file = $TLS_DIR/ca.crt"
		pgring_write_config "$1" "$extra" "$(tls_userlist)" || return 1
		# verify-full checks the name: localhost is in the certificate
		sed -i "s|^testdb = host=127.0.0.1|testdb = host=localhost|" "$PGRING_CONF"
		pgring_launch && pgring_wait_up "$1" || return 1
		out=$(pq "$(pgring_conn testdb u_ssl)" query \
			"SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
		echo "$mode: pg_stat_ssl: $out"
		case "$out" in "t|TLSv1.3"|"t	TLSv1.3"|"t TLSv1.3") ;; *) pgring_dump_logs; return 1 ;; esac
		out=$(tls_psql "host=127.0.0.1 dbname=pgbouncer" "SHOW SERVERS" |
			awk -F'|' '$2 == "u_ssl" { print $18 }')
		echo "$mode: SHOW SERVERS tls: $out"
		case "$out" in TLSv1.3/TLS_*) ;; *) return 1 ;; esac
		pgring_stop
	done
	# verify-full against a CA that did not sign PostgreSQL's certificate fails
	pgring_write_config "$1" "auth_type = trust
server_tls_sslmode = verify-full
server_tls_ca_file = $TLS_DIR/other-ca.crt
server_login_retry = 1" "$(tls_userlist)" || return 1
	pgring_launch && pgring_wait_up "$1" || return 1
	out=$(pq "$(pgring_conn testdb u_ssl)" query "SELECT 1" 2>&1) && { echo "logged in: $out"; return 1; }
	echo "wrong CA: $out"
	grep -q "TLS: handshake failed: certificate verify failed" "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	pgring_stop
	# verify-full with a name not in the certificate (127.0.0.1) fails
	pgring_write_config "$1" "auth_type = trust
server_tls_sslmode = verify-full
server_tls_ca_file = $TLS_DIR/ca.crt" "$(tls_userlist)" || return 1
	pgring_launch && pgring_wait_up "$1" || return 1
	out=$(pq "$(pgring_conn testdb u_ssl)" query "SELECT 1" 2>&1) && { echo "logged in: $out"; return 1; }
	echo "wrong name: $out"
	grep -q "TLS: handshake failed: certificate verify failed: IP address mismatch" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
	pgring_stop
	# the default (prefer) uses TLS where PostgreSQL offers it
	pgring_start "$1" "auth_type = trust" "$(tls_userlist)" || return 1
	out=$(pq "$(pgring_conn testdb u_ssl)" query "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
	expect_eq "prefer" "$out" t
}

# a PostgreSQL that takes u_ssl over TLS only: server_tls_sslmode require,
# verify-ca and verify-full get in, pg_stat_ssl says so
sc_tls_server() {
	tls_certs || return 1
	pg_ssl_run tls_server_body "$1"
}

# PostgreSQL without ssl: require fails the login with the reason, prefer
# goes on in clear text
sc_tls_server_refused() {
	local out
	pgring_start "$1" "auth_type = trust
server_tls_sslmode = require" || return 1
	out=$(pq "$(pgring_conn testdb u_trust)" query "SELECT 1" 2>&1) && { echo "logged in: $out"; return 1; }
	echo "require: $out"
	grep -q "server refused SSL" "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	pgring_stop
	pgring_start "$1" "auth_type = trust
server_tls_sslmode = prefer" || return 1
	out=$(pq "$(pgring_conn testdb u_trust)" query "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
	expect_eq "prefer" "$out" f
}

# ---- bulk ------------------------------------------------------------------

tls_bulk_body() {
	local c in out=$T_ROOT/tls_copy.out sum_in sum_out res hwm
	in=$(copy_input)
	pgring_start "$1" "$(tls_client_conf require)
server_tls_sslmode = require" || return 1
	c="$(pgring_conn testdb u_trust) sslmode=require"
	pq "$c" query "SET client_min_messages = warning" "DROP TABLE IF EXISTS tls_copy_t" \
		"CREATE UNLOGGED TABLE tls_copy_t (id int, payload text)" >/dev/null || return 1
	res=$(PQ_TIMEOUT=120 pq "$c" copy-in tls_copy_t "$in" 2>&1) || { echo "copy in: $res"; return 1; }
	expect_eq "COPY FROM result" "$res" "COPY 1000000" || return 1
	res=$(PQ_TIMEOUT=120 pq "$c" copy-out "COPY tls_copy_t TO STDOUT" "$out" 2>&1) ||
		{ echo "copy out: $res"; rm -f "$out"; return 1; }
	sum_in=$(md5sum <"$in") sum_out=$(md5sum <"$out")
	echo "in $(stat -c %s "$in") bytes, out $(stat -c %s "$out") bytes, through TLS on both sides"
	rm -f "$out"
	pq "$c" query "DROP TABLE tls_copy_t" >/dev/null
	expect_eq "md5 of what came back" "$sum_out" "$sum_in" || return 1
	out=$(pq "$c" query "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
	expect_eq "server side on TLS" "$out" t || return 1
	# a 500 MB result to a client that stalls first: pgring must stop
	# reading rather than buffer, TLS or not
	res=$(PQ_TIMEOUT=180 pq "$c" stream \
		"SELECT repeat('x', 1000) FROM generate_series(1, 500000)" 2000 2>&1) ||
		{ echo "stream: $res"; return 1; }
	expect_eq "streamed" "$res" "rows=500000 bytes=500000000" || return 1
	hwm=$(pgring_vmhwm)
	echo "pgring VmHWM: ${hwm:-?} kB"
	rss_checked || return 0
	[ -n "$hwm" ] && [ "$hwm" -lt 65536 ] || { echo "VmHWM ${hwm:-unknown} kB, limit 65536 kB"; return 1; }
}

# a 100 MB COPY in and out and a large result, TLS on both sides: byte-identical, RSS bounded
sc_tls_bulk() {
	tls_certs || return 1
	pg_ssl_run tls_bulk_body "$1"
}

SCENARIOS="$SCENARIOS tls_client_psql tls_client_wrong_ca tls_client_required tls_direct
	tls_pipelined tls_cancel tls_clients tls_reload tls_bad_files tls_server tls_server_refused
	tls_bulk"

# ---- channel binding -------------------------------------------------------

# SCRAM-SHA-256-PLUS (tls-server-end-point) for clients with
# channel_binding=require: with a plain password in auth_file, and with only
# PostgreSQL's verifier (pgring then logs in to PostgreSQL with the keys the
# client proved it has); plaintext clients are not offered it
sc_tls_channel_binding() {
	local out ul
	tls_certs || return 1
	for ul in "\"u_scram\" \"pw_scram\"" "\"u_scram\" \"$(pg_secret u_scram)\""; do
		pgring_start "$1" "$(tls_client_conf prefer | sed 's/^auth_type = trust$/auth_type = scram-sha-256/')" \
			"$ul" || return 1
		out=$(PGPASSWORD=pw_scram timeout -k 2 30 "$PG_BINDIR/psql" -X -At -c "SELECT current_user" \
			"host=127.0.0.1 port=$PGRING_PORT dbname=testdb user=u_scram sslmode=require channel_binding=require connect_timeout=5" 2>&1)
		echo "channel_binding=require, auth_file $(echo "$ul" | cut -c1-30)...: $out"
		expect_eq "logged in with channel binding" "$out" u_scram || { pgring_dump_logs; return 1; }
		out=$(PGPASSWORD=pw_scram timeout -k 2 30 "$PG_BINDIR/psql" -X -At -c "SELECT 1" \
			"host=127.0.0.1 port=$PGRING_PORT dbname=testdb user=u_scram sslmode=disable channel_binding=require connect_timeout=5" 2>&1) &&
			{ echo "channel binding without TLS: $out"; return 1; }
		echo "without TLS: $out"
		pgring_stop
	done
}
SCENARIOS="$SCENARIOS tls_channel_binding"

# ---- server_tls_negotiation = direct ---------------------------------------

# tls_neg_login DB: a login through instance A (A_PORT) that must fail at
# once; prints what the client heard, fails if it took 10 s or more
tls_neg_login() {
	local t0 out
	t0=$(date +%s)
	out=$(PQ_TIMEOUT=30 pq "host=127.0.0.1 port=$A_PORT dbname=$1 user=u_trust connect_timeout=5" \
		query "SELECT 1" 2>&1) && { echo "$1: logged in: $out"; return 1; }
	echo "$1: $out ($(($(date +%s) - t0)) s)"
	[ $(($(date +%s) - t0)) -lt 10 ] || { echo "$1: the client waited"; return 1; }
}

# A (server_tls_sslmode = verify-full) in front of B (client_tls_sslmode =
# require) in front of PostgreSQL: with server_tls_negotiation = direct A
# starts its server logins with the ClientHello (ALPN postgresql), no
# SSLRequest, as a raw listener sees; RELOAD switches it; the chain works
# with TLS between A and B; PostgreSQL 15 (and the listener) hang up on a
# ClientHello: the login fails at once with a log line that says why; a
# server that selects no ALPN protocol is refused, as libpq does
sc_tls_server_direct() {
	local out raw A_PORT B_DIR B_PORT B_PID
	tls_certs || return 1
	# as libpq: direct with an sslmode that could fall back to plaintext is refused
	pgring_write_config "$1" "server_tls_negotiation = direct" "$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval '! alive $PGRING_PID' || { echo "started with direct and prefer"; return 1; }
	grep -q "FATAL TLS setup failed: server_tls_negotiation = direct needs server_tls_sslmode require, verify-ca or verify-full (it is prefer)" \
		"$PGRING_ERR" || { pgring_dump_logs; return 1; }
	pgring_start "$1" "$(tls_client_conf require)
admin_users = u_trust
server_tls_sslmode = disable" || return 1
	B_DIR=$PGRING_DIR B_PORT=$PGRING_PORT B_PID=$PGRING_PID
	raw=$(free_port) || return 1
	pgring_write_config "$1" "auth_type = trust
admin_users = u_trust
query_wait_timeout = 3
server_tls_sslmode = verify-full
server_tls_ca_file = $TLS_DIR/ca.crt
server_tls_negotiation = postgres" "$(default_userlist)" || return 1
	A_PORT=$PGRING_PORT
	sed -i "/^\[databases\]\$/a viab = host=localhost port=$B_PORT dbname=testdb\nraw1 = host=localhost port=$raw dbname=testdb\nraw2 = host=localhost port=$raw dbname=testdb\nraw3 = host=localhost port=$raw dbname=testdb" \
		"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || { PGRING_PID=$B_PID pgring_stop; return 1; }
	tls_direct_chain "$1" "$raw"
	out=$?
	pgring_stop	# A first: B would wait for A's server connections to go
	PGRING_PID=$B_PID pgring_stop
	return $out
}

tls_direct_chain() {
	local out raw=$2 lpid n
	/usr/bin/python3 "$TLS_CLIENT" first-bytes "$raw" 2 >"$T_ROOT/first_bytes.out" 2>&1 &
	lpid=$!
	track_pid "$lpid"
	wait_until 10 listening "$raw" || { echo "listener did not come up"; return 1; }
	# postgres: an SSLRequest first (the login then waits for a retry)
	PQ_TIMEOUT=20 pq "host=127.0.0.1 port=$A_PORT dbname=raw1 user=u_trust" query "SELECT 1" >/dev/null 2>&1
	sed -i "s/^server_tls_negotiation = postgres\$/server_tls_negotiation = direct/" "$PGRING_CONF"
	pgring_reload
	wait_until 10 grep -q "re-reading config" "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	sleep 0.3
	tls_neg_login raw2 || { pgring_dump_logs; return 1; }
	wait_until 10 eval '! alive $lpid'
	out=$(cat "$T_ROOT/first_bytes.out")
	echo "listener saw: $(echo "$out" | tr '\n' ';')"
	expect_eq "first bytes, postgres then direct" "$out" "sslrequest
clienthello alpn=postgresql" || return 1
	grep -q "server login failed: server closed the connection on the direct TLS handshake: server_tls_negotiation = direct needs PostgreSQL 17" \
		"$PGRING_LOG" || { echo "no log line for the listener"; pgring_dump_logs; return 1; }
	# a server that does not select ALPN postgresql is refused, as libpq does
	/usr/bin/python3 "$TLS_CLIENT" tls-noalpn "$raw" "$TLS_DIR/server.crt" "$TLS_DIR/server.key" \
		>"$T_ROOT/noalpn.out" 2>&1 &
	lpid=$!
	track_pid "$lpid"
	wait_until 10 listening "$raw" || { echo "listener did not come up"; return 1; }
	PQ_TIMEOUT=20 pq "host=127.0.0.1 port=$A_PORT dbname=raw3 user=u_trust" query "SELECT 1" >/dev/null 2>&1
	wait_until 10 eval '! alive $lpid'
	echo "no-ALPN server: $(cat "$T_ROOT/noalpn.out")"
	grep -q "TLS: direct SSL connection was established without ALPN protocol negotiation extension" \
		"$PGRING_LOG" || { pgring_dump_logs; return 1; }
	# the chain: TLS between A and B, verify-full of B's certificate
	out=$(pq "host=127.0.0.1 port=$A_PORT dbname=viab user=u_trust" query "SELECT 40 + 2" 2>&1)
	expect_eq "through A and B" "$out" 42 || { pgring_dump_logs; return 1; }
	out=$(timeout -k 2 20 "$PG_BINDIR/psql" -X -At -c "SHOW CLIENTS" \
		"host=$B_DIR port=$B_PORT dbname=pgbouncer user=u_trust" 2>&1 |
		awk -F'|' '$2 == "u_trust" && $3 == "testdb" { print $18 }')
	echo "B's SHOW CLIENTS tls: $out"
	case "$out" in TLSv1.3/TLS_*) ;; *) return 1 ;; esac
	# PostgreSQL 15 reads the ClientHello as a startup packet and hangs up
	n=$(grep -c "invalid length of startup packet" "$PG_LOG")
	out=$(tls_neg_login testdb) || { echo "$out"; pgring_dump_logs; return 1; }
	echo "$out"
	case "$out" in *"direct TLS handshake"*) ;; *) echo "the client did not hear why"; return 1 ;; esac
	[ "$(grep -c "server login failed: server closed the connection on the direct TLS handshake" "$PGRING_LOG")" -ge 2 ] ||
		{ echo "no log line for PostgreSQL 15"; pgring_dump_logs; return 1; }
	wait_until 5 eval '[ "$(grep -c "invalid length of startup packet" "$PG_LOG")" -gt "$n" ]' ||
		{ echo "PostgreSQL did not see a ClientHello"; return 1; }
	# the console's SET keeps the pair consistent too
	out=$(tls_psql "host=127.0.0.1 port=$A_PORT dbname=pgbouncer" "SET server_tls_sslmode = prefer")
	echo "SET server_tls_sslmode = prefer under direct: $out"
	case "$out" in *"SET failed: server_tls_negotiation = direct needs server_tls_sslmode"*) ;; *) return 1 ;; esac
	out=$(tls_psql "host=127.0.0.1 port=$A_PORT dbname=pgbouncer" "SET server_tls_negotiation = postgres")
	case "$out" in SET*) ;; *) echo "SET server_tls_negotiation = postgres: $out"; return 1 ;; esac
	out=$(tls_psql "host=127.0.0.1 port=$A_PORT dbname=pgbouncer" "SHOW CONFIG" | grep '^server_tls_negotiation|')
	expect_eq "SHOW CONFIG" "$out" "server_tls_negotiation|postgres|postgres|yes"
}
SCENARIOS="$SCENARIOS tls_server_direct"

# a TLS server connection pgring closes (server_lifetime) ends as a clear
# text one does: a Terminate PostgreSQL reads (inside TLS), no error in its log
tls_server_terminate_body() {
	local n new
	pgring_start "$1" "auth_type = trust
server_tls_sslmode = require
server_lifetime = 1" || return 1
	n=$(wc -l <"$PG_LOG")
	pq "$(pgring_conn testdb u_trust)" query "SELECT 1" >/dev/null || return 1
	wait_until 6 grep -q "server lifetime over" "$PGRING_LOG" ||
		{ echo "no server lifetime close"; pgring_dump_logs; return 1; }
	wait_until 5 eval '[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '"'u_trust'"'")" = 0 ]' ||
		{ echo "the backend is still there"; return 1; }
	sleep 0.3
	new=$(tail -n +$((n + 1)) "$PG_LOG")
	[ -z "$new" ] || echo "PostgreSQL's log:"$'\n'"$new"
	if echo "$new" | grep -qE "SSL|could not receive|unexpected EOF|invalid"; then
		echo "PostgreSQL saw the end as an error"
		return 1
	fi
}

sc_tls_server_terminate() {
	tls_certs || return 1
	pg_ssl_run tls_server_terminate_body "$1"
}

SCENARIOS="$SCENARIOS tls_server_terminate"
