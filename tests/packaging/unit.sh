#!/bin/sh
# The systemd unit: systemd-analyze verify is clean (with the unit's ExecStart pointing at
# the built binary and perfagent(8) findable), the hardening the profiler needs is there and
# the settings that break profiling are not, and systemd-analyze security scores it (the
# figure is printed; the unit must stay in systemd's "OK" band, below 5). The man page
# renders without troff warnings.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

require_cmd systemd-analyze groff
make_tmpdir
unit=$top_srcdir/packaging/perfagent.service

mkdir -p "$TEST_TMP/man/man8" "$TEST_TMP/unit"
cp "$top_srcdir/packaging/perfagent.8" "$TEST_TMP/man/man8/"
sed "s|/usr/bin/perfagent|$PERFAGENT|" "$unit" >"$TEST_TMP/unit/perfagent.service"
MANPATH=$TEST_TMP/man systemd-analyze verify "$TEST_TMP/unit/perfagent.service" >"$TEST_TMP/verify.txt" 2>&1
rc=$?
cat "$TEST_TMP/verify.txt"
[ "$rc" = 0 ] && [ ! -s "$TEST_TMP/verify.txt" ] || fail "systemd-analyze verify is not clean (exit $rc)"
echo "systemd-analyze verify: clean"

for setting in \
	"CapabilityBoundingSet=CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_SYSLOG CAP_IPC_LOCK" \
	"AmbientCapabilities=CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_SYSLOG CAP_IPC_LOCK" \
	"SystemCallFilter=@system-service perf_event_open" "ProtectSystem=strict" \
	"StateDirectory=perfagent" "PrivateTmp=yes" "NoNewPrivileges=yes" \
	"ExecReload=/bin/kill -HUP \$MAINPID"; do
	grep -qxF "$setting" "$unit" || fail "the unit lacks '$setting'"
done
for breaks in ProtectKernelTunables ProcSubset PrivateUsers ProtectProc; do
	grep -q "^$breaks=" "$unit" && fail "the unit sets $breaks=, which breaks profiling"
done

systemd-analyze security --offline=yes "$TEST_TMP/unit/perfagent.service" >"$TEST_TMP/security.txt" 2>&1 ||
	true # exits non-zero when the score is over --threshold (default 100): never here
score=$(sed -n 's/.*Overall exposure level for perfagent.service: \([0-9.]*\).*/\1/p' "$TEST_TMP/security.txt")
[ -n "$score" ] || { cat "$TEST_TMP/security.txt"; fail "no exposure score"; }
echo "systemd-analyze security --offline=yes: exposure $score"
awk -v s="$score" 'BEGIN { exit !(s < 5.0) }' || fail "exposure $score is not below 5.0"

# Journald priorities: with JOURNAL_STREAM naming stderr (as systemd sets it), each line
# starts with <N>; with JOURNAL_STREAM naming something else (inherited, stderr redirected),
# no prefix.
"$PERFAGENT" --frequency 0 2>"$TEST_TMP/journal.txt"
stream=$(stat -c '%d:%i' "$TEST_TMP/journal.txt")
JOURNAL_STREAM=$stream "$PERFAGENT" --frequency 0 2>"$TEST_TMP/journal.txt"
head -n 1 "$TEST_TMP/journal.txt" | grep -q '^<3>--frequency 0: ' ||
	fail "no <3> prefix on an error under journald: $(head -n 1 "$TEST_TMP/journal.txt")"
JOURNAL_STREAM=1:1 "$PERFAGENT" --frequency 0 2>"$TEST_TMP/journal.txt"
grep -q '^perfagent: error: --frequency 0: ' "$TEST_TMP/journal.txt" ||
	fail "journald prefix without journald: $(cat "$TEST_TMP/journal.txt")"
echo "journald priorities: <3> on errors when stderr is the journal stream"

warnings=$(groff -man -ww -z "$top_srcdir/packaging/perfagent.8" 2>&1)
[ -z "$warnings" ] || fail "perfagent.8: $warnings"
echo "PASS"
