# scenarios_io.sh - the event loop's limits and counters: client sockets bounded
# at accept, SHOW IO's syscalls against strace, a loop the kernel refuses.
# Sourced by suite.sh after scenarios.sh; uses rawpg (scenarios_robust.sh) and
# console (scenarios_admin.sh).

: "${SYSFAIL:=$top_builddir/test/integration/sysfail}"

# the margin of client sockets accepted beyond max_client_conn (main.c), per
# worker: each accepts while the process is under max_client_conn + 16
IO_ACCEPT_MARGIN=16

io_fds() { ls "/proc/$PGRING_PID/fd" 2>/dev/null | wc -l; }

# io_fds_settle MAX: wait (10 s at most) until pgring holds at most MAX fds
# and that count stays for 0.5 s: its closes are over
io_fds_settle() {
	local last=-1 cur i
	for i in $(seq 1 100); do
		cur=$(io_fds)
		[ "$cur" -le "$1" ] && [ "$cur" = "$last" ] && return 0
		last=$cur
		sleep 0.5
	done
	return 1
}

# io_listen_queue: connections the kernel completed that pgring has not
# accepted, on the 127.0.0.1 listeners (their Recv-Q; one per worker)
io_listen_queue() {
	ss -Hltn "( sport = :$PGRING_PORT )" 2>/dev/null |
		awk -v a="127.0.0.1:$PGRING_PORT" '$4 == a { q += $2; n++ } END { if (n) print q }'
}

# F13: connections that never send a startup packet hold a socket each; at
# max_client_conn plus a margin pgring stops accepting, the kernel's backlog
# holds the rest, and a client gets in again once they are gone
sc_io_accept_limit() {
	# with N workers each may have one accept armed when the process reaches
	# the limit (one TCP listener each): up to N - 1 more may land
	local max=20 margin=$((IO_ACCEPT_MARGIN * ${WORKERS:-1} + ${WORKERS:-1} - 1)) n fd0 fds taken queued pid out f
	n=$((max + margin + 24))
	pgring_start "$1" "auth_type = trust
max_client_conn = $max
tcp_defer_accept = 0
listen_backlog = 128" || return 1
	still_serves "warm-up" || return 1
	fd0=$(io_fds)
	# a fresh file: the last run's "connected=" must not be read for this one's
	f=$(mktemp "$T_ROOT/idle.XXXXXX")
	timeout -k 2 60 "$RAWPG" 127.0.0.1 "$PGRING_PORT" idle "$n" 20 >"$f" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_until 15 grep -q "connected=" "$f" || { echo "the idle clients did not connect:"; cat "$f"; return 1; }
	grep -q "connected=$n" "$f" || { echo "not all idle clients connected: $(cat "$f")"; return 1; }
	# what pgring takes, it takes at once: let it settle
	wait_until 5 eval '[ $(( $(io_fds) - fd0 )) -ge '"$max"' ]'
	sleep 1
	queued=$(io_listen_queue)
	fds=$(io_fds)	# after the queue: what left the queue since is counted here
	taken=$((fds - fd0))
	echo "$n idle connections: pgring holds $taken more fds ($fd0 before), the listen queue $queued"
	[ "$taken" -le $((max + margin)) ] ||
		{ echo "pgring accepted $taken sockets, more than max_client_conn $max + $margin"; return 1; }
	[ "$taken" -ge "$max" ] || { echo "pgring accepted only $taken of max_client_conn $max"; return 1; }
	[ "${queued:-0}" -ge $((n - taken)) ] ||
		{ echo "the listen queue holds ${queued:-none}, not the $((n - taken)) pgring left"; return 1; }
	grep -q "max_client_conn ($max) reached" "$PGRING_LOG" ||
		{ echo "no log line about the limit"; diag_file "$PGRING_LOG" 10; return 1; }
	# a console or client now waits in the backlog: it times out, nothing else
	out=$(PGCONNECT_TIMEOUT=2 PQ_TIMEOUT=5 pq "$(pgring_conn testdb u_trust)" query "SELECT 1" 2>&1) &&
		{ echo "a client got in while $taken sockets were held: $out"; return 1; }
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# the held ones and the backlog drain; then a client gets in
	wait_until 15 still_serves "after the idle ones left" >/dev/null 2>&1
	still_serves "after the idle ones left" || return 1
	wait_until 10 eval '[ $(io_fds) -le $((fd0 + 2)) ]' ||
		{ echo "fds: $fd0 before, $(io_fds) after the idle clients left"; return 1; }
}

# io_syscalls: SHOW IO's syscalls; with several workers, the total row's
io_syscalls() {
	console "SHOW IO" | awk -F'|' -v be="$1" '
		NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "syscalls") c = i; if ($i == "worker") wc = i }; next }
		$1 == be && c && (!wc || $wc == "total") { print $c; found = 1; exit }
		END { if (!found) exit 1 }'
}

# F17: SHOW IO's syscalls counts what strace counts for the same process,
# here over 200 logins, a SELECT 1 and a close each
sc_io_syscalls() {
	local n=200 before after delta traced out spid fd0 s=$T_ROOT/strace
	command -v strace >/dev/null || { echo "strace is missing (scripts/install-deps.sh)"; return 1; }
	pgring_start "$1" "auth_type = trust
admin_users = pgadmin
max_client_conn = $((n + 50))
default_pool_size = 10" "$(default_userlist; userlist_line pgadmin "$ADMIN_PW")" || return 1
	out=$(rawpg many 20 u_trust testdb 2>&1) || { echo "warm-up: $out"; return 1; }
	fd0=$(io_fds)
	before=$(io_syscalls "$1") || { echo "SHOW IO failed"; return 1; }
	# the console's own close is over before strace looks
	io_fds_settle "$fd0"
	strace -f -c -o "$s.out" -p "$PGRING_PID" 2>"$s.err" &
	spid=$!
	track_pid "$spid"
	if ! wait_until 10 grep -q "attached" "$s.err"; then
		echo "strace could not attach to pgring (ptrace not allowed here?):"
		cat "$s.err"
		kill "$spid" 2>/dev/null
		return 1
	fi
	out=$(rawpg many "$n" u_trust testdb 2>&1) || { echo "$n logins: $out"; kill "$spid"; return 1; }
	echo "$n logins: $(echo "$out" | tail -n 1)"
	# pgring has closed those connections before strace lets go (servers
	# the pool opened meanwhile stay)
	io_fds_settle $((fd0 + 10)) || { echo "fds: $fd0 before, $(io_fds) after"; kill "$spid"; return 1; }
	kill -INT "$spid"
	wait "$spid" 2>/dev/null
	after=$(io_syscalls "$1") || { echo "SHOW IO failed"; return 1; }
	traced=$(awk '$NF == "total" { print $4 }' "$s.out")
	[ -n "$traced" ] || { echo "no strace summary:"; cat "$s.out" "$s.err"; return 1; }
	delta=$((after - before))
	echo "SHOW IO syscalls: $before -> $after (+$delta); strace counted $traced"
	head -n 16 "$s.out"
	# within 10% of strace's count
	awk -v d="$delta" -v t="$traced" 'BEGIN { exit !(d >= 0.9 * t && d <= 1.1 * t) }' ||
		{ echo "SHOW IO's delta $delta is not within 10% of strace's $traced"; return 1; }
}

# F12: the kernel refuses the loop's wait; pgring must exit non-zero (so that
# Restart=on-failure restarts it) with a log line, and not spin on a refusal
# that may pass (EAGAIN) forever
sc_io_loop_fatal() {
	local e rc pid
	[ -x "$SYSFAIL" ] || { echo "no $SYSFAIL (make check builds it)"; return 1; }
	for e in EIO EAGAIN; do
		pgring_write_config "$1" "auth_type = trust" "$(default_userlist)" || return 1
		if [ "$(id -u)" = 0 ]; then
			timeout -k 2 20 "$SYSFAIL" "$e" io_uring_enter,epoll_wait,epoll_pwait,epoll_pwait2 \
				"$PGRING_BIN" -u "$RUN_USER" "$PGRING_CONF" >"$PGRING_ERR" 2>&1 </dev/null &
		else
			timeout -k 2 20 "$SYSFAIL" "$e" io_uring_enter,epoll_wait,epoll_pwait,epoll_pwait2 \
				"$PGRING_BIN" "$PGRING_CONF" >"$PGRING_ERR" 2>&1 </dev/null &
		fi
		pid=$!
		track_pid "$pid"
		wait "$pid"
		rc=$?
		echo "$e: exit status $rc; $(grep -h "event loop\|event backend" "$PGRING_LOG" "$PGRING_ERR" | tail -n 2)"
		[ "$rc" != 124 ] && [ "$rc" != 137 ] || { echo "$e: pgring did not exit in 20 s"; return 1; }
		[ "$rc" != 0 ] || { echo "$e: a dead event loop exited 0"; pgring_dump_logs; return 1; }
		# the loop ran and its failure is logged (with several workers it may
		# come before the main thread logs "process up"); with N workers each
		# says which one it is: "FATAL worker 2: event loop failed"
		grep -Eqs "FATAL (worker [0-9]+: )?event loop failed" "$PGRING_LOG" "$PGRING_ERR" ||
			{ echo "$e: no log line says why"; pgring_dump_logs; return 1; }
	done
}

SCENARIOS="$SCENARIOS io_accept_limit io_syscalls io_loop_fatal"
