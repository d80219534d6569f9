#!/bin/sh
# Installs what perfagent needs to build (and, with --test, to run its test suite).
# Debian/Ubuntu (apt-get) and Fedora/RHEL (dnf). Run as root.
set -eu

want_tests=no
[ "${1:-}" = --test ] && want_tests=yes

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (it installs packages)" >&2
	exit 1
fi

if command -v apt-get >/dev/null 2>&1; then
	build="build-essential autoconf automake pkg-config libelf-dev libdw-dev libunwind-dev
	       libzstd-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev libdebuginfod-dev
	       libpcre2-dev liblzma-dev libiberty-dev libmicrohttpd-dev libcap-dev"
	# go tool pprof and protoc-generated python3-protobuf decode our profiles in the tests;
	# perf is the peer the benchmark measures; binutils (readelf) and util-linux (setpriv)
	# are used by the tests themselves; the arm64 unwinding tests cross-compile fixtures
	# and run them under qemu-user; nodejs (JIT perf maps) and debuginfod (a local server)
	# are profiled by the symbolization tests, which also build Rust (rustc), Go and
	# MiniDebugInfo (xz-utils) fixtures; the packaging tests (make check-packages) build,
	# lint and install the packages, and check the unit and the metrics exposition.
	tests="golang-go protobuf-compiler python3 python3-protobuf binutils util-linux procps
	       linux-perf gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
	       qemu-user debuginfod rustc xz-utils"
	# The exporter tests' loopback receivers: Node (npm ci of tests/receivers), grpcio's
	# C-core gRPC server, a multipart parser. A Node.js already installed from another
	# repository (NodeSource's bundles npm and conflicts with Debian's) is used as it is.
	command -v node >/dev/null 2>&1 || tests="$tests nodejs"
	command -v npm >/dev/null 2>&1 || tests="$tests npm"
	tests="$tests python3-grpcio python3-multipart"
	tests="$tests python3-prometheus-client python3-yaml systemd groff-base debhelper dpkg-dev
	       lintian rpm rpmlint debootstrap"
	pkgs=$build
	[ $want_tests = yes ] && pkgs="$pkgs $tests"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $pkgs
elif command -v dnf >/dev/null 2>&1; then
	build="gcc make autoconf automake pkgconf-pkg-config elfutils-libelf-devel elfutils-devel
	       libunwind-devel libzstd-devel jansson-devel libcurl-devel zlib-devel kernel-headers
	       elfutils-debuginfod-client-devel pcre2-devel xz-devel binutils-devel
	       libmicrohttpd-devel libcap-devel"
	tests="golang protobuf-compiler python3 python3-protobuf binutils util-linux procps-ng perf
	       gcc-aarch64-linux-gnu gcc-c++-aarch64-linux-gnu qemu-user elfutils-debuginfod rust xz"
	command -v node >/dev/null 2>&1 || tests="$tests nodejs"
	command -v npm >/dev/null 2>&1 || tests="$tests npm"
	tests="$tests python3-grpcio python3-multipart python3-prometheus_client python3-pyyaml
	       systemd groff-base rpm-build rpmlint"
	pkgs=$build
	[ $want_tests = yes ] && pkgs="$pkgs $tests"
	# shellcheck disable=SC2086
	dnf install -y $pkgs
else
	echo "install-deps.sh: no apt-get or dnf here; install the packages listed in README.md" >&2
	exit 1
fi
