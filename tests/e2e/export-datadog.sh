#!/bin/sh
# Datadog: every window goes to files, to an agent-style endpoint (the URL without a path
# gets /profiling/v1/input) and agentless to /api/v2/profile with DD-API-KEY from a file. The
# receiver parses the multipart body with python3-multipart and checks event.json (version
# "4", family, attachments, RFC 3339 nanosecond times, tags); a request without the right
# key gets 403 there. Windows arrive exactly once, in order, identical to the files under
# go tool pprof; the API key appears in no log line.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/export-lib.sh"

e2e_setup
export_require

key="ddkey-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s\n' "$key" >"$TEST_TMP/api-key"
start_py datadog_receiver.py agent
agent_port=$PORT
start_py datadog_receiver.py intake --api-key-file "$TEST_TMP/api-key"
intake_port=$PORT

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -i 1 --log-level debug \
	-o "$TEST_TMP/files" --export "datadog=http://127.0.0.1:$agent_port" \
	--export "datadog=http://127.0.0.1:$intake_port/api/v2/profile" \
	--api-key-file "$TEST_TMP/api-key" --service-name shares-test \
	--datadog-tags env:test,version:1 --spool-dir "$TEST_TMP/spool" \
	--summary-json "$TEST_TMP/summary.json" -- "$(workload shares)" 4 ||
	fail "perfagent exited with $PA_RC"

for r in agent intake; do
	export_check --files "$TEST_TMP/files" --received "$TEST_TMP/$r" --api datadog \
		--exactly-once --in-order --min-windows 3 --label service=shares-test \
		--label env=test --label language=native --header dd-evp-origin=perfagent ||
		fail "Datadog delivery to the $r (see above)"
done
[ "$(summary_field "$TEST_TMP/summary.json" lost)" = 0 ] || fail "samples were lost"
! grep -qF "$key" "$TEST_TMP/perfagent.log" "$TEST_TMP/summary.json" ||
	fail "the API key appears in the log or the summary"
