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

SCENARIOS="$SCENARIOS tls_client_psql tls_client_wrong_ca tls_client_required"
