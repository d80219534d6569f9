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

port=$(metrics_port "$TEST_TMP/perfagent.log") || exit 1
echo "metrics on port $port"
sleep 2
"$TESTS_PYTHON" "$top_srcdir/tests/lib/metrics_check.py" --port "$port" --wait 3 ||
	fail "/metrics or /healthz checks (see above)"

# --memory-limit: a 1 MiB budget (512 KiB of CFI) bites on any machine running a shell and
# the workload; the refusals and evictions are counted and the budget is exported.
wait "$agent" || fail "perfagent exited with $?"
timeout -k 5 40 "$PERFAGENT" -F 99 -i 1 -d 5 -o "$TEST_TMP/out-mem" --memory-limit 1M \
	--http-address 127.0.0.1:0 2>"$TEST_TMP/mem.log" &
agent=$!
e2e_track "$agent"
E2E_ON_EXIT='sed "s/^/  perfagent: /" "$TEST_TMP/mem.log" | tail -n 20'
sleep 3.5
port=$(metrics_port "$TEST_TMP/mem.log") || exit 1
"$TESTS_PYTHON" - "$port" <<'PY' || fail "--memory-limit is not applied or not counted"
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
v = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
print({k: v[k] for k in ("perfagent_cfi_cache_limit_bytes", "perfagent_cfi_cache_bytes",
                         "perfagent_cfi_refused_total", "perfagent_cfi_evicted_total",
                         "perfagent_symbol_cache_limit_bytes")})
assert v["perfagent_cfi_cache_limit_bytes"] == 512 * 1024
assert v["perfagent_symbol_cache_limit_bytes"] == 512 * 1024
assert v["perfagent_cfi_refused_total"] + v["perfagent_cfi_evicted_total"] > 0, "the limit never bit"
PY
wait "$agent" || fail "perfagent --memory-limit 1M exited with $?"
grep -q "memory-limit bit: " "$TEST_TMP/mem.log" || fail "the summary does not say the limit bit"

# --http-address none: no endpoint; a malformed address is refused.
"$PERFAGENT" -d 1 -o "$TEST_TMP/out2" --http-address none 2>"$TEST_TMP/none.log" ||
	fail "perfagent --http-address none failed: $(cat "$TEST_TMP/none.log")"
grep -q "metrics:" "$TEST_TMP/none.log" && fail "--http-address none still served metrics"
"$PERFAGENT" -d 1 -o "$TEST_TMP/out3" --http-address "bogus" 2>"$TEST_TMP/bad.log" &&
	fail "--http-address bogus was accepted"
grep -q "expected HOST:PORT" "$TEST_TMP/bad.log" || fail "no useful message for a bad address"
# A port in use turns the endpoint off with a warning; profiling goes on.
"$TESTS_PYTHON" - "$PERFAGENT" "$TEST_TMP/out4" <<'PY' || fail "a busy metrics port is not handled"
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
port = s.getsockname()[1]
r = subprocess.run([sys.argv[1], "-d", "1", "-o", sys.argv[2], "--http-address",
                    f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
print(r.stderr.splitlines()[0])
assert r.returncode == 0, f"exit status {r.returncode}"
assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "none to turn" in r.stderr
PY
echo "PASS"
