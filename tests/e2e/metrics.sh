#!/bin/sh
# Self-metrics: the daemon serves /metrics and /healthz on --http-address (a free port
# here). The exposition is parsed by python3-prometheus-client's parser; the sample and
# window counters must move between two scrapes taken while a workload runs.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
require_cmd timeout
require_perf
"$TESTS_PYTHON" -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "python3-prometheus-client is not installed"

exe=$(workload shares) || exit 99
"$exe" 30 >/dev/null &
e2e_track $!

timeout -k 5 40 "$PERFAGENT" -F 99 -i 1 -d 12 -o "$TEST_TMP/out" \
	--http-address 127.0.0.1:0 2>"$TEST_TMP/perfagent.log" &
agent=$!
e2e_track "$agent"
E2E_ON_EXIT='sed "s/^/  perfagent: /" "$TEST_TMP/perfagent.log" | tail -n 20'

port=""
for _ in $(seq 50); do
	port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$TEST_TMP/perfagent.log")
	[ -n "$port" ] && break
	sleep 0.2
done
[ -n "$port" ] || fail "the daemon did not log its metrics address"
echo "metrics on port $port"
sleep 2
"$TESTS_PYTHON" "$top_srcdir/tests/lib/metrics_check.py" --port "$port" --wait 3 ||
	fail "/metrics or /healthz checks (see above)"

# --http-address none: no endpoint, and a port in use only turns the endpoint off.
wait "$agent" || fail "perfagent exited with $?"
"$PERFAGENT" -d 1 -o "$TEST_TMP/out2" --http-address none 2>"$TEST_TMP/none.log" ||
	fail "perfagent --http-address none failed: $(cat "$TEST_TMP/none.log")"
grep -q "metrics:" "$TEST_TMP/none.log" && fail "--http-address none still served metrics"
"$PERFAGENT" -d 1 -o "$TEST_TMP/out3" --http-address "bogus" 2>"$TEST_TMP/bad.log" &&
	fail "--http-address bogus was accepted"
grep -q "expected HOST:PORT" "$TEST_TMP/bad.log" || fail "no useful message for a bad address"
echo "PASS"
