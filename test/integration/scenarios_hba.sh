# scenarios_hba.sh - auth_type = hba: rules by address, database, user and
# @file, first match wins, the methods each rule names (checked on the wire),
# reject and no-match in PostgreSQL's words, peer on the unix socket with and
# without an ident map (throwaway OS users), a bad file at start and at
# reload; and SASLprep of non-ASCII passwords before SCRAM, against what
# PostgreSQL itself accepts.

# auth_request HOST PORT USER DB: the first answer to a startup packet, as
# "auth N" (3 password, 5 md5, 10 SASL, 0 trust) or "error SQLSTATE message"
auth_request() {
	/usr/bin/python3 - "$@" <<-'EOF'
	import socket, struct, sys
	host, port, user, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
	if host.startswith("/"):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect("%s/.s.PGSQL.%d" % (host, port))
	else:
	    s = socket.create_connection((host, port))
	s.settimeout(10)
	body = struct.pack("!I", 196608)
	for k, v in (("user", user), ("database", db)):
	    body += k.encode() + b"\0" + v.encode() + b"\0"
	body += b"\0"
	s.sendall(struct.pack("!I", len(body) + 4) + body)
	def read(n):
	    b = b""
	    while len(b) < n:
	        c = s.recv(n - len(b))
	        if not c:
	            sys.exit("closed")
	        b += c
	    return b
	t = read(1)
	n = struct.unpack("!I", read(4))[0]
	m = read(n - 4)
	if t == b"R":
	    print("auth %d" % struct.unpack("!I", m[:4])[0])
	elif t == b"E":
	    f = dict((x[:1], x[1:].decode()) for x in m.split(b"\0") if x)
	    print("error %s %s" % (f.get(b"C"), f.get(b"M")))
	else:
	    print("message %r" % t)
	EOF
}

# hba_dir NAME: a fresh directory for a scenario's hba and ident files
hba_dir() {
	local d=$T_ROOT/hba-$1-$RANDOM
	mkdir -p "$d" && chmod 755 "$d" && echo "$d"
}

# expect_auth WHAT HOST USER DB WANT: auth_request through pgring says WANT
expect_auth() {
	local out
	out=$(auth_request "$2" "$PGRING_PORT" "$3" "$4" 2>&1)
	expect_eq "$1" "$out" "$5"
}

# refused_with USER DB PASSWORD HOST MESSAGE: libpq's login fails with MESSAGE
refused_with() {
	local out
	out=$(pq "host=$4 port=$PGRING_PORT dbname=$2 user=$1 password=$3 connect_timeout=5" \
		query "SELECT 1" 2>&1) && { echo "$1@$2 via $4: logged in, want '$5'"; return 1; }
	echo "$out" | grep -qF "$5" || { echo "$1@$2 via $4: got '$out', want '$5'"; return 1; }
}

hba_rules_file() {
	cat <<-EOF
	# by database: testdb_p1 is refused to everyone
	host testdb_p1 all all reject
	# hostssl never matches a plaintext client
	hostssl all all all trust
	# by address: u_md5 from 127.0.0.1 (a mask column), not from ::1
	host all u_md5 ::1/128 reject
	host all u_md5 127.0.0.1 255.255.255.255 md5
	# a method each: SCRAM for testdb, password for testdb_unix
	host testdb u_scram 127.0.0.0/8 scram-sha-256
	host testdb_unix u_scram 127.0.0.0/8 password
	# by user, from an @file (relative to this file's directory)
	host all @trusted.txt 127.0.0.1/32 trust
	# first match wins: the lines above decide for these users
	host all u_trust,u_scram,u_md5 all reject
	host testdb cert_user 127.0.0.1/32 cert
	host testdb tcp_peer 127.0.0.1/32 peer
	local testdb u_md5 md5
	EOF
}

sc_hba_rules() {
	local d c out v6=0
	d=$(hba_dir rules) || return 1
	hba_rules_file >"$d/hba.conf"
	printf 'u_trust\n' >"$d/trusted.txt"
	pgring_start "$1" "auth_type = hba
auth_hba_file = $d/hba.conf
admin_users = u_md5" || return 1
	grep -q "auth_hba_file.*not supported" "$PGRING_LOG" "$PGRING_ERR" && { echo "still warned"; return 1; }
	# the method each rule names, on the wire
	expect_auth "u_md5 from 127.0.0.1" 127.0.0.1 u_md5 testdb "auth 5" || return 1
	expect_auth "u_scram to testdb" 127.0.0.1 u_scram testdb "auth 10" || return 1
	expect_auth "u_scram to testdb_unix" 127.0.0.1 u_scram testdb_unix "auth 3" || return 1
	expect_auth "u_md5 over the unix socket" "$PGRING_DIR" u_md5 testdb "auth 5" || return 1
	# and each logs in (password, md5, SCRAM, trust from the @file)
	login_ok testdb u_md5 pw_md5 || return 1
	login_ok testdb u_scram pw_scram || return 1
	login_ok testdb_unix u_scram pw_scram || return 1
	login_ok testdb u_trust wrong-and-ignored || return 1
	refused_with u_scram testdb nope 127.0.0.1 'password authentication failed for user "u_scram"' || return 1
	refused_with u_md5 testdb nope 127.0.0.1 'password authentication failed for user "u_md5"' || return 1
	# by database
	refused_with u_trust testdb_p1 x 127.0.0.1 \
		'pg_hba.conf rejects connection for host "127.0.0.1", user "u_trust", database "testdb_p1", no encryption' || return 1
	# by address
	if has_ipv6_loopback; then
		v6=1
		refused_with u_md5 testdb pw_md5 ::1 \
			'pg_hba.conf rejects connection for host "::1", user "u_md5", database "testdb", no encryption' || return 1
		# u_trust from ::1: the @file line is for 127.0.0.1; the reject line decides
		refused_with u_trust testdb x ::1 'pg_hba.conf rejects connection for host "::1"' || return 1
	fi
	echo "IPv6 loopback: $v6"
	# no line matches: PostgreSQL's words, compared with PostgreSQL's own
	out=$(pq "host=$PG_SOCKDIR port=$PG_PORT dbname=testdb user=nobody" query "SELECT 1" 2>&1)
	echo "PostgreSQL says: $out"
	echo "$out" | grep -qF 'no pg_hba.conf entry for host "[local]", user "nobody", database "testdb", no encryption' ||
		{ echo "PostgreSQL's message changed?"; return 1; }
	refused_with nobody testdb x "$PGRING_DIR" \
		'no pg_hba.conf entry for host "[local]", user "nobody", database "testdb", no encryption' || return 1
	refused_with stranger postgres x 127.0.0.1 \
		'no pg_hba.conf entry for host "127.0.0.1", user "stranger", database "postgres", no encryption' || return 1
	# cert over plaintext: refused (scenarios_cert.sh has the TLS cases); peer over TCP: refused
	refused_with cert_user testdb x 127.0.0.1 \
		"connection requires a valid client certificate" || return 1
	refused_with tcp_peer testdb x 127.0.0.1 'peer authentication is only supported on local sockets' || return 1
	grep -q 'login refused by the hba rule at .*/hba.conf:2 (reject)' "$PGRING_LOG" || { pgring_dump_logs; return 1; }
	# SHOW CONFIG shows the keys
	out=$(timeout 20 "$PG_BINDIR/psql" -X -A -t "$(pgring_conn pgbouncer u_md5 pw_md5)" -c "SHOW CONFIG" 2>&1)
	echo "$out" | grep -q "^auth_hba_file|$d/hba.conf|" || { echo "SHOW CONFIG: $out"; return 1; }
	echo "$out" | grep -q "^auth_type|hba|" || { echo "SHOW CONFIG: $out"; return 1; }
}

# a bad line at start is fatal and names file:line
sc_hba_bad_at_start() {
	local d
	d=$(hba_dir bad) || return 1
	printf 'local all all trust\nhost all all 127.0.0.1/32 md5\nhost all all 10.0.0.0/33 md5\n' >"$d/hba.conf"
	pgring_write_config "$1" "auth_type = hba
auth_hba_file = $d/hba.conf" "$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval "! alive $PGRING_PID" || { echo "pgring started on a bad hba file"; return 1; }
	PGRING_PID=""
	grep -q "$d/hba.conf:3: invalid CIDR mask in address \"10.0.0.0/33\"" "$PGRING_ERR" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
	# so is a missing one, and auth_type = hba without auth_hba_file
	pgring_write_config "$1" "auth_type = hba
auth_hba_file = $d/none.conf" "$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval "! alive $PGRING_PID" || { echo "pgring started without its hba file"; return 1; }
	PGRING_PID=""
	grep -q "$d/none.conf: could not read: No such file or directory" "$PGRING_ERR" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
}

# at reload, a bad file leaves the running rules in force and the log says so;
# a good one replaces them
sc_hba_bad_at_reload() {
	local d out
	d=$(hba_dir reload) || return 1
	printf 'local all all md5\nhost all all all md5\n' >"$d/hba.conf"
	printf 'u_md5\n' >"$d/users.txt"
	admin_start "$1" "auth_type = hba
auth_hba_file = $d/hba.conf" || return 1
	login_ok testdb u_md5 pw_md5 || return 1
	printf 'host all @users.txt all reject\nhost all all all md5 bogus=1\n' >"$d/hba.conf"
	pgring_reload
	wait_until 10 grep -q "hba reload failed, keeping the old hba and ident rules: $d/hba.conf:2: authentication option \"bogus\" is not supported" "$PGRING_LOG" ||
		{ pgring_dump_logs; return 1; }
	login_ok testdb u_md5 pw_md5 || return 1
	# SET reads the file it names at once: a bad one is refused
	out=$(console "SET auth_hba_file = '$d/none.conf'" 2>&1) && { echo "SET took a missing file: $out"; return 1; }
	echo "$out" | grep -qF "$d/none.conf: could not read: No such file or directory" || { echo "$out"; return 1; }
	login_ok testdb u_md5 pw_md5 || return 1
	printf 'host all @users.txt all reject\nhost all all all md5\n' >"$d/hba.conf"
	console "RELOAD" >/dev/null || return 1
	refused_with u_md5 testdb pw_md5 127.0.0.1 'pg_hba.conf rejects connection' || return 1
	login_ok testdb u_scram pw_scram
}

# physical replication matches the keyword replication and nothing else, as
# in PostgreSQL (repl_start and repl_conn: scenarios_startup.sh)
sc_hba_replication() {
	local d out
	d=$(hba_dir repl) || return 1
	printf 'host replication %s 127.0.0.1/32 md5\nhost testdb %s all reject\nhost all all all md5\n' \
		"$PG_SUPERUSER" "$PG_SUPERUSER" >"$d/hba.conf"
	repl_start "$1" "auth_type = hba
auth_hba_file = $d/hba.conf" || return 1
	out=$(pq "$(repl_conn replication true)" query "IDENTIFY_SYSTEM" 2>&1)
	expect_eq "IDENTIFY_SYSTEM systemid" "${out%%$'\t'*}" \
		"$(pg_sql "SELECT system_identifier FROM pg_control_system()")" || { echo "$out"; return 1; }
	refused_with "$PG_SUPERUSER" testdb "$REPL_PW" 127.0.0.1 \
		"pg_hba.conf rejects connection for host \"127.0.0.1\", user \"$PG_SUPERUSER\", database \"testdb\"" || return 1
	login_ok testdb_unix "$PG_SUPERUSER" "$REPL_PW" || return 1
	# without the replication line, "all" does not let it in
	printf 'host all all all md5\n' >"$d/hba.conf"
	console "RELOAD" >/dev/null || return 1
	out=$(pq "$(repl_conn replication true)" query "IDENTIFY_SYSTEM" 2>&1) && { echo "let in: $out"; return 1; }
	echo "$out" | grep -qF "no pg_hba.conf entry for replication connection from host \"127.0.0.1\", user \"$PG_SUPERUSER\", no encryption" ||
		{ echo "$out"; return 1; }
}

# peer on the unix socket, throwaway OS users, an ident map with a regex
PEER_USERS=""

peer_cleanup() {
	local u
	for u in $PEER_USERS; do
		userdel "$u" >/dev/null 2>&1
	done
	PEER_USERS=""
}

# as_os_user USER ROLE DB: a query through pgring's unix socket run as USER
as_os_user() {
	timeout -k 2 30 setpriv --reuid="$1" --regid="$1" --clear-groups -- \
		"$T_ROOT/pqtool-bin" "host=$PGRING_DIR port=$PGRING_PORT dbname=$3 user=$2" \
		query "SELECT current_user" 2>&1
}

sc_hba_peer() {
	local d out rc=0 a=pgrpeer$$a b=pgrpeer$$b
	if [ "$(id -u)" != 0 ]; then
		SKIP_REASON="peer needs root to make throwaway OS users"
		return 77
	fi
	d=$(hba_dir peer) || return 1
	useradd -M -r -s /usr/sbin/nologin "$a" && PEER_USERS="$a" || return 1
	useradd -M -r -s /usr/sbin/nologin "$b" && PEER_USERS="$a $b" || { peer_cleanup; return 1; }
	cp "$PQTOOL" "$T_ROOT/pqtool-bin" && chmod 755 "$T_ROOT/pqtool-bin" || { peer_cleanup; return 1; }
	cat >"$d/hba.conf" <<-EOF
	local forced $a peer
	local forced app_role peer map=ops
	local forced all peer map=rx
	EOF
	cat >"$d/ident.conf" <<-EOF
	# MAP SYSTEM-USER PG-USER
	ops $b app_role
	rx /^(pgrpeer[0-9]+)a\$ \\1_role
	rx $b pgr_ghost
	EOF
	# peer, like trust, wants the role known (PgBouncer too): pgr_ghost is not
	pgring_write_config "$1" "auth_type = hba
auth_hba_file = $d/hba.conf
auth_ident_file = $d/ident.conf" "$(default_userlist; printf '"%s" ""\n' "$a" app_role "${a%a}_role")" ||
		{ peer_cleanup; return 1; }
	# the pool logs in to PostgreSQL as u_trust whatever the role
	sed -i "/^\[databases\]/a forced = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust" "$PGRING_CONF"
	{ pgring_launch && pgring_wait_up "$1"; } || { peer_cleanup; return 1; }
	# the OS user is the role
	out=$(as_os_user "$a" "$a" forced)
	expect_eq "$a as $a" "$out" u_trust || rc=1
	# another OS user, or root, is not
	for u in "$b" root; do
		out=$(as_os_user "$u" "$a" forced)
		echo "$out" | grep -qF "Peer authentication failed for user \"$a\"" ||
			{ echo "$u as $a: $out"; rc=1; }
	done
	# through the ident map: b may be app_role, a may not
	out=$(as_os_user "$b" app_role forced)
	expect_eq "$b as app_role (map ops)" "$out" u_trust || rc=1
	out=$(as_os_user "$a" app_role forced)
	echo "$out" | grep -qF 'Peer authentication failed for user "app_role"' || { echo "$a as app_role: $out"; rc=1; }
	# a regex with \1: a is ${a%a}_role, b matches no line
	out=$(as_os_user "$a" "${a%a}_role" forced)
	expect_eq "$a as ${a%a}_role (map rx)" "$out" u_trust || rc=1
	out=$(as_os_user "$b" "${b%b}_role" forced)
	echo "$out" | grep -qF "Peer authentication failed for user \"${b%b}_role\"" || { echo "$b: $out"; rc=1; }
	# the map lets b be pgr_ghost, but no auth_file knows that role
	out=$(as_os_user "$b" pgr_ghost forced)
	echo "$out" | grep -qF 'Peer authentication failed for user "pgr_ghost"' || { echo "$b as pgr_ghost: $out"; rc=1; }
	grep -q "no such user: pgr_ghost" "$PGRING_LOG" || { echo "no unknown-role line"; rc=1; }
	grep -q "peer authentication failed: no match in usermap \"ops\" for user \"app_role\" authenticated as \"$a\"" \
		"$PGRING_LOG" || { pgring_dump_logs; rc=1; }
	peer_cleanup
	return $rc
}

# SASLprep: a password with non-ASCII spaces, a soft hyphen, a compatibility
# character and a combining accent, set on a SCRAM role in PostgreSQL and
# written plaintext in auth_file; through pgring and straight to PostgreSQL
# the same spellings log in and the same ones fail
SASL_PW=$(printf 'pass\xc2\xa0word\xe3\x80\x80caf\x65\xcc\x81\xc2\xad\xe2\x85\xa8')	# "pass word café" + SHY + Ⅸ
SASL_PW_PREPPED=$(printf 'pass word caf\xc3\xa9IX')

# (pgring's pool logs in to PostgreSQL over TCP, where PostgreSQL asks SCRAM:
# its keys come from the plaintext password too)
sasl_login() {	# HOST PORT DB PASSWORD: current_user, or the error
	pq "host=$1 port=$2 dbname=$3 user=u_sasl password='$4' connect_timeout=5" \
		query "SELECT current_user" 2>&1
}

sc_hba_saslprep() {
	local out pw auth
	pg_sql "SET password_encryption = 'scram-sha-256'" \
		"DROP ROLE IF EXISTS u_sasl" "CREATE ROLE u_sasl LOGIN PASSWORD '$SASL_PW'" >/dev/null || return 1
	# md5 between client and pgring takes the password as typed (no SASLprep
	# there, as in PostgreSQL): the run isolates pgring's own SCRAM login to
	# PostgreSQL from the plaintext password
	for auth in scram-sha-256 hba md5; do
		pgring_stop
		local d
		d=$(hba_dir sasl) || return 1
		printf 'host all all all scram-sha-256\n' >"$d/hba.conf"
		pgring_start "$1" "auth_type = $auth
auth_hba_file = $d/hba.conf" "$(default_userlist; printf '"u_sasl" "%s"\n' "$SASL_PW")" || return 1
		for pw in "$SASL_PW" "$SASL_PW_PREPPED"; do
			[ "$auth" = md5 ] && [ "$pw" = "$SASL_PW_PREPPED" ] && continue
			out=$(sasl_login 127.0.0.1 "$PG_PORT" testdb "$pw")
			expect_eq "PostgreSQL directly (SCRAM)" "$out" u_sasl || return 1
			out=$(sasl_login 127.0.0.1 "$PGRING_PORT" testdb "$pw")
			expect_eq "through pgring (auth_type = $auth)" "$out" u_sasl || return 1
		done
		# a different password fails on both
		out=$(sasl_login 127.0.0.1 "$PG_PORT" testdb "pass word cafeIX")
		echo "$out" | grep -qF 'password authentication failed for user "u_sasl"' || { echo "PostgreSQL: $out"; return 1; }
		out=$(sasl_login 127.0.0.1 "$PGRING_PORT" testdb "pass word cafeIX")
		echo "$out" | grep -qF 'password authentication failed for user "u_sasl"' || { echo "pgring: $out"; return 1; }
	done
}

SCENARIOS="$SCENARIOS hba_rules hba_bad_at_start hba_bad_at_reload hba_replication hba_peer hba_saslprep"
