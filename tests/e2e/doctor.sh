#!/bin/sh
# perfagent doctor: on this machine, as root, every check is present, none FAILs, and the
# figures it prints are the kernel's; with --pid it judges frame pointers of a workload
# built with and without them. Then a failing condition is forced (kernel.perf_event_paranoid
# = 3, restored after; the doctor runs as nobody without capabilities): the paranoid,
# capabilities and every-CPU checks FAIL with their fixes and the exit status is 1.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
require_cmd timeout setpriv
[ "$(id -u)" = 0 ] || skip "must run as root (all OK) and drop to user nobody (FAIL)"
require_perf
nobody_uid=$(id -u nobody 2>/dev/null) || skip "no user nobody"
nobody_gid=$(id -g nobody) || skip "no group for user nobody"

out=$TEST_TMP/doctor.txt
timeout 60 "$PERFAGENT" doctor >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" = 0 ] || fail "doctor exited with $rc as root on this machine"
for check in "kernel" "user regs + stack" "PERF_SAMPLE_CGROUP" "MMAP2 build-ids" \
	"capabilities" "perf_event_paranoid" "perf_event_mlock_kb" "kptr_restrict" \
	"cgroup version" "events on every CPU"; do
	grep -q "^[A-Z]* *$check " "$out" || fail "doctor has no '$check' check"
done
grep -q "^FAIL" "$out" && fail "a check FAILs as root on this machine"
# Its figures are the kernel's.
grep -q "^OK *kernel *Linux $(uname -r) " "$out" || fail "kernel line is not uname -r"
grep -q "^OK *perf_event_paranoid *$(cat /proc/sys/kernel/perf_event_paranoid) " "$out" ||
	fail "paranoid figure differs from /proc/sys/kernel/perf_event_paranoid"
grep -q "^OK *perf_event_mlock_kb *$(cat /proc/sys/kernel/perf_event_mlock_kb) KiB" "$out" ||
	fail "mlock figure differs from /proc/sys/kernel/perf_event_mlock_kb"
grep -q "^OK *events on every CPU .* on $(getconf _NPROCESSORS_ONLN) CPUs" "$out" ||
	fail "every-CPU check does not name this machine's $(getconf _NPROCESSORS_ONLN) CPUs"
grep -q "^OK *capabilities *held: CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE" "$out" ||
	fail "root's capabilities are not reported held"
expect_cg=v2
[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || expect_cg="hybrid|v1"
grep -E -q "^(OK|WARN) *cgroup version *($expect_cg)" "$out" ||
	fail "cgroup version is not the mounted one ($expect_cg)"

# --pid: frame pointers judged from the code of a workload built with and without them.
for variant in shares:yes shares-nofp:no; do
	exe=$(workload "${variant%%:*}") || exit 99
	"$exe" 20 >/dev/null &
	pid=$!
	e2e_track "$pid"
	sleep 0.3
	timeout 60 "$PERFAGENT" doctor --pid "$pid" >"$out" 2>&1
	sed -n '/target process/,$p' "$out"
	grep -q "^OK *target process *pid $pid " "$out" || fail "no target process line for $pid"
	grep -q "frame pointers *$exe: ${variant#*:} " "$out" ||
		fail "$exe: frame pointers not judged '${variant#*:}'"
	grep -q "^OK *CFI " "$out" || fail "$exe: CFI not found"
	kill "$pid"
done

# Forced failure: paranoid 3, no capabilities.
sysctl=/proc/sys/kernel/perf_event_paranoid
orig=$(cat "$sysctl")
E2E_ON_EXIT="echo $orig > $sysctl; echo 'kernel.perf_event_paranoid restored to $orig'"
echo 3 >"$sysctl" || skip "cannot set $sysctl (read-only /proc/sys?)"
chmod 755 "$TEST_TMP"
mkdir "$TEST_TMP/bin" && cp "$PERFAGENT" "$TEST_TMP/bin/perfagent" &&
	chmod 755 "$TEST_TMP/bin" "$TEST_TMP/bin/perfagent" || exit 99
timeout 60 setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups \
	--inh-caps=-all --bounding-set=-all -- "$TEST_TMP/bin/perfagent" doctor >"$out" 2>&1
rc=$?
echo "$orig" >"$sysctl"
cat "$out"
[ "$rc" = 1 ] || fail "doctor exited with $rc under paranoid 3 without privileges, expected 1"
grep -q "^FAIL *perf_event_paranoid *3: " "$out" || fail "paranoid 3 is not a FAIL"
grep -A1 "^FAIL *perf_event_paranoid" "$out" | grep -q "fix: .*CAP_PERFMON.*kernel.perf_event_paranoid=0" ||
	fail "the paranoid FAIL does not give the fix"
grep -q "^FAIL *capabilities *held: none" "$out" || fail "missing capabilities are not a FAIL"
grep -q "^FAIL *events on every CPU" "$out" || fail "opening the events did not FAIL"
echo "PASS"
