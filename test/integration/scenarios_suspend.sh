# scenarios_suspend.sh - SUSPEND and RESUME as PgBouncer documents them
# (issue 15): every socket but the console's flushed and no longer read, the
# answer only once the buffers are empty, nothing refused meanwhile.
# Sourced by suite.sh after scenarios.sh; the client is suspend_check.py.

# sp_check MODE BACKEND [EXTRA]: an instance (trust, u_trust an admin) and the check
sp_check() {
	local out rc
	pgring_start "$2" "auth_type = trust
admin_users = u_trust
${3:-}" || return 1
	out=$(timeout 90 /usr/bin/python3 "$top_srcdir/test/integration/suspend_check.py" \
		"$1" "127.0.0.1:$PGRING_PORT" u_trust testdb u_trust 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" = 0 ] || { pgring_dump_logs; return 1; }
}

# A session's query sent during SUSPEND is not answered (nor refused) until
# RESUME, then gets its right answer; a newcomer waits in the listen backlog
# and is served after RESUME.
sc_suspend_query() {
	sp_check query "$1" || return 1
	grep -q "SUSPEND command issued" "$PGRING_LOG" || { echo "SUSPEND not logged"; return 1; }
	still_serves "after SUSPEND and RESUME"
}

# SUSPEND does not answer while a client's answer is still queued in pgring
# (a reader that does not read); it answers once that reader has taken it.
sc_suspend_slow_reader() {
	sp_check slow "$1"
}

# suspend_timeout: a reader that never reads is closed after it, and
# SUSPEND answers then.
sc_suspend_timeout() {
	sp_check timeout "$1" "suspend_timeout = 1" || return 1
	grep -q "suspend_timeout" "$PGRING_LOG" || { echo "the close is not logged"; return 1; }
}

SCENARIOS="$SCENARIOS suspend_query suspend_slow_reader suspend_timeout"
