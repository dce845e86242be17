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
	c=$(pgring_local testdb u_trust)	# the later look is on the same worker's server
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
	# both clients on worker 0's one server: a TCP client on another worker
	# would have its worker's server prepare the statements again
	c=$(pgring_local testdb u_md5 pw_md5)
	for i in 1 2; do
		pq "$c" prepared rota 3 20 || return 1
	done
	for v in total_client_parse_count:6 total_server_parse_count:3 total_bind_count:120; do
		expect_eq "SHOW STATS ${v%%:*}" "$(console_val "SHOW STATS" testdb "${v%%:*}")" "${v#*:}" || return 1
	done
	expect_eq "SHOW SERVERS prepared_statements" \
		"$(console_val "SHOW SERVERS" S prepared_statements)" 3 || return 1
	# the registry: three statements the server holds, no client names left
	expect_eq "SHOW MEM prepared_stmt_cache used" \
		"$(console_val "SHOW MEM" prepared_stmt_cache used)" 3 || return 1
	expect_eq "SHOW MEM prepared_name_cache used" \
		"$(console_val "SHOW MEM" prepared_name_cache used)" 0 || return 1
	[ "$(console_val "SHOW MEM" prepared_stmt_cache memtotal)" -gt 0 ]
}

SCENARIOS="$SCENARIOS prepared_stats prepared_pgbench prepared_libpq prepared_pipeline prepared_reconnect
	prepared_eviction"

# ---- raw-protocol cases (prepcases.py), PostgreSQL as the oracle ----------

PREPCASES=$top_srcdir/test/integration/prepcases.py

# prepcase PORT CASE [ARGS]: one case of prepcases.py, bounded
prepcase() { timeout -k 2 "${PREPCASE_TIMEOUT:-120}" /usr/bin/python3 "$PREPCASES" "$@"; }

# prep_same CASE [ARGS]: the case's answers through pgring are PostgreSQL's own
prep_same() {
	local want got
	want=$(prepcase "$PG_PORT" "$@" 2>&1) || { echo "straight to PostgreSQL: $want"; return 1; }
	got=$(prepcase "$PGRING_PORT" "$@" 2>&1)
	echo "$got"
	[ "$got" = "$want" ] && return 0
	echo "differs from PostgreSQL's:"
	diff <(echo "$want") <(echo "$got")
	return 1
}

# F1: one server holding one statement; the Close that evicts s1 for s2 is
# skipped by PostgreSQL after an error in the same pipeline
sc_prepared_evict_error() {
	pgring_start "$1" "$PREP_CONF
default_pool_size = 1
max_prepared_statements = 1" || return 1
	prep_same evict_after_error || return 1
	prep_same client_close_skipped || return 1
	prep_same pipelined_after_error
}

# F1, F14: random pipelines from two clients over two servers that hold two
# statements each, against PostgreSQL's answers to the same bytes
sc_prepared_random() {
	local seed
	pgring_start "$1" "$PREP_CONF
default_pool_size = 2
max_prepared_statements = 2" || return 1
	for seed in 1 2 3 4; do
		prep_same random "$seed" 150 >"$T_ROOT/random.out" 2>&1 || { echo "seed $seed:"; sed -n "/^differs/,\$p" "$T_ROOT/random.out" | head -n 40; return 1; }
	done
}

# F1: a client's DEALLOCATE of pgring's own statement must cost the next
# client on that server nothing
sc_prepared_dealloc_pgring() {
	local out want
	pgring_start "$1" "$PREP_CONF
default_pool_size = 1" || return 1
	out=$(prepcase "$PGRING_PORT" dealloc_pgring_name 2>&1)
	echo "$out"
	want=$(printf '%s\n' "1 2 D(21) C(SELECT 1) Z(I)" "2 D(21) C(SELECT 1) Z(I)" \
		"1 2 D(21) C(SELECT 1) Z(I)" "2 D(21) C(SELECT 1) Z(I)")
	expect_eq "the second client" "$out" "$want"
}

# F14: a second Parse of a name gets PostgreSQL's 42P05 and its skip to Sync
sc_prepared_parse_twice() {
	pgring_start "$1" "$PREP_CONF
default_pool_size = 2" || return 1
	prep_same parse_twice
}

# F5: 2 MiB parameters of a named statement stream through; a 2 MiB Parse
# is under max_client_prepared_bytes and works
sc_prepared_large_bind() {
	pgring_start "$1" "$PREP_CONF
default_pool_size = 2" || return 1
	prep_same bind_large
}

# F9: 600 Parses of 100 kB (60 MB): past max_client_prepared_bytes (16 MiB)
# they get "out of memory", the connection goes on, and pgring's memory stays
# bounded (the 16 MiB of texts and the heap around them; without the limit
# it grew by 90 MB)
sc_prepared_client_limit() {
	local out rss0 rss1 n
	pgring_start "$1" "$PREP_CONF
default_pool_size = 1" || return 1
	rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PGRING_PID/status")
	out=$(prepcase "$PGRING_PORT" many_parses 600 100000 2>&1)
	rss1=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PGRING_PID/status")
	echo "$out"
	echo "VmRSS ${rss0} kB before, ${rss1} kB after"
	n=$(awk '$2 == "x" && $3 == "1" && $4 == "Z(I)" { print $1 }' <<<"$out")
	[ -n "$n" ] && [ "$n" -ge 150 ] && [ "$n" -le 170 ] || { echo "accepted ${n:-no} Parses, want 150-170 (16 MiB)"; return 1; }
	grep -qx "$((600 - n)) x E(53200 out of memory) Z(I)" <<<"$out" || { echo "the rest did not get 53200"; return 1; }
	expect_eq "after the limit" "$(sed -n '/^first error/,$p' <<<"$out" | tail -n +2)" \
		"$(printf '%s\n' "E(53200 out of memory) Z(I)" "1 2 C(BEGIN) Z(T)" \
			"E(53200 out of memory) Z(E)" "1 2 C(ROLLBACK) Z(I)" \
			"1 2 D(42) C(SELECT 1) Z(I)" "2 D(0) C(SELECT 1) Z(I)")" || return 1
	# (rss_checked, lib.sh: not under the sanitizers' quarantine)
	if rss_checked && [ $((rss1 - rss0)) -ge 40000 ]; then
		echo "RSS grew by $((rss1 - rss0)) kB"
		return 1
	fi
	grep -q 'over max_client_prepared_bytes' "$PGRING_LOG" || { echo "no log line"; return 1; }
}

# F5/F9: a named Parse larger than max_client_prepared_bytes is refused
# without being read into memory; the connection goes on
sc_prepared_parse_over_limit() {
	local out
	pgring_start "$1" "$PREP_CONF
default_pool_size = 1
max_client_prepared_bytes = 1048576" || return 1
	out=$(prepcase "$PGRING_PORT" parse_over_limit 2>&1)
	expect_eq "a 2 MiB Parse, then a small one" "$out" \
		"$(printf '%s\n' "E(53200 out of memory) Z(I)" "1 2 D(1) C(SELECT 1) Z(I)")"
}

SCENARIOS="$SCENARIOS prepared_evict_error prepared_random prepared_dealloc_pgring prepared_parse_twice
	prepared_large_bind prepared_client_limit prepared_parse_over_limit"
