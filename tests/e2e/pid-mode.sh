#!/bin/sh
# --pid A,B: only those processes are profiled. Three instances of workload-shares run; the
# daemon is given two of them: every sample must belong to one of the two, each of the two
# has samples with function names and full chains, the third (the decoy) has none.
# (Shares are system-wide.sh's business: with three busy processes on few CPUs each target
# gets too few samples for a 5-point check.)
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload shares) || exit 99
"$exe" 60 >/dev/null &
a=$!
e2e_track "$a"
"$exe" 60 >/dev/null &
b=$!
e2e_track "$b"
"$exe" 60 >/dev/null &
decoy=$!
e2e_track "$decoy"
sleep 0.5
echo "targets: $a $b, decoy: $decoy"

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/out" \
	--pid "$a,$b" --summary-json "$TEST_TMP/summary.json"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"

chains="--chain main,run,dispatch,burn_a,spin_alpha --chain main,run,dispatch,burn_b,spin_beta
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 95"
# Three CPU-bound processes share the CPUs: each target gets 5 s x 199 Hz x (CPUs / 3).
# shellcheck disable=SC2086 # $chains is split on purpose
e2e_check --profiles "$TEST_TMP/out" --summary "$TEST_TMP/summary.json" \
	--summary-min samples=1 --summary-files-match \
	--select all --name "all samples" --label-in pid="$a,$b" --min-symbolized 99 \
	--select pid="$a" --name "target $a" --min-samples 200 --min-symbolized 99 $chains \
	--select pid="$b" --name "target $b" --min-samples 200 --min-symbolized 99 $chains \
	--select pid="$decoy" --name "decoy $decoy" --max-samples 0 ||
	fail "pid-mode profile checks (see above)"
