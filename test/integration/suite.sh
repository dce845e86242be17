#!/bin/bash
# suite.sh - runs every integration scenario against one throwaway PostgreSQL,
# once per event backend, and reports in TAP (automake's tap-driver reads it).
#
#   BACKENDS="io_uring epoll"   the passes to run
#   SCENARIOS="login_trust ..."   a subset of scenarios (default: all)
#   PGRING_BIN=/usr/sbin/pgbouncer   run the scenarios against PgBouncer

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
user_scenarios=${SCENARIOS:-}
. "$here/scenarios.sh"
# each feature's scenarios live in a file of their own that appends to SCENARIOS
for f in "$here"/scenarios_*.sh; do
	[ -e "$f" ] && . "$f"
done

[ -x "$PGRING_BIN" ] || bail_out "no pooler binary at $PGRING_BIN (build it first)"
[ -x "$PQTOOL" ] || bail_out "no pqtool at $PQTOOL (make check builds it)"
[ -x "$PG_BINDIR/initdb" ] || bail_out "no PostgreSQL server binaries in $PG_BINDIR"
for tool in ss timeout awk md5sum setpriv; do
	command -v "$tool" >/dev/null || bail_out "$tool is missing (scripts/install-deps.sh)"
done
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
	bail_out "running as root needs a postgres user (apt-get install postgresql)"
fi

lib_init || bail_out "could not make a temp directory"
diag "pooler: $PGRING_BIN" "PostgreSQL: $PG_BINDIR, temp dir: $T_ROOT, user: $RUN_USER"
t_start=$(now)
pg_start || bail_out "could not start PostgreSQL"
diag "PostgreSQL up on port $PG_PORT after $(elapsed "$t_start") s"

# sanitizer_reports_new: prints the sanitizer reports written since the last
# call (files under $SANITIZER_LOG_DIR); 0 if there were any
SANITIZER_SEEN=""
sanitizer_reports_new() {
	local f found=1
	for f in "$SANITIZER_LOG_DIR"/*; do
		[ -s "$f" ] || continue
		case " $SANITIZER_SEEN " in *" $f "*) continue ;; esac
		SANITIZER_SEEN="$SANITIZER_SEEN $f"
		echo "sanitizer report $f:"
		head -n 60 "$f"
		found=0
	done
	return $found
}

# run_scenario NAME BACKEND: one TAP line, the scenario's words as comments
run_scenario() {
	local name=$1 backend=$2 out=$T_ROOT/scenario.out t0 rc
	t0=$(now)
	SKIP_REASON=""
	"sc_$name" "$backend" >"$out" 2>&1 </dev/null
	rc=$?
	pgring_stop >>"$out" 2>&1
	# a sanitizer build (scripts/test-sanitizers.sh): any new report fails the scenario
	if [ -n "${SANITIZER_LOG_DIR:-}" ] && sanitizer_reports_new >>"$out" 2>&1; then
		rc=1
	fi
	case $rc in
	0) tap_ok "$name [$backend]" ;;
	77) tap_skip "$name [$backend]" "${SKIP_REASON:-skipped}" ;;
	*) tap_not_ok "$name [$backend]" ;;
	esac
	sed 's/^/#   /' "$out"
	diag "$name [$backend]: $(elapsed "$t0") s"
}

for backend in ${BACKENDS:-io_uring epoll}; do
	list=$SCENARIOS
	[ "$backend" = io_uring ] && list="$list $SCENARIOS_IO_URING_ONLY"
	[ "$(id -u)" = 0 ] && list="$list $SCENARIOS_ROOT_ONLY"
	for name in $list; do
		if [ -n "$user_scenarios" ]; then
			case " $(echo $user_scenarios) " in *" $name "*) ;; *) continue ;; esac
		fi
		run_scenario "$name" "$backend"
	done
done

pg_stop
diag "$TAP_FAILED of $TAP_N failed; whole run $(elapsed "$t_start") s"
tap_plan
exit 0
