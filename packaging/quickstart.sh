#!/bin/sh
# README.md's first command: install what perfagent needs, build it, and profile this whole
# machine for 30 seconds into ./profiles. Root is used through sudo when not already root.
set -eu
cd "$(dirname "$0")/.."

as_root=""
[ "$(id -u)" -eq 0 ] || as_root=sudo

$as_root packaging/install-deps.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"

# cpu-clock samples running tasks only: an idle machine gives nothing to look at. So that
# there is, xz (a distribution binary built without frame pointers) compresses random data
# meanwhile; everything else running on the machine is profiled too.
echo "Profiling this machine for 30 s (with xz compressing random data meanwhile);" \
	"profiles go to ./profiles ..."
(
	end=$(($(date +%s) + 30))
	while [ "$(date +%s)" -lt "$end" ]; do
		head -c 32M /dev/urandom | xz -6 -T1 >/dev/null
	done
) &
load=$!
$as_root ./perfagent --duration 30 --output-dir ./profiles
wait "$load" 2>/dev/null || true
echo
if ls profiles/*.pb.gz >/dev/null 2>&1; then
	echo "Profiles written:"
	ls -l profiles/*.pb.gz
	echo "Look at them with: go tool pprof -top profiles/*.pb.gz   (package golang-go)"
else
	echo "No profile written: nothing ran on the CPUs while sampling."
fi
