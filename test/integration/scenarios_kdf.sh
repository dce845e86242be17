# scenarios_kdf.sh - SCRAM for users that do not exist (F6), key derivation
# off the loop and once per user (F7, issue 14 item 3), secrets in config
# errors and auth_file modes (F16)

: "${SCRAM_PROBE:=$top_srcdir/test/integration/scram_probe.py}"
probe() { timeout -k 2 90 /usr/bin/python3 "$SCRAM_PROBE" "$PGRING_PORT" "$@"; }

# field NAME LINE: the value of NAME=... in a probe line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# kdf_col COLUMN: SHOW KDF's COLUMN (summed over the workers), asked as u_md5
# (admin_users = u_md5) over the unix socket: on worker 0, where the keys
# are derived ahead, so that the console's own login never derives them
# again on another worker while the warm-up runs
kdf_col() {
	local out v
	out=$(timeout -k 2 30 "$PG_BINDIR/psql" -X -A -F'|' -P footer=off \
		"$(pgring_local pgbouncer u_md5 pw_md5) connect_timeout=25" -c "SHOW KDF" 2>&1)
	v=$(printf '%s\n' "$out" | awk -F'|' -v col="$1" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c { print $c; exit }')
	[ -n "$v" ] || echo "SHOW KDF: $out" >&2
	echo "${v:--1}"
}

# log_count PATTERN: lines of the pgring log matching PATTERN
log_count() { grep -c -- "$1" "$PGRING_LOG" 2>/dev/null || true; }

# An unknown user's challenge looks like a real one: a 16-byte salt, the same
# on every try and different for another name, the usual iteration count;
# no key derivation for it; and the failure reads as a wrong password
sc_kdf_mock_challenge() {
	local ul a1 a2 b real plain out u
	ul="$(userlist_line u_scram "$(pg_secret u_scram)")
$(userlist_line u_md5 pw_md5)
$(userlist_line u_md5hash "$(pg_secret u_md5)")
$(userlist_line u_empty "")"
	pgring_start "$1" "auth_type = scram-sha-256
verbose = 1" "$ul" || return 1
	a1=$(probe first u_nobody testdb 1) && a2=$(probe first u_nobody testdb 1) &&
		b=$(probe first u_other testdb 1) && real=$(probe first u_scram testdb 1) &&
		plain=$(probe first u_md5 testdb 1) || { echo "probe: $a1 $a2 $b $real $plain"; return 1; }
	printf '%s\n' "unknown: $a1" "again:   $a2" "other:   $b" "real:    $real" "plain:   $plain"
	expect_eq "unknown user's salt on a second try" "$(field s "$a2")" "$(field s "$a1")" || return 1
	[ "$(field s "$b")" != "$(field s "$a1")" ] || { echo "two names share a salt"; return 1; }
	expect_eq "salt length (unknown vs verifier)" "$(field s "$a1" | wc -c)" \
		"$(field s "$real" | wc -c)" || return 1
	expect_eq "salt length (unknown vs plain)" "$(field s "$a1" | wc -c)" \
		"$(field s "$plain" | wc -c)" || return 1
	expect_eq "iterations (unknown vs verifier)" "$(field i "$a1")" "$(field i "$real")" || return 1
	expect_eq "iterations (unknown vs plain)" "$(field i "$a1")" "$(field i "$plain")" || return 1
	[ "$(log_count 'SCRAM keys derived off the loop')" -le 1 ] ||
		{ echo "keys derived for an unknown user"; return 1; }
	[ "$(log_count 'SCRAM mock exchange (no such user): no key derivation')" -ge 3 ] ||
		{ echo "no mock exchange logged"; return 1; }
	login_refused testdb u_nobody pw "password authentication failed for user \"u_nobody\"" || return 1
	login_refused testdb u_scram wrong "password authentication failed for user \"u_scram\"" || return 1
	wait_until 5 eval '[ "$(log_count "no such user")" -ge 1 ]' ||
		{ echo "the log does not say the user is unknown"; return 1; }
	log_count "SASL authentication failed" | grep -qv '^0$' || { echo "no wrong-password line"; return 1; }
	# an md5 hash or an empty password cannot do SCRAM: the same challenge, the same failure
	for u in u_md5hash u_empty; do
		out=$(probe first "$u" testdb 1) || { echo "$out"; return 1; }
		expect_eq "$u's iterations" "$(field i "$out")" "$(field i "$a1")" || return 1
		login_refused testdb "$u" pw_md5 "password authentication failed for user \"$u\"" || return 1
	done
	login_ok testdb u_scram pw_scram && login_ok testdb u_md5 pw_md5
}

# scram_iterations = 1000000 and a flood of SASL-first messages for an
# unknown user: each is answered at once (at ed10f76 each cost ~0.3 s of
# PBKDF2 on the loop), and another client's queries keep flowing
sc_kdf_unknown_flood() {
	local out med lat
	pgring_start "$1" "auth_type = scram-sha-256
admin_users = u_md5
scram_iterations = 1000000" || return 1
	out=$(probe first u_nobody testdb 9) || { echo "$out"; return 1; }
	med=$(printf '%s\n' "$out" | sed -n 's/.* ms=//p' | sort -n | sed -n 5p)
	echo "server-first latency, median of 9 (ms): $med"
	# at ed10f76: 300 ms or more each; a generous bound for a loaded machine
	awk -v m="$med" 'BEGIN { exit !(m < 100) }' || { echo "$out"; return 1; }
	# the warm-up's three derivations done first: a login that came before
	# them would derive its own (with several workers, on another worker
	# than the warm-up's), and the count below is about the flood
	wait_until 60 eval '[ "$(kdf_col done)" -ge 3 ]' ||
		{ echo "the warm-up did not finish: done=$(kdf_col done)"; return 1; }
	local fp
	probe flood u_nobody testdb 2 >"$PGRING_DIR/flood.txt" &
	fp=$!
	# u_md5 over the unix socket, on worker 0: its keys may still be being
	# derived ahead there (1000000 iterations), and a login on another worker
	# would derive them again instead of joining that (doc/workers.md)
	lat=$(PROBE_HOST=$PGRING_DIR probe latency u_md5 testdb pw_md5 2) ||
		{ echo "$lat"; wait "$fp"; return 1; }
	wait "$fp"
	echo "flood: $(cat "$PGRING_DIR/flood.txt")"
	echo "select 1 during the flood: $lat"
	[ "$(field n "$lat")" -gt 50 ] || { echo "queries starved during the flood"; return 1; }
	# SHOW KDF: the flood was mocked, and only u_md5's own keys were derived
	local mocked submitted
	mocked=$(kdf_col mocked) submitted=$(kdf_col submitted)
	echo "SHOW KDF: mocked=$mocked submitted=$submitted"
	[ "$mocked" -ge 100 ] || { echo "the flood was not mocked"; return 1; }
	# the auth_file's three plain passwords, derived ahead; the flood adds none
	[ "$submitted" -le 3 ] || { echo "the flood bought key derivations"; return 1; }
}

# md5 mode: an unknown user is offered what most auth_file users get, so
# the first request does not tell whether it exists (at ed10f76 an unknown
# user always got md5, and the users with verifiers SASL)
sc_kdf_md5_method() {
	local ul unk real
	ul="$(userlist_line u_scram "$(pg_secret u_scram)")
$(userlist_line u_trust "$(pg_secret u_trust)")
$(userlist_line u_md5 pw_md5)"
	pgring_start "$1" "auth_type = md5" "$ul" || return 1
	unk=$(probe first u_nobody testdb 1) && real=$(probe first u_scram testdb 1) || return 1
	echo "mostly verifiers: unknown $unk; u_scram $real"
	expect_eq "method for an unknown user" "$(field code "$unk")" "$(field code "$real")" || return 1
	pgring_stop
	pgring_start "$1" "auth_type = md5" || return 1
	unk=$(probe first u_nobody testdb 1) && real=$(probe first u_md5 testdb 1) || return 1
	echo "plain passwords: unknown $unk; u_md5 $real"
	expect_eq "method for an unknown user" "$unk" "$real"
}

# A plain auth_file password's SCRAM keys are derived once, off the loop
# (ahead of the first login, or by it), and every login after takes them from
# the cache; a reload derives again only for a password that changed.
# appuser logs in to a database with a forced user, so that its password is
# pgring's alone.  SHOW KDF counts the derivations.  The logins go over the
# unix socket (HOST the socket's directory), to worker 0, which derives ahead
# (at start and after a reload): a login there while that runs joins it; on
# another worker it would derive too (workers miss the cache each for
# itself, doc/workers.md)
forced_ok() {	# PASSWORD [HOST]
	local out
	out=$(pq "$(pgring_conn forced appuser "$1" "${2:-}")" query "SELECT current_user" 2>&1)
	expect_eq "appuser with $1" "$out" u_trust
}

sc_kdf_plain_once() {
	local i n
	pgring_write_config "$1" "auth_type = scram-sha-256
scram_iterations = 100000
admin_users = u_md5
verbose = 1" '"appuser" "pw_one"
"u_md5" "pw_md5"' || return 1
	sed -i "s/^\[databases\]/[databases]\nforced = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust password=pw_trust/" \
		"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || return 1
	for i in 1 2 3; do
		forced_ok pw_one "$PGRING_DIR" || return 1
	done
	expect_eq "derivations (appuser, u_md5)" "$(kdf_col submitted)" 2 || return 1
	[ "$(log_count 'appuser.*SCRAM keys from the cache')" -ge 2 ] ||
		{ echo "later logins did not use the cache"; return 1; }
	login_refused forced appuser wrong "password authentication failed for user \"appuser\"" \
		"$PGRING_DIR" || return 1
	printf '"appuser" "pw_two"\n"u_md5" "pw_md5"\n' >"$PGRING_DIR/userlist.txt"
	n=$(log_count "re-reading config")
	pgring_reload
	wait_until 5 eval '[ "$(log_count "re-reading config")" -gt '"$n"' ]' || { echo "no reload"; return 1; }
	login_refused forced appuser pw_one "password authentication failed for user \"appuser\"" \
		"$PGRING_DIR" || return 1
	forced_ok pw_two "$PGRING_DIR" || return 1
	# appuser's new password once more; u_md5's keys carried over the reload
	expect_eq "derivations after the reload" "$(kdf_col submitted)" 3
}

# auth_type = plain against a 100,000-iteration verifier: 20 logins at once
# each need PBKDF2; it runs on the kdf threads, and a client's SELECT 1
# meanwhile is not held up behind them (the latency is printed; the
# assertion is on the counter, which cannot flake).  With only a verifier
# pgring cannot log in to PostgreSQL as u_scram: the database forces u_trust.
sc_kdf_offloop_logins() {
	local ul ver lat burst lp
	ver=$(/usr/bin/python3 "$SCRAM_PROBE" verifier pw_scram 100000) || return 1
	ul="$(userlist_line u_scram "$ver")
$(userlist_line u_md5 pw_md5)"
	pgring_write_config "$1" "auth_type = plain
admin_users = u_md5
verbose = 1" "$ul" || return 1
	sed -i "s/^\[databases\]/[databases]\nforced = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust password=pw_trust/" \
		"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || return 1
	probe latency u_md5 testdb pw_md5 3 >"$PGRING_DIR/lat.txt" &
	lp=$!
	sleep 0.5
	burst=$(probe plainburst u_scram forced pw_scram 20) || { echo "$burst"; wait "$lp"; return 1; }
	wait "$lp"
	lat=$(cat "$PGRING_DIR/lat.txt")
	echo "20 logins: $burst; SELECT 1 meanwhile: $lat"
	expect_eq "logins" "$burst" "ok=20 failed=0 refused=0 other=0" || return 1
	[ "$(log_count 'u_scram.*SCRAM keys derived off the loop')" -ge 20 ] ||
		{ echo "the derivations did not run on the kdf threads"; return 1; }
	[ "$(field n "$lat")" -gt 10 ] || { echo "queries starved"; return 1; }
	# clients that leave while their keys are derived: the results find nobody
	probe plaindrop u_scram forced pw_scram 10 || return 1
	wait_until 10 eval '[ "$(log_count "u_scram.*client unexpected eof")" -ge 10 ]' ||
		{ echo "the dropped clients were not noticed"; return 1; }
	wait_until 10 eval '[ "$(kdf_col done)" -ge 30 ]' ||
		{ echo "SHOW KDF done: $(kdf_col done), want 30"; return 1; }
	expect_eq "SHOW KDF in_flight" "$(kdf_col in_flight)" 0 || return 1
	login_refused forced u_scram wrong "password authentication failed for user \"u_scram\""
}

# pgring's own login to PostgreSQL with a plain auth_file password: the
# keys for the role's salt and iterations are derived off the loop once, then
# every other server connection of that user takes them from the cache
sc_kdf_server_keys() {
	pgring_start "$1" "auth_type = md5
verbose = 1" || return 1
	login_ok testdb u_scram pw_scram && login_ok testdb_unix u_scram pw_scram &&
		login_ok testdb_p1 u_scram pw_scram || return 1
	expect_eq "server derivations" "$(log_count 'u_scram.*SCRAM keys for the server derived off the loop')" 1 ||
		return 1
	expect_eq "server cache hits" "$(log_count 'u_scram.*SCRAM keys for the server from the cache')" 2
}

# The queue is capped: with one thread and 1e6 iterations, 40 cleartext
# logins at once for one user get some refused, with an error and a log line
# (over the unix socket: the queue is its worker's, as are its threads)
sc_kdf_queue_cap() {
	local ul ver burst
	# 300,000 iterations: far longer than 40 logins take to arrive, so the
	# queue fills, yet the 16 a user may queue end well within the probe's
	# 60 s on a loaded machine or under sanitizers
	ver=$(/usr/bin/python3 "$SCRAM_PROBE" verifier pw_scram 300000) || return 1
	ul="$(userlist_line u_scram "$ver")"
	pgring_start "$1" "auth_type = plain
kdf_threads = 1" "$ul" || return 1
	burst=$(PROBE_HOST=$PGRING_DIR probe plainburst u_scram testdb wrong 40) || { echo "$burst"; return 1; }
	# a wrong password: failed, or refused; nothing else, nothing hangs
	echo "40 logins, one thread: $burst"
	[ "$(field refused "$burst")" -ge 20 ] || return 1
	expect_eq "other outcomes" "$(field other "$burst")" 0 || return 1
	grep -q 'login refused: .* key derivations queued (kdf_threads = 1)' "$PGRING_LOG" ||
		{ echo "no log line for the refusals"; return 1; }
}

# A syntax error in a connection string does not echo the text after it,
# which may be a password (F16); scram_iterations beyond 1e7 is refused
sc_kdf_config_secrets() {
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	sed -i "s/^\[databases\]/[databases]\nleaky = host=127.0.0.1 port $PG_PORT password=hunter2secret/" \
		"$PGRING_CONF"
	pgring_launch || return 1
	wait_until 10 eval '! alive "$PGRING_PID"' || { echo "pgring started on a bad config"; return 1; }
	cat "$PGRING_LOG" "$PGRING_ERR" 2>/dev/null | grep 'syntax error in \[databases\] entry "leaky"' ||
		{ echo "no syntax error logged"; pgring_dump_logs; return 1; }
	if grep -qs hunter2secret "$PGRING_LOG" "$PGRING_ERR"; then
		echo "the password is in the log:"; grep -hs hunter2secret "$PGRING_LOG" "$PGRING_ERR"
		return 1
	fi
	pgring_write_config "$1" "scram_iterations = 10000001" "$(default_userlist)" || return 1
	pgring_launch || return 1
	wait_until 10 eval '! alive "$PGRING_PID"' ||
		{ echo "pgring started with scram_iterations above 1e7"; return 1; }
	cat "$PGRING_LOG" "$PGRING_ERR" 2>/dev/null | grep scram_iterations
}

# An auth_file group or others can read is warned about, as PostgreSQL
# judges its key files; 0600 is not
sc_kdf_authfile_mode() {
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	chmod 0644 "$PGRING_DIR/userlist.txt"
	pgring_launch && pgring_wait_up "$1" || return 1
	grep -q 'auth_file has group or world access (mode 0644)' "$PGRING_LOG" ||
		{ echo "no warning for mode 0644"; pgring_dump_logs; return 1; }
	pgring_stop
	pgring_write_config "$1" "" "$(default_userlist)" || return 1
	chmod 0600 "$PGRING_DIR/userlist.txt"
	pgring_launch && pgring_wait_up "$1" || return 1
	! grep -q 'group or world access' "$PGRING_LOG" || { echo "warned about 0600"; return 1; }
	login_ok testdb u_md5 pw_md5
}

SCENARIOS="$SCENARIOS kdf_mock_challenge kdf_unknown_flood kdf_md5_method kdf_plain_once
	kdf_offloop_logins kdf_server_keys kdf_queue_cap kdf_config_secrets kdf_authfile_mode"

# auth_type = hba with a scram-sha-256 rule: plain auth_file passwords get
# their SCRAM keys ahead, as with auth_type = scram-sha-256, so the first
# login already takes them from the cache
sc_kdf_hba_warm() {
	local d
	d=$(hba_dir kdfwarm) || return 1
	printf 'host all all all scram-sha-256\n' >"$d/hba.conf"
	pgring_write_config "$1" "auth_type = hba
auth_hba_file = $d/hba.conf
scram_iterations = 100000
verbose = 1" '"appuser" "pw_one"' || return 1
	sed -i "s/^\[databases\]/[databases]\nforced = host=127.0.0.1 port=$PG_PORT dbname=testdb user=u_trust password=pw_trust/" \
		"$PGRING_CONF"
	pgring_launch && pgring_wait_up "$1" || return 1
	wait_until 20 grep -q "SCRAM keys of appuser derived ahead" "$PGRING_LOG" ||
		{ echo "no keys derived ahead under auth_type = hba"; pgring_dump_logs; return 1; }
	forced_ok pw_one || return 1
	[ "$(log_count 'appuser.*SCRAM keys from the cache')" -ge 1 ] ||
		{ echo "the first login did not use the cache"; pgring_dump_logs; return 1; }
}
SCENARIOS="$SCENARIOS kdf_hba_warm"

# workers = 4 (doc/workers.md): every worker reads one userlist, and the
# SCRAM keys pgring derives for its plain passwords (to check a client, to
# log in to PostgreSQL) are cached in it once, by compare-and-swap, whichever
# worker derived them; a SET of scram_iterations gets a copy of the list, and
# a reload copies the keys still good, never taking them from the list other
# workers may still read.  Logins on every worker at once, across a SET and a
# reload, all get in; once the keys are cached no worker derives again.  At
# eee511f the caches were written in place from every worker: under
# ThreadSanitizer (scripts/test-tsan.sh) this scenario reports those races.
kdf_console() {
	timeout -k 2 30 "$PG_BINDIR/psql" -X -A -t \
		"$(pgring_conn pgbouncer u_md5 pw_md5) connect_timeout=25" -c "$1" 2>&1
}

# iters_all N: 16 challenges (over every worker, most likely) all offer N iterations
iters_all() {
	local out got
	out=$(probe first u_scram testdb 16) || { echo "probe: $out"; return 1; }
	got=$(printf '%s\n' "$out" | sed -n 's/.* i=\([0-9]*\) .*/\1/p' | sort | uniq -c | tr -s ' \n' ' ')
	echo "challenges offer (count, iterations):$got"
	[ "$(printf '%s\n' "$out" | sed -n 's/.* i=\([0-9]*\) .*/\1/p' | sort -u)" = "$1" ]
}

# burst_ok WHAT OUT: 16 SCRAM logins of u_scram, all in
burst_ok() {
	echo "$1: $2"
	expect_eq "$1" "${2%% first=*}" "ok=16 failed=0 other=0"
}

sc_kdf_workers_keys() {
	local out bp n
	pgring_start "$1" "workers = 4
auth_type = scram-sha-256
scram_iterations = 50000
admin_users = u_md5
verbose = 1" || return 1
	# while worker 0 warms up: the workers race to cache the keys
	burst_ok "at start" "$(probe scramburst u_scram testdb pw_scram 16)" || return 1
	probe scramburst u_scram testdb pw_scram 16 >"$PGRING_DIR/burst.txt" &
	bp=$!
	out=$(kdf_console "SET scram_iterations = 20000")
	wait "$bp"
	expect_eq "SET" "$out" "SET scram_iterations=20000" || return 1
	burst_ok "during SET" "$(cat "$PGRING_DIR/burst.txt")" || return 1
	wait_until 10 iters_all 20000 || { echo "not every worker offers 20000 iterations"; return 1; }
	burst_ok "after SET" "$(probe scramburst u_scram testdb pw_scram 16)" || return 1
	# a reload (another user's password changed) while logins run: back to
	# the file's 50000 iterations
	printf '"%s" "%s"\n' u_trust pw_changed u_md5 pw_md5 u_scram pw_scram \
		>"$PGRING_DIR/userlist.txt"
	n=$(log_count "re-reading config")
	probe scramburst u_scram testdb pw_scram 16 >"$PGRING_DIR/burst.txt" &
	bp=$!
	pgring_reload
	wait "$bp"
	burst_ok "during the reload" "$(cat "$PGRING_DIR/burst.txt")" || return 1
	wait_until 10 eval '[ "$(log_count "re-reading config")" -gt '"$n"' ]' ||
		{ echo "no reload"; return 1; }
	wait_until 10 iters_all 50000 || { echo "not every worker offers 50000 iterations"; return 1; }
	burst_ok "after the reload" "$(probe scramburst u_scram testdb pw_scram 16)" || return 1
	# the keys are in the list every worker reads: nobody derives again
	n=$(log_count 'u_scram.*SCRAM keys derived off the loop')
	burst_ok "cached" "$(probe scramburst u_scram testdb pw_scram 16)" || return 1
	expect_eq "client key derivations in the last burst" \
		"$(log_count 'u_scram.*SCRAM keys derived off the loop')" "$n" || return 1
	[ "$(log_count 'u_scram.*SCRAM keys from the cache')" -ge 16 ] ||
		{ echo "no logins from the cache"; pgring_dump_logs; return 1; }
	login_ok testdb u_md5 pw_md5
}
SCENARIOS="$SCENARIOS kdf_workers_keys"
