#!/bin/bash
# valgrind-scenarios.sh - runs integration scenarios with every pgring instance
# under valgrind's memcheck (epoll backend: valgrind does not model io_uring's
# shared rings) and fails on any invalid read or write, use of uninitialised
# memory, invalid free or fd misuse it reports.  Exit-time "leaks" are not
# counted: pgring keeps its config, pools and loop until exit by design.
#
#   scripts/valgrind-scenarios.sh [BUILD_DIR]    (default ./build, after make check)
#   VG_SCENARIOS="..."   the scenarios (default: a login, reset, COPY, faults,
#                        malformed, and one per feature file of hba, auth_query,
#                        metrics/--check, hosts over DNS, TLS both ways, the
#                        KDF threads and SUSPEND)
# Ends with "valgrind: N passed, N failed".
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }
[ -x "$build/pgring" ] && [ -x "$build/test/integration/pqtool" ] ||
	{ echo "valgrind: build pgring and the test tools in $build first (make check)"; exit 1; }

dir=$(mktemp -d /tmp/pgring-vg.XXXXXX)
chmod 1777 "$dir"
trap 'rm -rf "$dir"' EXIT
# the wrapper stands for pgring: the suite starts it as it would the binary
cat >"$dir/pgring" <<WRAP
#!/bin/sh
exec valgrind --quiet --vgdb=no --tool=memcheck --track-fds=no --leak-check=no --num-callers=30 \\
	--error-exitcode=99 --log-file=$dir/vg.%p.log "$build/pgring" "\$@"
WRAP
chmod 755 "$dir/pgring"

# then one short scenario per feature file: hba + auth_query + /metrics, hba
# rules, --check of hba and host lists, a host list over DNS (root only)
scenarios=${VG_SCENARIOS:-"login_md5_plain login_scram_verifier session_reset pg_restart client_killed robust_backend_killed robust_pg_down robust_malformed robust_max_packet_size robust_noread
	authq_hba hba_rules check_hba_hosts dns_hostlist tls_client_psql tls_server kdf_mock_challenge suspend_query"}
out=$dir/suite.out
rc=0
top_builddir=$build top_srcdir=$src PGRING_BIN=$dir/pgring BACKENDS=epoll SCENARIOS="$scenarios" \
	PQ_TIMEOUT=120 bash "$src/test/integration/suite.sh" >"$out" 2>&1 || rc=$?
passed=$(grep -c '^ok ' "$out" || true)
failed=$(grep -c '^not ok ' "$out" || true)
grep -E '^(ok|not ok)' "$out" | sed 's/^/valgrind: /'
[ "$failed" -eq 0 ] || grep -A 20 '^not ok' "$out" | head -n 60
reports=0
for f in "$dir"/vg.*.log; do
	[ -s "$f" ] || continue
	reports=$((reports + 1))
	echo "--- valgrind report $f"
	head -n 80 "$f"
done
[ "$rc" -eq 0 ] || failed=$((failed + 1))
echo "valgrind: $(ls "$dir"/vg.*.log 2>/dev/null | wc -l) pgring processes checked, $reports with reports"
failed=$((failed + reports))
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
