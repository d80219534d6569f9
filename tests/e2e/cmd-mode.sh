#!/bin/sh
# perfagent -- CMD: the daemon runs the command, profiles it, and exits with its status
# (workload-exitstatus exits with 42). Every sample is the command's (one pid) and its
# functions are there, symbolized.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload exitstatus) || exit 99
run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -i 10 -o "$TEST_TMP/out" \
	--summary-json "$TEST_TMP/summary.json" -- "$exe" 2 42
echo "exit status: $PA_RC (expected 42)"
[ "$PA_RC" = 42 ] || fail "perfagent -- workload-exitstatus 2 42 exited with $PA_RC, expected 42"

# comm is truncated to 15 characters by the kernel: "workload-exitst".
e2e_check --profiles "$TEST_TMP/out" --summary "$TEST_TMP/summary.json" \
	--summary-min samples=1 --summary-min processes=1 --summary-files-match \
	--select all --name "all samples" --distinct-value pid --same-label executable="$exe" \
	--same-label comm=workload-exitstatus --min-samples 150 \
	--chain main,burn_before_status,spin_exit_status --min-chain 95 \
	--min-leaf-share spin_exit_status=95 --min-symbolized 95 ||
	fail "cmd-mode profile checks (see above)"
