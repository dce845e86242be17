# scenarios_notify.sh - sd_notify for systemd's Type=notify: READY=1 once the
# listeners are up, RELOADING=1 then READY=1 around each SIGHUP (a failed
# reload too), STOPPING=1 when shutdown begins.  A datagram socket stands in
# for systemd's $NOTIFY_SOCKET.

# notify_listen SOCK OUT PORT: a listener writing each message to OUT, one
# line per message ("READY=1|STATUS=..."); on a message holding READY=1 it
# also tries a TCP connection to PORT and writes "connect ok" or "connect
# refused" after it, which shows whether the listeners were up when pgring
# said it was ready.  Ends after STOPPING=1, or after 60 s.
notify_listen() {
	as_run_user perl -MIO::Socket::UNIX -MIO::Socket::INET -MSocket -e '
		my ($path, $out, $port) = @ARGV;
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path) or die "bind $path: $!";
		open(my $fh, ">>", $out) or die "$out: $!";
		$fh->autoflush(1);
		alarm 60;
		while (1) {
			my $msg;
			defined($s->recv($msg, 4096)) or next;
			$msg =~ s/\n/|/g;
			print $fh "$msg\n";
			if ($msg =~ /(^|\|)READY=1(\||$)/) {
				my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port,
							      Proto => "tcp", Timeout => 2);
				print $fh ($c ? "connect ok\n" : "connect refused\n");
				close($c) if $c;
			}
			exit 0 if $msg =~ /(^|\|)STOPPING=1(\||$)/;
		}' "$1" "$2" "$3" &
	track_pid $!
	wait_until 5 test -S "$1"
}

# notify_count FILE PATTERN: how many messages in FILE match PATTERN
notify_count() { grep -cE "$2" "$1" 2>/dev/null || true; }
# notify_at_least FILE PATTERN N: whether N or more do (for wait_until)
notify_at_least() { [ "$(notify_count "$1" "$2")" -ge "$3" ]; }

sc_sd_notify() {
	local backend=$1 sock out
	if [ "$PGRING_IS_PGBOUNCER" = 0 ] && ! ldd "$PGRING_BIN" 2>/dev/null | grep -q libsystemd; then
		SKIP_REASON="pgring built without libsystemd (apt-get install libsystemd-dev)"
		return 77
	fi
	pgring_write_config "$backend" "admin_users = u_md5" "$(default_userlist)" || return 1
	sock=$PGRING_DIR/notify.sock
	out=$PGRING_DIR/notify.log
	notify_listen "$sock" "$out" "$PGRING_PORT" || { echo "the notify listener did not start"; return 1; }
	NOTIFY_SOCKET=$sock pgring_launch || return 1
	pgring_wait_up "$backend" || return 1

	wait_until 10 grep -q '^connect' "$out" || { echo "no READY=1 from pgring"; cat "$out"; return 1; }
	if ! head -n 2 "$out" | grep -q '^READY=1' || ! grep -qx 'connect ok' "$out"; then
		echo "the first message is not READY=1 with the listeners up:"; cat "$out"; return 1
	fi

	# a good reload, then one whose config does not parse: both end in READY=1
	pgring_reload
	wait_until 10 notify_at_least "$out" '^READY=1' 2 ||
		{ echo "no READY=1 after SIGHUP"; cat "$out"; return 1; }
	cp "$PGRING_CONF" "$PGRING_CONF.good"
	echo "listen_port = not-a-port" >>"$PGRING_CONF"
	pgring_reload
	wait_until 10 notify_at_least "$out" '^READY=1' 3 ||
		{ echo "no READY=1 after a failed reload"; cat "$out"; pgring_dump_logs; return 1; }
	alive "$PGRING_PID" || { echo "pgring died on a bad reload"; return 1; }
	# the console's RELOAD says the same as SIGHUP
	cp "$PGRING_CONF.good" "$PGRING_CONF"
	pq "$(pgring_conn pgbouncer u_md5 pw_md5)" query "RELOAD" >/dev/null ||
		{ echo "RELOAD on the console failed"; return 1; }
	wait_until 10 notify_at_least "$out" '^READY=1' 4 ||
		{ echo "no READY=1 after the console's RELOAD"; cat "$out"; return 1; }
	[ "$(notify_count "$out" '^RELOADING=1')" = 3 ] ||
		{ echo "want 3 RELOADING=1:"; cat "$out"; return 1; }
	grep -q '^RELOADING=1.*MONOTONIC_USEC=[0-9]' "$out" ||
		{ echo "RELOADING=1 without MONOTONIC_USEC:"; cat "$out"; return 1; }
	# each RELOADING=1 is followed by a READY=1 (the reload's end)
	awk '/^RELOADING=1/ { open = 1; next } /^READY=1/ { open = 0 } END { exit open }' "$out" ||
		{ echo "a RELOADING=1 without its READY=1:"; cat "$out"; return 1; }

	kill -INT "$PGRING_PID"
	wait_until 10 grep -q '^STOPPING=1' "$out" || { echo "no STOPPING=1 after SIGINT"; cat "$out"; return 1; }
	wait_until 10 eval "! kill -0 $PGRING_PID 2>/dev/null" || { echo "pgring did not exit after SIGINT"; return 1; }
	tail -n 1 "$out" | grep -q '^STOPPING=1' || { echo "STOPPING=1 is not the last message:"; cat "$out"; return 1; }
	echo "messages:"; cat "$out"
}

SCENARIOS="$SCENARIOS sd_notify"
