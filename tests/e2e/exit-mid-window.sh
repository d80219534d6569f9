#!/bin/sh
# A process that exits before the window closes: workload-exits burns 1 s and exits, 1 s
# into a 5 s window. Its samples must be in the profile, attributed to its pid, comm and
# executable, and symbolized (the daemon keeps what it knows of a process until the samples
# taken before its exit are resolved). The pid's samples from before the exec (the shell's
# forked child) are the shell's and not checked; the samples with the workload's functions
# must all be the workload's.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload exits) || exit 99

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/out" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
"$exe" 1 &
wl=$!
wait "$wl" || fail "workload-exits exited with $?"
kill -0 "$pa" 2>/dev/null || fail "perfagent ended before the workload did"
echo "workload pid $wl exited; window still open"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"

e2e_check --profiles "$TEST_TMP/out" \
	--select pid="$wl" --where executable="$exe" --name "exited process" --min-samples 100 \
	--same-label comm=workload-exits \
	--chain main,burn_until_exit,spin_short_lived --min-chain 95 \
	--min-leaf-share spin_short_lived=95 --min-symbolized 95 \
	--select pid="$wl" --with-function spin_short_lived --name "spin_short_lived samples" \
	--same-label executable="$exe" --same-label comm=workload-exits ||
	fail "exited-process checks (see above)"
