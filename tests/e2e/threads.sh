#!/bin/sh
# Per-thread labels, in --pid mode (a process is profiled with all its threads): the samples
# of each of workload-threads' named threads carry thread_name = its name, one tid per
# thread, all different, and that thread's own burn function only.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload threads) || exit 99
"$exe" 60 >/dev/null &
wl=$!
e2e_track "$wl"
sleep 0.5

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/out" --pid "$wl"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"

group() {
	mine=$1
	shift
	echo --select thread_name=worker-$mine --min-samples 50 --distinct-value tid \
		--chain worker_main,burn_worker_$mine,spin_worker_$mine --min-chain 99 \
		--min-leaf-share spin_worker_$mine=99 --min-symbolized 99
	for other in "$@"; do
		echo --absent spin_worker_$other --absent burn_worker_$other
	done
}

# Three busy threads share the CPUs: up to 5 s x 199 Hz x (CPUs / 3) samples each, fewer on a
# loaded machine; 50 are plenty to show which function each thread ran.
# shellcheck disable=SC2046 # word splitting of group's output is intended
e2e_check --profiles "$TEST_TMP/out" \
	--select pid="$wl" --name "all samples" --same-label executable="$exe" \
	$(group a b c) $(group b a c) $(group c a b) ||
	fail "per-thread profile checks (see above)"
