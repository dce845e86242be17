# scenarios_tlsclients.sh - real drivers (pgjdbc, node-postgres) and the
# differential test through pgring with TLS on both sides, transaction mode
# (issue 13's tests; the helpers are scenarios_tls.sh's and lib.sh's)
#
#   TLS_JAVA=java              the Java 11+ launcher (runs PgTls.java from source)
#   PGJDBC_JAR=/usr/share/java/postgresql.jar   (Debian's libpostgresql-jdbc-java)
#   TLS_NODE=node              node
#   TLS_NODE_MODULES=DIR       where node-postgres is (default: the node_modules
#                              scripts/install-deps.sh makes with npm ci in
#                              test/integration/node; a distcheck tree has none:
#                              point this at the source tree's)
#   DIFF_TLS_RANDOM_SECONDS=20 diff_random_tls's generated runs, per backend

: "${TLS_JAVA:=java}"
: "${PGJDBC_JAR:=/usr/share/java/postgresql.jar}"
: "${TLS_NODE:=node}"
TLSC_DIR=$top_srcdir/test/integration
: "${TLS_NODE_MODULES:=$TLSC_DIR/node/node_modules}"

# client TLS (require) and server TLS (require), transaction pooling, the
# admin console for SHOW CLIENTS; pgjdbc sends extra_float_digits at login
tlsc_conf() {
	tls_client_conf require
	printf '%s\n' "server_tls_sslmode = require" "server_tls_ca_file = $TLS_DIR/ca.crt" \
		"pool_mode = transaction" "default_pool_size = 2" "admin_users = u_trust" \
		"ignore_startup_parameters = extra_float_digits"
}

# the table the clients' transactions write
tlsc_table() {
	pg_sql "SET client_min_messages = warning" "DROP TABLE IF EXISTS tlsc_t" \
		"CREATE TABLE tlsc_t (who text, n int)" "GRANT ALL ON tlsc_t TO PUBLIC" >/dev/null
}

# tlsc_check CLIENT OUTPUT: what both client programs print, judged; a
# client line says MODE: ... param=P txn=3 server_ssl=S client_tls=TLSv1.3/...
tlsc_check() {
	local who=$1 out=$2 mode line
	echo "$out" | sed "s/^/$who: /"
	for mode in require verify-full; do
		line=$(echo "$out" | grep "^$mode: ")
		case "$line" in
		*" txn=3 server_ssl="[tT]*" client_tls=TLSv1.3/TLS_"*) ;;
		*) echo "$who $mode: not the expected line"; return 1 ;;
		esac
	done
	# verify-full: a CA that did not sign pgring's certificate, a name that
	# is not in it (127.0.0.1); the driver's own words
	echo "$out" | grep -q "^wrong-ca: refused: .*\(certificate\|CERT\|PKIX\)" ||
		{ echo "$who: wrong CA not refused for a certificate reason"; return 1; }
	echo "$out" | grep -q "^wrong-name: refused: .*\(hostname\|Hostname\|IP\|altnames\)" ||
		{ echo "$who: wrong name not refused for the name"; return 1; }
}

tls_jdbc_body() {
	local out
	pgring_start "$1" "$(tlsc_conf)" || return 1
	tlsc_table || return 1
	out=$(cd "$T_ROOT" && timeout -k 2 120 "$TLS_JAVA" -cp "$PGJDBC_JAR" "$TLSC_DIR/java/PgTls.java" \
		"$PGRING_PORT" "$TLS_DIR/ca.crt" "$TLS_DIR/other-ca.crt" 2>&1) ||
		{ echo "$out"; pgring_dump_logs; return 1; }
	tlsc_check pgjdbc "$out" || { pgring_dump_logs; return 1; }
	echo "$out" | grep -q "^require: param=OK " || return 1
	# the committed rows are in PostgreSQL, the rolled-back ones are not
	expect_eq "rows of the two transactions" "$(pg_sql "SELECT count(*) FROM tlsc_t")" 4
}

# pgjdbc over TLS through pgring (TLS to PostgreSQL too), transaction mode:
# sslmode require and verify-full, a wrong CA and a wrong name refused
sc_tls_jdbc() {
	command -v "$TLS_JAVA" >/dev/null || { echo "no $TLS_JAVA (scripts/install-deps.sh)"; return 1; }
	[ -r "$PGJDBC_JAR" ] || { echo "no $PGJDBC_JAR (scripts/install-deps.sh)"; return 1; }
	tls_certs || return 1
	pg_ssl_run tls_jdbc_body "$1"
}

tls_node_body() {
	local out
	pgring_start "$1" "$(tlsc_conf)" || return 1
	tlsc_table || return 1
	out=$(cd "$T_ROOT" && NODE_PATH=$TLS_NODE_MODULES timeout -k 2 60 "$TLS_NODE" "$TLSC_DIR/node/pg_tls.js" \
		"$PGRING_PORT" "$TLS_DIR/ca.crt" "$TLS_DIR/other-ca.crt" 2>&1) ||
		{ echo "$out"; pgring_dump_logs; return 1; }
	tlsc_check node-postgres "$out" || { pgring_dump_logs; return 1; }
	# the client's own socket is TLS too, not only what pgring reports
	[ "$(echo "$out" | grep -c '^[a-z-]*: tls=TLSv1.3 param=42 ')" = 2 ] || return 1
	expect_eq "rows of the two transactions" "$(pg_sql "SELECT count(*) FROM tlsc_t")" 4
}

# node-postgres over TLS through pgring (TLS to PostgreSQL too), transaction
# mode: sslmode require and verify-full, a wrong CA and a wrong name refused
sc_tls_node() {
	command -v "$TLS_NODE" >/dev/null || { echo "no $TLS_NODE (scripts/install-deps.sh)"; return 1; }
	[ -d "$TLS_NODE_MODULES/pg" ] ||
		{ echo "no node-postgres in $TLS_NODE_MODULES (scripts/install-deps.sh runs npm ci)"; return 1; }
	tls_certs || return 1
	pg_ssl_run tls_node_body "$1"
}

# ---- the differential test over TLS -------------------------------------------

# diff_tls_run BACKEND SCENARIO: a diff scenario (scenarios_diff.sh) with
# TLS from difftest to pgring (verify-full) and from pgring to PostgreSQL
# (verify-ca: the instances' [databases] say 127.0.0.1, not the certificate's
# name), and difftest's oracle connections to PostgreSQL over TLS as well
# (verify-full); transaction mode
diff_tls_run() {
	local out
	local DIFF_MODES=transaction DIFF_ARGS="--tls $TLS_DIR/ca.crt" DIFF_CONF
	DIFF_CONF="$(tls_client_conf require | grep -v '^auth_type')
server_tls_sslmode = verify-ca
server_tls_ca_file = $TLS_DIR/ca.crt"
	# what the instances will be: the server side says TLS too
	pgring_start "$1" "auth_type = trust
$DIFF_CONF" || return 1
	out=$(pq "$(pgring_conn testdb u_trust) sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt host=localhost" \
		query "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
	pgring_stop
	expect_eq "pg_stat_ssl through pgring" "$out" t || return 1
	"sc_$2" "$1"
}

# the fixed scripts (test/integration/diff/*.txt), transaction mode, TLS on
# both sides: PostgreSQL's answers through pgring, message by message
sc_diff_scripts_tls() {
	tls_certs || return 1
	pg_ssl_run diff_tls_run "$1" diff_scripts
}

# a short generated run (DIFF_TLS_RANDOM_SECONDS, 20 s by default) over TLS
sc_diff_random_tls() {
	local DIFF_RANDOM_SECONDS=${DIFF_TLS_RANDOM_SECONDS:-20}
	tls_certs || return 1
	pg_ssl_run diff_tls_run "$1" diff_random
}

SCENARIOS="$SCENARIOS tls_jdbc tls_node diff_scripts_tls diff_random_tls"
