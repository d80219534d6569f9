#!/bin/sh
# The workloads do what the end-to-end tests assume, as seen by an independent profiler:
# `perf record -g` (frame-pointer call chains) of each workload, converted by
# tests/lib/e2e_perf2json.py and checked by tests/lib/e2e_check.py with the same figures as
# the daemon's tests (sample counts aside: they only need to show the workload ran). When a
# daemon test fails and this one passes, the daemon is at fault.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
require_cmd perf timeout
timeout 30 perf record -q -e cpu-clock -F 99 -g -o "$TEST_TMP/probe.data" -- true \
	>"$TEST_TMP/probe.log" 2>&1 || skip "perf record does not work here: $(cat "$TEST_TMP/probe.log")"

# record NAME ARGS...: perf record -g of workload NAME, as JSON in pprof_decode.py's shape.
record() {
	name=$1
	shift
	echo "+ perf record -F 999 -g -- workload-$name $*"
	timeout -k 5 60 perf record -q -e cpu-clock -F 999 -g -o "$TEST_TMP/$name.data" -- \
		"$(workload "$name")" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.log"
	rc=$?
	timeout 60 perf script -i "$TEST_TMP/$name.data" -F comm,pid,tid,period,ip,sym,dso \
		2>>"$TEST_TMP/$name.log" |
		"$TESTS_PYTHON" "$top_srcdir/tests/lib/e2e_perf2json.py" >"$TEST_TMP/$name.json" ||
		fail "perf script of workload-$name: $(cat "$TEST_TMP/$name.log")"
	return $rc
}

check() {
	"$TESTS_PYTHON" "$top_srcdir/tests/lib/e2e_check.py" --json "$@"
}

shares=$(workload shares) || exit 99
record shares 3 || fail "workload-shares exited with $?"
# perf's kernel frame-pointer walk loses the caller of a sample taken on a function's first
# instructions (before push %rbp), so its chains are held to 98 %, not the daemon's 99 %; and
# a loaded machine gives the workload less than its CPU, hence the modest sample floor.
check "$TEST_TMP/shares.json" --select comm=workload-shares --min-samples 300 \
	--chain main,run,dispatch,burn_a,spin_alpha \
	--chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 98 \
	--leaf-share spin_alpha=60 --leaf-share spin_beta=30 --leaf-share spin_gamma=10 \
	--tolerance 5 --min-symbolized 99 || fail "workload-shares"

record threads 3 || fail "workload-threads exited with $?"
# shellcheck disable=SC2046
check "$TEST_TMP/threads.json" $(for t in a b c; do
	echo --select thread_name=worker-$t --min-samples 100 --distinct-value tid \
		--chain worker_main,burn_worker_$t,spin_worker_$t --min-chain 99
	for o in a b c; do [ $o = $t ] || echo --absent spin_worker_$o; done
done) || fail "workload-threads"

record exec 1.5 1.5 "$shares" || fail "workload-exec exited with $?"
check "$TEST_TMP/exec.json" \
	--select thread_name=workload-exec --min-samples 100 \
	--chain main,burn_before_exec,spin_before_exec --min-chain 98 \
	--absent spin_alpha --absent spin_beta --absent spin_gamma \
	--select thread_name=workload-shares --min-samples 100 \
	--chain main,run,dispatch,burn_a,spin_alpha \
	--chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 98 \
	--absent spin_before_exec || fail "workload-exec"

record exits 1 || fail "workload-exits exited with $?"
check "$TEST_TMP/exits.json" --select comm=workload-exits --min-samples 100 \
	--chain main,burn_until_exit,spin_short_lived --min-chain 98 || fail "workload-exits"

rc=0
record exitstatus 1 42 || rc=$?
echo "workload-exitstatus exit status: $rc (expected 42)"
[ "$rc" = 42 ] || fail "workload-exitstatus 1 42 exited with $rc"
check "$TEST_TMP/exitstatus.json" --select comm=workload-exitstatus --min-samples 100 \
	--chain main,burn_before_status,spin_exit_status --min-chain 98 || fail "workload-exitstatus"
