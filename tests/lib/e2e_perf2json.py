#!/usr/bin/python3
"""Convert `perf script` output into the JSON that pprof_decode.py prints for our profiles.

The end-to-end checks (e2e_check.py) then run unchanged on what perf itself recorded: the
workloads' design (shares, chains, thread names, exec) is verified with an independent
profiler, and when an e2e test fails the same checks on perf's data tell whether the
workload or the daemon is at fault.

Input: `perf script -F comm,pid,tid,period,ip,sym,dso` of a `perf record -g` capture, on
stdin or in FILE. Output: a one-element list of profile objects (one "file" for the whole
capture) with samples {"values": [1, period], "labels": {...}, "frames": [...]}, frames leaf
first, kernel frames with mapping "[kernel.kallsyms]" as perf names them.

Approximations, good enough for the workloads: `comm` is the name of the process's main
thread as of its latest sample so far (else the thread's own name), `thread_name` the
thread's name; `executable` is the object of the outermost frame that is neither the kernel
nor a shared library (*.so*), which is the main binary for every stack that reaches main()
or a thread start routine of the binary.
"""

import argparse
import json
import re
import sys

HEADER = re.compile(r"^(?P<comm>\S.*?)\s+(?P<pid>-?\d+)/(?P<tid>-?\d+)\s+(?P<period>\d+)\s*:?\s*$")
FRAME = re.compile(r"^\s+(?P<ip>[0-9a-fA-F]+)\s+(?P<sym>.*?)\s+\((?P<dso>[^()]*)\)\s*$")


def is_shared_object(path):
    return path.startswith("[") or re.search(r"\.so(\.|$)", path.rsplit("/", 1)[-1]) is not None


def parse(lines):
    samples = []
    cur = None
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            cur = None
            continue
        if cur is None:
            m = HEADER.match(line)
            if not m:
                raise ValueError("unexpected perf script line: %r" % line)
            cur = {"comm": m["comm"], "pid": m["pid"], "tid": m["tid"],
                   "period": int(m["period"]), "frames": []}
            samples.append(cur)
            continue
        m = FRAME.match(line)
        if not m:
            raise ValueError("unexpected perf script frame line: %r" % line)
        sym = m["sym"]
        if sym == "[unknown]":
            sym = ""
        cur["frames"].append({"function": sym, "address": int(m["ip"], 16),
                              "mapping": m["dso"]})
    return samples


def to_profile(samples, name):
    main_comm = {}  # the main thread's name as of the sample (exec changes it)
    out = []
    for s in samples:
        if s["pid"] == s["tid"]:
            main_comm[s["pid"]] = s["comm"]
        exe = ""
        for f in reversed(s["frames"]):
            if f["mapping"] and not is_shared_object(f["mapping"]):
                exe = f["mapping"]
                break
        out.append({
            "values": [1, s["period"]],
            "labels": {"pid": s["pid"], "tid": s["tid"],
                       "comm": main_comm.get(s["pid"], s["comm"]),
                       "thread_name": s["comm"], "executable": exe},
            "frames": s["frames"],
        })
    return {"file": name, "sample_types": [{"type": "samples", "unit": "count"},
                                           {"type": "cpu", "unit": "nanoseconds"}],
            "period_type": {"type": "cpu", "unit": "nanoseconds"}, "period": 0,
            "time_nanos": 0, "duration_nanos": 0, "mappings": [], "samples": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", default="-", help="perf script output (default stdin)")
    args = ap.parse_args()
    if args.file == "-":
        samples = parse(sys.stdin)
    else:
        with open(args.file, encoding="utf-8", errors="replace") as f:
            samples = parse(f)
    json.dump([to_profile(samples, args.file)], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
