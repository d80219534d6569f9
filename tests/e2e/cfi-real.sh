#!/bin/sh
# DWARF unwinding through the real daemon, system-wide, of code without frame pointers:
#  - workload-shares built -O2 -fomit-frame-pointer: full chains main -> ... -> leaf and the
#    60/30/10 shares, as its frame-pointer twin in system-wide.sh;
#  - Debian's own /usr/bin/python3 (built without frame pointers) running a recursive
#    pure-Python function, and xz -9 compressing random data.
# Each must reach its outermost frame (_start, or a thread start) in >= 99 % of its samples:
# the default 16 KiB stack copy covers these stacks, so a shorter chain is an unwinding bug.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
PY=/usr/bin/python3
[ -x "$PY" ] || skip "$PY (Debian's python3) is not installed"
require_cmd xz

exe=$(workload shares-nofp) || exit 99
"$exe" 60 >"$TEST_TMP/workload.out" &
wl=$!
e2e_track "$wl"

"$PY" -c '
def f(n):
    if n == 0:
        s = 0
        for i in range(3000):
            s += i * i
        return s
    return f(n - 1) + 1
while True:
    f(40)
' &
py=$!
e2e_track "$py"

head -c 8M /dev/urandom >"$TEST_TMP/random.bin"
sh -c 'while :; do xz -9 -T1 -c "$1" >/dev/null; done' sh "$TEST_TMP/random.bin" &
xzloop=$!
e2e_track "$xzloop"
E2E_ON_EXIT='pkill -P '"$xzloop"' 2>/dev/null'
sleep 0.5

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 10 -i 5 -o "$TEST_TMP/out" \
	--summary-json "$TEST_TMP/summary.json"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"

OUTERMOST=_start,__libc_start_main,__libc_start_call_main,clone,clone3,start_thread
e2e_check --profiles "$TEST_TMP/out" \
	--summary "$TEST_TMP/summary.json" --summary-eq lost=0 --min-files 2 \
	--select pid="$wl" --name workload-shares-nofp --min-samples 300 \
	--chain main,run,dispatch,burn_a,spin_alpha \
	--chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 99 \
	--outermost "$OUTERMOST" --min-outermost 99 \
	--leaf-share spin_alpha=60 --leaf-share spin_beta=30 --leaf-share spin_gamma=10 \
	--tolerance 7 --min-symbolized 99 \
	--select pid="$py" --name "Debian python3" --min-samples 300 \
	--outermost "$OUTERMOST" --min-outermost 99 \
	--select comm=xz --name "xz -9" --min-samples 300 \
	--outermost "$OUTERMOST" --min-outermost 99 ||
	fail "unwinding checks (see above)"
