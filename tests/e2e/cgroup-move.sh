#!/bin/sh
# Exact per-sample cgroups: one workload starts in cgroup "mv-a" and is moved to "mv-b"
# halfway through the run ("mv-b" is created after the daemon started, so its path comes
# from a PERF_RECORD_CGROUP). A relabel rule turns the cgroup into a series label. With
# one-second windows, every window that ended before the move holds only series
# cgroup_name=mv-a, every window that began after it only mv-b (wall-clock times of the
# windows against the time of the move, so a loaded machine does not matter), and there are
# such windows on both sides; processes in neither cgroup are dropped by a keep rule.
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

run_perfagent 60 "$TEST_TMP/perfagent.log" --config "$TEST_TMP/config.json" -d 6 -i 1 \
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
before=$(date +%s%N)
cg_move "$w" "$CG_TOP/mv-b"
after=$(date +%s%N)
echo "moved $w to mv-b between $before and $after (ns since the epoch)"
wait "$pa" || fail "perfagent exited with $?"

[ "$(json_get "$TEST_TMP/summary.json" 's["targets"]["exact_cgroup"]')" = True ] ||
	fail "this kernel did not take PERF_SAMPLE_CGROUP (Linux >= 5.7 expected here)"
[ "$(json_get "$TEST_TMP/summary.json" 's["targets"]["cgroup_records"]')" -ge 1 ] ||
	fail "no PERF_RECORD_CGROUP for the cgroup created while sampling"
e2e_check --profiles "$TEST_TMP/out" --min-files 2 --summary "$TEST_TMP/summary.json" \
	--select all --name "kept" --label-in pid="$w" \
	--select pid="$w" --where cgroup_name=mv-a --name "before the move" --min-samples 20 \
	--select pid="$w" --where cgroup_name=mv-b --name "after the move" --min-samples 20 ||
	fail "cgroup move profile checks (see above)"

# Windows wholly before the move hold only mv-a, windows wholly after it only mv-b.
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, sys
before, after = int(sys.argv[1]), int(sys.argv[2])
sides = {"before": {}, "after": {}, "across": {}}
for p in json.load(sys.stdin):
    series = dict(c[6:].split("=", 1) for c in p.get("comments", []) if c.startswith("label "))
    start, end = p["time_nanos"], p["time_nanos"] + p["duration_nanos"]
    side = "before" if end <= before else "after" if start >= after else "across"
    name = series.get("cgroup_name", "?")
    n = sum(s["values"][0] for s in p["samples"])
    sides[side][name] = sides[side].get(name, 0) + n
for side, by in sides.items():
    print("windows %s the move: %s" % (side, by))
ok = (set(sides["before"]) == {"mv-a"} and set(sides["after"]) == {"mv-b"}
      and sides["before"]["mv-a"] > 0 and sides["after"]["mv-b"] > 0)
sys.exit(0 if ok else 1)' "$before" "$after" ||
	fail "samples are not attributed to the cgroup they were taken in"
