#!/bin/sh
# The container's entrypoint and the Kubernetes manifests. Building the image needs the
# Debian base images from a registry, which test machines usually cannot reach: the
# entrypoint script is run directly against the built binary instead (profiles land in the
# state directory, the metrics address comes from the environment, an unwritable state
# directory is refused, doctor passes through), the Containerfile's COPY sources exist, and
# the manifests are parsed and checked for what the README promises.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup # it samples the whole machine: one at a time with the end-to-end tests
require_cmd timeout
require_perf
"$TESTS_PYTHON" -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
entry=$top_srcdir/packaging/container/entrypoint.sh

mkdir "$TEST_TMP/state"
PERFAGENT_STATE_DIR=$TEST_TMP/state PERFAGENT_HTTP_ADDRESS=127.0.0.1:0 \
	PERFAGENT_OPTIONS="-i 1" timeout 30 sh "$entry" -d 2 2>"$TEST_TMP/entry.log" ||
	fail "the entrypoint failed: $(cat "$TEST_TMP/entry.log")"
cat "$TEST_TMP/entry.log"
n=$(ls "$TEST_TMP/state/profiles"/*.pb.gz 2>/dev/null | wc -l)
[ "$n" -ge 2 ] || fail "expected 2 profiles in the state directory, found $n"
grep -q "metrics: http://127.0.0.1:[0-9]*/metrics" "$TEST_TMP/entry.log" ||
	fail "PERFAGENT_HTTP_ADDRESS was not used"

chmod 555 "$TEST_TMP/state"
if [ "$(id -u)" != 0 ]; then
	PERFAGENT_STATE_DIR=$TEST_TMP/state sh "$entry" -d 1 2>"$TEST_TMP/ro.log" &&
		fail "an unwritable state directory was accepted"
	grep -q "not writable" "$TEST_TMP/ro.log" || fail "no message for an unwritable state dir"
fi
PERFAGENT_STATE_DIR=$TEST_TMP/missing sh "$entry" -d 1 2>"$TEST_TMP/ro.log" &&
	fail "a missing state directory was accepted"
grep -q "not writable .*mount a volume" "$TEST_TMP/ro.log" || fail "no message for a missing state dir"
timeout 30 sh "$entry" doctor >"$TEST_TMP/doctor.txt" 2>&1
grep -q "events on every CPU" "$TEST_TMP/doctor.txt" || fail "doctor did not run through the entrypoint"

# Every COPY source of the Containerfile exists in the source tree.
sed -n 's/^COPY \(--from=[^ ]* \)\{0,1\}\([^ ]*\) .*/\1 \2/p' "$top_srcdir/packaging/container/Containerfile" |
while read -r from src; do
	case "$from" in --from=*) continue ;; esac
	[ -z "$src" ] && src=$from
	[ -e "$top_srcdir/$src" ] || fail "Containerfile copies $src, which does not exist"
done || exit 1

"$TESTS_PYTHON" - "$top_srcdir/packaging/kubernetes" <<'PY' || fail "manifest checks (see above)"
import sys, yaml
d = sys.argv[1]
want = {"PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "IPC_LOCK"}
for name, key in (("daemonset.yaml", "hostPID"), ("sidecar.yaml", "shareProcessNamespace")):
    docs = [x for x in yaml.safe_load_all(open(f"{d}/{name}")) if x]
    pod = next(x for x in docs if x["kind"] in ("DaemonSet", "Pod"))
    spec = pod["spec"]["template"]["spec"] if pod["kind"] == "DaemonSet" else pod["spec"]
    assert spec.get(key) is True, f"{name}: {key} is not true"
    agent = next(c for c in spec["containers"] if c["name"] == "perfagent")
    sc = agent["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"], f"{name}: capabilities not dropped"
    assert want <= set(sc["capabilities"]["add"]), f"{name}: missing capabilities"
    assert sc.get("privileged") is not True, f"{name}: privileged"
    assert agent["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: no /healthz probe"
    hostpaths = {v["name"] for v in spec.get("volumes", []) if "hostPath" in v}
    for m in agent.get("volumeMounts", []):
        if m["name"] in hostpaths and m["mountPath"] != "/var/lib/perfagent":
            assert m.get("readOnly") is True, f"{name}: host mount {m['mountPath']} is writable"
    print(f"{name}: {key}, capabilities {sorted(sc['capabilities']['add'])}, "
          f"{len(hostpaths)} host mounts")
PY
echo "PASS"
