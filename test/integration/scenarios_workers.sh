# scenarios_workers.sh - workers = N (doc/workers.md): the key, its auto
# value, and the refusal of more than one worker while limits, cancels and
# the console are not shared between loops. Sourced by suite.sh after
# scenarios_admin.sh (whose admin_start and console it uses).

pgring_dead() { ! alive "$PGRING_PID"; }

# allowed_cpus N: the first N CPUs of our affinity mask, comma-separated
# (CPU 0 need not be one of them in a container)
allowed_cpus() {
	/usr/bin/python3 -c 'import os, sys
print(",".join(map(str, sorted(os.sched_getaffinity(0))[:int(sys.argv[1])])))' "$1"
}

# pgring_refused BACKEND WORKERS-LINE WHAT: a start with that line ends with
# status 1, never listens, and logs WHAT
pgring_refused() {
	local rc
	pgring_write_config "$1" "auth_type = trust
$2" || return 1
	pgring_launch || return 1
	wait_until 10 pgring_dead || { echo "$2: still running"; pgring_dump_logs; return 1; }
	wait "$PGRING_PID"
	rc=$?
	PGRING_PID=""
	expect_eq "$2: exit status" "$rc" 1 || return 1
	listening "$PGRING_PORT" && { echo "$2: port $PGRING_PORT listening"; return 1; }
	grep -qsF -- "$3" "$PGRING_ERR" "$PGRING_LOG" ||
		{ echo "$2: no '$3' logged"; pgring_dump_logs; return 1; }
}

# one worker runs as before and says so; SHOW CONFIG shows the key, not
# reloadable; auto counts the CPUs of the affinity mask, not of the machine
sc_workers_key() {
	local out
	admin_start "$1" "workers = 1" || return 1
	grep -q "workers: 1\$" "$PGRING_LOG" || { echo "worker count not logged"; pgring_dump_logs; return 1; }
	out=$(console "SHOW CONFIG" | grep '^workers|')
	expect_eq "SHOW CONFIG" "$out" "workers|1|1|no" || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 42" 2>&1)
	expect_eq "serving" "$out" 42 || return 1
	# a running process keeps its loops: not SET online, not reloaded
	out=$(console "SET workers = 4")
	echo "$out" | grep -q "SET of workers is not allowed online" || { echo "SET: $out"; return 1; }
	sed -i 's/^workers = 1$/workers = 4/' "$PGRING_CONF"
	pgring_reload
	wait_until 5 grep -qs "workers = 4 is not reloadable, keeping workers = 1" "$PGRING_LOG" ||
		{ echo "reload: no warning"; pgring_dump_logs; return 1; }
	expect_eq "SHOW CONFIG after reload" "$(console_val "SHOW CONFIG" workers value)" 1 || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 43" 2>&1)
	expect_eq "serving after reload" "$out" 43 || return 1
	pgring_stop
	# one allowed CPU: auto is one worker, and runs
	pgring_write_config "$1" "auth_type = trust
workers = auto" || return 1
	out=$(taskset -c "$(allowed_cpus 1)" "$PGRING_BIN" -C "$PGRING_CONF" 2>&1)
	expect_eq "auto on one CPU (--check)" "$?:$out" "0:pgring: $PGRING_CONF: configuration OK"
}

# out-of-range values are invalid: the start is refused, naming the value
sc_workers_refused() {
	local v
	for v in 0 257 -1 two; do
		pgring_refused "$1" "workers = $v" "invalid value \"$v\" for parameter workers" || return 1
	done
}

SCENARIOS="$SCENARIOS workers_key workers_refused"
