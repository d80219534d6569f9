#!/bin/sh
# SIGHUP reloads without losing the window in progress: the daemon keeps running (before,
# SIGHUP stopped it), counts the reload in /metrics, writes every window of the run, and
# the windows tile the run without a gap: each profile starts where the previous one ended.
# (With a --config file the reload re-reads it; without one there is nothing to reload,
# which is logged.)
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload shares) || exit 99
"$exe" 30 >/dev/null &
e2e_track $!

# Not under timeout(1): it would take the SIGHUP for itself and, forwarding it, arm its
# kill timer. The daemon stops by itself (-d 11); the cleanup kills it if the test fails.
"$PERFAGENT" -F 99 -i 2 -d 11 -o "$TEST_TMP/out" --http-address 127.0.0.1:0 \
	--summary-json "$TEST_TMP/summary.json" 2>"$TEST_TMP/perfagent.log" &
agent=$!
e2e_track "$agent"
E2E_ON_EXIT='sed "s/^/  perfagent: /" "$TEST_TMP/perfagent.log" | tail -n 20'

port=$(metrics_port "$TEST_TMP/perfagent.log") || exit 1
sleep 2.9 # in the middle of the second window
kill -HUP "$agent"
sleep 0.5
kill -HUP "$agent"
sleep 1.5
kill -0 "$agent" 2>/dev/null || fail "the daemon stopped on SIGHUP"
"$TESTS_PYTHON" "$top_srcdir/tests/lib/metrics_check.py" --port "$port" --wait 3.5 --min-reloads 2 ||
	fail "/metrics does not count the reloads (see above)"
wait "$agent" || fail "perfagent exited with $?"
grep -q "SIGHUP" "$TEST_TMP/perfagent.log" || fail "the reload was not logged"

# 11 s in 2 s windows: 5 full windows and the last partial one, back to back.
pprof_json "$TEST_TMP"/out/*.pb.gz >"$TEST_TMP/profiles.json" || fail "cannot decode the profiles"
"$TESTS_PYTHON" - "$TEST_TMP/profiles.json" "$TEST_TMP/summary.json" <<'PY' || fail "windows lost or not contiguous (see above)"
import json, sys
profiles = sorted(json.load(open(sys.argv[1])), key=lambda p: p["time_nanos"])
summary = json.load(open(sys.argv[2]))
print(f"{len(profiles)} profiles, summary: {summary['windows']} windows, {summary['seconds']:.1f} s")
assert len(profiles) == 6 and summary["windows"] == 6, "expected 6 windows"
for a, b in zip(profiles, profiles[1:]):
    gap_ms = (b["time_nanos"] - (a["time_nanos"] + a["duration_nanos"])) / 1e6
    print(f"window at {a['time_nanos']}: {a['duration_nanos'] / 1e9:.3f} s, "
          f"{sum(s['values'][0] for s in a['samples'])} samples, gap to the next {gap_ms:.1f} ms")
    assert abs(gap_ms) < 50, "a gap between two windows"
    assert sum(s["values"][0] for s in a["samples"]) > 0, "an empty window"
total = sum(p["duration_nanos"] for p in profiles) / 1e9
assert abs(total - 11) < 0.5, f"windows cover {total:.2f} s of an 11 s run"
PY
echo "PASS"
