# Helpers for the end-to-end tests, sourced after tests/lib/common.sh. Not run.
#
# Every daemon run is bounded (run_perfagent uses timeout), every background workload is
# killed when the test exits, and the daemon's stderr is kept in a log that is printed when
# something goes wrong, so a failing CI log says why.

: "${E2E_WORKLOADS:=$top_builddir/tests/e2e}"

E2E_PIDS=""
E2E_ON_EXIT=""

e2e_cleanup() {
	[ -z "$E2E_ON_EXIT" ] || eval "$E2E_ON_EXIT"
	for p in $E2E_PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $E2E_PIDS; do
		wait "$p" 2>/dev/null
	done
	[ -z "${TEST_TMP:-}" ] || rm -rf "$TEST_TMP"
}

# e2e_setup: scratch directory, cleanup on exit (E2E_ON_EXIT run, workloads killed,
# directory removed); then wait for the other end-to-end tests of this build tree to finish.
# They burn CPU and sample the whole machine: run side by side (make -j check) they would
# steal each other's CPU time and appear in each other's profiles. flock(1) serializes them
# without chaining their .log files in make (which would make `make check TESTS=one.sh` run
# the others first).
e2e_setup() {
	make_tmpdir
	trap e2e_cleanup EXIT
	trap 'exit 99' INT TERM HUP
	if command -v flock >/dev/null 2>&1; then
		exec 9>>"$top_builddir/tests/e2e/.e2e-lock" || exit 99
		flock -w 900 9 || fail "waited 900 s for the other end-to-end tests"
	fi
}

# e2e_track PID: kill PID when the test exits.
e2e_track() {
	E2E_PIDS="$E2E_PIDS $1"
}

# workload NAME: the path of a built workload, canonical (as /proc/PID/exe shows it).
workload() {
	[ -x "$E2E_WORKLOADS/workload-$1" ] || fail "$E2E_WORKLOADS/workload-$1 not built (make check builds it)"
	echo "$(cd "$E2E_WORKLOADS" && pwd -P)/workload-$1"
}

# run_perfagent LIMIT_S LOG ARGS...: run the daemon, killed after LIMIT_S seconds. Sets
# PA_RC to its exit status and returns it (so `run_perfagent ... & wait $!` sees it); its
# stderr goes to LOG (and is printed). A run the timeout had to kill fails the test.
run_perfagent() {
	pa_limit=$1
	pa_log=$2
	shift 2
	echo "+ perfagent $*"
	PA_RC=0
	timeout -k 5 "$pa_limit" "$PERFAGENT" "$@" 2>"$pa_log" || PA_RC=$?
	sed 's/^/  perfagent: /' "$pa_log" | tail -n 40
	if [ "$PA_RC" = 124 ] || [ "$PA_RC" = 137 ]; then
		fail "perfagent did not exit within $pa_limit s (timeout killed it)"
	fi
	return "$PA_RC"
}

# e2e_check ARGS...: tests/lib/e2e_check.py on this run's profiles.
e2e_check() {
	"$TESTS_PYTHON" "$top_srcdir/tests/lib/e2e_check.py" --proto-dir "$PROTO_DIR" "$@"
}

# e2e_require: timeout, a daemon that can open its events, the protos and decoder.
e2e_require() {
	require_cmd timeout
	require_perf "$TEST_TMP/require"
	require_protos
}

# e2e_wait_sampling LOG: wait (at most 30 s) until the daemon logging to LOG samples, so that
# a workload started next is seen from its first instruction even when start-up is slow.
e2e_wait_sampling() {
	for _ in $(seq 300); do
		grep -q ': profiling ' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "perfagent did not start sampling within 30 s"
}

# metrics_port LOG: the port a daemon started with --http-address HOST:0 logged in LOG
# (waits up to 10 s for the line); fails the test when it never comes.
metrics_port() {
	for _ in $(seq 50); do
		mp=$(sed -n 's|.*metrics: http://[^ ]*:\([0-9]*\)/metrics.*|\1|p' "$1")
		[ -n "$mp" ] && { echo "$mp"; return 0; }
		sleep 0.2
	done
	fail "the daemon did not log its metrics address in $1"
}
