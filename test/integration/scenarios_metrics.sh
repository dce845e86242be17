# scenarios_metrics.sh - GET /metrics (metrics_listen): pgbouncer_exporter's
# names with the console's figures, its bounds, a real Prometheus scraping it;
# and pgring --check. Sourced by suite.sh after scenarios.sh.

METRICS_PY=$top_srcdir/test/integration/metrics_fetch.py
METRICS_PORT=""

# metrics_start BACKEND [EXTRA]: admin_start with the endpoint on a port of its own
metrics_start() {
	METRICS_PORT=$(free_port) || return 1
	admin_start "$1" "metrics_listen = 127.0.0.1:$METRICS_PORT
${2:-}" || return 1
	wait_until 5 listening "$METRICS_PORT" || { echo "nothing listens on $METRICS_PORT"; return 1; }
}

mfetch() { timeout -k 2 30 /usr/bin/python3 "$METRICS_PY" "$@"; }

# metric_val FILE PREFIX: the value of the first sample whose line starts with PREFIX
metric_val() {
	awk -v p="$2" 'index($0, p) == 1 { print $NF; found = 1; exit } END { exit !found }' "$1"
}

# the figures compared: console command | row key | column | sample prefix | unit
metrics_pairs() {
	cat <<EOF
SHOW STATS|testdb|total_query_count|pgbouncer_stats_queries_pooled_total{database="testdb"}|1
SHOW STATS|testdb|total_xact_count|pgbouncer_stats_sql_transactions_pooled_total{database="testdb"}|1
SHOW STATS|testdb|total_received|pgbouncer_stats_received_bytes_total{database="testdb"}|1
SHOW STATS|testdb|total_sent|pgbouncer_stats_sent_bytes_total{database="testdb"}|1
SHOW STATS|testdb|total_query_time|pgbouncer_stats_queries_duration_seconds_total{database="testdb"}|us
SHOW STATS|testdb|total_xact_time|pgbouncer_stats_server_in_transaction_seconds_total{database="testdb"}|us
SHOW STATS|testdb|total_wait_time|pgbouncer_stats_client_wait_seconds_total{database="testdb"}|us
SHOW STATS|testdb|total_client_parse_count|pgbouncer_stats_client_parses_total{database="testdb"}|1
SHOW POOLS|testdb|cl_active|pgbouncer_pools_client_active_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|cl_waiting|pgbouncer_pools_client_waiting_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|sv_active|pgbouncer_pools_server_active_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|sv_idle|pgbouncer_pools_server_idle_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|sv_used|pgbouncer_pools_server_used_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|sv_login|pgbouncer_pools_server_login_connections{database="testdb",user="u_md5"}|1
SHOW POOLS|testdb|maxwait|pgbouncer_pools_client_maxwait_seconds{database="testdb",user="u_md5"}|1
SHOW DATABASES|testdb|pool_size|pgbouncer_databases_pool_size{name="testdb",|1
SHOW DATABASES|testdb|current_connections|pgbouncer_databases_current_connections{name="testdb",|1
SHOW DATABASES|testdb|paused|pgbouncer_databases_paused{name="testdb",|1
SHOW LISTS|pools|items|pgbouncer_pools |1
SHOW LISTS|used_servers|items|pgbouncer_used_servers |1
SHOW LISTS|databases|items|pgbouncer_databases |1
SHOW CONFIG|max_client_conn|value|pgbouncer_config_max_client_connections |1
EOF
}

# console_figures: every console figure of metrics_pairs, one per line
console_figures() {
	local cmd key col prefix unit v
	while IFS='|' read -r cmd key col prefix unit; do
		v=$(console_val "$cmd" "$key" "$col") || { echo "no $cmd $key $col"; return 1; }
		echo "$cmd $key $col = $v"
	done < <(metrics_pairs)
}

# compare_figures METRICS_FILE CONSOLE_FILE: each sample equals the console's figure
compare_figures() {
	local cmd key col prefix unit m c rc=0
	while IFS='|' read -r cmd key col prefix unit; do
		c=$(awk -v k="$cmd $key $col =" 'index($0, k) == 1 { print $NF; exit }' "$2")
		m=$(metric_val "$1" "$prefix") || { echo "no sample $prefix"; rc=1; continue; }
		if [ "$unit" = us ]; then
			awk -v m="$m" -v c="$c" 'BEGIN { exit !(sprintf("%.0f", m * 1000000) == c) }' ||
				{ echo "$prefix $m s, console $cmd $col $c us"; rc=1; }
		elif [ "$m" != "$c" ]; then
			echo "$prefix $m, console $cmd $col $c"
			rc=1
		fi
	done < <(metrics_pairs)
	return $rc
}

# every family pgbouncer_exporter derives from STATS, POOLS, DATABASES, LISTS, CONFIG, VERSION
METRICS_FAMILIES="pgbouncer_up pgbouncer_version_info
pgbouncer_stats_queries_pooled_total pgbouncer_stats_queries_duration_seconds_total
pgbouncer_stats_received_bytes_total pgbouncer_stats_sent_bytes_total
pgbouncer_stats_client_wait_seconds_total pgbouncer_stats_sql_transactions_pooled_total
pgbouncer_stats_server_in_transaction_seconds_total
pgbouncer_pools_client_active_connections pgbouncer_pools_client_active_cancel_connections
pgbouncer_pools_client_waiting_connections pgbouncer_pools_client_waiting_cancel_connections
pgbouncer_pools_server_active_connections pgbouncer_pools_server_active_cancel_connections
pgbouncer_pools_server_being_canceled_connections pgbouncer_pools_server_idle_connections
pgbouncer_pools_server_used_connections pgbouncer_pools_server_testing_connections
pgbouncer_pools_server_login_connections pgbouncer_pools_client_maxwait_seconds
pgbouncer_databases_pool_size pgbouncer_databases_reserve_pool pgbouncer_databases_max_connections
pgbouncer_databases_current_connections pgbouncer_databases_paused pgbouncer_databases_disabled
pgbouncer_databases pgbouncer_users pgbouncer_pools pgbouncer_free_clients pgbouncer_used_clients
pgbouncer_login_clients pgbouncer_free_servers pgbouncer_used_servers pgbouncer_cached_dns_names
pgbouncer_cached_dns_zones pgbouncer_in_flight_dns_queries
pgbouncer_config_max_client_connections pgbouncer_config_max_user_connections
pgbouncer_server_connections
pgring_io_submits_total pgring_io_sqes_total pgring_io_cqes_total pgring_io_syscalls_total
pgring_io_turns_total"

# the names, labels and types; the values equal the console's, taken with
# nothing moving (the console's figures the same before and after the scrape)
sc_metrics_values() {
	local m=$T_ROOT/metrics.txt c0=$T_ROOT/console0.txt c1=$T_ROOT/console1.txt f i out rc=0
	metrics_start "$1" || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" "SELECT pg_sleep(0.05)" \
		"BEGIN" "SELECT 2" "COMMIT") || { echo "pooled queries: $out"; return 1; }
	for i in 1 2 3 4 5 6 7 8 9 10; do
		console_figures >"$c0" || { cat "$c0"; return 1; }
		mfetch get "$METRICS_PORT" /metrics >"$m" || { echo "scrape failed"; return 1; }
		console_figures >"$c1" || { cat "$c1"; return 1; }
		cmp -s "$c0" "$c1" && break
		sleep 0.3
	done
	cmp -s "$c0" "$c1" || { echo "the console's figures kept moving"; diff "$c0" "$c1"; return 1; }
	expect_eq "status" "$(sed -n 1p "$m")" 200 || return 1
	grep -qx 'content-type: text/plain; version=0.0.4; charset=utf-8' "$m" ||
		{ echo "content type: $(sed -n 3p "$m")"; rc=1; }
	for f in $METRICS_FAMILIES; do
		grep -q "^# TYPE $f \(gauge\|counter\)\$" "$m" || { echo "no family $f"; rc=1; }
		grep -q "^$f[{ ]" "$m" || { echo "no sample of $f"; rc=1; }
	done
	grep -qx '# TYPE pgbouncer_stats_queries_pooled_total counter' "$m" || { echo "not a counter"; rc=1; }
	grep -qx '# TYPE pgbouncer_pools_server_idle_connections gauge' "$m" || { echo "not a gauge"; rc=1; }
	grep -qx 'pgbouncer_up 1' "$m" || { echo "pgbouncer_up: $(grep '^pgbouncer_up' "$m")"; rc=1; }
	grep -q "^pgbouncer_version_info{version=\"pgring [0-9]" "$m" || { echo "no version"; rc=1; }
	grep -q "^pgbouncer_databases_pool_size{name=\"testdb\",host=\"127.0.0.1\",port=\"$PG_PORT\",database=\"testdb\",force_user=\"\",pool_mode=\"\"} 20\$" "$m" ||
		{ echo "databases labels: $(grep '^pgbouncer_databases_pool_size' "$m")"; rc=1; }
	grep -q "^pgbouncer_server_connections{user=\"u_md5\",database=\"testdb\",state=\"idle\",addr=\"127.0.0.1_$PG_PORT\",close_needed=\"false\"} 1\$" "$m" ||
		{ echo "server_connections: $(grep '^pgbouncer_server_connections' "$m")"; rc=1; }
	# workers = N: one series per worker, labelled
	grep -q "^pgring_io_turns_total{backend=\"$1\"\(,worker=\"[0-9]*\"\)\?} [1-9]" "$m" ||
		{ echo "io: $(grep '^pgring_io_turns' "$m")"; rc=1; }
	compare_figures "$m" "$c1" || rc=1
	echo "compared $(metrics_pairs | wc -l) figures with the console's; e.g."
	grep '^pgbouncer_stats_queries_pooled_total{database="testdb"}\|^pgbouncer_pools_server_idle_connections{database="testdb"' "$m"
	return $rc
}

# read-only, one path: 404 elsewhere, 405 for another method, 431 for a huge head
sc_metrics_refusals() {
	local out p
	metrics_start "$1" || return 1
	for p in / /metricsx /metrics/ /api/v1/query; do
		out=$(mfetch get "$METRICS_PORT" "$p")
		expect_eq "GET $p" "$(echo "$out" | sed -n 1p)" 404 || return 1
	done
	for p in POST PUT DELETE HEAD; do
		out=$(mfetch get "$METRICS_PORT" /metrics "$p")
		expect_eq "$p /metrics" "$(echo "$out" | sed -n 1p)" 405 || return 1
		[ "$p" = HEAD ] || expect_eq "$p /metrics: Allow" "$(echo "$out" | sed -n 2p)" "allow: GET" ||
			return 1
	done
	out=$(mfetch big "$METRICS_PORT")
	case "$out" in
	431 | 414 | 413 | closed) echo "a 64 kB request head: $out" ;;
	*) echo "a 64 kB request head: $out, not refused"; return 1 ;;
	esac
	# and the endpoint still serves
	out=$(mfetch get "$METRICS_PORT" /metrics) && [ "$(echo "$out" | sed -n 1p)" = 200 ] ||
		{ echo "after the refusals: $(echo "$out" | head -n 3)"; return 1; }
	grep -q 'metrics: .*431\|metrics: .*too big' "$PGRING_LOG" || { echo "no log line for the 431"; return 1; }
}

# a scraper that connects and sends nothing holds nobody up, and is closed
# after the connection timeout (10 s)
sc_metrics_slow_client() {
	local out secs
	metrics_start "$1" || return 1
	out=$(mfetch slow "$METRICS_PORT") || { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q '^scrape beside an idle connection: status 200 in [01]\.' ||
		{ echo "the scrape waited for the idle connection"; return 1; }
	secs=$(echo "$out" | sed -n 's/^idle connection closed after \([0-9]*\)\..*/\1/p')
	[ -n "$secs" ] && [ "$secs" -ge 8 ] && [ "$secs" -le 14 ] ||
		{ echo "the idle connection was not closed after about 10 s"; return 1; }
	alive "$PGRING_PID" || { echo "pgring died"; return 1; }
}

# 16 connections at most: more wait in the backlog, and are served as soon
# as the idle ones close (not only when some other event wakes the endpoint)
sc_metrics_conn_limit() {
	local out
	metrics_start "$1" || return 1
	out=$(mfetch limit "$METRICS_PORT" 20) || { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q '^at the limit: no answer' || { echo "the connection limit did not hold"; return 1; }
	echo "$out" | grep -q '^after they closed: status 200 in [01]\.' ||
		{ echo "a scrape waited after the idle connections left"; return 1; }
}

# so_reuseport = 1: the process a rolling restart starts beside the running
# one shares the metrics port as well, instead of failing to start
sc_metrics_reuseport() {
	local d pid out
	metrics_start "$1" "so_reuseport = 1" || return 1
	d=$PGRING_DIR/h1
	mkdir -p "$d" && cp "$PGRING_DIR/userlist.txt" "$d/" || return 1
	sed "s#$PGRING_DIR/#$d/#g; s#^unix_socket_dir = .*#unix_socket_dir = $d#" "$PGRING_CONF" \
		>"$d/pgring.ini" || return 1
	own "$PGRING_DIR"
	if [ "$(id -u)" = 0 ]; then
		"$PGRING_BIN" -u "$RUN_USER" "$d/pgring.ini" >"$d/stderr.log" 2>&1 </dev/null &
	else
		"$PGRING_BIN" "$d/pgring.ini" >"$d/stderr.log" 2>&1 </dev/null &
	fi
	pid=$!
	track_pid "$pid"
	if ! wait_until 10 grep -qs 'metrics: serving' "$d/pgring.log" || ! alive "$pid"; then
		echo "the second process did not start beside the first"
		diag_file "$d/stderr.log"
		diag_file "$d/pgring.log"
		return 1
	fi
	out=$(mfetch get "$METRICS_PORT" /metrics) && [ "$(echo "$out" | sed -n 1p)" = 200 ] ||
		{ echo "no scrape with two processes on the port"; return 1; }
	stop_pid "$pid" 5
	echo "two processes shared metrics port $METRICS_PORT"
}

# the endpoint may not be on the pooler's port: refused at start and by --check
sc_metrics_not_on_pooler_port() {
	local out
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	echo "metrics_listen = 127.0.0.1:$PGRING_PORT" >>"$PGRING_CONF"
	out=$(timeout 10 "$PGRING_BIN" --check "$PGRING_CONF" 2>&1) && { echo "--check passed: $out"; return 1; }
	echo "$out" | grep -q 'metrics_listen .*listen_port' || { echo "--check: $out"; return 1; }
	pgring_launch
	wait_until 10 bash -c "! kill -0 $PGRING_PID 2>/dev/null" || { echo "pgring started"; return 1; }
	grep -q 'metrics_listen .*listen_port' "$PGRING_ERR" "$PGRING_LOG" 2>/dev/null ||
		{ echo "no reason given"; pgring_dump_logs; return 1; }
	PGRING_PID=""
}

# prometheus_start TARGET_PORT: a real Prometheus scraping pgring every second
PROM_PORT=""
prometheus_start() {
	local dir=$T_ROOT/prometheus.$PGRING_N
	command -v prometheus >/dev/null || { echo "prometheus is missing (scripts/install-deps.sh)"; return 1; }
	PROM_PORT=$(free_port) || return 1
	mkdir -p "$dir/data" || return 1
	cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pgring
    static_configs:
      - targets: ['127.0.0.1:$1']
EOF
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
		>"$dir/prometheus.log" 2>&1 </dev/null &
	track_pid $!
	PROM_PID=$!
	PROM_LOG=$dir/prometheus.log
}

# prom_has QUERY WANT: Prometheus answers QUERY with one series of value WANT
prom_has() {
	local out
	out=$(mfetch prom "$PROM_PORT" "$1")
	[ "$(echo "$out" | grep -c .)" = 1 ] && [ "${out##* }" = "$2" ]
}

# Prometheus scrapes pgring (the exposition parses: up is 1) and its series
# hold what the console shows
sc_metrics_prometheus() {
	local q c rc=0 out
	metrics_start "$1" || return 1
	out=$(pq "$(pgring_conn testdb u_md5 pw_md5)" query "SELECT 1" "SELECT 2" "SELECT 3") ||
		{ echo "pooled queries: $out"; return 1; }
	prometheus_start "$METRICS_PORT" || return 1
	if ! wait_until 60 prom_has 'up{job="pgring"}' 1; then
		echo "Prometheus never scraped pgring successfully: $(mfetch prom "$PROM_PORT" 'up')"
		tail -n 20 "$PROM_LOG"
		return 1
	fi
	echo "Prometheus scraped pgring: up{job=\"pgring\"} = 1"
	for q in total_query_count:pgbouncer_stats_queries_pooled_total \
		total_received:pgbouncer_stats_received_bytes_total \
		total_xact_count:pgbouncer_stats_sql_transactions_pooled_total; do
		c=$(console_val "SHOW STATS" testdb "${q%%:*}") || { echo "no console figure"; return 1; }
		if wait_until 10 prom_has "${q#*:}{database=\"testdb\"}" "$c"; then
			echo "${q#*:}{database=\"testdb\"} = $c in Prometheus and on the console"
		else
			echo "${q#*:}: Prometheus $(mfetch prom "$PROM_PORT" "${q#*:}{database=\"testdb\"}"), console $c"
			rc=1
		fi
	done
	c=$(console_val "SHOW POOLS" testdb sv_idle) || return 1
	wait_until 10 prom_has 'pgbouncer_pools_server_idle_connections{database="testdb",user="u_md5"}' "$c" ||
		{ echo "sv_idle: $(mfetch prom "$PROM_PORT" 'pgbouncer_pools_server_idle_connections'), console $c"; rc=1; }
	out=$(mfetch prom "$PROM_PORT" "pgring_io_turns_total{backend=\"$1\"} > 0")
	# a series per worker (workers = N: SHOW IO's rows by worker)
	[ "$(echo "$out" | grep -c .)" = "${WORKERS:-1}" ] || { echo "pgring_io_turns_total for $1: $out"; rc=1; }
	prom_has 'pgbouncer_up' 1 || { echo "pgbouncer_up: $(mfetch prom "$PROM_PORT" pgbouncer_up)"; rc=1; }
	kill "$PROM_PID" 2>/dev/null
	return $rc
}

# ---- pgring --check ----

# check_as_run_user ARGS...: the binary as the service user, as ExecStartPre runs it
check_as_run_user() {
	local bin=$T_ROOT/pgring-bin
	[ -x "$bin" ] || { cp "$PGRING_BIN" "$bin" && chmod 755 "$bin"; } || return 1
	as_run_user timeout 10 "$bin" "$@" 2>&1
}

# a good config: 0, one line saying so, nothing started
sc_check_good() {
	local out
	pgring_write_config "$1" "metrics_listen = 127.0.0.1:$(free_port)" "$(default_userlist)" || return 1
	out=$(check_as_run_user --check "$PGRING_CONF") || { echo "--check failed: $out"; return 1; }
	expect_eq "output" "$out" "pgring: $PGRING_CONF: configuration OK" || return 1
	listening "$PGRING_PORT" && { echo "--check listens"; return 1; }
	[ -e "$PGRING_LOG" ] && { echo "--check wrote the logfile"; return 1; }
	[ -e "$PGRING_DIR/pgring.pid" ] && { echo "--check wrote the pidfile"; return 1; }
	return 0
}

# bad values: non-zero, each with the file, the line and the key, not only
# the first; the auth_file is still checked after them
sc_check_bad_value() {
	local out line
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	echo "unknown_thing = 1" >>"$PGRING_CONF"	# a warning, printed too
	echo "pool_mode = sometimes" >>"$PGRING_CONF"
	echo "max_client_conn = many" >>"$PGRING_CONF"
	line=$(wc -l <"$PGRING_CONF")
	sed -i "s|^auth_file = .*|auth_file = $PGRING_DIR/nosuch.txt|" "$PGRING_CONF"
	out=$(check_as_run_user --check "$PGRING_CONF") && { echo "--check passed: $out"; return 1; }
	echo "$out"
	echo "$out" | grep -qF "$PGRING_CONF:$((line - 1)): invalid value \"sometimes\" for parameter pool_mode" ||
		{ echo "no file:line:key for the first bad value"; return 1; }
	echo "$out" | grep -qF "$PGRING_CONF:$line: invalid value \"many\" for parameter max_client_conn" ||
		{ echo "no file:line:key for the second bad value"; return 1; }
	echo "$out" | grep -qF "$PGRING_CONF:$((line - 2)): unknown parameter pgbouncer/unknown_thing" ||
		{ echo "the warning is missing"; return 1; }
	echo "$out" | grep -qF "auth_file: $PGRING_DIR/nosuch.txt" || { echo "the auth_file went unchecked"; return 1; }
	echo "$out" | grep -q 'check failed' || { echo "no verdict"; return 1; }
	# a start stops at the first
	pgring_launch
	wait_until 10 bash -c "! kill -0 $PGRING_PID 2>/dev/null" || { echo "pgring started"; return 1; }
	grep -q 'pool_mode' "$PGRING_ERR" || { echo "the start gave no reason"; return 1; }
	grep -q 'max_client_conn' "$PGRING_ERR" && { echo "the start went on past the first error"; return 1; }
	PGRING_PID=""
}

# an auth_file the service user cannot read: non-zero, naming it
sc_check_unreadable_auth_file() {
	local out f
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	f=$PGRING_DIR/userlist.txt
	chmod 000 "$f"
	if [ "$(id -u)" = 0 ]; then chown root: "$f"; fi
	out=$(check_as_run_user --check "$PGRING_CONF") && { echo "--check passed: $out"; return 1; }
	echo "$out"
	echo "$out" | grep -qF "auth_file: $f" || { echo "the auth_file is not named"; return 1; }
	# and one that is missing altogether
	sed -i "s|^auth_file = .*|auth_file = $PGRING_DIR/nosuch.txt|" "$PGRING_CONF"
	out=$(check_as_run_user --check "$PGRING_CONF") && { echo "--check passed: $out"; return 1; }
	echo "$out" | grep -qF "$PGRING_DIR/nosuch.txt" || { echo "missing auth_file: $out"; return 1; }
}

# the keys of today's features: a bad hba line and malformed host lists are
# each named by file:line, and the auth_file is still checked after the hba
# file (a host name is not resolved: DNS at check time is not DNS at run time)
sc_check_hba_hosts() {
	local out
	pgring_write_config "$1" "auth_type = hba" "$(default_userlist)" || return 1
	echo "auth_hba_file = $PGRING_DIR/hba.conf" >>"$PGRING_CONF"
	printf 'host all all 127.0.0.1/32 md5\nhost all all 10.0.0.1/99 md5\n' >"$PGRING_DIR/hba.conf"
	sed -i "/^\[databases\]/a hl2 = host=127.0.0.1,nosuch.invalid port=1,2,3 dbname=x\nhl1 = host=127.0.0.1,,127.0.0.2 dbname=x" \
		"$PGRING_CONF"
	sed -i "s|^auth_file = .*|auth_file = $PGRING_DIR/nosuch.txt|" "$PGRING_CONF"
	out=$(check_as_run_user --check "$PGRING_CONF") && { echo "--check passed: $out"; return 1; }
	echo "$out"
	echo "$out" | grep -qF "$PGRING_DIR/hba.conf:2: invalid CIDR mask" || { echo "no hba file:line"; return 1; }
	echo "$out" | grep -qF "$PGRING_CONF:3: empty host name" || { echo "no empty host name"; return 1; }
	echo "$out" | grep -qF "$PGRING_CONF:2: port lists 3 ports for 2 hosts" || { echo "no port count"; return 1; }
	echo "$out" | grep -qF "auth_file: $PGRING_DIR/nosuch.txt" || { echo "the auth_file went unchecked"; return 1; }
	echo "$out" | grep -q 'check failed' || { echo "no verdict"; return 1; }
}

SCENARIOS="$SCENARIOS check_hba_hosts"
SCENARIOS="$SCENARIOS metrics_values metrics_refusals metrics_slow_client metrics_conn_limit"
SCENARIOS="$SCENARIOS metrics_not_on_pooler_port metrics_reuseport"
SCENARIOS="$SCENARIOS metrics_prometheus check_good check_bad_value check_unreadable_auth_file"
