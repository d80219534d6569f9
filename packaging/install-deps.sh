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
	       libpcre2-dev liblzma-dev libiberty-dev"
	# go tool pprof and protoc-generated python3-protobuf decode our profiles in the tests;
	# perf is the peer the benchmark measures; binutils (readelf) and util-linux (setpriv)
	# are used by the tests themselves; the arm64 unwinding tests cross-compile fixtures
	# and run them under qemu-user; nodejs (JIT perf maps) and debuginfod (a local server)
	# are profiled by the symbolization tests, which also build Rust (rustc), Go and
	# MiniDebugInfo (xz-utils) fixtures.
	tests="golang-go protobuf-compiler python3 python3-protobuf binutils util-linux procps
	       linux-perf gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
	       qemu-user nodejs debuginfod rustc xz-utils"
	# The exporter tests' loopback receivers: Node (npm ci of tests/receivers), grpcio's
	# C-core gRPC server, a multipart parser.
	tests="$tests npm python3-grpcio python3-multipart"
	pkgs=$build
	[ $want_tests = yes ] && pkgs="$pkgs $tests"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $pkgs
elif command -v dnf >/dev/null 2>&1; then
	build="gcc make autoconf automake pkgconf-pkg-config elfutils-libelf-devel elfutils-devel
	       libunwind-devel libzstd-devel jansson-devel libcurl-devel zlib-devel kernel-headers
	       elfutils-debuginfod-client-devel pcre2-devel xz-devel binutils-devel"
	tests="golang protobuf-compiler python3 python3-protobuf binutils util-linux procps-ng perf
	       gcc-aarch64-linux-gnu gcc-c++-aarch64-linux-gnu qemu-user nodejs elfutils-debuginfod rust xz"
	tests="$tests npm python3-grpcio python3-multipart"
	pkgs=$build
	[ $want_tests = yes ] && pkgs="$pkgs $tests"
	# shellcheck disable=SC2086
	dnf install -y $pkgs
else
	echo "install-deps.sh: no apt-get or dnf here; install the packages listed in README.md" >&2
	exit 1
fi
