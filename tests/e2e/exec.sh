#!/bin/sh
# A process that execs: workload-exec burns 2 s in spin_before_exec, then execs
# workload-shares (same pid), which burns 2 s in its own functions. System-wide, one
# window: each sample is attributed to the executable (and comm) running when it was taken
# and symbolized with that executable's functions, never the other's. Checked both ways:
# by label (each executable's samples have only its own functions) and by function (the
# samples with a function have its executable's labels).
#
# The pid has a third image before those two: the shell forks and the child runs as the
# shell (comm and executable of the shell) until it execs workload-exec. Those samples are
# right, and not checked.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exec_exe=$(workload exec) || exit 99
shares_exe=$(workload shares) || exit 99

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 7 -i 7 -o "$TEST_TMP/out" &
pa=$!
e2e_track "$pa"
sleep 1
"$exec_exe" 2 2 "$shares_exe" >"$TEST_TMP/workload.out" &
wl=$!
wait "$wl" || fail "workload-exec exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"
echo "workload pid $wl"

e2e_check --profiles "$TEST_TMP/out" \
	--select pid="$wl" --where executable="$exec_exe" --name "before exec" --min-samples 100 \
	--same-label comm=workload-exec \
	--chain main,burn_before_exec,spin_before_exec --min-chain 95 \
	--absent spin_alpha --absent spin_beta --absent spin_gamma --absent dispatch \
	--select pid="$wl" --where executable="$shares_exe" --name "after exec" --min-samples 100 \
	--same-label comm=workload-shares \
	--chain main,run,dispatch,burn_a,spin_alpha \
	--chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 95 \
	--absent spin_before_exec --absent burn_before_exec \
	--select pid="$wl" --with-function spin_before_exec --name "spin_before_exec samples" \
	--same-label executable="$exec_exe" --same-label comm=workload-exec \
	--select pid="$wl" --with-function dispatch --name "dispatch samples" \
	--same-label executable="$shares_exe" --same-label comm=workload-shares ||
	fail "exec attribution checks (see above)"
