# scenarios_hosts.sh - several hosts per database: round-robin over a primary
# and two streaming replicas, a host that stops and comes back, and a
# switchover that target_session_attrs follows.  The three clusters are made
# once per backend (pg_basebackup of lib.sh's PostgreSQL, then of that copy)
# and shared by the scenarios; the failover, which changes the topology, ends
# by stopping them.  Sourced by suite.sh after scenarios.sh.

HOSTS_UP=""		# the backend the clusters were made for
declare -A HOSTS_PORT HOSTS_DATA
declare -A HOSTS_FRONT	# where pgring reaches a node, when not on its own port

# hosts_pg NODE ARGS...: pg_ctl on a node of the cluster
hosts_pg() {
	local n=$1
	shift
	as_run_user "$PG_BINDIR/pg_ctl" -D "${HOSTS_DATA[$n]}" -l "$T_ROOT/hosts/$n.log" -w -t 60 "$@" \
		>>"$T_ROOT/hosts/pg_ctl.log" 2>&1
}

# hosts_sql NODE SQL...: statements as superuser straight on a node (testdb)
hosts_sql() {
	local n=$1
	shift
	pq "host=127.0.0.1 port=${HOSTS_PORT[$n]} dbname=testdb user=$PG_SUPERUSER" query "$@"
}

# hosts_clone NODE FROM_PORT [-R]: a base backup of the server on FROM_PORT,
# started on a port of its own (-R: as a streaming replica of it)
hosts_clone() {
	local n=$1 from=$2 dir=$T_ROOT/hosts/$1
	HOSTS_DATA[$n]=$dir
	HOSTS_PORT[$n]=$(free_port) || return 1
	rm -rf "$dir"
	timeout 120 "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$from" -U "$PG_SUPERUSER" -D "$dir" \
		-X stream -c fast --no-sync ${3:-} >"$T_ROOT/hosts/$n.basebackup.log" 2>&1 ||
		{ echo "pg_basebackup of $n:"; cat "$T_ROOT/hosts/$n.basebackup.log"; return 1; }
	printf "port = %s\nunix_socket_directories = '%s'\n" "${HOSTS_PORT[$n]}" "$dir" \
		>>"$dir/postgresql.conf"
	chmod 700 "$dir"
	own "$dir"
	hosts_pg "$n" start || { echo "$n did not start"; cat "$T_ROOT/hosts/$n.log"; return 1; }
}

hosts_stop_all() {
	local n
	for n in p r1 r2; do
		[ -f "${HOSTS_DATA[$n]:-/nonexistent}/postmaster.pid" ] && hosts_pg "$n" -m immediate stop
	done
	HOSTS_UP=""
}

# A primary p (a copy of lib.sh's server) with replicas r1 and r2 streaming from it
hosts_cluster() {
	[ "$HOSTS_UP" = "$1" ] && return 0
	hosts_stop_all
	mkdir -p "$T_ROOT/hosts" && own "$T_ROOT/hosts" || return 1
	hosts_clone p "$PG_PORT" || return 1
	hosts_sql p "CREATE TABLE IF NOT EXISTS hosts_t (x int)" >/dev/null || return 1
	hosts_clone r1 "${HOSTS_PORT[p]}" -R || return 1
	hosts_clone r2 "${HOSTS_PORT[p]}" -R || return 1
	expect_eq "r1 in recovery" "$(hosts_sql r1 "SELECT pg_is_in_recovery()")" t || return 1
	HOSTS_UP=$1
}

# The three nodes as one [databases] entry, as user PG_SUPERUSER (trust on 127.0.0.1)
hosts_entry() {	# NAME EXTRA
	local f=(${HOSTS_FRONT[p]:-${HOSTS_PORT[p]}} ${HOSTS_FRONT[r1]:-${HOSTS_PORT[r1]}}
		 ${HOSTS_FRONT[r2]:-${HOSTS_PORT[r2]}})
	echo "$1 = host=127.0.0.1,127.0.0.1,127.0.0.1 port=${f[0]},${f[1]},${f[2]} dbname=testdb user=$PG_SUPERUSER application_name=$1 $2"
}

hosts_start_pgring() {	# BACKEND ENTRY...
	local b=$1 e
	shift
	pgring_write_config "$b" "auth_type = trust
admin_users = u_trust
pool_mode = transaction
default_pool_size = 20
server_login_retry = 1
server_check_delay = ${HOSTS_CHECK_DELAY:-1}
server_check_query = SELECT 1
server_connect_timeout = 1
query_wait_timeout = 20" "$(default_userlist)" || return 1
	for e in "$@"; do sed -i "/^\[databases\]/a $e" "$PGRING_CONF"; done
	pgring_launch || return 1
	pgring_wait_up "$b"
}

# hosts_count NODE APPNAME: its server connections from pgring's entry APPNAME
hosts_count() {
	hosts_sql "$1" "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$2'"
}

# hosts_burst N DB SQL: N clients at once, each running SQL; every answer in
# $T_ROOT/hosts/burst.N; fails (saying which) unless all of them answered.
# The clients of these scenarios use the unix socket: what pgring learns of a
# host (down, primary, read-only) is its worker's, and they test what one
# worker does with it across its pools and clients.
hosts_burst() {
	local n=$1 db=$2 sql=$3 i pids="" rc=0
	for i in $(seq 1 "$n"); do
		PQ_TIMEOUT=30 pq "$(pgring_local "$db" u_trust)" query "$sql" >"$T_ROOT/hosts/burst.$i" 2>&1 &
		pids="$pids $!"
	done
	i=0
	for p in $pids; do
		i=$((i + 1))
		wait "$p" || { echo "client $i of $n failed: $(cat "$T_ROOT/hosts/burst.$i")"; rc=1; }
	done
	return $rc
}

hosts_console() {
	timeout -k 2 20 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off -v ON_ERROR_STOP=1 \
		"$(pgring_conn pgbouncer u_trust)" -c "$1" 2>&1
}

# Round-robin spreads new server connections over the three nodes; a node
# that stops is skipped (one log line, no client error) and used again once
# it is back; SHOW SERVERS and SHOW DATABASES say which host is which.
hosts_balance() {
	local n out down bh t0
	hosts_cluster "$1" || return 1
	# a host that accepts and never answers, first of a load_balance_hosts = disable list
	bh=$(free_port) || return 1
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
while True:
    held.append(s.accept()[0])' "$bh" &
	HOSTS_SILENT=$!
	track_pid $HOSTS_SILENT
	wait_until 5 listening "$bh" || { echo "the silent host did not listen"; return 1; }
	hosts_start_pgring "$1" "$(hosts_entry rr)" "bh = host=127.0.0.1,127.0.0.1 port=$bh,${HOSTS_PORT[p]} dbname=testdb user=$PG_SUPERUSER load_balance_hosts=disable" || return 1

	# the silent host times out (server_connect_timeout = 1): the client is
	# served by the next one, without an error, and stays there
	t0=$(now)
	out=$(PQ_TIMEOUT=10 pq "$(pgring_local bh u_trust)" query "SELECT inet_server_port()" 2>&1)
	expect_eq "bh, past the silent host" "$out" "${HOSTS_PORT[p]}" || { pgring_dump_logs; return 1; }
	echo "served past a silent host in $(elapsed "$t0") s"
	awk -v s="$(elapsed "$t0")" 'BEGIN { exit !(s < 3) }' || { echo "too slow"; return 1; }
	grep -q "host 127.0.0.1:$bh is down (server_connect_timeout)" "$PGRING_LOG" ||
		{ echo "no 'is down (server_connect_timeout)' line"; pgring_dump_logs; return 1; }
	out=$(hosts_console "SHOW DATABASES" | awk -F'|' 'NR > 1 && $1 == "bh" { print $11 }')
	expect_eq "SHOW DATABASES bh load_balance_hosts" "$out" disable || return 1

	hosts_burst 6 rr "SELECT pg_sleep(1)" || return 1
	for n in p r1 r2; do
		out=$(hosts_count "$n" rr)
		[ "$out" -ge 2 ] 2>/dev/null || { echo "node $n has $out of rr's server connections, want 2 or more"; return 1; }
	done
	out=$(hosts_console "SHOW SERVERS" | awk -F'|' 'NR > 1 && $3 == "rr" { print $7 }' | sort -un | tr '\n' ' ')
	expect_eq "SHOW SERVERS ports" "$out" "$(printf '%s\n' "${HOSTS_PORT[@]}" | sort -n | tr '\n' ' ')" || return 1
	out=$(hosts_console "SHOW DATABASES" | awk -F'|' 'NR > 1 && $1 == "rr" { print $2 "|" $3 "|" $11 }')
	expect_eq "SHOW DATABASES rr host|port|load_balance_hosts" "$out" \
		"127.0.0.1,127.0.0.1,127.0.0.1|${HOSTS_PORT[p]}|round-robin" || return 1

	# r2 stops mid-run: every client is served, by the others
	hosts_pg r2 -m fast stop || { echo "r2 did not stop"; return 1; }
	hosts_burst 9 rr "SELECT pg_sleep(0.5)" || { pgring_dump_logs; return 1; }
	hosts_burst 12 rr "SELECT pg_sleep(0.5)" || { pgring_dump_logs; return 1; }
	down=$(grep -c "host 127.0.0.1:${HOSTS_PORT[r2]} is down" "$PGRING_LOG")
	expect_eq "'is down' log lines for r2 (once per change of state)" "$down" 1 || { pgring_dump_logs; return 1; }

	# r2 back: after its back-off (server_login_retry = 1 caps it) it serves again
	hosts_pg r2 start || { echo "r2 did not start again"; return 1; }
	sleep 1.2
	hosts_burst 18 rr "SELECT pg_sleep(0.5)" || { pgring_dump_logs; return 1; }
	grep -q "host 127.0.0.1:${HOSTS_PORT[r2]} is up again" "$PGRING_LOG" ||
		{ echo "no 'is up again' line for r2"; pgring_dump_logs; return 1; }
	out=$(hosts_count r2 rr)
	[ "$out" -ge 1 ] 2>/dev/null || { echo "r2 has $out of rr's server connections after coming back"; return 1; }
	echo "r2 serves again: $out connection(s)"
}

hosts_none_on_r1() { [ "$(hosts_count r1 "$1")" = 0 ]; }

# hosts_ro_on_r2 PORT DIR DB WHAT: N read-only queries through the pgring of
# PORT and DIR all answered by r2
hosts_ro_on_r2() {
	local port=$1 dir=$2 db=$3 what=$4 out
	PGRING_PORT=$port PGRING_DIR=$dir hosts_burst 6 "$db" "SELECT pg_is_in_recovery(), inet_server_port()" || return 1
	out=$(cat "$T_ROOT"/hosts/burst.[1-6] | sort -u)
	expect_eq "$what" "$out" "$(printf "t\t%s" "${HOSTS_PORT[r2]}")"
}

# target_session_attrs: read-write reaches the primary only, read-only the
# replicas only; after `pg_ctl promote` of r1 and a stop of p, writes reach
# r1 within server_check_delay + a few seconds, and read-only never lands on
# r1, the new primary: in an instance where the read-write entry met r1 as
# primary, its idle read-only servers there are dropped at once (no check
# query runs: server_check_delay = 30); in another instance (ro only)
# server_check_query finds them out after server_check_delay = 1.
hosts_failover() {
	local i out t0 secs ok="" ro_port ro_dir d
	hosts_cluster "$1" || return 1
	hosts_start_pgring "$1" "$(hosts_entry ro2 target_session_attrs=read-only)" || return 1
	ro_port=$PGRING_PORT ro_dir=$PGRING_DIR HOSTS_RO_PID=$PGRING_PID
	# no server_check_query within the test here: only what the read-write
	# entry learns of r1 can keep the read-only entry off it
	HOSTS_CHECK_DELAY=30 hosts_start_pgring "$1" "$(hosts_entry rw target_session_attrs=read-write)" \
		"$(hosts_entry ro target_session_attrs=read-only)" || return 1
	hosts_burst 6 rw "SELECT pg_is_in_recovery(), inet_server_port()" || { pgring_dump_logs; return 1; }
	out=$(cat "$T_ROOT"/hosts/burst.[1-6] | sort -u)
	expect_eq "read-write before the switchover" "$out" "$(printf "f\t%s" "${HOSTS_PORT[p]}")" || return 1
	for i in ro ro2; do
		out=$PGRING_PORT d=$PGRING_DIR
		[ $i = ro2 ] && out=$ro_port d=$ro_dir
		PGRING_PORT=$out PGRING_DIR=$d hosts_burst 6 $i "SELECT pg_is_in_recovery(), pg_sleep(0.3)" || { pgring_dump_logs; return 1; }
		out=$(cat "$T_ROOT"/hosts/burst.[1-6] | sort -u)
		expect_eq "$i before the switchover" "$out" "$(printf "t\t")" || return 1
		[ "$(hosts_count r1 $i)" -ge 1 ] || { echo "$i has no server on r1"; return 1; }
	done

	t0=$(now)
	hosts_pg r1 promote || { echo "promote failed"; return 1; }
	hosts_pg p -m fast stop || { echo "p did not stop"; return 1; }
	for i in $(seq 1 150); do
		out=$(PQ_TIMEOUT=10 pq "$(pgring_local rw u_trust)" query \
			"INSERT INTO hosts_t VALUES ($i) RETURNING inet_server_port()" 2>&1)
		[ "$out" = "${HOSTS_PORT[r1]}" ] && { ok=1; break; }
		sleep 0.1
	done
	secs=$(elapsed "$t0")
	[ -n "$ok" ] || { echo "no write reached r1 within 15 s: $out"; pgring_dump_logs; return 1; }
	echo "failover: first write through pgring on the new primary $secs s after pg_ctl promote"
	awk -v s="$secs" 'BEGIN { exit !(s <= 5) }' || { echo "took $secs s, over 5 s"; return 1; }
	expect_eq "the write is on r1" "$(hosts_sql r1 "SELECT count(*) FROM hosts_t WHERE x = $i")" 1 ||
		return 1

	for i in 1 2 3; do
		hosts_ro_on_r2 "$PGRING_PORT" "$PGRING_DIR" ro "ro after the switchover (round $i)" ||
			{ pgring_dump_logs; return 1; }
	done
	# the rest of its idle servers there go at the janitor's next round
	wait_until 3 hosts_none_on_r1 ro || { echo "ro servers left on r1: $(hosts_count r1 ro)"; return 1; }
	sleep 1.2	# server_check_delay
	for i in 1 2 3; do
		hosts_ro_on_r2 "$ro_port" "$ro_dir" ro2 "ro2 after the switchover (round $i)" ||
			{ pgring_dump_logs; return 1; }
	done
	wait_until 3 hosts_none_on_r1 ro2 || { echo "ro2 servers left on r1: $(hosts_count r1 ro2)"; return 1; }
}

# The silent host and the second instance go whatever the outcome; the
# clusters after a failover too (the next backend gets fresh ones).
sc_hosts_balance() {
	local rc
	HOSTS_SILENT=""
	hosts_balance "$1"
	rc=$?
	[ -n "$HOSTS_SILENT" ] && { kill -KILL "$HOSTS_SILENT"; wait "$HOSTS_SILENT"; } 2>/dev/null
	return $rc
}

sc_hosts_failover() {
	local rc
	HOSTS_RO_PID=""
	hosts_failover "$1"
	rc=$?
	[ -n "$HOSTS_RO_PID" ] && stop_pid "$HOSTS_RO_PID"
	hosts_stop_all
	return $rc
}

: "${PRE14_RELAY:=$top_srcdir/test/integration/pre14_relay.py}"

# Each node behind pre14_relay.py, in HOSTS_FRONT; the relays' pids in HOSTS_RELAYS
hosts_relays() {
	local n port
	for n in p r1 r2; do
		port=$(free_port) || return 1
		/usr/bin/python3 "$PRE14_RELAY" "$port" "${HOSTS_PORT[$n]}" \
			>"$T_ROOT/hosts/relay.$n.log" 2>&1 </dev/null &
		HOSTS_RELAYS="$HOSTS_RELAYS $!"
		track_pid $!
		wait_until 5 listening "$port" || { echo "relay for $n did not listen"; return 1; }
		HOSTS_FRONT[$n]=$port
	done
}

# hosts_on DB WHAT WANT: N queries through pgring, each answered "WANT"
# (pg_is_in_recovery(), and inet_server_port() unless WANT is t alone)
hosts_on() {
	local f=1-2
	hosts_burst 6 "$1" "SELECT pg_is_in_recovery(), inet_server_port()" || return 1
	[ "$3" = t ] && f=1
	expect_eq "$2" "$(cut -f$f "$T_ROOT"/hosts/burst.[1-6] | sort -u)" "$3"
}

# primary, standby and prefer-standby through the relays
hosts_pre14_roles() {
	hosts_start_pgring "$1" "$(hosts_entry pr target_session_attrs=primary)" \
		"$(hosts_entry sb target_session_attrs=standby)" \
		"$(hosts_entry ps target_session_attrs=prefer-standby)" || return 1
	hosts_on pr "primary" "$(printf "f\t%s" "${HOSTS_PORT[p]}")" || return 1
	hosts_on sb "standby" t || return 1
	hosts_on ps "prefer-standby" t || return 1
	pgring_stop
}

# PostgreSQL before 14 reports neither in_hot_standby nor
# default_transaction_read_only: every node behind a relay that drops both,
# where pgring asks each new server instead (as libpq does) and asks again
# with server_check_query; then the same failover as hosts_failover.
sc_hosts_pre14() {
	local rc n
	HOSTS_RO_PID="" HOSTS_RELAYS=""
	hosts_cluster "$1" && hosts_relays && hosts_pre14_roles "$1" && hosts_failover "$1"
	rc=$?
	[ -n "$HOSTS_RO_PID" ] && stop_pid "$HOSTS_RO_PID"
	for n in $HOSTS_RELAYS; do stop_pid "$n" 2; done
	HOSTS_FRONT=()
	hosts_stop_all
	return $rc
}

SCENARIOS="$SCENARIOS hosts_balance hosts_failover hosts_pre14"
