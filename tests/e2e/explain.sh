#!/bin/sh
# perfagent explain PID: the workload's mappings with their CFI, symbols and frame pointers
# (read from the files: checked against readelf), then a short sampling run of that pid with
# its stop reasons. workload-shares-nofp has .eh_frame and .symtab but no frame pointers.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
require_cmd timeout readelf
require_perf

exe=$(workload shares-nofp) || exit 99
"$exe" 20 >/dev/null &
pid=$!
e2e_track "$pid"
sleep 0.3

out=$TEST_TMP/explain.txt
timeout 60 "$PERFAGENT" explain --duration 2 "$pid" >"$out" 2>&1 || fail "explain exited with $?: $(cat "$out")"
cat "$out"
grep -q "^pid $pid (workload-shares" "$out" || fail "no header for pid $pid"
line=$(grep " $exe\$" "$out") || fail "the workload's own mapping is not listed"
# Columns: CFI SYMS DEBUG FP BUILD-ID PATH, compared with what readelf finds in the file.
set -- $line
readelf -S "$exe" | grep -q ' \.eh_frame ' && want_cfi=eh || want_cfi=none
readelf -S "$exe" | grep -q ' \.symtab ' && want_syms=symtab || want_syms=dynsym
readelf -S "$exe" | grep -q ' \.debug_info ' && want_debug=yes || want_debug=no
want_id=$(readelf -n "$exe" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
[ "$1" = "$want_cfi" ] || fail "CFI column '$1', readelf says $want_cfi"
[ "$2" = "$want_syms" ] || fail "SYMS column '$2', readelf says $want_syms"
[ "$3" = "$want_debug" ] || fail "DEBUG column '$3', readelf says $want_debug"
[ "$4" = no ] || fail "FP column '$4' for a -fomit-frame-pointer build"
[ "$5" = "$want_id" ] || fail "BUILD-ID column '$5', readelf says $want_id"
grep -q "/libc.so.6$" "$out" || fail "libc is not listed"

samples=$(sed -n 's/^Unwinding over 2 s at [0-9]* Hz: \([0-9]*\) samples.*/\1/p' "$out")
[ -n "$samples" ] && [ "$samples" -gt 50 ] || fail "the sampling run took too few samples: '$samples'"
grep -q "^stop reasons: end [0-9]" "$out" || fail "no stop reasons after the sampling run"

timeout 10 "$PERFAGENT" explain 999999999 >"$out" 2>&1 && fail "explain of a missing pid succeeded"
grep -q "no such process" "$out" || fail "no useful message for a missing pid: $(cat "$out")"
echo "PASS"
