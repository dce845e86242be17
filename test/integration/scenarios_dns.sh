# scenarios_dns.sh - host names resolved without blocking (c-ares on the loop),
# against a real DNS server on loopback: Debian's dnsmasq serving a hosts file
# the scenario edits, on port 53 of an address of its own (resolv.conf has no
# port), which is why these run as root only. c-ares 1.18 (Debian 12) reads
# resolv.conf's timeouts as retrans:MS and retry:N, glibc as timeout:S and
# attempts:N: the files here say both. Sourced by suite.sh.

: "${DNSMASQ:=/usr/sbin/dnsmasq}"
: "${DNS_TOOLS:=$top_srcdir/test/integration/dns_tools.py}"
DNS_ZONE=pgring.test
DNS_ADDR="" DNS_DIR="" DNSMASQ_PID="" DNS_HELPER_PIDS=""

# dns_pick_addr: a 127.53.x.y with nothing on port 53 (so that two runs of the
# suite on one machine do not meet)
dns_pick_addr() {
	local i a
	for i in $(seq 1 50); do
		a=127.53.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		ss -Hlun "( sport = :53 )" 2>/dev/null | grep -q "$a:53" && continue
		DNS_ADDR=$a
		return 0
	done
	return 1
}

# dns_setup [OPTIONS-LINE]: a directory with the hosts file and a resolv.conf
# naming DNS_ADDR, readable by the service user
dns_setup() {
	DNS_DIR=$T_ROOT/dns$PGRING_N.$RANDOM
	mkdir -p "$DNS_DIR" || return 1
	dns_pick_addr || { echo "no free 127.53.x.y:53"; return 1; }
	: >"$DNS_DIR/hosts"
	printf 'nameserver %s\n%s\n' "$DNS_ADDR" "${1:-options timeout:2 attempts:2 retrans:2000 retry:2}" >"$DNS_DIR/resolv.conf"
	own "$DNS_DIR"
	chmod 755 "$DNS_DIR"
}

# dnsmasq_start TTL [SERIAL]: authoritative for DNS_ZONE from the hosts file,
# answers with TTL, every query logged
dnsmasq_start() {
	rm -f "$DNS_DIR/queries.log"
	"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --user=root \
		--listen-address="$DNS_ADDR" --bind-interfaces --port=53 \
		--no-resolv --no-hosts --addn-hosts="$DNS_DIR/hosts" --local=/$DNS_ZONE/ \
		--local-ttl="$1" --auth-ttl="$1" --auth-zone=$DNS_ZONE --auth-soa="${2:-1}" \
		--auth-server=ns.$DNS_ZONE,"$DNS_ADDR" \
		--log-queries --log-facility="$DNS_DIR/queries.log" \
		>"$DNS_DIR/dnsmasq.out" 2>&1 </dev/null &
	DNSMASQ_PID=$!
	track_pid "$DNSMASQ_PID"
	wait_until 10 eval "ss -Hlun '( sport = :53 )' | grep -q '$DNS_ADDR:53'" ||
		{ echo "dnsmasq did not start:"; cat "$DNS_DIR/dnsmasq.out"; return 1; }
}

dnsmasq_stop() { [ -n "$DNSMASQ_PID" ] && stop_pid "$DNSMASQ_PID"; DNSMASQ_PID=""; }

# dns_set NAME ADDR: the hosts file says so, and dnsmasq has re-read it
dns_set() {
	local n
	sed -i "/ $1\$/d" "$DNS_DIR/hosts"
	[ -n "$2" ] && echo "$2 $1" >>"$DNS_DIR/hosts"
	n=$(grep -c "read $DNS_DIR/hosts" "$DNS_DIR/queries.log" 2>/dev/null)
	kill -HUP "$DNSMASQ_PID"
	wait_until 5 eval '[ "$(grep -c "read $DNS_DIR/hosts" "$DNS_DIR/queries.log")" -gt "$n" ]' ||
		{ echo "dnsmasq did not re-read its hosts file"; return 1; }
}

# dns_helper ARGS...: dns_tools.py in the background, up once it says "listening"
dns_helper() {
	local f=$DNS_DIR/helper.$RANDOM.out pid
	/usr/bin/python3 "$DNS_TOOLS" "$@" >"$f" 2>&1 </dev/null &
	pid=$!
	track_pid "$pid"
	DNS_HELPER_PIDS="$DNS_HELPER_PIDS $pid"
	DNS_HELPER_OUT=$f
	wait_until 10 grep -q listening "$f" || { echo "dns_tools.py $1 did not start:"; cat "$f"; return 1; }
}

dns_cleanup() {
	local pid
	dnsmasq_stop
	for pid in $DNS_HELPER_PIDS; do
		stop_pid "$pid" 2
	done
	DNS_HELPER_PIDS=""
}

# dns_pgring BACKEND EXTRA DBLINE...: pgring with resolv_conf pointing at DNS_DIR
dns_pgring() {
	local backend=$1 extra=$2 line
	shift 2
	pgring_write_config "$backend" "auth_type = trust
admin_users = u_trust
resolv_conf = $DNS_DIR/resolv.conf
$extra" "$(default_userlist)" || return 1
	for line in "$@"; do
		sed -i "/^\[databases\]/a $line" "$PGRING_CONF"
	done
	pgring_launch && pgring_wait_up "$backend"
}

# dns_ns_wrapper: a PGRING_BIN that runs pgring in a mount namespace whose
# /etc/resolv.conf is DNS_DIR's, so that a getaddrinfo on the loop (the code
# before dns.c) asks the same server as resolv_conf
dns_ns_wrapper() {
	local w=$DNS_DIR/pgring-ns
	printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount --bind "$0" /etc/resolv.conf && exec "$@"'"'"' %s %s "$@"\n' \
		"$DNS_DIR/resolv.conf" "$PGRING_BIN" >"$w"
	chmod 755 "$w"
	echo "$w"
}

dns_console() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -t -P footer=off -v ON_ERROR_STOP=1 \
		"$(pgring_conn pgbouncer u_trust)" -c "$1" 2>&1
}

# the addr of every server connection of database $1 (SHOW SERVERS), sorted
dns_server_addrs() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off \
		"$(pgring_conn pgbouncer u_trust)" -c "SHOW SERVERS" 2>/dev/null |
		awk -F'|' -v db="$1" 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "addr") a = i; if ($i == "database") d = i }; next }
			$d == db { print $a }' | sort | tr '\n' ' '
}

dns_query() { PQ_TIMEOUT=20 pq "$(pgring_conn "$1" u_trust)" query "${2:-SELECT 1}" 2>&1; }
# dns_query_local: the same over the unix socket, on worker 0 (each worker
# has its own resolver cache: logins that must share one use this)
dns_query_local() { PQ_TIMEOUT=20 pq "$(pgring_local "$1" u_trust)" query "${2:-SELECT 1}" 2>&1; }

# A name resolves through the DNS server resolv_conf names; SHOW DNS_HOSTS and
# DNS_ZONES show it with PgBouncer's columns. Its zone's SOA serial, polled
# every dns_zone_check_period, moves on (dnsmasq adds one at each reload):
# the name is looked up again at once, though its TTL has a minute to go
sc_dns_resolve() { dns_resolve_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_resolve_body() {
	local out serial t0 t
	dns_setup && dnsmasq_start 60 7 || return 1
	dns_set db.$DNS_ZONE 127.0.0.1 || return 1
	dns_helper forward 127.0.0.2 "$PG_PORT" 127.0.0.1 "$PG_PORT" || return 1
	dns_pgring "$1" "dns_zone_check_period = 1
dns_max_ttl = 120" \
		"dnsdb = host=db.$DNS_ZONE port=$PG_PORT dbname=testdb" || return 1
	out=$(dns_query dnsdb "SELECT 6 * 7")
	expect_eq "a query to a database named by host name" "$out" 42 || return 1
	out=$(dns_console "SHOW DNS_HOSTS")
	echo "SHOW DNS_HOSTS: $out"
	echo "$out" | grep -Eq "^db[.]$DNS_ZONE[|](5[0-9]|60)[|]127[.]0[.]0[.]1\$" ||
		{ echo "SHOW DNS_HOSTS lacks db.$DNS_ZONE with its TTL (60) and 127.0.0.1"; return 1; }
	grep -q "query\[A\] db.$DNS_ZONE from" "$DNS_DIR/queries.log" ||
		{ echo "dnsmasq saw no query for db.$DNS_ZONE"; return 1; }
	wait_until 5 eval 'dns_console "SHOW DNS_ZONES" | grep -Eq "^$DNS_ZONE[|][1-9][0-9]*[|]1\$"' ||
		{ echo "SHOW DNS_ZONES: $(dns_console "SHOW DNS_ZONES")"; return 1; }
	serial=$(dns_console "SHOW DNS_ZONES" | cut -d'|' -f2)
	echo "zone serial $serial"
	dns_set db.$DNS_ZONE 127.0.0.2 || return 1
	t0=$(now)
	wait_until 10 eval 'dns_console "SHOW DNS_HOSTS" | grep -q "|127.0.0.2\$"' ||
		{ echo "SHOW DNS_HOSTS after the change: $(dns_console "SHOW DNS_HOSTS")"; return 1; }
	t=$(elapsed "$t0")
	echo "new address after $t s (TTL 60 s, dns_zone_check_period 1 s)"
	awk -v t="$t" 'BEGIN { exit !(t < 5) }' || { echo "took $t s"; return 1; }
	grep -q "zone $DNS_ZONE serial changed: $serial -> " "$PGRING_LOG" ||
		{ echo "no serial change logged"; return 1; }
}

# The address behind the name changes: once its TTL (2 s, under dns_max_ttl)
# is over, the name is looked up again (a connection is on it), new server
# connections go to the new address (a forwarder to the same PostgreSQL),
# and the one a client holds on the old address is closed when released
sc_dns_move() { dns_move_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_move_body() {
	local out t0 t ppid
	dns_setup && dnsmasq_start 2 || return 1
	dns_helper forward 127.0.0.2 "$PG_PORT" 127.0.0.1 "$PG_PORT" || return 1
	dns_set db.$DNS_ZONE 127.0.0.1 || return 1
	dns_pgring "$1" "dns_max_ttl = 60" \
		"dnsdb = host=db.$DNS_ZONE port=$PG_PORT dbname=testdb" || return 1
	# a session that holds its server through the change, then leaves cleanly
	timeout -k 2 30 /usr/bin/python3 "$DNS_TOOLS" probe 127.0.0.1 "$PGRING_PORT" dnsdb u_trust 8 \
		>"$DNS_DIR/probe.out" 2>&1 &
	ppid=$!
	track_pid "$ppid"
	wait_until 5 eval '[ "$(dns_server_addrs dnsdb)" = "127.0.0.1 " ]' ||
		{ echo "servers before the change: $(dns_server_addrs dnsdb)"; return 1; }
	dns_set db.$DNS_ZONE 127.0.0.2 || return 1
	t0=$(now)
	wait_until 10 eval 'dns_console "SHOW DNS_HOSTS" | grep -q "|127.0.0.2\$"' ||
		{ echo "SHOW DNS_HOSTS after the change: $(dns_console "SHOW DNS_HOSTS")"; return 1; }
	t=$(elapsed "$t0")
	echo "new address in the cache after $t s (TTL 2 s)"
	awk -v t="$t" 'BEGIN { exit !(t < 6) }' || { echo "took $t s"; return 1; }
	# both queries on worker 0, so that the second reuses the first's server
	# whatever WORKERS says (each worker has its own pool)
	expect_eq "query after the change" "$(dns_query_local dnsdb)" 1 || return 1
	expect_eq "servers while the session holds the old one" "$(dns_server_addrs dnsdb)" \
		"127.0.0.1 127.0.0.2 " || return 1
	grep -q "conn 1" "$DNS_HELPER_OUT" || { echo "nothing came through 127.0.0.2"; return 1; }
	wait "$ppid"
	echo "the session: $(cat "$DNS_DIR/probe.out")"
	grep -q "^n=" "$DNS_DIR/probe.out" || return 1
	wait_until 5 eval '[ "$(dns_server_addrs dnsdb)" = "127.0.0.2 " ]' ||
		{ echo "servers after the release: $(dns_server_addrs dnsdb)"; return 1; }
	grep -q "closing because: its host name no longer has this address" "$PGRING_LOG" ||
		{ echo "the server on the old address was not closed for it"; return 1; }
	expect_eq "query after the release" "$(dns_query_local dnsdb)" 1 || return 1
	expect_eq "servers at the end" "$(dns_server_addrs dnsdb)" "127.0.0.2 " || return 1
}

# A DNS server that never answers: a login for a name behind it waits (until
# the resolver's timeout), and meanwhile clients of other databases keep
# their latency - F4 measured a 2.7 s freeze of every client
sc_dns_slow() { dns_slow_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_slow_body() {
	local out probe f pid ppid t0 t
	dns_setup "options timeout:3 attempts:1 retrans:3000 retry:1" || return 1
	dns_helper blackhole "$DNS_ADDR" 53 || return 1
	PGRING_BIN=$(dns_ns_wrapper) dns_pgring "$1" "query_wait_timeout = 5
server_login_retry = 30" \
		"slowdb = host=db.$DNS_ZONE port=$PG_PORT dbname=testdb" || return 1
	expect_eq "a query before" "$(dns_query testdb)" 1 || return 1
	f=$DNS_DIR/slow.out
	# the other client is logged in and querying before the lookup starts
	timeout -k 2 20 /usr/bin/python3 "$DNS_TOOLS" probe 127.0.0.1 "$PGRING_PORT" testdb u_trust 5 \
		>"$DNS_DIR/probe.out" 2>&1 &
	ppid=$!
	track_pid "$ppid"
	sleep 0.5
	t0=$(now)
	PQ_TIMEOUT=30 pq "$(pgring_conn slowdb u_trust) connect_timeout=25" query "SELECT 1" >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait "$ppid"
	probe=$(cat "$DNS_DIR/probe.out")
	echo "other client's queries while slowdb resolves: $probe"
	out=$(echo "$probe" | sed -n 's/.*max_ms=\([0-9]*\).*/\1/p')
	[ -n "$out" ] || return 1
	[ "$out" -lt 1000 ] || { echo "a query took $out ms: the loop stalled"; return 1; }
	wait "$pid"
	t=$(elapsed "$t0")
	echo "slowdb client after $t s: $(cat "$f")"
	# it did wait on the dead server (3 s), while the other client went on
	awk -v t="$t" 'BEGIN { exit !(t >= 2.5) }' || { echo "the lookup did not wait"; return 1; }
	grep -q "could not resolve db.$DNS_ZONE" "$PGRING_LOG" ||
		{ echo "no resolver failure logged"; return 1; }
	grep -q "could not resolve db.$DNS_ZONE" "$f" || { echo "the slowdb client did not hear why"; return 1; }
}

# NXDOMAIN is kept for dns_nxdomain_ttl: one query for two logins, another
# once it is over
sc_dns_nxdomain() { dns_nxdomain_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_nxdomain_body() {
	local out n
	dns_setup && dnsmasq_start 2 || return 1
	# a login fails at query_wait_timeout, hearing why; the pool tries again
	# every 0.2 s meanwhile, each try finding the cached NXDOMAIN
	dns_pgring "$1" "dns_nxdomain_ttl = 3
query_wait_timeout = 1
server_login_retry = 0.2" \
		"nxdb = host=nx.$DNS_ZONE port=$PG_PORT dbname=testdb" || return 1
	out=$(dns_query_local nxdb)
	echo "first: $out"
	echo "$out" | grep -q "could not resolve nx.$DNS_ZONE" || return 1
	out=$(dns_query_local nxdb)
	echo "second: $out"
	echo "$out" | grep -q "could not resolve nx.$DNS_ZONE" || return 1
	n=$(grep -c "query\[A\] nx.$DNS_ZONE" "$DNS_DIR/queries.log")
	expect_eq "queries for two logins within dns_nxdomain_ttl" "$n" 1 || return 1
	sleep 3.5
	out=$(dns_query_local nxdb)
	echo "$out" | grep -q "could not resolve nx.$DNS_ZONE" || return 1
	n=$(grep -c "query\[A\] nx.$DNS_ZONE" "$DNS_DIR/queries.log")
	expect_eq "queries once dns_nxdomain_ttl is over" "$n" 2 || return 1
}

# An answer too long for UDP (40 addresses, no EDNS0: dnsmasq sets TC with 29)
# is not taken from UDP: c-ares asks again over
# TCP, a socket the loop watches too (writes by the resolver's tick); the
# cache keeps the first 16
sc_dns_tcp() { dns_tcp_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_tcp_body() {
	local out i
	dns_setup && dnsmasq_start 30 || return 1
	for i in $(seq 1 40); do echo "127.0.1.$i many.$DNS_ZONE"; done >>"$DNS_DIR/hosts"
	dns_set db.$DNS_ZONE 127.0.0.1 || return 1
	dns_pgring "$1" "query_wait_timeout = 2
server_connect_timeout = 1" \
		"manydb = host=many.$DNS_ZONE port=$PG_PORT dbname=testdb" || return 1
	out=$(dns_query manydb)
	echo "a login to manydb: $out"
	out=$(dns_console "SHOW DNS_HOSTS")
	echo "SHOW DNS_HOSTS: $out"
	expect_eq "addresses kept" "$(echo "$out" | grep "^many[.]" | cut -d'|' -f3 | tr ',' '\n' |
		grep -c '^127[.]0[.]1[.]')" 16 || return 1
}

# [peers] named by host name: B forwards the cancels of A's clients to
# peera.pgring.test, which resolves to an address only A listens on (both
# share the port with so_reuseport)
sc_dns_peers() { dns_peers_body "$1"; local rc=$?; dns_cleanup; peers_stop; return $rc; }
dns_peers_body() {
	local backend=$1 extra x f out
	PEER_A_PID="" PEER_B_PID=""
	dns_setup && dnsmasq_start 30 || return 1
	dns_set peera.$DNS_ZONE 127.0.0.3 || return 1
	extra="auth_type = trust
so_reuseport = 1
admin_users = u_trust
resolv_conf = $DNS_DIR/resolv.conf"
	pgring_write_config "$backend" "$extra
peer_id = 1" "$(default_userlist)" || return 1
	PEER_A_DIR=$PGRING_DIR PEER_A_CONF=$PGRING_CONF PEER_A_LOG=$PGRING_LOG PEER_PORT=$PGRING_PORT
	sed -i "s/^listen_addr = .*/&,127.0.0.3/" "$PEER_A_CONF"
	pgring_write_config "$backend" "$extra
peer_id = 2" "$(default_userlist)" || return 1
	PEER_B_DIR=$PGRING_DIR PEER_B_CONF=$PGRING_CONF PEER_B_LOG=$PGRING_LOG
	sed -i "s/^listen_port = .*/listen_port = $PEER_PORT/" "$PEER_B_CONF"
	for f in "$PEER_A_CONF" "$PEER_B_CONF"; do
		printf '[peers]\n1 = host=peera.%s port=%s\n2 = host=%s port=%s\n' \
			"$DNS_ZONE" "$PEER_PORT" "$PEER_B_DIR" "$PEER_PORT" >>"$f"
	done
	PGRING_PORT=$PEER_PORT
	for x in A B; do
		eval "PGRING_DIR=\$PEER_${x}_DIR PGRING_CONF=\$PEER_${x}_CONF PGRING_LOG=\$PEER_${x}_LOG"
		PGRING_ERR=$PGRING_DIR/stderr.log
		pgring_launch || return 1
		eval "PEER_${x}_PID=$PGRING_PID"
		pgring_wait_up "$backend" || return 1
	done
	peer_cancels "$PEER_A_DIR:$PEER_PORT" "$PEER_B_DIR:$PEER_PORT" 5 2 || return 1
	[ "$(grep -c "query\[A\] peera.$DNS_ZONE" "$DNS_DIR/queries.log")" -ge 1 ] ||
		{ echo "B never looked peera.$DNS_ZONE up"; return 1; }
	out=$(peer_console "$PEER_B_DIR" "SHOW DNS_HOSTS")
	echo "B's SHOW DNS_HOSTS: $out"
	echo "$out" | grep -q "^peera.$DNS_ZONE|.*|127.0.0.3\$" || return 1
}

# A host list whose first name is NXDOMAIN: that host is skipped (marked
# down) and the next one serves the login at once, the client hears nothing
# of it; the next name then moves address under target_session_attrs: the
# server on the old address goes (when taken, released, or idle at the
# janitor's tick), the next login uses the new
sc_dns_hostlist() { dns_hostlist_body "$1"; local rc=$?; dns_cleanup; return $rc; }
dns_hostlist_body() {
	local out t0 t
	dns_setup && dnsmasq_start 2 || return 1
	dns_helper forward 127.0.0.2 "$PG_PORT" 127.0.0.1 "$PG_PORT" || return 1
	dns_set db.$DNS_ZONE 127.0.0.1 || return 1
	dns_pgring "$1" "dns_max_ttl = 60
server_login_retry = 10
query_wait_timeout = 8" \
		"hl = host=nx.$DNS_ZONE,db.$DNS_ZONE port=$PG_PORT dbname=testdb target_session_attrs=read-write" ||
		return 1
	t0=$(now)
	expect_eq "a query, the first host NXDOMAIN" "$(dns_query hl)" 1 || return 1
	t=$(elapsed "$t0")
	echo "first login after $t s"
	awk -v t="$t" 'BEGIN { exit !(t < 3) }' || { echo "waited for server_login_retry"; return 1; }
	grep -q "host nx.$DNS_ZONE:$PG_PORT is down" "$PGRING_LOG" || { echo "nx not marked down"; return 1; }
	expect_eq "servers before the move" "$(dns_server_addrs hl)" "127.0.0.1 " || return 1
	dns_set db.$DNS_ZONE 127.0.0.2 || return 1
	wait_until 10 eval 'dns_console "SHOW DNS_HOSTS" | grep -q "^db.*|127.0.0.2\$"' ||
		{ echo "SHOW DNS_HOSTS after the move: $(dns_console "SHOW DNS_HOSTS")"; return 1; }
	expect_eq "a query after the move" "$(dns_query hl)" 1 || return 1
	# with workers > 1 the first server may be idle on another worker than
	# this query's: that worker's janitor closes it once its own resolver
	# has the new address (within a tick of the wait above)
	wait_until 3 eval '[ "$(dns_server_addrs hl)" = "127.0.0.2 " ]'
	expect_eq "servers after the move" "$(dns_server_addrs hl)" "127.0.0.2 " || return 1
	grep -q "conn 1" "$DNS_HELPER_OUT" || { echo "nothing came through 127.0.0.2"; return 1; }
}

SCENARIOS_ROOT_ONLY="$SCENARIOS_ROOT_ONLY dns_resolve dns_move dns_slow dns_nxdomain dns_peers dns_tcp
	dns_hostlist"
