#!/bin/sh
# Benchmark: a separate debug file of >= 100 MB loaded by the flush thread while the whole
# machine is sampled at 999 Hz. Prints the debug file's size, the time the symbol cache took
# to load it, and the run's lost/dropped samples (the point: loading happens off the
# draining path, so nothing is lost). Figures, not pass/fail. Run as root:
#   make bench-bigdebug            (or PERFAGENT=... sh bench/bench-bigdebug.sh)
# BIGDEBUG_FUNCS (default 220000) functions with ~280-character C++-style names make the
# .symtab/.strtab of the debug file; BENCH_SECONDS (default 12) is the run's length.
set -eu

: "${PERFAGENT:?set PERFAGENT to the perfagent binary}"
: "${TESTS_PYTHON:=/usr/bin/python3}"
: "${BIGDEBUG_FUNCS:=220000}"
: "${BENCH_SECONDS:=12}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/perfagent-bigdebug.XXXXXX")
pid=""
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "generating $BIGDEBUG_FUNCS functions..."
"$TESTS_PYTHON" - "$tmp/funcs.s" "$BIGDEBUG_FUNCS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
pad = "N" * 200  # names as long as real template-heavy C++ symbols
with open(path, "w") as f:
    f.write("\t.text\n")
    for i in range(n):
        name = f"_ZN5bench{len(pad) + 14}{pad}_big_{i:07d}4workEv"
        f.write(f"\t.globl {name}\n\t.type {name}, @function\n{name}:\n\tret\n"
                f"\t.size {name}, .-{name}\n")
PY
cat >"$tmp/main.c" <<'EOF'
#include <stdlib.h>
#include <time.h>
static volatile unsigned long sink;
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
__attribute__((noinline)) void bigdebug_spin(double s)
{
	double end = now_s() + s;
	while (now_s() < end)
		for (int i = 0; i < 100000; i++)
			sink += i ^ (sink >> 3);
}
int main(int argc, char **argv) { bigdebug_spin(atof(argv[1])); return 0; }
EOF
t0=$(date +%s.%N)
gcc -O2 -g -fno-omit-frame-pointer -Wl,--build-id -o "$tmp/bigdebug" "$tmp/main.c" "$tmp/funcs.s"
objcopy --only-keep-debug "$tmp/bigdebug" "$tmp/bigdebug.debug"
strip --strip-all "$tmp/bigdebug"
id=$(readelf -n "$tmp/bigdebug" | awk '/Build ID/ { print $3 }')
mkdir -p "$tmp/dbg/.build-id/$(echo "$id" | cut -c1-2)"
dbg="$tmp/dbg/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug"
mv "$tmp/bigdebug.debug" "$dbg"
size=$(stat -c %s "$dbg")
echo "debug file: $size bytes ($((size / 1048576)) MiB), built in $(echo "$(date +%s.%N) - $t0" | bc) s"

# The workload runs before the daemon starts and past its end; its symbols load when the
# first window is flushed, two seconds in, while sampling goes on.
"$tmp/bigdebug" $((BENCH_SECONDS + 2)) &
pid=$!
sleep 0.5
"$PERFAGENT" -F 999 -i 2 -d "$BENCH_SECONDS" -o "$tmp/out" --debuginfo-dir "$tmp/dbg" \
	--summary-json "$tmp/summary.json" 2>"$tmp/perfagent.log" || {
	cat "$tmp/perfagent.log"
	exit 1
}
wait "$pid" || true
pid=""
grep -E "summary:|symbols:" "$tmp/perfagent.log" | sed 's/^/  /'
"$TESTS_PYTHON" - "$tmp/summary.json" "$tmp/bigdebug" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sy = s["symbols"]
load = [x for x in sy["slowest"] if x["binary"].endswith("/bigdebug")]
print(f"samples {s['samples']}, lost {s['lost']}, dropped {s['dropped']}, "
      f"throttled {s['throttled']} at {s['frequency_hz']} Hz on {s['cpus']} CPUs")
if load:
    x = load[0]
    print(f"bigdebug symbols: loaded in {x['load_ms']:.0f} ms from {x['source']}, "
          f"{x['bytes'] / 1048576:.1f} MiB in the cache")
else:
    print("bigdebug was not among the slowest loads: " + json.dumps(sy["slowest"]))
PY
n=0
for f in "$tmp"/out/*.pb.gz; do
	n=$((n + $(go tool pprof -raw "$f" 2>/dev/null | grep -c bigdebug_spin || true)))
done
echo "locations named bigdebug_spin in the profiles: $n"
