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

echo "Profiling this machine for 30 s; profiles go to ./profiles ..."
$as_root ./perfagent --duration 30 --output-dir ./profiles
echo
echo "Profiles written:"
ls -l profiles/*.pb.gz
echo "Look at them with: go tool pprof -top profiles/*.pb.gz   (package golang-go)"
