#!/bin/sh
# --cgroup DIR selects in the kernel: one workload runs in a child of a test cgroup, two
# decoys outside. With --cgroup on the parent, every sample is the target's (descendants are
# included) and the decoys cost nothing: the samples the kernel delivered (the summary's
# count, taken as records arrive, before any filtering) equal the target's samples, and no
# sample had to be dropped in userspace. An unfiltered run is then made for comparison: the
# agent's CPU time of both runs is printed (a figure, not a pass/fail check).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/cgroup-lib.sh"

e2e_setup
e2e_require
cg_setup

exe=$(workload shares) || exit 99
mkdir "$CG_TOP/sel" "$CG_TOP/sel/child" || exit 99
"$exe" 60 >/dev/null &
a=$!
e2e_track "$a"
cg_move "$a" "$CG_TOP/sel/child"
"$exe" 60 >/dev/null &
d1=$!
e2e_track "$d1"
"$exe" 60 >/dev/null &
d2=$!
e2e_track "$d2"
sleep 0.3
echo "target $a in $CG_TOP/sel/child; decoys $d1 $d2 outside"

run_perfagent 60 "$TEST_TMP/sel.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/sel" \
	--cgroup "$CG_TOP/sel" --summary-json "$TEST_TMP/sel.json"
[ "$PA_RC" = 0 ] || fail "perfagent --cgroup exited with $PA_RC"

e2e_check --profiles "$TEST_TMP/sel" --summary "$TEST_TMP/sel.json" --summary-min samples=100 \
	--select all --name "all samples" --label-in pid="$a" --min-symbolized 99 \
	--select pid="$a" --name "target" --min-samples 100 \
	--chain main,run,dispatch,burn_a,spin_alpha --chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 95 \
	--select pid="$d1" --name "decoy 1" --max-samples 0 \
	--select pid="$d2" --name "decoy 2" --max-samples 0 ||
	fail "cgroup selection profile checks (see above)"

# Kernel side: every sample the kernel delivered is one of the target's.
delivered=$(json_get "$TEST_TMP/sel.json" 's["samples"]')
filtered=$(json_get "$TEST_TMP/sel.json" 's["targets"]["filtered"]')
in_profiles=$(pprof_json "$TEST_TMP"/sel/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, sys
a = sys.argv[1]
n = t = 0
for p in json.load(sys.stdin):
    for s in p["samples"]:
        n += s["values"][0]
        t += s["values"][0] if str(s["labels"].get("pid")) == a else 0
print(n, t)' "$a")
echo "kernel delivered $delivered samples; $filtered dropped in userspace; profiles hold: $in_profiles (all, target)"
set -- $in_profiles
[ "$filtered" = 0 ] || fail "$filtered samples had to be dropped in userspace: the kernel sampled other processes"
[ "$1" = "$2" ] || fail "the profiles hold $1 samples, only $2 of them the target's"
dropped=$(json_get "$TEST_TMP/sel.json" 's["dropped"]')
[ "$delivered" = "$(($1 + dropped))" ] || fail "the kernel delivered $delivered samples, the profiles hold $1 (+$dropped dropped): samples of other processes were delivered"

# The same machine unfiltered, for the CPU-time comparison.
run_perfagent 60 "$TEST_TMP/all.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/all" \
	--summary-json "$TEST_TMP/all.json"
[ "$PA_RC" = 0 ] || fail "perfagent (unfiltered) exited with $PA_RC"
echo "agent CPU time: --cgroup $(json_get "$TEST_TMP/sel.json" 's["targets"]["agent_cpu_seconds"]') s for $delivered samples;" \
	"unfiltered $(json_get "$TEST_TMP/all.json" 's["targets"]["agent_cpu_seconds"]') s for" \
	"$(json_get "$TEST_TMP/all.json" 's["samples"]') samples"
d1_all=$(pprof_json "$TEST_TMP"/all/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, sys
print(sum(s["values"][0] for p in json.load(sys.stdin) for s in p["samples"] if str(s["labels"].get("pid")) == sys.argv[1]))' "$d1")
echo "decoy 1 in the unfiltered run: $d1_all samples"
[ "$d1_all" -gt 30 ] || fail "the unfiltered run saw only $d1_all samples of decoy 1: the comparison is void"
