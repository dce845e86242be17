#!/bin/bash
# install-deps.sh - installs what building and testing pgring needs on Debian 12.
# As root: apt-get installs whatever is missing (nothing when all is there).
# As anyone else: says what is missing and fails if anything is.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config	# the build
	liburing-dev libinih-dev libssl-dev libc-ares-dev	# pgring's libraries
	libidn-dev						# SASLprep (stringprep) before SCRAM
	check libpq-dev						# unit tests, pqtool
	postgresql postgresql-contrib				# the server the tests start
	pgbouncer						# the benchmarks' baseline
	procps iproute2 util-linux coreutils mawk		# ps/pgrep, ss, runuser/setpriv, timeout
	libsystemd-dev						# sd_notify for the systemd unit
	debhelper dpkg-dev lintian fakeroot			# the Debian package (scripts/deb-smoke.sh)
	clang libclang-rt-14-dev llvm				# fuzz/run.sh: libFuzzer, llvm-symbolizer
	valgrind						# scripts/valgrind-scenarios.sh
	python3							# the raw-protocol test clients (test/integration/*.py)
	libmicrohttpd-dev					# GET /metrics (metrics_listen)
	prometheus						# scenarios_metrics.sh scrapes pgring with it
	systemd							# systemd-analyze verify of the unit
	dnsmasq-base						# the DNS server of scenarios_dns.sh
	python3-psycopg2 openssl				# scenarios_tls.sh: a driver over TLS, the test CA
	linux-perf strace gnuplot-nox				# bench/run.sh: syscall counts, plots
	default-jre-headless libpostgresql-jdbc-java		# scenarios_tlsclients.sh: pgjdbc, PgTls.java run from source
	nodejs							# scenarios_tlsclients.sh: node-postgres (npm ci below)
)

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# node-postgres, at the versions test/integration/node/package-lock.json
# pins, into node_modules beside it; again only when the lock file changed
node_deps() {
	local dir
	dir=$(cd "$(dirname "$0")/.." && pwd)/test/integration/node
	if [ -d "$dir/node_modules/pg" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		return 0
	fi
	echo "install-deps: npm ci in $dir"
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
# npm: Debian's package, unless nodejs brings its own (NodeSource's does, and
# conflicts with Debian's npm)
command -v npm >/dev/null || installed npm || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	node_deps
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing: ${missing[*]}" >&2
	echo "install-deps: as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
node_deps
