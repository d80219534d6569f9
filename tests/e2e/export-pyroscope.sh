#!/bin/sh
# Pyroscope: the daemon profiles a workload and exports every window three ways at once: to
# files, to Pyroscope's Connect Push API and to the legacy /ingest API of a loopback receiver
# built on Buf's Connect server with the upstream push.v1 schema, which applies Pyroscope's
# checks. Every window must arrive exactly once per API, in order, and parse under
# `go tool pprof` to the same samples as the file the file exporter wrote. The bearer token
# is read from a file and re-read when it changes; the tenant and an extra header arrive;
# at --log-level debug no log line holds the token.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/export-lib.sh"

e2e_setup
export_require

old_token="tok-old-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
new_token="tok-new-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s\n' "$old_token" >"$TEST_TMP/token"
start_connect pyro
url=http://127.0.0.1:$PORT

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -i 1 --log-level debug \
	-o "$TEST_TMP/files" --export "pyroscope=$url" --export "pyroscope-ingest=$url" \
	--service-name shares-test --bearer-token-file "$TEST_TMP/token" --tenant team-a \
	--header 'X-Test: hello' --spool-dir "$TEST_TMP/spool" \
	--summary-json "$TEST_TMP/summary.json" -- "$(workload shares)" 5 &
pa=$!
sleep 2.5
# A rotated token (written to a new file and renamed in, as secret managers do).
printf '%s\n' "$new_token" >"$TEST_TMP/token.new" && mv "$TEST_TMP/token.new" "$TEST_TMP/token"
wait $pa || fail "perfagent exited with $?"

for api in push ingest; do
	export_check --files "$TEST_TMP/files" --received "$TEST_TMP/pyro" --api $api \
		--exactly-once --in-order --min-windows 4 --label __name__=process_cpu \
		--label service_name=shares-test --header x-scope-orgid=team-a \
		--header x-test=hello || fail "$api delivery (see above)"
done
"$TESTS_PYTHON" - "$TEST_TMP/pyro/received.jsonl" "$old_token" "$new_token" <<'PY' ||
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
auth = [g["headers"].get("authorization") for g in got]
old, new = "Bearer " + sys.argv[2], "Bearer " + sys.argv[3]
if auth[0] != old or auth[-1] != new or any(a not in (old, new) for a in auth):
    sys.exit("FAIL: the bearer token was not sent, or not re-read after it changed")
print(f"bearer token: {auth.count(old)} requests with the first, {auth.count(new)} with the rotated one")
if any(g["api"] == "push" and len(g["id"]) != 36 for g in got):
    sys.exit("FAIL: a Push sample without a UUID")
PY
	fail "token checks"
[ "$(summary_field "$TEST_TMP/summary.json" lost)" = 0 ] || fail "samples were lost"
for t in pyroscope= pyroscope-ingest=; do
	[ "$(summary_exporter "$TEST_TMP/summary.json" $t spooled)" = 0 ] ||
		fail "$t spooled windows with a healthy receiver"
	[ "$(summary_exporter "$TEST_TMP/summary.json" $t sent)" = \
	  "$(find "$TEST_TMP/files" -name '*.pb.gz' | wc -l)" ] || fail "$t sent count"
done
for secret in "$old_token" "$new_token"; do
	! grep -rqF "$secret" "$TEST_TMP/perfagent.log" "$TEST_TMP/summary.json" ||
		fail "a bearer token appears in the log or the summary"
done
grep -q 'bearer token file .* changed' "$TEST_TMP/perfagent.log" ||
	fail "the token change was not noticed"
echo "no secret in $(wc -l <"$TEST_TMP/perfagent.log") debug log lines"
