#!/bin/sh
# Kernel and vDSO symbols: workload-syscalls alternates between system calls and
# clock_gettime in the vDSO. Its kernel frames are named from /proc/kallsyms ("name [module]"
# for module code), its [vdso] frames from the agent's own vDSO image (the same kernel maps
# the same vDSO into every process). Module frames cannot be provoked portably: when a module
# shows up its frames must carry "[module]"; without modules none may.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require

exe=$(workload syscalls) || exit 99

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 499 -d 5 -i 5 -o "$TEST_TMP/out" &
pa=$!
e2e_track "$pa"
e2e_wait_sampling "$TEST_TMP/perfagent.log"
"$exe" 3 &
wl=$!
wait "$wl" || fail "workload-syscalls exited with $?"
wait "$pa" || fail "perfagent (or its timeout) failed, see above"

modules=0
[ -r /proc/modules ] && modules=$(wc -l </proc/modules)
echo "kernel modules loaded: $modules"
pprof_json "$TEST_TMP"/out/perfagent-*.pb.gz >"$TEST_TMP/profiles.json" || fail "decode the profiles"
"$TESTS_PYTHON" - "$TEST_TMP/profiles.json" "$wl" "$modules" <<'PY' || fail "kernel/vDSO symbol checks (see above)"
import json, sys
profiles = json.load(open(sys.argv[1]))
pid, modules = sys.argv[2], int(sys.argv[3])
kframes = knamed = vframes = vnamed = module_frames = 0
vnames, knames = {}, {}
for p in profiles:
    for s in p["samples"]:
        if s["labels"].get("pid") != pid:
            continue
        n = s["values"][0]
        for f in s["frames"]:
            fn = f.get("function")
            if f["mapping"] == "[kernel.kallsyms]":
                kframes += n
                if fn:
                    knamed += n
                    knames[fn] = knames.get(fn, 0) + n
                    if fn.endswith("]") and " [" in fn:
                        module_frames += n
            elif f["mapping"] == "[vdso]":
                vframes += n
                if fn:
                    vnamed += n
                    vnames[fn] = vnames.get(fn, 0) + n
top = lambda d: sorted(d.items(), key=lambda kv: -kv[1])[:5]
print(f"kernel frames {kframes}, named {knamed}; top {top(knames)}")
print(f"vdso frames {vframes}, named {vnamed}; top {top(vnames)}")
print(f"module frames {module_frames}")
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("FAIL:", what)
        ok = False
check(kframes >= 100, f"at least 100 kernel frames ({kframes})")
check(knamed >= 0.95 * kframes, f">= 95% of kernel frames named ({knamed}/{kframes})")
check(any("getppid" in k for k in knames), "the getppid system call is among the kernel names")
check(vframes >= 20, f"at least 20 frames in the [vdso] ({vframes})")
# The image has only .dynsym: its static helpers (e.g. the clock readers called by
# __vdso_clock_gettime) have no name anywhere on the host, so only part of the frames can be.
check(vnamed >= 0.3 * vframes, f">= 30% of vDSO frames named ({vnamed}/{vframes})")
check(any("clock_gettime" in k or "vdso" in k for k in vnames), "a clock_gettime vDSO symbol")
# Module frames cannot be provoked portably; when some were sampled they carry the module.
if modules == 0:
    check(module_frames == 0, "no module names without modules")
sys.exit(0 if ok else 1)
PY
