#!/bin/sh
# SIGHUP with --config re-reads the file: the new static labels and relabel rules name the
# series from the reload on (every process is labelled again at its next sample), windows
# keep tiling the run, and a file that no longer parses is refused while the previous
# configuration stays in force.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload shares) || exit 99
"$exe" 30 >/dev/null &
wl=$!
e2e_track "$wl"

conf="$TEST_TMP/agent.json"
printf '{"labels": {"phase": "before"}, "interval": 1}\n' >"$conf"
# Not under timeout(1): it would take the SIGHUP for itself.
"$PERFAGENT" --config "$conf" -F 99 -d 9 -p "$wl" -o "$TEST_TMP/out" --http-address none \
	--summary-json "$TEST_TMP/summary.json" 2>"$TEST_TMP/perfagent.log" &
agent=$!
e2e_track "$agent"
E2E_ON_EXIT='sed "s/^/  perfagent: /" "$TEST_TMP/perfagent.log" | tail -n 30'
e2e_wait_sampling "$TEST_TMP/perfagent.log"

sleep 3
# The new file changes the labels and a key that only applies at start.
printf '{"labels": {"phase": "after"}, "interval": 1, "frequency": 49,\n "relabel_configs": [{"target_label": "reloaded", "replacement": "yes"}]}\n' >"$conf"
kill -HUP "$agent"
sleep 3
printf '{"labels": {"phase": "broken"},\n "interval": "x"}\n' >"$conf"
kill -HUP "$agent"
wait "$agent" || fail "perfagent exited with $?"

grep -q 'reloaded .*agent.json' "$TEST_TMP/perfagent.log" || fail "the reload was not logged"
grep -q '"frequency" changed' "$TEST_TMP/perfagent.log" ||
	fail "a changed start-only key was not named"
grep -q 'agent.json:2:.*interval' "$TEST_TMP/perfagent.log" ||
	fail "the broken file's error does not name line and key"
grep -q 'kept the previous configuration' "$TEST_TMP/perfagent.log" ||
	fail "the broken file was not refused"

pprof_json "$TEST_TMP"/out/*.pb.gz >"$TEST_TMP/profiles.json" || fail "cannot decode the profiles"
"$TESTS_PYTHON" - "$TEST_TMP/profiles.json" <<'PY' || fail "labels not reloaded (see above)"
import json, sys
profiles = sorted(json.load(open(sys.argv[1])), key=lambda p: p["time_nanos"])

def labels(p):
    out = {}
    for c in p.get("comments", []):
        if c.startswith("label ") and "=" in c:
            k, v = c[6:].split("=", 1)
            out[k] = v
    return out

seen = [(p["time_nanos"], labels(p).get("phase"), labels(p).get("reloaded")) for p in profiles]
for t, phase, rel in seen:
    print(f"window at {t}: phase={phase} reloaded={rel}")
phases = [s[1] for s in seen]
assert "before" in phases, "no window with the first file's labels"
assert "after" in phases, "no window with the reloaded labels"
first_after = phases.index("after")
assert "before" not in phases[first_after + 2:], "old labels after the reload's next window"
assert all(s[2] == "yes" for s in seen if s[1] == "after"), "reloaded relabel rule not applied"
assert "broken" not in phases, "a refused file's labels were applied"
assert phases[-1] == "after", "the last window lost the reloaded labels"
PY
echo "PASS"
