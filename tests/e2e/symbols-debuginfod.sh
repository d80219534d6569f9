#!/bin/sh
# debuginfod: a stripped fixture (no .symtab) whose debug file exists only on a real
# debuginfod server on loopback. The daemon fetches it in the background: the first window
# may keep addresses, later windows have the names. Then, with the server stopped, profiling
# goes on and the misses are counted in the summary.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd debuginfod objcopy strip readelf

src=$(workload exits-g) || exit 99
mkdir "$TEST_TMP/srv" "$TEST_TMP/bin" || exit 99
exe="$TEST_TMP/bin/wl-stripped"
objcopy --only-keep-debug "$src" "$TEST_TMP/srv/wl.debug" || fail "objcopy --only-keep-debug"
strip --strip-all -o "$exe" "$src" || fail "strip"
readelf -S "$exe" | grep -q '\.symtab' && fail "the stripped fixture still has a .symtab"
build_id=$(readelf -n "$exe" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
[ -n "$build_id" ] || fail "the fixture has no build-id"
echo "fixture $exe, build-id $build_id"

port=$((20000 + $$ % 20000))
debuginfod -F "$TEST_TMP/srv" -p "$port" -d "$TEST_TMP/debuginfod.sqlite" -t 1 \
	>"$TEST_TMP/debuginfod.log" 2>&1 &
srv=$!
e2e_track "$srv"
url="http://127.0.0.1:$port"
# Wait until the server has scanned the directory and serves the debug file.
"$TESTS_PYTHON" - "$url/buildid/$build_id/debuginfo" <<'PY' || { tail -20 "$TEST_TMP/debuginfod.log"; fail "debuginfod did not serve the debug file within 30 s"; }
import sys, time, urllib.request
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            if r.status == 200:
                print("debuginfod serves", sys.argv[1])
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit(1)
PY

echo "== server up"
export DEBUGINFOD_CACHE_PATH="$TEST_TMP/cache1"
run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 7 -i 2 -o "$TEST_TMP/out" \
	--debuginfod-url "$url" --summary-json "$TEST_TMP/summary.json" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
"$exe" 5 &
wl=$!
wait "$wl" || fail "the stripped workload exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"
e2e_check --profiles "$TEST_TMP/out" --summary "$TEST_TMP/summary.json" \
	--select pid="$wl" --name "stripped workload" --min-samples 200 \
	--select pid="$wl" --with-function spin_short_lived --name "named through debuginfod" \
	--min-samples 100 --chain main,burn_until_exit,spin_short_lived --min-chain 95 ||
	fail "debuginfod symbolization checks (see above)"
"$TESTS_PYTHON" - "$TEST_TMP/summary.json" <<'PY' || fail "debuginfod counters"
import json, sys
d = json.load(open(sys.argv[1]))["symbols"]["debuginfod"]
print("debuginfod:", d)
sys.exit(0 if d["enabled"] and d["fetched"] >= 1 else 1)
PY

echo "== server stopped"
kill "$srv" && wait "$srv" 2>/dev/null
export DEBUGINFOD_CACHE_PATH="$TEST_TMP/cache2"
run_perfagent 60 "$TEST_TMP/perfagent2.log" -F 199 -d 5 -i 2 -o "$TEST_TMP/out2" \
	--debuginfod-url "$url" --debuginfod-timeout 5 --summary-json "$TEST_TMP/summary2.json" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent2.log"
"$exe" 3 &
wl=$!
wait "$wl" || fail "the stripped workload exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"
e2e_check --profiles "$TEST_TMP/out2" --summary "$TEST_TMP/summary2.json" \
	--summary-min files=2 \
	--select pid="$wl" --name "stripped workload, no server" --min-samples 30 \
	--absent spin_short_lived || fail "profiling without the server (see above)"
"$TESTS_PYTHON" - "$TEST_TMP/summary2.json" <<'PY' || fail "the misses were not counted"
import json, sys
d = json.load(open(sys.argv[1]))["symbols"]["debuginfod"]
print("debuginfod:", d)
sys.exit(0 if d["misses"] >= 1 and d["errors"] >= 1 and d["fetched"] == 0 else 1)
PY
