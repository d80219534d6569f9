#!/bin/sh
# Without privileges the daemon must refuse to start, with a message that says what to do:
# run as user nobody (no capabilities), with kernel.perf_event_paranoid >= 2 (raised for the
# test if it was lower, restored on exit), `perfagent --check-perf` and a system-wide run
# must both exit non-zero (not crash, not hang) and name perf_event_paranoid and CAP_PERFMON.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
require_cmd timeout setpriv
[ "$(id -u)" = 0 ] || skip "must run as root to drop privileges to user nobody"
nobody_uid=$(id -u nobody 2>/dev/null) || skip "no user nobody"
nobody_gid=$(id -g nobody) || skip "no group for user nobody"
# Root can open the events: so a refusal below is the privilege check, not a broken kernel.
require_perf "$TEST_TMP/require"

sysctl=/proc/sys/kernel/perf_event_paranoid
orig=$(cat "$sysctl") || skip "cannot read $sysctl"
echo "kernel.perf_event_paranoid = $orig"
if [ "$orig" -lt 2 ]; then
	# >= 2 denies system-wide (and kernel) sampling to unprivileged users on every kernel.
	E2E_ON_EXIT="echo $orig > $sysctl; echo 'kernel.perf_event_paranoid restored to $orig'"
	echo 2 >"$sysctl" 2>/dev/null || skip "cannot raise $sysctl to 2 (read-only /proc/sys?)"
	echo "kernel.perf_event_paranoid = 2 for this test"
fi

# The daemon where user nobody can reach it (the build tree may be private).
chmod 755 "$TEST_TMP"
mkdir "$TEST_TMP/bin" "$TEST_TMP/out"
cp "$PERFAGENT" "$TEST_TMP/bin/perfagent" && chmod 755 "$TEST_TMP/bin" "$TEST_TMP/bin/perfagent" ||
	exit 99
chown "$nobody_uid:$nobody_gid" "$TEST_TMP/out"

as_nobody() {
	timeout -k 5 60 setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups \
		--inh-caps=-all --bounding-set=-all -- "$@"
}

# Who the daemon will run as.
as_nobody id

check_refusal() {
	what=$1
	rc=$2
	log=$3
	echo "$what: exit status $rc"
	sed 's/^/  perfagent: /' "$log"
	[ "$rc" != 0 ] || fail "$what as nobody exited 0, expected a refusal"
	case $rc in
	124 | 137) fail "$what as nobody did not exit within 60 s" ;;
	126 | 127) fail "$what: could not execute the daemon as nobody" ;;
	esac
	[ "$rc" -lt 128 ] || fail "$what as nobody died from signal $((rc - 128))"
	grep -q 'perf_event_paranoid' "$log" || fail "$what: the error does not name perf_event_paranoid"
	grep -q 'CAP_PERFMON' "$log" || fail "$what: the error does not name CAP_PERFMON"
}

rc=0
as_nobody "$TEST_TMP/bin/perfagent" --check-perf >"$TEST_TMP/check.out" 2>"$TEST_TMP/check.log" || rc=$?
cat "$TEST_TMP/check.out" >>"$TEST_TMP/check.log"
check_refusal "perfagent --check-perf" "$rc" "$TEST_TMP/check.log"

rc=0
as_nobody "$TEST_TMP/bin/perfagent" -F 19 -d 2 -i 2 -o "$TEST_TMP/out" >"$TEST_TMP/run.out" \
	2>"$TEST_TMP/run.log" || rc=$?
cat "$TEST_TMP/run.out" >>"$TEST_TMP/run.log"
check_refusal "perfagent -d 2 (system-wide)" "$rc" "$TEST_TMP/run.log"
n=$(find "$TEST_TMP/out" -name 'perfagent-*.pb.gz' | wc -l)
echo "profiles written by the refused run: $n"
[ "$n" = 0 ] || fail "the refused run wrote $n profile(s)"
echo "refused as expected"
