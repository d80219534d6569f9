#!/bin/sh
# System-wide sampling at 199 Hz while workload-shares burns a CPU: the workload's samples
# must carry the full chain main -> run -> dispatch -> burn_x -> spin_x (>= 99 %), the leaf
# shares must be 60/30/10 within 5 points, and no sample may be lost.
#
# 10 s in two 5 s windows, checked together: a sample lands in a leaf with the leaf's
# probability, so a share measured on n samples has a standard deviation of
# sqrt(p(1-p)/n): 1.5 points for 60 % on one 5 s window (995 samples, the 5 points are
# 3.2 sigma), 1.1 on two (4.6 sigma, so a correct daemon essentially never fails). Two
# windows also exercise the rotation.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload shares) || exit 99
"$exe" 60 >"$TEST_TMP/workload.out" &
wl=$!
e2e_track "$wl"
# Past the dynamic loader and into run() before the window opens.
sleep 0.5

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 10 -i 5 -o "$TEST_TMP/out" \
	--summary-json "$TEST_TMP/summary.json"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"
kill -0 "$wl" 2>/dev/null || fail "workload-shares (pid $wl) died during the run"

e2e_check --profiles "$TEST_TMP/out" \
	--summary "$TEST_TMP/summary.json" --summary-eq lost=0 --summary-min samples=1 \
	--summary-min windows=2 --summary-files-match --min-files 2 \
	--select pid="$wl" --name workload-shares --min-samples 800 \
	--chain main,run,dispatch,burn_a,spin_alpha \
	--chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 99 \
	--leaf-share spin_alpha=60 --leaf-share spin_beta=30 --leaf-share spin_gamma=10 \
	--tolerance 5 --min-symbolized 99 \
	--same-label comm=workload-shares --same-label executable="$exe" ||
	fail "workload-shares profile checks (see above)"
