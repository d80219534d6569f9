#!/bin/sh
# A workload in its own mount namespace whose binary exists only there: a tmpfs mounted
# inside the namespace (unshare -m makes it private), invisible from the host. The daemon
# reads it through /proc/PID/map_files or /proc/PID/root.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd unshare mount

exe=$(workload exits) || exit 99
mnt="$TEST_TMP/mnt"
mkdir "$mnt" || exit 99

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -d 7 -i 2 -o "$TEST_TMP/out" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
unshare -m sh -c 'mount -t tmpfs perfagent-test "$1" && cp "$2" "$1/wl-ns" && exec "$1/wl-ns" 4' \
	sh "$mnt" "$exe" &
wl=$!
sleep 1
[ ! -e "$mnt/wl-ns" ] || fail "the binary is visible from the host mount namespace"
wait "$wl" || fail "the namespaced workload exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"

e2e_check --profiles "$TEST_TMP/out" \
	--select pid="$wl" --where executable="$mnt/wl-ns" --name "namespaced workload" \
	--min-samples 150 --chain main,burn_until_exit,spin_short_lived --min-chain 95 \
	--min-symbolized 95 || fail "mount namespace checks (see above)"
