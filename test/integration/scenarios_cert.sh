# scenarios_cert.sh - what TLS gives authentication: hostssl / hostnossl
# lines that see whether the client really has TLS (first match wins), and
# the cert method (in an hba rule, with and without map=, and as
# auth_type = cert): the client certificate's CN is the role, no password;
# another CN, no certificate, no TLS, or a role nobody knows is refused in
# PostgreSQL's words.

# cert_client NAME CN: a client certificate NAME.crt/NAME.key with CN,
# signed by tls_certs' CA, in $TLS_DIR (made once)
cert_client() {
	[ -f "$TLS_DIR/$1.crt" ] && return 0
	(
		cd "$TLS_DIR" || exit 1
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
			-subj "/CN=$2" 2>>openssl.log || exit 1
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out "$1.crt" -days 2 2>>openssl.log || exit 1
		chmod 600 "$1.key"
	) || { diag "could not make client certificate $1"; diag_file "$TLS_DIR/openssl.log"; return 1; }
}

# cert_certs: the CA, pgring's certificate, and client certificates whose
# CN is a role (client: u_trust), a name for the ident map, and a role
# that neither auth_file nor PostgreSQL knows
cert_certs() {
	tls_certs && cert_client svc svc.example && cert_client ghost ghost_role
}

# cert_login USER CERT SSLMODE: current_user through pgring on TCP, with
# the client certificate CERT (none: no certificate), or libpq's error
cert_login() {
	local files="sslcert=/nonexistent sslkey=/nonexistent"
	[ "$2" = none ] || files="sslcert=$TLS_DIR/$2.crt sslkey=$TLS_DIR/$2.key"
	timeout -k 2 30 "$PG_BINDIR/psql" -X -At -c "SELECT current_user" \
		"host=127.0.0.1 port=$PGRING_PORT dbname=testdb user=$1 sslmode=$3 $files connect_timeout=5" 2>&1
}

# expect_login WHAT WANT USER CERT SSLMODE: cert_login logs in as WANT
expect_login() {
	local out
	out=$(cert_login "$3" "$4" "$5")
	expect_eq "$1" "$out" "$2"
}

# expect_refused WHAT MESSAGE USER CERT SSLMODE: cert_login fails with MESSAGE
expect_refused() {
	local out
	out=$(cert_login "$3" "$4" "$5") && { echo "$1: logged in as '$out', want '$2'"; return 1; }
	echo "$out" | grep -qF "$2" || { echo "$1: got '$out', want '$2'"; return 1; }
}

# client TLS that asks for a certificate (optional: require with a CA file,
# so a client without one is refused by the method, not the handshake)
cert_tls_conf() {
	printf '%s\n' "client_tls_sslmode = ${1:-require}" \
		"client_tls_key_file = $TLS_DIR/server.key" \
		"client_tls_cert_file = $TLS_DIR/server.crt" \
		"client_tls_ca_file = $TLS_DIR/ca.crt"
}

# hostssl / hostnossl decide by the client's TLS, the first match wins
sc_cert_hostssl() {
	local d rc=0
	cert_certs || return 1
	d=$(hba_dir hostssl) || return 1
	cat >"$d/hba.conf" <<-EOF
	hostnossl all u_md5 all reject
	hostssl all u_md5 all trust
	hostssl all all all reject
	hostnossl all u_trust all trust
	EOF
	pgring_start "$1" "auth_type = hba
auth_hba_file = $d/hba.conf
$(cert_tls_conf prefer)" || return 1
	# u_md5: refused in plaintext by the first line, trusted over TLS by the second
	expect_refused "plaintext u_md5" 'pg_hba.conf rejects connection for host "127.0.0.1", user "u_md5", database "testdb", no encryption' \
		u_md5 none disable || rc=1
	expect_login "TLS u_md5" u_md5 u_md5 none require || rc=1
	# u_trust: the hostssl reject takes TLS clients, hostnossl trust the others
	expect_refused "TLS u_trust" 'pg_hba.conf rejects connection for host "127.0.0.1", user "u_trust", database "testdb", SSL encryption' \
		u_trust none require || rc=1
	expect_login "plaintext u_trust" u_trust u_trust none disable || rc=1
	# u_scram in plaintext: no hostssl line matches it, so none at all
	expect_refused "plaintext u_scram" 'no pg_hba.conf entry for host "127.0.0.1", user "u_scram", database "testdb", no encryption' \
		u_scram none disable || rc=1
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

# the cert method in hba rules: CN = role, CN mapped by map=, and refusals
sc_cert_hba() {
	local d rc=0
	cert_certs || return 1
	d=$(hba_dir cert) || return 1
	cat >"$d/hba.conf" <<-EOF
	hostssl all u_trust all cert
	hostssl all all all cert map=certs
	host all all all reject
	EOF
	cat >"$d/ident.conf" <<-EOF
	certs svc.example u_scram
	certs ghost_role ghost_role
	EOF
	pgring_start "$1" "auth_type = hba
auth_hba_file = $d/hba.conf
auth_ident_file = $d/ident.conf
log_connections = 1
$(cert_tls_conf require)" || return 1
	# the CN is the role: in, with no password
	expect_login "CN u_trust as u_trust" u_trust u_trust client require || rc=1
	# a CN that is another role's, with no map line for it
	expect_refused "CN u_scram as u_trust" 'certificate authentication failed for user "u_trust"' \
		u_trust svc require || rc=1
	expect_refused "CN u_trust as u_scram" 'certificate authentication failed for user "u_scram"' \
		u_scram client require || rc=1
	# the map lets svc.example be u_scram
	expect_login "CN svc.example as u_scram (map)" u_scram u_scram svc require || rc=1
	# TLS without a certificate
	expect_refused "no certificate" "connection requires a valid client certificate" \
		u_trust none require || rc=1
	# the map lets ghost_role in by name, but no auth_file knows the role
	expect_refused "unknown role" 'certificate authentication failed for user "ghost_role"' \
		ghost_role ghost require || rc=1
	grep -q "TLS certificate name mismatch: no match in usermap \"certs\" for user \"u_scram\" authenticated as \"u_trust\"" \
		"$PGRING_LOG" || { echo "no map refusal in the log"; rc=1; }
	grep -q "TLS client certificate required" "$PGRING_LOG" || { echo "no missing-certificate line"; rc=1; }
	grep -q "no such user: ghost_role" "$PGRING_LOG" || { echo "no unknown-role line"; rc=1; }
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

# auth_type = cert: the CN must be the role itself
sc_cert_auth_type() {
	local rc=0
	cert_certs || return 1
	pgring_start "$1" "auth_type = cert
$(cert_tls_conf prefer)" || return 1
	expect_login "CN u_trust as u_trust" u_trust u_trust client require || rc=1
	expect_refused "CN u_trust as u_scram" 'certificate authentication failed for user "u_scram"' \
		u_scram client require || rc=1
	expect_refused "CN svc.example as u_scram" 'certificate authentication failed for user "u_scram"' \
		u_scram svc require || rc=1
	expect_refused "no certificate" "connection requires a valid client certificate" \
		u_trust none require || rc=1
	expect_refused "plaintext" "connection requires a valid client certificate" \
		u_trust none disable || rc=1
	expect_refused "unknown role" 'certificate authentication failed for user "ghost_role"' \
		ghost_role ghost require || rc=1
	grep -q "TLS connection required" "$PGRING_LOG" || { echo "no plaintext line"; rc=1; }
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

# auth_type = cert for roles only PostgreSQL knows: auth_query finds aq_md5
# (the pool logs in with its md5 secret), and finds no ghost_role
sc_cert_authq() {
	local rc=0
	cert_certs && cert_client aqmd5 aq_md5 || return 1
	authq_start "$1" cert "auth_user = aq_auth
$(cert_tls_conf require)" || return 1
	expect_login "CN aq_md5 via auth_query" aq_md5 aq_md5 aqmd5 require || rc=1
	expect_refused "CN ghost_role, no such role" 'certificate authentication failed for user "ghost_role"' \
		ghost_role ghost require || rc=1
	expect_refused "CN aq_md5 as aq_scram" 'certificate authentication failed for user "aq_scram"' \
		aq_scram aqmd5 require || rc=1
	[ $rc = 0 ] || pgring_dump_logs
	return $rc
}

SCENARIOS="$SCENARIOS cert_hostssl cert_hba cert_auth_type cert_authq"
