#!/bin/sh
# Series and the cardinality guard: a relabel rule makes each workload's pid a series label
# (the kind of mistake the guard exists for). Four busy workloads and --max-series 2: each
# window has at most 2 series of their own plus the overflow series, labelled
# series_overflow="true", whose samples are counted in the summary; every sample is in
# exactly one series, and pid/tid/cpu stay pprof sample labels.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload shares) || exit 99
pids=""
for i in 1 2 3 4; do
	"$exe" 60 >/dev/null &
	e2e_track $!
	pids="$pids${pids:+,}$!"
done
sleep 0.2
# Keep exactly our workloads (other test suites may run the same program meanwhile).
cat >"$TEST_TMP/config.json" <<JSON
{
  "max-series": 2,
  "relabel_configs": [
    {"source_labels": ["__meta_process_pid"], "regex": "$(echo "$pids" | tr , '|')",
     "action": "keep"},
    {"source_labels": ["__meta_process_pid"], "target_label": "proc"}
  ]
}
JSON
run_perfagent 60 "$TEST_TMP/perfagent.log" --config "$TEST_TMP/config.json" -F 99 -d 4 -i 2 \
	-o "$TEST_TMP/out" --summary-json "$TEST_TMP/summary.json"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"

e2e_check --profiles "$TEST_TMP/out" --min-files 3 --summary "$TEST_TMP/summary.json" \
	--select all --name "workloads" --label-in pid="$pids" --min-samples 60 ||
	fail "series checks (see above)"
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, re, sys
summary = json.load(open(sys.argv[1]))
windows, overflow, bad = {}, 0, 0
for p in json.load(sys.stdin):
    series = dict(c[6:].split("=", 1) for c in p.get("comments", []) if c.startswith("label "))
    window = re.search(r"-(\d{6})-[0-9a-f]{8}\.pb\.gz$", p["file"]).group(1)
    n = sum(s["values"][0] for s in p["samples"])
    windows.setdefault(window, []).append(series)
    print("window %s: %s: %d samples" % (window, series, n))
    for s in p["samples"]:
        if not all(k in s["labels"] for k in ("pid", "tid", "cpu")):
            print("FAIL: a sample without pid/tid/cpu labels"); bad = 1
        if "proc" in series and str(s["labels"]["pid"]) != series["proc"]:
            print("FAIL: pid %s in the series of %s" % (s["labels"]["pid"], series["proc"])); bad = 1
    if series.get("series_overflow") == "true":
        overflow += n
for w, ss in windows.items():
    own = [s for s in ss if "proc" in s]
    if len(own) > 2:
        print("FAIL: window %s has %d series past the cap of 2" % (w, len(own))); bad = 1
    if not any(s.get("series_overflow") == "true" for s in ss):
        print("FAIL: window %s has no overflow series" % w); bad = 1
counted = summary["targets"]["overflow_samples"]
print("overflow samples: %d in the profiles, %d counted in the summary" % (overflow, counted))
if overflow == 0 or overflow != counted:
    bad = 1
sys.exit(bad)' "$TEST_TMP/summary.json" || fail "the cardinality guard misbehaved"
