#!/bin/sh
# Parca's Kubernetes relabel_configs (parca-agent's kubernetes-config.yaml, translated to
# JSON in tests/data/parca/) loads unchanged and behaves as documented: a workload in a
# containerd container cgroup of a Burstable pod, whose kubelet logs name its namespace,
# pod and container, gets series labels namespace, pod, container, arch and kernel_version;
# a process outside the pod gets arch and kernel_version only; no __meta_* label survives;
# the rules whose sources are absent (compiler, container_image, region, zone) add nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/cgroup-lib.sh"

e2e_setup
e2e_require
cg_setup

uid=5e7a1f3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b
id=3f1c2b9d8e7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e
pod_cg=$CG_TOP/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$(echo "$uid" | tr - _).slice
mkdir -p "$pod_cg/cri-containerd-$id.scope" || exit 99
# What the kubelet leaves on a node: /var/log/pods/<ns>_<pod>_<uid>/<container>/ and
# /var/log/containers/<pod>_<ns>_<container>-<id>.log.
mkdir -p "$TEST_TMP/log/pods/e2e-ns_web-0_$uid/app" "$TEST_TMP/log/containers" || exit 99
: >"$TEST_TMP/log/pods/e2e-ns_web-0_$uid/app/0.log"
ln -s "../pods/e2e-ns_web-0_$uid/app/0.log" "$TEST_TMP/log/containers/web-0_e2e-ns_app-$id.log"

exe=$(workload shares) || exit 99
"$exe" 60 >/dev/null &
w=$!
e2e_track "$w"
cg_move "$w" "$pod_cg/cri-containerd-$id.scope"
"$exe" 60 >/dev/null &
other=$!
e2e_track "$other"
sleep 0.2
config=$top_srcdir/tests/data/parca/kubernetes-config.json

"$PERFAGENT" --config "$config" --kubelet-log-dir "$TEST_TMP/log" --print-labels "$w" \
	>"$TEST_TMP/labels.txt" || fail "--print-labels failed"
cat "$TEST_TMP/labels.txt"
for want in __meta_kubernetes_pod_uid=$uid __meta_kubernetes_pod_qos_class=Burstable \
	__meta_kubernetes_pod_container_id=containerd://$id __meta_container_runtime=containerd \
	__meta_kubernetes_namespace=e2e-ns __meta_kubernetes_pod_name=web-0 \
	__meta_kubernetes_pod_container_name=app; do
	grep -qx "  $want" "$TEST_TMP/labels.txt" || fail "discovered label $want missing"
done

run_perfagent 60 "$TEST_TMP/perfagent.log" --config "$config" --kubelet-log-dir "$TEST_TMP/log" \
	-F 199 -d 4 -i 4 -o "$TEST_TMP/out" --summary-json "$TEST_TMP/summary.json"
[ "$PA_RC" = 0 ] || fail "perfagent exited with $PA_RC"

arch=$(uname -m)
kver=$(uname -r)
e2e_check --profiles "$TEST_TMP/out" --min-files 2 \
	--select pid="$w" --name "pod web-0" --min-samples 50 --same-label namespace=e2e-ns \
	--same-label pod=web-0 --same-label container=app --same-label arch="$arch" \
	--same-label kernel_version="$kver" \
	--select pid="$other" --name "outside the pod" --min-samples 50 \
	--same-label arch="$arch" --same-label kernel_version="$kver" ||
	fail "Parca relabel profile checks (see above)"

# Exactly the documented series labels: nothing else, no __meta_*, no absent sources.
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz | "$TESTS_PYTHON" -c '
import json, sys
w, other = sys.argv[1], sys.argv[2]
want_pod = {"arch", "kernel_version", "namespace", "pod", "container", "node"}
want_other = {"arch", "kernel_version", "node"}
bad = 0
for p in json.load(sys.stdin):
    series = dict(c[6:].split("=", 1) for c in p.get("comments", []) if c.startswith("label "))
    pids = {str(s["labels"].get("pid")) for s in p["samples"]}
    print("series %s: %d samples" % (series, sum(s["values"][0] for s in p["samples"])))
    if w in pids and set(series) != want_pod:
        print("FAIL: the pod series has labels %s, expected %s" % (sorted(series), sorted(want_pod)))
        bad = 1
    if other in pids and set(series) != want_other:
        print("FAIL: the series of %s has labels %s, expected %s" % (other, sorted(series), sorted(want_other)))
        bad = 1
    if w in pids and len(pids) > 1:
        print("FAIL: the pod series holds other processes: %s" % sorted(pids))
        bad = 1
sys.exit(bad)' "$w" "$other" || fail "series label sets differ from the documented ones"
