#!/bin/sh
# Sidecar mode: perfagent runs in a fresh PID namespace (unshare --pid --fork --mount-proc)
# beside a workload, as in a pod that shares its PID namespace. The profiles carry the
# namespace-local pid of the workload, its stacks are symbolized with the right chains (its
# binary is found through the namespace's /proc), and a busy process outside the namespace
# is never in them (the kernel reports it as pid 0: dropped before unwinding, counted as
# foreign). Without another process in the namespace, or without CAP_PERFMON, --sidecar
# refuses to start and says what to change in the pod spec.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd unshare
[ "$(id -u)" = 0 ] || skip "unshare --pid needs root"

exe=$(workload shares) || exit 99
"$exe" 60 >/dev/null &
outside=$!
e2e_track "$outside"

# Not shared: perfagent alone in its namespace.
rc=0
timeout -k 5 30 unshare --pid --fork --mount-proc "$PERFAGENT" --sidecar -d 1 \
	-o "$TEST_TMP/alone" 2>"$TEST_TMP/alone.log" || rc=$?
cat "$TEST_TMP/alone.log"
[ "$rc" != 0 ] || fail "--sidecar started without any other process in its PID namespace"
grep -q "shareProcessNamespace: true" "$TEST_TMP/alone.log" ||
	fail "--sidecar did not explain how to share the PID namespace"

# Shared, but without the capability to open perf events (paranoid > 0 here, or the test
# would prove nothing): the error says which capability the container needs.
if [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 0 ]; then
	require_cmd setpriv
	rc=0
	timeout -k 5 30 unshare --pid --fork --mount-proc sh -c '
		sleep 10 &
		setpriv --bounding-set=-perfmon,-sys_admin --inh-caps=-perfmon,-sys_admin \
			"$0" --sidecar -d 1 -o "$1/nocap"' "$PERFAGENT" "$TEST_TMP" 2>"$TEST_TMP/nocap.log" ||
		rc=$?
	cat "$TEST_TMP/nocap.log"
	[ "$rc" != 0 ] || fail "--sidecar started without CAP_PERFMON"
	grep -q "securityContext.capabilities.add" "$TEST_TMP/nocap.log" ||
		fail "--sidecar without CAP_PERFMON did not say which capability to add"
fi

# Shared: the workload and perfagent in one fresh namespace.
export exe PERFAGENT TEST_TMP
timeout -k 5 60 unshare --pid --fork --mount-proc sh -c '
	"$exe" 60 >/dev/null &
	echo $! >"$TEST_TMP/inner.pid"
	sleep 0.3
	w=$!
	"$PERFAGENT" --sidecar -F 199 -d 4 -i 4 -o "$TEST_TMP/out" \
		--summary-json "$TEST_TMP/summary.json" 2>"$TEST_TMP/perfagent.log" &
	echo $! >"$TEST_TMP/agent.pid"
	wait $!
	echo $? >"$TEST_TMP/rc"
	kill $w' || fail "unshare failed"
sed 's/^/  perfagent: /' "$TEST_TMP/perfagent.log" | tail -n 20
[ "$(cat "$TEST_TMP/rc")" = 0 ] || fail "perfagent --sidecar exited with $(cat "$TEST_TMP/rc")"
inner=$(cat "$TEST_TMP/inner.pid")
agent=$(cat "$TEST_TMP/agent.pid")
echo "workload: pid $inner in the namespace, perfagent $agent; a decoy outside is $outside"
[ "$inner" -lt 10 ] || fail "the workload's pid in the fresh namespace is $inner (expected a small local pid)"

e2e_check --profiles "$TEST_TMP/out" --summary "$TEST_TMP/summary.json" \
	--select all --name "all samples" --label-in pid="$inner,$agent" \
	--select pid="$inner" --name "workload" --min-samples 50 --min-symbolized 99 \
	--same-label comm=workload-shares \
	--chain main,run,dispatch,burn_a,spin_alpha --chain main,run,dispatch,burn_b,spin_beta \
	--chain main,run,dispatch,burn_c,spin_gamma --min-chain 95 ||
	fail "sidecar profile checks (see above)"
foreign=$("$TESTS_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["targets"]["foreign"])' "$TEST_TMP/summary.json")
echo "samples of tasks outside the namespace, dropped: $foreign"
[ "$foreign" -gt 20 ] || fail "the busy process outside the namespace was not seen as foreign ($foreign samples)"
