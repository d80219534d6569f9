#!/bin/sh
# Exact per-sample cgroups: one workload starts in cgroup "mv-a" and is moved to "mv-b"
# halfway through the run ("mv-b" is created after the daemon started, so its path comes
# from a PERF_RECORD_CGROUP). A relabel rule turns the cgroup into a series label; the
# samples before the move must be in series cgroup_name=mv-a and the ones after in mv-b,
# each about half of the workload's samples; processes in neither are dropped by a keep rule.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/cgroup-lib.sh"

e2e_setup
e2e_require
cg_setup

exe=$(workload shares) || exit 99
mkdir "$CG_TOP/mv-a" || exit 99
"$exe" 60 >/dev/null &
w=$!
e2e_track "$w"
cg_move "$w" "$CG_TOP/mv-a"
sleep 0.2
cat >"$TEST_TMP/config.json" <<JSON
{
  "frequency": 199,
  "relabel_configs": [
    {"source_labels": ["__meta_process_cgroup"], "regex": ".*/perfagent-e2e-$$/(mv-[ab])",
     "target_label": "cgroup_name"},
    {"source_labels": ["cgroup_name"], "regex": "mv-.*", "action": "keep"}
  ]
}
JSON

run_perfagent 60 "$TEST_TMP/perfagent.log" --config "$TEST_TMP/config.json" -d 6 -i 2 \
	-o "$TEST_TMP/out" --summary-json "$TEST_TMP/summary.json" &
pa=$!
# The 6 s start when sampling does (after the start-up scan): move at the middle of them.
i=0
until grep -q "profiling " "$TEST_TMP/perfagent.log" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "perfagent did not start sampling within 30 s"
	sleep 0.1
done
sleep 1
mkdir "$CG_TOP/mv-b" || exit 99
sleep 2
cg_move "$w" "$CG_TOP/mv-b"
echo "moved $w to mv-b at $(date +%T.%N)"
wait "$pa" || fail "perfagent exited with $?"

[ "$(json_get "$TEST_TMP/summary.json" 's["targets"]["exact_cgroup"]')" = True ] ||
	fail "this kernel did not take PERF_SAMPLE_CGROUP (Linux >= 5.7 expected here)"
[ "$(json_get "$TEST_TMP/summary.json" 's["targets"]["cgroup_records"]')" -ge 1 ] ||
	fail "no PERF_RECORD_CGROUP for the cgroup created while sampling"
e2e_check --profiles "$TEST_TMP/out" --min-files 2 --summary "$TEST_TMP/summary.json" \
	--select all --name "kept" --label-in pid="$w" \
	--select pid="$w" --where cgroup_name=mv-a --name "before the move" --min-samples 50 \
	--select pid="$w" --where cgroup_name=mv-b --name "after the move" --min-samples 50 ||
	fail "cgroup move profile checks (see above)"

# Each side holds about half of the samples (the move is at 3 s of 6).
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, sys
n = {"mv-a": 0, "mv-b": 0}
for p in json.load(sys.stdin):
    series = dict(c[6:].split("=", 1) for c in p.get("comments", []) if c.startswith("label "))
    for s in p["samples"]:
        n[series.get("cgroup_name", "?")] = n.get(series.get("cgroup_name", "?"), 0) + s["values"][0]
total = n["mv-a"] + n["mv-b"]
share = 100.0 * n["mv-a"] / total if total else 0
print("samples by series: %s; mv-a share %.1f%% (expected 50 +- 20)" % (n, share))
sys.exit(0 if 30 <= share <= 70 and set(n) == {"mv-a", "mv-b"} else 1)' ||
	fail "samples are not split at the move"
