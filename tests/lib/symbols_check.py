#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check the function names, inline frames and build-ids of decoded profiles.

    symbols_check.py PROFILES.json [--expect BINARY=FUNCTION]... [--system-prefix FUNCTION=PREFIX]...
                     [--inline INLINED@CALLER]... [--no-hash-suffix] [--no-names BINARY]...

PROFILES.json is the output of pprof_decode.py --json. BINARY is matched against the end of
a mapping's file name. Every condition is checked and every failure printed; exit 1 on any.
"""

import argparse
import json
import re
import sys


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles")
    ap.add_argument("--expect", action="append", default=[],
                    help="BINARY=FUNCTION: a sample frame in BINARY is named FUNCTION")
    ap.add_argument("--system-prefix", action="append", default=[],
                    help="FUNCTION=PREFIX: FUNCTION's system_name starts with PREFIX")
    ap.add_argument("--inline", action="append", default=[],
                    help="INLINED@CALLER: a location's Lines are INLINED (with a line) "
                         "then CALLER (with a line)")
    ap.add_argument("--inline-mapping", action="append", default=[],
                    help="BINARY: its mappings say has_inline_frames, has_line_numbers")
    ap.add_argument("--chain", action="append", default=[],
                    help="CALLEE,CALLER: some sample has CALLER right after CALLEE (leaf first)")
    ap.add_argument("--no-hash-suffix", action="store_true",
                    help="no function name ends in a Rust hash (::h<16 hex>)")
    ap.add_argument("--no-names", action="append", default=[],
                    help="BINARY: no frame in BINARY is named, yet its mapping has a build-id")
    args = ap.parse_args(argv)

    with open(args.profiles) as f:
        profiles = json.load(f)
    frames = []
    mappings = []
    stacks = []
    for p in profiles:
        mappings.extend(p["mappings"])
        for smp in p["samples"]:
            frames.extend(smp["frames"])
            stacks.append(([f["function"] for f in smp["frames"]], smp["values"][0]))
    failures = []

    def in_binary(fr, binary):
        return fr["mapping"].endswith("/" + binary)

    for e in args.expect:
        binary, func = e.split("=", 1)
        names = {fr["function"] for fr in frames if in_binary(fr, binary)}
        if func in names:
            print(f"ok: {binary}: {func}")
        else:
            failures.append(f"{binary}: no frame named {func!r}; names seen: "
                            f"{sorted(n for n in names if n)[:12]}")
    for e in args.system_prefix:
        func, prefix = e.split("=", 1)
        sys_names = {fr.get("system_name", "") for fr in frames if fr["function"] == func}
        if sys_names and all(n.startswith(prefix) for n in sys_names):
            print(f"ok: {func}: system_name {sorted(sys_names)[0]}")
        else:
            failures.append(f"{func}: system_name {sorted(sys_names)} does not start with {prefix}")
    by_loc = {}
    for fr in frames:
        by_loc.setdefault((fr["mapping"], fr.get("location")), [])
        chain = by_loc[(fr["mapping"], fr.get("location"))]
        if fr not in chain:
            chain.append(fr)
    for e in args.inline:
        inlined, caller = e.split("@", 1)
        found = [c for c in by_loc.values()
                 if len(c) >= 2 and c[0]["function"] == inlined and c[0].get("inlined") and
                 c[0].get("line", 0) > 0 and c[0].get("filename") and
                 c[-1]["function"] == caller and c[-1].get("line", 0) > 0]
        if found:
            c = found[0]
            print(f"ok: {inlined} ({c[0]['filename']}:{c[0]['line']}) inlined in {caller} "
                  f"(line {c[-1]['line']})")
        else:
            failures.append(f"no location with {inlined} inlined into {caller}; chains with "
                            f"{inlined}: {[[f['function'] for f in c] for c in by_loc.values() if any(f['function'] == inlined for f in c)][:5]}")
    for binary in args.inline_mapping:
        ms = [m for m in mappings if m["filename"].endswith("/" + binary)]
        good = [m for m in ms if m["has_inline_frames"] and m["has_line_numbers"] and
                m["has_filenames"] and m["has_functions"]]
        if good:
            print(f"ok: {binary}: has_functions, has_filenames, has_line_numbers, "
                  f"has_inline_frames in {len(good)} of {len(ms)} mappings")
        else:
            failures.append(f"{binary}: no mapping with has_inline_frames/has_line_numbers set")
    for e in args.chain:
        callee, caller = e.split(",", 1)
        total = sum(n for fs, n in stacks if fs and fs[0] == callee)
        good = sum(n for fs, n in stacks
                   if fs and fs[0] == callee and len(fs) > 1 and fs[1] == caller)
        if total and good * 2 >= total:
            print(f"ok: {callee} called from {caller} in {good} of {total} samples")
        else:
            failures.append(f"{callee} called from {caller} in {good} of {total} samples "
                            f"(want at least half)")
    if args.no_hash_suffix:
        hashed = {fr["function"] for fr in frames if re.search(r"::h[0-9a-f]{16}$", fr["function"])}
        if hashed:
            failures.append(f"names still carry a Rust hash: {sorted(hashed)[:5]}")
    for binary in args.no_names:
        named = {fr["function"] for fr in frames if in_binary(fr, binary) and fr["function"]}
        ms = [m for m in mappings if m["filename"].endswith("/" + binary)]
        if named:
            failures.append(f"{binary}: named frames with --symbolize=none: {sorted(named)[:5]}")
        elif not ms or not all(m["build_id"] and not m["has_functions"] for m in ms):
            failures.append(f"{binary}: mappings without build-id or with has_functions: {ms[:2]}")
        elif not any(in_binary(fr, binary) and fr["address"] for fr in frames):
            failures.append(f"{binary}: no frame with an address")
        else:
            print(f"ok: {binary}: no names, build-id {ms[0]['build_id']}, "
                  f"file offset {ms[0]['offset']:#x}")

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
