#!/usr/bin/python3
"""Self-test of e2e_check.py on hand-made profiles: every check passes on data built to
pass it and fails, with its message, on data built to fail it. This is what makes the
end-to-end tests trustworthy: a check that cannot fail would let a broken daemon through.

Runs e2e_check.py as a subprocess (as the tests do) on JSON in pprof_decode.py's shape.
Exit status 0 when every case behaves, 1 otherwise; each case is printed.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "e2e_check.py")
EXE = "/opt/wl/workload-shares"
KERNEL = [{"function": "asm_sysvec_apic_timer_interrupt", "address": 0xffffffff81000e06,
           "mapping": "[kernel.kallsyms]"}]


def frames(*names, mapping=EXE):
    """Frames leaf first from names given outermost first, as chains are written."""
    return [{"function": n, "address": 0x1000 + i, "mapping": mapping}
            for i, n in enumerate(reversed(names))]


def sample(names, count=1, pid="100", tid=None, comm="workload-shares", thread=None,
           exe=EXE, kernel=False):
    f = frames(*names)
    if kernel:
        f = KERNEL + f
    return {"values": [count, count * 5025125],
            "labels": {"pid": pid, "tid": tid or pid, "comm": comm,
                       "thread_name": thread or comm, "executable": exe},
            "frames": f}


def profile(samples, name="perfagent-1.pb.gz", types=None):
    return {"file": name,
            "sample_types": types or [{"type": "samples", "unit": "count"},
                                      {"type": "cpu", "unit": "nanoseconds"}],
            "period_type": {"type": "cpu", "unit": "nanoseconds"}, "period": 5025125,
            "time_nanos": 1, "duration_nanos": 5000000000, "mappings": [], "samples": samples}


CHAIN = ["main", "run", "dispatch"]


def shares(a=60, b=30, c=10, broken=0, unsym=0, kernel_every=7, pid="100"):
    """A shares profile with a, b, c samples per leaf (weights 1), every kernel_every-th
    sample with kernel frames in front, `broken` samples missing burn_a, `unsym` samples
    with an unsymbolized leaf."""
    out = []
    n = 0
    for leaf, burn, k in (("spin_alpha", "burn_a", a), ("spin_beta", "burn_b", b),
                          ("spin_gamma", "burn_c", c)):
        for _ in range(k):
            n += 1
            out.append(sample(CHAIN + [burn, leaf], pid=pid, kernel=(n % kernel_every == 0)))
    for _ in range(broken):
        out.append(sample(["main", "run", "dispatch", "spin_alpha"], pid=pid))
    for _ in range(unsym):
        s = sample(CHAIN + ["burn_a", "spin_alpha"], pid=pid)
        s["frames"][0]["function"] = ""
        out.append(s)
    return out


SHARES_ARGS = ["--chain", "main,run,dispatch,burn_a,spin_alpha",
               "--chain", "main,run,dispatch,burn_b,spin_beta",
               "--chain", "main,run,dispatch,burn_c,spin_gamma", "--min-chain", "99",
               "--leaf-share", "spin_alpha=60", "--leaf-share", "spin_beta=30",
               "--leaf-share", "spin_gamma=10", "--tolerance", "5"]


def threads_profile(dup_tid=False, cross=False, two_tids=False):
    out = []
    for i, t in enumerate("abc"):
        tid = "201" if dup_tid and t == "b" else str(201 + i)
        for k in range(50):
            leaf = "spin_worker_a" if cross and t == "c" and k < 3 else "spin_worker_" + t
            this_tid = "299" if two_tids and t == "a" and k == 0 else tid
            out.append(sample(["worker_main", "burn_worker_" + t, leaf], pid="200", tid=this_tid,
                              comm="workload-thread", thread="worker-" + t))
    return [profile(out)]


def thread_args():
    args = ["--select", "pid=200", "--min-samples", "150"]
    for t in "abc":
        args += ["--select", "thread_name=worker-" + t, "--min-samples", "50",
                 "--distinct-value", "tid", "--min-leaf-share", "spin_worker_%s=99" % t]
        for o in "abc":
            if o != t:
                args += ["--absent", "spin_worker_" + o]
    return args


def summary(**kw):
    s = {"samples": 100, "lost": 0, "throttled": 0, "processes": 1, "windows": 1, "files": 1,
         "stop_reasons": {"end": 100}, "hottest": [{"function": "spin_alpha", "samples": 60}]}
    s.update(kw)
    return s


# (name, profiles, summary or None, args, expected exit status, text expected in the output)
CASES = [
    ("shares pass", [profile(shares())], None, ["--select", "pid=100"] + SHARES_ARGS, 0,
     "all checks passed"),
    ("shares weighted by samples/count",
     [profile([sample(CHAIN + ["burn_a", "spin_alpha"], count=60),
               sample(CHAIN + ["burn_b", "spin_beta"], count=30),
               sample(CHAIN + ["burn_c", "spin_gamma"], count=10)])], None,
     ["--select", "pid=100", "--min-samples", "100"] + SHARES_ARGS, 0, "leaf share spin_alpha: 60.00%"),
    ("shares off by 6 points", [profile(shares(a=54, b=36, c=10))], None,
     ["--select", "pid=100"] + SHARES_ARGS, 1, "leaf share of spin_alpha is 54.00%"),
    ("shares across two files", [profile(shares(a=30, b=15, c=5)),
                                 profile(shares(a=30, b=15, c=5), name="perfagent-2.pb.gz")],
     None, ["--min-files", "2", "--select", "pid=100", "--min-samples", "100"] + SHARES_ARGS, 0,
     "all checks passed"),
    ("broken chains (burn_a missing in 2 %)", [profile(shares(a=58, broken=2))], None,
     ["--select", "pid=100"] + SHARES_ARGS, 1, "98.00% of samples have a full chain"),
    ("kernel frames are skipped", [profile(shares(kernel_every=1))], None,
     ["--select", "pid=100"] + SHARES_ARGS, 0, "full chains: 100.00%"),
    ("unsymbolized leaves", [profile(shares(a=55, unsym=5))], None,
     ["--select", "pid=100", "--min-symbolized", "99"], 1,
     "95.00% of samples have a symbolized leaf"),
    ("too few samples", [profile(shares())], None,
     ["--select", "pid=100", "--min-samples", "101"], 1, "100 samples, expected at least 101"),
    ("empty group", [profile(shares())], None,
     ["--select", "pid=999", "--min-samples", "1"], 1, "0 samples, expected at least 1"),
    ("decoy has no samples", [profile(shares())], None,
     ["--select", "pid=999", "--max-samples", "0"], 0, "all checks passed"),
    ("decoy has samples", [profile(shares() + shares(pid="999"))], None,
     ["--select", "pid=999", "--max-samples", "0"], 1, "expected at most 0"),
    ("pid mode: foreign pid", [profile(shares() + shares(a=1, b=0, c=0, pid="300"))], None,
     ["--select", "all", "--label-in", "pid=100,200"], 1, "1 samples have pid not in {100,200}"),
    ("pid mode: all allowed", [profile(shares() + shares(pid="200"))], None,
     ["--select", "all", "--label-in", "pid=100,200"], 0, "all checks passed"),
    ("same-label", [profile(shares())], None,
     ["--select", "pid=100", "--same-label", "executable=/other"], 1,
     "100 samples have executable not in {/other}"),
    ("comm truncated to 15 characters",
     [profile([sample(["main", "f"], comm="workload-exitst")])], None,
     ["--select", "comm=workload-exitstatus", "--min-samples", "1"], 0, "all checks passed"),
    ("with-function selects by stack", [profile(shares() + shares(pid="300"))], None,
     ["--select", "all", "--with-function", "burn_b", "--min-samples", "60",
      "--max-samples", "60"], 0, "all checks passed"),
    ("with-function: cross-attributed", [profile(shares() + [sample(
        CHAIN + ["burn_b", "spin_beta"], exe="/opt/wl/other")])], None,
     ["--select", "all", "--with-function", "spin_beta", "--same-label", "executable=" + EXE],
     1, "1 samples have executable not in {/opt/wl/workload-shares}"),
    ("absent function present", [profile(shares())], None,
     ["--select", "pid=100", "--absent", "burn_b"], 1, "30 samples have burn_b in their stack"),
    ("threads pass", threads_profile(), None, thread_args(), 0, "all checks passed"),
    ("threads: two threads share a tid", threads_profile(dup_tid=True), None, thread_args(), 1,
     "have the same tid 201"),
    ("threads: a thread has two tids", threads_profile(two_tids=True), None, thread_args(), 1,
     "2 values of tid, expected exactly one"),
    ("threads: cross-attributed function", threads_profile(cross=True), None, thread_args(), 1,
     "3 samples have spin_worker_a in their stack"),
    ("summary pass", [profile(shares())], summary(),
     ["--summary-eq", "lost=0", "--summary-min", "samples=1", "--summary-files-match"], 0,
     "all checks passed"),
    ("summary: lost samples", [profile(shares())], summary(lost=3),
     ["--summary-eq", "lost=0"], 1, "lost = 3, expected 0"),
    ("summary: files mismatch", [profile(shares())], summary(files=2),
     ["--summary-files-match"], 1, "files = 2, but 1 profiles were found"),
    ("summary: missing key", [profile(shares())], {"samples": 1},
     ["--summary-eq", "lost=0"], 1, "'lost' is None, not a number"),
    ("wrong sample types", [profile(shares(), types=["cpu/nanoseconds", "samples/count"])], None,
     [], 1, "expected [samples/count, cpu/nanoseconds]"),
    ("sample types as strings", [profile(shares(), types=["samples/count", "cpu/nanoseconds"])],
     None, [], 0, "all checks passed"),
    ("no profiles", [], None, [], 1, "0 profiles, expected at least 1"),
    ("usage error", [profile(shares())], None, ["--select", "pid=100", "--leaf-share", "x"], 2,
     "expected KEY=VALUE"),
]


def run_case(tmp, i, case):
    name, profiles, summ, args, want_rc, want_text = case
    jpath = os.path.join(tmp, "case%d.json" % i)
    with open(jpath, "w") as f:
        json.dump(profiles, f)
    cmd = [sys.executable, CHECK, "--json", jpath]
    if summ is not None:
        spath = os.path.join(tmp, "summary%d.json" % i)
        with open(spath, "w") as f:
            json.dump(summ, f)
        cmd += ["--summary", spath]
    r = subprocess.run(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ok = r.returncode == want_rc and want_text in r.stdout
    print("%s: %s (exit %d, expected %d; %r %s)" %
          ("ok" if ok else "FAIL", name, r.returncode, want_rc, want_text,
           "found" if want_text in r.stdout else "NOT found"))
    if not ok:
        print("  " + r.stdout.replace("\n", "\n  "))
    return ok


def main():
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_case(tmp, i, c) for i, c in enumerate(CASES)]
        # A directory without profiles is an error of its own kind (99), as is a decoder
        # that cannot run.
        r = subprocess.run([sys.executable, CHECK, "--profiles", os.path.join(tmp, "nope")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ok = r.returncode == 99
        print("%s: missing profile directory (exit %d, expected 99)" % ("ok" if ok else "FAIL",
                                                                      r.returncode))
        results.append(ok)
    failed = results.count(False)
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
