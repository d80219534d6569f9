#!/bin/sh
# JIT perf maps: a Node.js workload run with --perf-basic-prof writes /tmp/perf-PID.map as it
# compiles. Its JIT frames live in anonymous mappings; the daemon names them from the map,
# read through the process's root and namespace pid, and read again as the map grows (V8
# writes entries all along: 2 s windows see it grow).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd node

node=$(command -v node)
node=$(readlink -f "$node")
E2E_ON_EXIT='rm -f /tmp/perf-"$wl".map'

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 8 -i 2 -o "$TEST_TMP/out" \
	--summary-json "$TEST_TMP/summary.json" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
node --perf-basic-prof "$top_srcdir/tests/e2e/jit-workload.js" 5 >"$TEST_TMP/node.out" &
wl=$!
wait "$wl" || fail "node exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"
[ -s "/tmp/perf-$wl.map" ] || fail "node wrote no /tmp/perf-$wl.map"
echo "perf map: $(wc -l <"/tmp/perf-$wl.map") lines"

# V8 names compiled code "JS:*name /path/file.js:line:col" ("~" for code not yet optimized).
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz >"$TEST_TMP/profiles.json" || fail "decode the profiles"
"$TESTS_PYTHON" - "$TEST_TMP/profiles.json" "$TEST_TMP/summary.json" "$wl" <<'PY' || fail "JIT symbol checks (see above)"
import json, re, sys
profiles = json.load(open(sys.argv[1]))
summary = json.load(open(sys.argv[2]))["symbols"]
pid = sys.argv[3]
js = re.compile(r"^JS:[*~^+-]?(\w+) .*jit-workload\.js:\d+:\d+$")
total = leaf_inner = leaf_outer = named = 0
for p in profiles:
    for s in p["samples"]:
        if s["labels"].get("pid") != pid:
            continue
        n = s["values"][0]
        user = [f for f in s["frames"] if f["mapping"] != "[kernel.kallsyms]"]
        if not user:
            continue
        total += n
        names = [(js.match(f.get("function") or "") or [None, None])[1] for f in user]
        if user[0].get("function"):
            named += n
        # Optimized jsOuterCaller may have hotLoopInner inlined: either is the hot leaf.
        if names[0] == "hotLoopInner":
            leaf_inner += n
        elif names[0] == "jsOuterCaller":
            leaf_outer += n
print(f"node samples {total}; leaf named {named}; leaf hotLoopInner {leaf_inner}, jsOuterCaller {leaf_outer}")
print("summary symbols:", summary)
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("FAIL:", what)
        ok = False
check(total >= 150, f"at least 150 node samples (got {total})")
check(leaf_inner + leaf_outer >= 0.6 * total,
      f"the JavaScript functions are the leaf of >= 60% of them ({leaf_inner + leaf_outer})")
check(leaf_inner >= 0.05 * total, f"hotLoopInner is named as a leaf ({leaf_inner})")
check(named >= 0.8 * total, f">= 80% of the leaves are named ({named})")
check(summary["jit_maps_read"] >= 1, "a perf map was read")
check(summary["jit_resolved"] >= 2, "locations were named from a perf map")
sys.exit(0 if ok else 1)
PY
