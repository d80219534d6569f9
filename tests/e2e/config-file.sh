#!/bin/sh
# --config FILE: malformed files are rejected with the file, line, column and key of the
# fault (exit status 2, before anything starts); keys are the long options, the command
# line overrides the file (for repeatable options its values replace the file's list);
# "labels" and "label" reach the series; a cgroup target in the file opens cgroup events.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

make_tmpdir
[ -x "$PERFAGENT" ] || fail "$PERFAGENT not built"

# reject NAME EXPECTED: the file $TEST_TMP/NAME.json must be refused with EXPECTED.
reject() {
	f=$TEST_TMP/$1.json
	rc=0
	"$PERFAGENT" --config "$f" -d 1 -o "$TEST_TMP/out" >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || rc=$?
	echo "$1: exit $rc: $(cat "$TEST_TMP/err.txt")"
	[ "$rc" = 2 ] || fail "$1: exit status $rc, expected 2"
	grep -qF -- "$2" "$TEST_TMP/err.txt" || fail "$1: expected the message: $2"
	[ ! -d "$TEST_TMP/out" ] || fail "$1: the daemon started anyway"
}

printf '{\n  "frequency": 99,\n  "frequncy": 3\n}\n' >"$TEST_TMP/unknown.json"
reject unknown "unknown.json:3:3: frequncy: unknown key"

printf '{\n  "frequency": 99,\n  "interval":   "ten"\n}\n' >"$TEST_TMP/type.json"
reject type "type.json:3:3: interval: expected an integer"

printf '{"frequency": 99,\n "unwind-markers": 1}\n' >"$TEST_TMP/flag.json"
reject flag "flag.json:2:2: unwind-markers: expected a boolean"

printf '{"pid": [12,\n        "x"]}\n' >"$TEST_TMP/array-elem.json"
reject array-elem "array-elem.json:2:9: pid[1]: expected an integer"

printf '{"event": ["cycles"]}\n' >"$TEST_TMP/not-repeatable.json"
reject not-repeatable "not-repeatable.json:1:2: event: expected a string, not an array"

printf '{\n "frequency": 99,\n "output-dir": "/tmp",\n "frequency": 3\n}\n' >"$TEST_TMP/dup.json"
reject dup "dup.json:4:2: frequency: duplicate object key"

printf '{\n "frequency": 99\n "interval": 5\n}\n' >"$TEST_TMP/syntax.json"
reject syntax "syntax.json:3:11: frequency: '}' expected near '\"interval\"'"

printf '{"frequency": 0}\n' >"$TEST_TMP/range.json"
reject range "range.json:1:2: frequency: invalid value"
grep -qF -- "--frequency 0: expected samples per second" "$TEST_TMP/err.txt" ||
	fail "range: the option's own message is missing"

printf '{"config": "other.json"}\n' >"$TEST_TMP/cli-only.json"
reject cli-only "cli-only.json:1:2: config: unknown key"

printf '{\n  "relabel_configs": [\n    {"action": "keep"},\n    {"source_labels": ["a"], "regex": "(x", "target_label": "b"}\n  ]\n}\n' >"$TEST_TMP/regex.json"
reject regex "regex.json:4:30: relabel_configs[1].regex: invalid regex \"(x\": missing closing parenthesis"

printf '{"relabel_configs": [{"action": "hashmod",\n  "target_label": "shard"}]}\n' >"$TEST_TMP/modulus.json"
reject modulus "modulus.json:1:22: relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"

printf '{"targets": [{"cgroup": "/sys/fs/cgroup/a"},\n  {"pids": "1"}]}\n' >"$TEST_TMP/target.json"
reject target "target.json:2:4: targets[1].pids: unknown target key"

printf '{"labels": {"team": "a", "__x": "b"}}\n' >"$TEST_TMP/label.json"
reject label "label.json:1:26: labels.__x: invalid label name"

printf '[1, 2]\n' >"$TEST_TMP/array.json"
reject array "array.json:1:1: (top level): expected a JSON object"

rc=0
"$PERFAGENT" --config "$TEST_TMP/missing.json" 2>"$TEST_TMP/err.txt" || rc=$?
[ "$rc" = 2 ] && grep -qF "read the configuration file $TEST_TMP/missing.json" "$TEST_TMP/err.txt" ||
	fail "a missing file: exit $rc, $(cat "$TEST_TMP/err.txt")"

# Labels: the file's "labels" and "label", the command line's --label replacing the latter.
cat >"$TEST_TMP/labels.json" <<'JSON'
{
  "label": ["dc=x", "team=from-label-list"],
  "labels": {"team": "a", "env": "prod"},
  "node": "file-node"
}
JSON
"$PERFAGENT" --config "$TEST_TMP/labels.json" --print-labels $$ >"$TEST_TMP/labels.txt" ||
	fail "--print-labels with a valid file failed"
cat "$TEST_TMP/labels.txt"
sed -n '/^series:/,$p' "$TEST_TMP/labels.txt" >"$TEST_TMP/series.txt"
for want in "env=prod" "node=file-node" "dc=x" "team=from-label-list"; do
	grep -qx "  $want" "$TEST_TMP/series.txt" || fail "series label $want missing"
done
"$PERFAGENT" --config "$TEST_TMP/labels.json" --label team=cli --node cli-node \
	--print-labels $$ >"$TEST_TMP/labels2.txt" || fail "--print-labels with overrides failed"
sed -n '/^series:/,$p' "$TEST_TMP/labels2.txt" >"$TEST_TMP/series2.txt"
cat "$TEST_TMP/series2.txt"
grep -qx "  team=cli" "$TEST_TMP/series2.txt" || fail "--label team=cli did not override the file"
grep -qx "  node=cli-node" "$TEST_TMP/series2.txt" || fail "--node did not override the file"
grep -qx "  env=prod" "$TEST_TMP/series2.txt" || fail "the file's labels section was lost"
! grep -q "dc=x" "$TEST_TMP/series2.txt" || fail "--label should replace the file's label list"
! grep -q "__meta_" "$TEST_TMP/series2.txt" || fail "__meta_* labels must not reach a series"

# Opt-in discovery: an environment variable and the command line of a process.
env PERFAGENT_E2E_SERVICE=checkout sleep 30 &
sp=$!
trap 'kill $sp 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
sleep 0.2
"$PERFAGENT" --include-env-var PERFAGENT_E2E_SERVICE --label-cmdline --print-labels "$sp" \
	>"$TEST_TMP/env.txt" || fail "--print-labels with --include-env-var failed"
cat "$TEST_TMP/env.txt"
grep -qx "  __meta_env_var_PERFAGENT_E2E_SERVICE=checkout" "$TEST_TMP/env.txt" ||
	fail "__meta_env_var_PERFAGENT_E2E_SERVICE missing"
grep -qx "  __meta_process_cmdline=sleep 30" "$TEST_TMP/env.txt" || fail "__meta_process_cmdline missing"
"$PERFAGENT" --print-labels "$sp" >"$TEST_TMP/noenv.txt" || fail "--print-labels failed"
! grep -q "__meta_env_var_\|__meta_process_cmdline" "$TEST_TMP/noenv.txt" ||
	fail "environment or command line discovered without being asked for"
kill "$sp"

# The command line overrides the file, for options that open events too.
require_perf
printf '{"frequency": 99, "event": "cpu-clock", "stack-size": 8192}\n' >"$TEST_TMP/ok.json"
out=$("$PERFAGENT" --config "$TEST_TMP/ok.json" --check-perf) || fail "--check-perf with a valid file failed"
echo "$out"
echo "$out" | grep -q "at 99 Hz" || fail "frequency from the file not applied"
out=$("$PERFAGENT" --config "$TEST_TMP/ok.json" -F 50 --check-perf) || fail "--check-perf -F 50 failed"
echo "$out"
echo "$out" | grep -q "at 50 Hz" || fail "-F 50 did not override the file"
