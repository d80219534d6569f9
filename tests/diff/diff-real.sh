#!/bin/sh
# The differential suite on real samples: Debian's /usr/bin/python3 running a recursive
# pure-Python function (sampled by pid: the process table is bootstrapped from /proc), xz -9
# compressing random data and the frame-pointer workload-shares (both sampled from their
# exec: the process table is built from MMAP2 records), ~200 snapshots each, replayed by
# puw (PUW_MODE_AUTO, the daemon's default) and by libunwind and libdw.
#
# Fails when puw agrees with an oracle on fewer than 99.9 % of the frames where the oracle
# completes, when the two oracles agree on fewer than 99.9 % (the harness itself is wrong),
# when fewer than 99 % of puw's stacks reach the outermost frame among the samples whose
# stack the copy covers, or when puw's lookup cache changes a result. Every disagreement is
# listed with symbols and stop reasons (tests/diff/diff-real.log).
#
# DIFF_REAL_KEEP=DIR keeps the snapshots there (replay: tests/diff/diff-unwind DIR/*.snap).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

: "${CAPTURE_SNAPSHOTS:=$top_builddir/tests/tools/capture-snapshots}"
: "${DIFF_UNWIND:=$top_builddir/tests/diff/diff-unwind}"
: "${FP_WORKLOAD:=$top_builddir/tests/e2e/workload-shares}"
SYSTEM_PYTHON=/usr/bin/python3
SNAPSHOTS=200

make_tmpdir
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	if [ -n "${DIFF_REAL_KEEP:-}" ]; then
		mkdir -p "$DIFF_REAL_KEEP" && cp "$TEST_TMP"/*.snap "$DIFF_REAL_KEEP"/ 2>/dev/null
	fi
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

[ -x "$CAPTURE_SNAPSHOTS" ] || fail "$CAPTURE_SNAPSHOTS not built (make check builds it)"
[ -x "$DIFF_UNWIND" ] || fail "$DIFF_UNWIND not built (make check builds it)"
require_cmd timeout xz head
require_perf "$TEST_TMP/require"
# Debian's own build (not a pyenv or venv interpreter earlier on PATH): the distribution's
# compiler flags and CFI are what the suite is about.
[ -x "$SYSTEM_PYTHON" ] || skip "$SYSTEM_PYTHON is not installed"

# The end-to-end tests profile the whole machine and check CPU shares: do not burn CPU under
# them. Same lock as tests/e2e/e2e-lib.sh.
if command -v flock >/dev/null 2>&1; then
	mkdir -p "$top_builddir/tests/e2e"
	exec 9>>"$top_builddir/tests/e2e/.e2e-lock" || exit 99
	flock -w 900 9 || fail "waited 900 s for the end-to-end tests"
fi

# capture NAME ARGS...: capture-snapshots ARGS into $TEST_TMP/NAME.snap, bounded in time.
capture() {
	name=$1
	shift
	echo "+ capture-snapshots -n $SNAPSHOTS $* ($name)"
	# The command's own output (xz -c writes the compressed data) is not the log's business.
	timeout -k 5 90 "$CAPTURE_SNAPSHOTS" -o "$TEST_TMP/$name.snap" -n "$SNAPSHOTS" -t 60 "$@" \
		>/dev/null 2>"$TEST_TMP/$name.log"
	rc=$?
	sed 's/^/  /' "$TEST_TMP/$name.log"
	case $rc in
	0) ;;
	77) skip "capture-snapshots cannot open perf events: $(cat "$TEST_TMP/$name.log")" ;;
	*) fail "capture-snapshots ($name) exited with $rc" ;;
	esac
}

# 1. python3: pure-Python recursion (CPython 3.11 runs it in one C frame of the interpreter
# loop, with the C stack of the interpreter's start-up below), sampled by pid once warm.
"$SYSTEM_PYTHON" -c '
import sys
sys.setrecursionlimit(10000)
def walk(n):
    return 0 if n == 0 else walk(n - 1) + 1
while True:
    walk(500)
' &
PIDS="$PIDS $!"
py_pid=$!
sleep 1
kill -0 "$py_pid" 2>/dev/null || fail "$SYSTEM_PYTHON did not start"
capture python3 -p "$py_pid"

# 2. xz -9: liblzma's match finders, from its exec on (the first 300 ms, loader included,
# are skipped so that the snapshots show the compressor).
head -c 48M /dev/urandom >"$TEST_TMP/random" || exit 99
capture xz --skip-ms 300 -- xz -9 -T1 -c "$TEST_TMP/random"

# 3. The frame-pointer workload of the end-to-end tests (known chains), when built.
files="$TEST_TMP/python3.snap $TEST_TMP/xz.snap"
if [ -x "$FP_WORKLOAD" ]; then
	capture fp-workload --skip-ms 100 -- "$FP_WORKLOAD" 30
	files="$files $TEST_TMP/fp-workload.snap"
fi

echo "+ diff-unwind --require-full 99 --min-oracle-agreement 99.9 $files"
# shellcheck disable=SC2086
timeout -k 5 300 "$DIFF_UNWIND" --min-agreement 99.9 --require-full 99 \
	--min-oracle-agreement 99.9 --max-list 100 $files
rc=$?
case $rc in
0) echo "PASS: puw agrees with libunwind and libdw on real samples" ;;
1) fail "puw disagrees with the oracles (see the verdict above)" ;;
*) fail "diff-unwind exited with $rc" ;;
esac
