#!/bin/sh
# Binaries deleted and replaced on disk while (or after) they run.
#
# 1. workload-exits runs from a copy; 2 s in, the copy is deleted and workload-shares (another
#    build, other functions at other addresses) is put at the same path. The running process
#    keeps its names: the daemon reads the file it mapped (/proc/PID/map_files), not the path.
# 2. A copy runs 1 s and exits inside a window, then is replaced before the window closes: the
#    mapped file is gone and the file at the path has another inode. The frames must stay
#    unnamed (counted as mismatched), never be named from the other build.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exits=$(workload exits) || exit 99
shares=$(workload shares) || exit 99
mkdir "$TEST_TMP/bin" || exit 99
wl_path="$TEST_TMP/bin/wl"
cp "$exits" "$wl_path" || exit 99

echo "== replaced while running"
run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 8 -i 2 -o "$TEST_TMP/out" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
"$wl_path" 6 &
wl=$!
sleep 2
rm -f "$wl_path" && cp "$shares" "$wl_path" || fail "replace the binary"
wait "$wl" || fail "the workload exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"

e2e_check --profiles "$TEST_TMP/out" \
	--select pid="$wl" --name "replaced binary" --min-samples 150 \
	--chain main,burn_until_exit,spin_short_lived --min-chain 95 --min-symbolized 95 \
	--absent spin_alpha --absent spin_beta --absent spin_gamma --absent dispatch \
	--absent run || fail "replaced-while-running checks (see above)"

echo "== exited, then replaced before the window closed"
rm -f "$wl_path" && cp "$exits" "$wl_path" || exit 99
run_perfagent 60 "$TEST_TMP/perfagent2.log" -F 199 -d 5 -i 5 -o "$TEST_TMP/out2" \
	--summary-json "$TEST_TMP/summary2.json" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent2.log"
"$wl_path" 1 &
wl=$!
wait "$wl" || fail "the workload exited with $?"
rm -f "$wl_path" && cp "$shares" "$wl_path" || fail "replace the binary"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"

e2e_check --profiles "$TEST_TMP/out2" --summary "$TEST_TMP/summary2.json" \
	--select pid="$wl" --where executable="$wl_path" --name "exited, replaced binary" \
	--min-samples 10 --absent spin_alpha --absent spin_beta --absent spin_gamma \
	--absent dispatch --absent run --absent burn_a --absent burn_b --absent burn_c ||
	fail "exited-and-replaced checks (see above)"
"$TESTS_PYTHON" - "$TEST_TMP/summary2.json" <<'PY' || fail "the replacement was not detected"
import json, sys
s = json.load(open(sys.argv[1]))["symbols"]
print("summary symbols:", s)
sys.exit(0 if s["binaries_mismatched"] >= 1 else 1)
PY
