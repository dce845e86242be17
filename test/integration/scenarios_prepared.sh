# scenarios_prepared.sh - protocol-level named prepared statements in
# transaction mode (sourced by suite.sh)

PREP_CONF="auth_type = trust
pool_mode = transaction
max_client_conn = 500"

# pgbench -M prepared: every client prepares its statements once and runs
# them on whichever of the 5 servers it gets
sc_prepared_pgbench() {
	pgbench_init || return 1
	pgring_start "$1" "$PREP_CONF
default_pool_size = 5" || return 1
	pgbench_through 100 "${PREPARED_PGBENCH_SECONDS:-30}" -S -M prepared || return 1
	servers_at_most 5
}

# PQprepare once, PQexecPrepared many times from clients running at once, so
# that their transactions land on different servers
sc_prepared_libpq() {
	local c i pids="" out rc=0
	pgring_start "$1" "$PREP_CONF
default_pool_size = 3" || return 1
	c=$(pgring_conn testdb u_trust)
	for i in 1 2 3 4 5 6; do
		pq "$c" prepared rota 3 60 >"$T_ROOT/rota.$i" 2>&1 &
		pids="$pids $!"
	done
	for i in $pids; do wait "$i" || rc=1; done
	cat "$T_ROOT"/rota.*
	[ $rc = 0 ] || return 1
	# with six clients on three servers, a client's statements ran on more than one
	out=$(awk '{ print $8 }' "$T_ROOT"/rota.* | sort -n | tail -1)
	[ "${out:-0}" -ge 2 ] || { echo "every client stayed on one server: no test of re-preparing"; return 1; }
}

# a pipeline: named Parse, Binds, an error in the middle, Sync; then the
# statement again, DEALLOCATE ALL and a new Parse of the same name
sc_prepared_pipeline() {
	local c out want
	pgring_start "$1" "$PREP_CONF
default_pool_size = 2" || return 1
	c=$(pgring_conn testdb u_trust)
	want=$(printf '%s\n' ok "row 10" "row 5" "error 22012" aborted sync "row 1" ok ok "row 101" sync)
	for i in 1 2 3; do
		out=$(pq "$c" prepared pipeline 2>&1) || { echo "$out"; return 1; }
		expect_eq "pipeline run $i" "$out" "$want" || return 1
	done
}

# the servers go away (as after RECONNECT or a PostgreSQL restart): the
# client's statements are prepared again on the new ones
sc_prepared_reconnect() {
	local c f=$T_ROOT/re.out go=$T_ROOT/re.go pid out
	rm -f "$go"
	pgring_start "$1" "$PREP_CONF
default_pool_size = 2" || return 1
	c=$(pgring_conn testdb u_trust)
	"$PQTOOL" "$c" prepared rota 2 5 "$go" >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 10 grep -q "first round done" "$f" || { cat "$f"; return 1; }
	pg_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'u_trust'"
	wait_until 5 eval '[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '"'u_trust'"'")" = 0 ]'
	touch "$go"
	wait "$pid" || { echo "the client, after its servers were replaced:"; cat "$f"; return 1; }
	cat "$f"
	grep -q "ok on 2 backends" "$f" || { echo "the second round did not run on a new server"; return 1; }
}

# max_prepared_statements = 2 and five statements in rota: the server-side
# set stays at two, evicting the least recently used
sc_prepared_eviction() {
	local c out n
	pgring_start "$1" "$PREP_CONF
default_pool_size = 1
max_prepared_statements = 2" || return 1
	c=$(pgring_conn testdb u_trust)
	out=$(pq "$c" prepared rota 5 20 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	n=$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'u_trust'")
	expect_eq "one server" "$n" 1 || return 1
	# PostgreSQL's own view of that server's statements
	out=$(pq "$c" query "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'PGRING%'" 2>&1)
	expect_eq "statements on the server" "$out" 2
}

# the console shows how many Parses clients sent and how many reached
# PostgreSQL, and each server's prepared statements
sc_prepared_stats() {
	local c i v
	admin_start "$1" "pool_mode = transaction
default_pool_size = 1" || return 1
	c=$(pgring_conn testdb u_md5 pw_md5)
	for i in 1 2; do
		pq "$c" prepared rota 3 20 || return 1
	done
	for v in total_client_parse_count:6 total_server_parse_count:3 total_bind_count:120; do
		expect_eq "SHOW STATS ${v%%:*}" "$(console_val "SHOW STATS" testdb "${v%%:*}")" "${v#*:}" || return 1
	done
	expect_eq "SHOW SERVERS prepared_statements" \
		"$(console_val "SHOW SERVERS" S prepared_statements)" 3
}

SCENARIOS="$SCENARIOS prepared_stats prepared_pgbench prepared_libpq prepared_pipeline prepared_reconnect
	prepared_eviction"
