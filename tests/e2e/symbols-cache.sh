#!/bin/sh
# The symbol cache stays within --symbol-cache-size while 200 different binaries (same code,
# 200 build-ids, a few hundred symbols each) are loaded one after the other: the summary
# JSON shows every one loaded, entries evicted, and bytes (now and at peak) within budget;
# and the binaries' frames are still named.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd gcc readelf

N=200
F="$TEST_TMP/bins"
mkdir -p "$F" || exit 99
"$TESTS_PYTHON" - "$F/many.c" <<'PY' || exit 99
import sys
n = 400
with open(sys.argv[1], "w") as f:
    f.write("#include <stdlib.h>\n#include <time.h>\nvolatile unsigned long sink;\n")
    for i in range(n):
        f.write(f"__attribute__((noinline)) unsigned long cache_fn_{i:04d}(unsigned long x)"
                f" {{ return x * {2 * i + 1}u + {i}u; }}\n")
    f.write("unsigned long (*const table[])(unsigned long) = {")
    f.write(", ".join(f"cache_fn_{i:04d}" for i in range(n)))
    f.write("};\n")
    f.write("""
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
__attribute__((noinline)) void cache_burn(double s)
{
	double end = now_s() + s;
	unsigned long x = 1;
	while (now_s() < end)
		for (unsigned i = 0; i < 100000; i++)
			x = table[i % (sizeof(table) / sizeof(table[0]))](x);
	sink = x;
}
int main(int argc, char **argv) { cache_burn(argc > 1 ? atof(argv[1]) : 0.05); return 0; }
""")
PY
gcc -O1 -fno-omit-frame-pointer -Wl,--build-id=sha1 -o "$F/base" "$F/many.c" || fail "build"
id=$(readelf -n "$F/base" | awk '/Build ID/ { print $3 }')
[ ${#id} = 40 ] || fail "unexpected build-id '$id'"
# 200 copies, each with its own build-id: the cache must treat them as 200 binaries.
"$TESTS_PYTHON" - "$F" "$id" "$N" <<'PY' || fail "make the copies"
import sys
d, hexid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(f"{d}/base", "rb").read()
old = bytes.fromhex(hexid)
assert data.count(old) == 1
for i in range(n):
    new = old[:-2] + i.to_bytes(2, "big")
    if new == old:
        new = old[:-3] + b"\xff" + i.to_bytes(2, "big")
    with open(f"{d}/bin-{i:03d}", "wb") as f:
        f.write(data.replace(old, new))
PY
chmod +x "$F"/bin-* || exit 99

run_perfagent 120 "$TEST_TMP/perfagent.log" -F 999 -i 1 -o "$TEST_TMP/out" \
	--symbol-cache-size 1 --summary-json "$TEST_TMP/summary.json" \
	-- sh -c "for b in \"$F\"/bin-*; do \"\$b\" 0.03 || exit 1; done" ||
	fail "perfagent -- 200 binaries exited with $PA_RC"
pprof_json "$TEST_TMP"/out/*.pb.gz >"$TEST_TMP/profiles.json" || fail "decode the profiles"
"$TESTS_PYTHON" - "$TEST_TMP/summary.json" "$TEST_TMP/profiles.json" "$N" <<'PY' ||
import json, sys
s = json.load(open(sys.argv[1]))["symbols"]
profiles = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
print("symbols:", json.dumps({k: s[k] for k in ("loaded", "hits", "misses", "evictions",
      "bytes", "peak_bytes", "max_bytes", "load_ms")}))
named = set()
for p in profiles:
    for smp in p["samples"]:
        for fr in smp["frames"]:
            if "/bin-" in fr["mapping"] and fr["function"].startswith(("cache_", "main")):
                named.add(fr["mapping"])
print(f"binaries with named frames: {len(named)} of {n}")
errs = []
if s["max_bytes"] != 1 << 20:
    errs.append(f"max_bytes {s['max_bytes']}, want 1 MiB")
if s["bytes"] > s["max_bytes"] or s["peak_bytes"] > s["max_bytes"]:
    errs.append("over budget")
if s["loaded"] < n or s["evictions"] < 1:
    errs.append(f"want >= {n} loads and evictions")
if len(named) < n * 9 // 10:
    errs.append("too few binaries named")
sys.exit("; ".join(errs) or 0)
PY
	fail "symbol cache budget (see above)"
echo PASS
