#!/bin/sh
# bench-unwind.sh [SNAPSHOT-FILE...]: ns/frame of puw, libunwind and libdw, warm and cold, on
# the same unwind snapshots (bench/bench-unwind). Without files, captures ~300 snapshots each
# of Debian's /usr/bin/python3 (recursive pure-Python function), xz -9 on random data and the
# frame-pointer workload (tests/e2e/workload-shares), which needs perf privileges (root,
# CAP_PERFMON or kernel.perf_event_paranoid <= 1).
#
# Environment: BENCH_UNWIND, CAPTURE_SNAPSHOTS, FP_WORKLOAD (set by `make bench-unwind`),
# BENCH_MIN_MS (CPU time per cell, split over the rounds; default 1000), BENCH_ROUNDS (default
# 7: each cell reports the median and the best round), BENCH_MODE (auto, cfi or fp; default
# auto), BENCH_CPU (the CPU to pin to; default the last one the process may use),
# BENCH_KEEP=DIR (keep the captured snapshots). Figures only: bench-unwind times with the
# thread's CPU clock and prints the load average and the share of the CPU it got, so that a
# run on a busy machine can be judged; a quiet machine is still better.
set -u
: "${BENCH_UNWIND:=bench/bench-unwind}"
: "${CAPTURE_SNAPSHOTS:=tests/tools/capture-snapshots}"
: "${FP_WORKLOAD:=tests/e2e/workload-shares}"
: "${BENCH_MIN_MS:=1000}"
: "${BENCH_ROUNDS:=7}"
: "${BENCH_MODE:=auto}"

die() {
	echo "bench-unwind.sh: $*" >&2
	exit 1
}

[ -x "$BENCH_UNWIND" ] || die "$BENCH_UNWIND not built (make bench/bench-unwind)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-unwind.XXXXXX") || exit 1
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "${BENCH_KEEP:-}" ]; then
		mkdir -p "$BENCH_KEEP" && cp "$tmp"/*.snap "$BENCH_KEEP"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ $# -eq 0 ]; then
	[ -x "$CAPTURE_SNAPSHOTS" ] || die "$CAPTURE_SNAPSHOTS not built"
	/usr/bin/python3 -c '
import sys
sys.setrecursionlimit(10000)
def walk(n):
    return 0 if n == 0 else walk(n - 1) + 1
while True:
    walk(500)
' &
	pids="$pids $!"
	sleep 1
	"$CAPTURE_SNAPSHOTS" -o "$tmp/python3.snap" -n 300 -p "$!" || die "capture python3"
	kill "$!" 2>/dev/null
	head -c 48M /dev/urandom >"$tmp/random"
	"$CAPTURE_SNAPSHOTS" -o "$tmp/xz.snap" -n 300 --skip-ms 300 -- xz -9 -T1 -c "$tmp/random" \
		>/dev/null || die "capture xz"
	set -- "$tmp/python3.snap" "$tmp/xz.snap"
	if [ -x "$FP_WORKLOAD" ]; then
		"$CAPTURE_SNAPSHOTS" -o "$tmp/fp-workload.snap" -n 300 --skip-ms 100 -- \
			"$FP_WORKLOAD" 30 >/dev/null || die "capture $FP_WORKLOAD"
		set -- "$@" "$tmp/fp-workload.snap"
	fi
fi

echo "host: $(uname -srm), $(getconf _NPROCESSORS_ONLN) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
# bench-unwind pins itself (the last CPU it may use unless --cpu) and prints the load average.
"$BENCH_UNWIND" ${BENCH_CPU:+--cpu "$BENCH_CPU"} --mode "$BENCH_MODE" --min-ms "$BENCH_MIN_MS" \
	--rounds "$BENCH_ROUNDS" "$@"
