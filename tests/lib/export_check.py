#!/usr/bin/python3
"""Checks what a loopback receiver got against what the file exporter wrote in the same run.

    export_check.py --pb-dir DIR --files DIR [--files DIR...] --received DIR --api API
                    [--exactly-once] [--in-order] [--label K=V] [--header K=V]
                    [--min-windows N]

--files: the file exporter's directories (several runs may add up); --received: the
receiver's OUT directory (received.jsonl + NNNNNN.pb.gz; refused.jsonl must not exist for
API). Windows are matched by the profile's time_nanos. Every window of the file exporter
must have arrived (--exactly-once: once, no more), no window may arrive that the file
exporter did not write, and with --in-order the arrivals are in window order. Every
received profile and its file twin are parsed by `go tool pprof -raw` and the outputs (the
samples with their stacks and labels, the locations, mappings) must be identical.
"""
import argparse
import concurrent.futures
import glob
import gzip
import json
import os
import subprocess
import sys


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


p = argparse.ArgumentParser()
p.add_argument("--pb-dir", required=True)
p.add_argument("--files", action="append", required=True)
p.add_argument("--received", required=True)
p.add_argument("--api", required=True)
p.add_argument("--exactly-once", action="store_true")
p.add_argument("--in-order", action="store_true")
p.add_argument("--label", action="append", default=[])
p.add_argument("--header", action="append", default=[])
p.add_argument("--min-windows", type=int, default=1)
a = p.parse_args()
sys.path.insert(0, a.pb_dir)
import pprof_profile_pb2 as pp  # noqa: E402


def time_nanos(path):
    prof = pp.Profile()
    with open(path, "rb") as f:
        prof.ParseFromString(gzip.decompress(f.read()))
    return prof.time_nanos


def pprof_raw(path):
    r = subprocess.run(["go", "tool", "pprof", "-raw", path], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"go tool pprof -raw {path}: {r.stderr.strip()}")
    if "Samples:" not in r.stdout:
        die(f"go tool pprof -raw {path}: no samples section")
    return r.stdout


files = {}
for d in a.files:
    for f in sorted(glob.glob(os.path.join(d, "*.pb.gz"))):
        files[time_nanos(f)] = f
if len(files) < a.min_windows:
    die(f"the file exporter wrote {len(files)} windows, expected at least {a.min_windows}")

refused = os.path.join(a.received, "refused.jsonl")
if os.path.exists(refused):
    for line in open(refused):
        r = json.loads(line)
        if r["api"] == a.api:
            die(f"{a.api} receiver refused a request: {r['error']}")

got = []
path = os.path.join(a.received, "received.jsonl")
if os.path.exists(path):
    got = [json.loads(line) for line in open(path)]
got = [g for g in got if g["api"] == a.api]
got.sort(key=lambda g: g["n"])

seen = {}
for g in got:
    t = int(g["time_nanos"])
    if t not in files:
        die(f"{a.api}: received a window (time {t}, {g['file']}) the file exporter never wrote")
    seen[t] = seen.get(t, 0) + 1
    for kv in a.label:
        k, v = kv.split("=", 1)
        if g["labels"].get(k) != v:
            die(f"{a.api}: {g['file']} label {k}={g['labels'].get(k)!r}, expected {v!r}")
    for kv in a.header:
        k, v = kv.split("=", 1)
        if g["headers"].get(k) != v:
            die(f"{a.api}: {g['file']} header {k} not as expected")  # value may be secret

missing = [t for t in files if t not in seen]
if missing:
    die(f"{a.api}: {len(missing)} of {len(files)} windows never arrived (times {missing[:5]})")
dups = {t: c for t, c in seen.items() if c > 1}
if a.exactly_once and dups:
    die(f"{a.api}: {len(dups)} windows arrived more than once: {list(dups.items())[:5]}")
if a.in_order:
    order = [int(g["time_nanos"]) for g in got]
    for x, y in zip(order, order[1:]):
        if y < x:
            die(f"{a.api}: windows arrived out of order ({x} before {y})")

# go tool pprof takes a fraction of a second per file: run them side by side.
pairs = [(os.path.join(a.received, g["file"]), files[int(g["time_nanos"])]) for g in got]
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    outputs = list(pool.map(pprof_raw, [f for pair in pairs for f in pair]))
for i, (mine, theirs) in enumerate(pairs):
    if outputs[2 * i] != outputs[2 * i + 1]:
        die(f"{a.api}: {mine} differs from {theirs} under go tool pprof -raw")
samples = sum(g["samples"] for g in got)
print(f"{a.api}: {len(files)} windows written by the file exporter, {len(got)} received "
      f"({len(seen)} distinct, {sum(c - 1 for c in seen.values())} duplicates), "
      f"{samples} sample rows, all identical under go tool pprof -raw")
