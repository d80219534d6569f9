#!/usr/bin/python3
"""Check the profiles of one end-to-end run against what the workload was designed to do.

usage: e2e_check.py [GLOBAL OPTIONS] [--select K=V [GROUP OPTIONS]]...

The profiles (every perfagent-*.pb.gz of the run) are decoded once by pprof_decode.py, or
read from JSON in the shape it prints (--json, e.g. hand-written or made from `perf script`
by e2e_perf2json.py). Each --select starts a group: the samples whose labels match, checked
by the options that follow it. Every figure a check relies on is printed, so a log shows
how close a run came to failing; every failed check prints "FAIL: ..." and the exit status
is 1 (2 for a usage error, 99 when the profiles cannot be read at all).

Series labels (the "label NAME=VALUE" comments of a profile) count as labels of each of its
samples, so --select container=x works on them. Conventions: frames are leaf first; the kernel frames a sample may start with (mapping
"[kernel.kallsyms]") are skipped, so a sample's "leaf" is its innermost user frame and
chains are matched on user frames. Samples are weighted by their samples/count value.
Percentages are percent of the group's samples. comm and thread_name values longer than
15 characters are truncated as the kernel truncates them (TASK_COMM_LEN is 16).

Global options:
  --profiles PATH      a profile, or a directory whose perfagent-*.pb.gz are all read (repeatable)
  --json FILE          decoded profiles as JSON, '-' for stdin (repeatable; instead of --profiles)
  --proto-dir DIR      for pprof_decode.py (default $PROTO_DIR)
  --decoder FILE       default: pprof_decode.py beside this script
  --min-files N        at least N profiles (default 1)
  --summary FILE       the daemon's --summary-json; printed
  --summary-eq K=N     summary[K] == N (repeatable), e.g. lost=0
  --summary-min K=N    summary[K] >= N (repeatable)
  --summary-files-match  summary "files" equals the number of profiles read
  --no-type-check      do not require sample_type [samples/count, cpu/nanoseconds]

Group options (after --select K=V, or --select all):
  --where K=V          one more label condition (repeatable)
  --with-function F    only the samples with F in their stack (repeatable: all of them)
  --name NAME          how the group is called in messages
  --min-samples N      the group has at least N samples
  --max-samples N      ... and at most N (e.g. 0: no such samples at all)
  --chain F1,F2,...    a call chain, outermost first, that must end at the sample's leaf
                       (repeatable: a sample passes when it matches any of them)
  --min-chain PCT      share of samples matching a --chain (default 99)
  --outermost F1,F2..  the functions a complete stack ends in (e.g. _start,clone3)
  --min-outermost PCT  share of samples whose outermost user frame is one of them (default 99)
  --leaf-share F=PCT   share of samples whose leaf is F, within --tolerance points of PCT
  --tolerance PTS      for --leaf-share (default 5)
  --min-leaf-share F=PCT, --max-leaf-share F=PCT
  --absent F           no sample has F anywhere in its frames
  --min-symbolized PCT share of samples whose leaf frame has a function name
  --same-label K=V     every sample of the group has label K=V
  --label-in K=V1,V2.. every sample of the group has one of these values of label K
  --distinct-value L   the group has exactly one value of label L, and no other group with
                       this option has the same value (e.g. tid for named threads)
  --top N              leaf functions listed (default 8)
"""

import argparse
import glob
import json
import os
import subprocess
import sys

KERNEL_MAPPINGS = ("[kernel.kallsyms]",)
COMM_LEN = 15
NO_USER_FRAMES = "(no user frames)"


class UsageError(Exception):
    pass


class DataError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors get our exit status."""

    def error(self, message):
        raise UsageError(message)


def kv(text, what, number=False):
    if "=" not in text:
        raise UsageError("%s: expected KEY=VALUE, got %r" % (what, text))
    k, v = text.split("=", 1)
    if number:
        try:
            v = float(v)
        except ValueError:
            raise UsageError("%s: %r is not a number" % (what, text)) from None
    return k, v


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


# ---- options -----------------------------------------------------------------------------

def global_parser():
    p = Parser(prog="e2e_check.py", add_help=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--profiles", action="append", default=[])
    p.add_argument("--json", action="append", default=[])
    p.add_argument("--proto-dir", default=os.environ.get("PROTO_DIR", ""))
    p.add_argument("--decoder",
                   default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "pprof_decode.py"))
    p.add_argument("--min-files", type=int, default=1)
    p.add_argument("--summary")
    p.add_argument("--summary-eq", action="append", default=[])
    p.add_argument("--summary-min", action="append", default=[])
    p.add_argument("--summary-files-match", action="store_true")
    p.add_argument("--no-type-check", action="store_true")
    return p


def group_parser():
    p = Parser(prog="e2e_check.py --select", add_help=False)
    p.add_argument("select")
    p.add_argument("--where", action="append", default=[])
    p.add_argument("--with-function", action="append", default=[])
    p.add_argument("--name")
    p.add_argument("--min-samples", type=float)
    p.add_argument("--max-samples", type=float)
    p.add_argument("--chain", action="append", default=[])
    p.add_argument("--min-chain", type=float, default=99.0)
    p.add_argument("--outermost")
    p.add_argument("--min-outermost", type=float, default=99.0)
    p.add_argument("--leaf-share", action="append", default=[])
    p.add_argument("--tolerance", type=float, default=5.0)
    p.add_argument("--min-leaf-share", action="append", default=[])
    p.add_argument("--max-leaf-share", action="append", default=[])
    p.add_argument("--absent", action="append", default=[])
    p.add_argument("--min-symbolized", type=float)
    p.add_argument("--same-label", action="append", default=[])
    p.add_argument("--label-in", action="append", default=[])
    p.add_argument("--distinct-value", action="append", default=[])
    p.add_argument("--top", type=int, default=8)
    return p


def parse_args(argv):
    """Split argv at each --select: global options first, then one group per --select."""
    chunks = [[]]
    for a in argv:
        if a == "--select":
            chunks.append([])
        elif a.startswith("--select="):
            chunks.append([a.split("=", 1)[1]])
        else:
            chunks[-1].append(a)
    gargs = global_parser().parse_args(chunks[0])
    groups = []
    for c in chunks[1:]:
        if not c:
            raise UsageError("--select needs K=V or 'all'")
        groups.append(group_parser().parse_args(c))
    return gargs, groups


# ---- loading -----------------------------------------------------------------------------

def profile_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files.extend(sorted(glob.glob(os.path.join(p, "perfagent-*.pb.gz"))))
        elif os.path.exists(p):
            files.append(p)
        else:
            raise DataError("%s: no such file or directory" % p)
    return files


def decode(files, args):
    if not files:
        return []
    if not args.proto_dir:
        raise DataError("no --proto-dir (or $PROTO_DIR) for pprof_decode.py")
    cmd = [sys.executable, args.decoder, "--proto-dir", args.proto_dir, "--json",
           "--detail"] + files
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise DataError("pprof_decode.py exited with %d: %s" % (r.returncode, r.stderr.strip()))
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise DataError("pprof_decode.py printed invalid JSON: %s" % e) from None
    return data


def load_json(path):
    try:
        if path == "-":
            data = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError("%s: %s" % (path, e)) from None
    return data if isinstance(data, list) else [data]


def value_type(vt):
    """A sample or period type as "type/unit", whatever shape the decoder gave it."""
    if isinstance(vt, dict):
        return "%s/%s" % (vt.get("type", ""), vt.get("unit", ""))
    if isinstance(vt, (list, tuple)) and len(vt) == 2:
        return "%s/%s" % tuple(vt)
    if isinstance(vt, str):
        return vt
    raise DataError("unrecognised value type %r" % (vt,))


class Sample:
    __slots__ = ("weight", "labels", "frames", "user", "file")

    def __init__(self, weight, labels, frames, file):
        self.weight = weight
        self.labels = {k: str(v) for k, v in (labels or {}).items()}
        # The checks are about the physical call chain the unwinder rebuilt: a function
        # inlined into another (an extra Line of the same location) is not a frame of it.
        self.frames = [f for f in frames or [] if not f.get("inlined")]
        self.file = file
        i = 0
        while i < len(self.frames) and self.frames[i].get("mapping") in KERNEL_MAPPINGS:
            i += 1
        self.user = self.frames[i:]

    def leaf(self):
        if not self.user:
            return NO_USER_FRAMES
        f = self.user[0]
        if f.get("function"):
            return f["function"]
        return "0x%x (%s)" % (f.get("address", 0), f.get("mapping") or "?")

    def leaf_symbolized(self):
        return bool(self.user) and bool(self.user[0].get("function"))

    def functions(self):
        return {f.get("function") for f in self.frames}


def collect(profiles, type_check, failures):
    samples = []
    for prof in profiles:
        name = os.path.basename(str(prof.get("file", "?")))
        types = [value_type(t) for t in prof.get("sample_types", [])]
        count_idx = types.index("samples/count") if "samples/count" in types else 0
        if type_check and types[:2] != ["samples/count", "cpu/nanoseconds"]:
            failures.append("%s: sample_type is %s, expected [samples/count, cpu/nanoseconds]"
                            % (name, types))
        total = 0
        # The series' labels ("label NAME=VALUE" comments) apply to every sample of the
        # profile; the sample's own labels (pid, tid, ...) take precedence.
        series = {}
        for c in prof.get("comments", []):
            if c.startswith("label ") and "=" in c:
                k, v = c[6:].split("=", 1)
                series[k] = v
        for s in prof.get("samples", []):
            values = s.get("values") or [0]
            w = values[count_idx] if count_idx < len(values) else 0
            total += w
            samples.append(Sample(w, dict(series, **(s.get("labels") or {})), s.get("frames"),
                                  name))
        dur = prof.get("duration_nanos") or 0
        print("profile %s: %d samples in %d records, duration %.2f s" %
              (name, total, len(prof.get("samples", [])), dur / 1e9))
    return samples


# ---- checks ------------------------------------------------------------------------------

def label_condition(text, what):
    k, v = kv(text, what)
    if k in ("comm", "thread_name") and len(v) > COMM_LEN:
        v = v[:COMM_LEN]
    return k, v


def check_group(ga, samples, failures, distinct_values):
    conds = [] if ga.select == "all" else [label_condition(ga.select, "--select")]
    conds += [label_condition(w, "--where") for w in ga.where]
    desc = " ".join(["%s=%s" % c for c in conds] + ["with %s" % f for f in ga.with_function])
    desc = desc or "all samples"
    name = ga.name or desc
    sel = [s for s in samples if all(s.labels.get(k) == v for k, v in conds)
           and all(f in s.functions() for f in ga.with_function)]
    total = sum(s.weight for s in sel)

    def fail(msg):
        failures.append("[%s] %s" % (name, msg))
        print("  FAIL: " + msg)

    print("[%s] %s: %d samples (%d records)" % (name, desc, total, len(sel)))

    if ga.min_samples is not None:
        ok = total >= ga.min_samples
        print("  samples: %d (min %d)%s" % (total, ga.min_samples, "" if ok else "  <-- too few"))
        if not ok:
            fail("%d samples, expected at least %d" % (total, ga.min_samples))
    if ga.max_samples is not None and total > ga.max_samples:
        fail("%d samples, expected at most %d" % (total, ga.max_samples))

    leaves = {}
    for s in sel:
        leaves[s.leaf()] = leaves.get(s.leaf(), 0) + s.weight
    if total and ga.top:
        print("  leaf functions:")
        for fn, w in sorted(leaves.items(), key=lambda x: -x[1])[:ga.top]:
            print("    %6.2f%%  %7d  %s" % (pct(w, total), w, fn))
    for label in ("pid", "tid", "comm", "thread_name", "executable"):
        values = {}
        for s in sel:
            v = s.labels.get(label, "(none)")
            values[v] = values.get(v, 0) + s.weight
        if 0 < len(values) <= 4:
            print("  %s: %s" % (label, ", ".join("%s (%d)" % (v or '""', n) for v, n in
                                                  sorted(values.items(), key=lambda x: -x[1]))))
        elif values:
            print("  %s: %d distinct values" % (label, len(values)))
        if label in ga.distinct_value:
            distinct_values.append((label, name, set(values)))
    for label in ga.distinct_value:
        if label not in ("pid", "tid", "comm", "thread_name", "executable"):
            values = {s.labels.get(label, "(none)") for s in sel}
            distinct_values.append((label, name, values))

    if ga.chain:
        chains = [[f for f in c.split(",") if f] for c in ga.chain]
        per_chain = [0] * len(chains)
        full = 0
        for s in sel:
            names = [f.get("function") or "" for f in s.user]
            for i, c in enumerate(chains):
                if names[:len(c)] == c[::-1]:
                    per_chain[i] += s.weight
                    full += s.weight
                    break
        print("  full chains: %.2f%% (%d of %d; min %.1f%%)" %
              (pct(full, total), full, total, ga.min_chain))
        for c, n in zip(chains, per_chain):
            print("    %6.2f%%  %s" % (pct(n, total), " -> ".join(c)))
        if not total or pct(full, total) < ga.min_chain:
            broken = {}
            for s in sel:
                names = [f.get("function") or "" for f in s.user]
                if not any(names[:len(c)] == c[::-1] for c in chains):
                    key = " <- ".join((n or "?") for n in names[:6]) or NO_USER_FRAMES
                    broken[key] = broken.get(key, 0) + s.weight
            for key, n in sorted(broken.items(), key=lambda x: -x[1])[:5]:
                print("    not a full chain (%d): %s" % (n, key))
            fail("%.2f%% of samples have a full chain, expected >= %.1f%%"
                 % (pct(full, total), ga.min_chain))

    if ga.outermost:
        roots = {f for f in ga.outermost.split(",") if f}
        ends = {}
        complete = 0
        for s in sel:
            root = (s.user[-1].get("function") or "") if s.user else ""
            if root in roots:
                complete += s.weight
            else:
                key = " <- ".join((f.get("function") or "0x%x" % f.get("address", 0))
                                  for f in s.user[-3:]) or NO_USER_FRAMES
                ends[key] = ends.get(key, 0) + s.weight
        print("  complete stacks (outermost frame in %s): %.2f%% (%d of %d; min %.1f%%)" %
              (",".join(sorted(roots)), pct(complete, total), complete, total,
               ga.min_outermost))
        for key, n in sorted(ends.items(), key=lambda x: -x[1])[:5]:
            print("    ends elsewhere (%d): ... %s" % (n, key))
        if not total or pct(complete, total) < ga.min_outermost:
            fail("%.2f%% of samples reach the outermost frame, expected >= %.1f%%"
                 % (pct(complete, total), ga.min_outermost))

    for spec in ga.leaf_share:
        fn, want = kv(spec, "--leaf-share", number=True)
        got = pct(leaves.get(fn, 0), total)
        ok = total > 0 and abs(got - want) <= ga.tolerance
        print("  leaf share %s: %.2f%% (expected %.1f +- %.1f)%s" %
              (fn, got, want, ga.tolerance, "" if ok else "  <-- out of range"))
        if not ok:
            fail("leaf share of %s is %.2f%%, expected %.1f +- %.1f points" %
                 (fn, got, want, ga.tolerance))
    for spec in ga.min_leaf_share:
        fn, want = kv(spec, "--min-leaf-share", number=True)
        got = pct(leaves.get(fn, 0), total)
        print("  leaf share %s: %.2f%% (min %.1f%%)" % (fn, got, want))
        if total == 0 or got < want:
            fail("leaf share of %s is %.2f%%, expected >= %.1f%%" % (fn, got, want))
    for spec in ga.max_leaf_share:
        fn, want = kv(spec, "--max-leaf-share", number=True)
        got = pct(leaves.get(fn, 0), total)
        print("  leaf share %s: %.2f%% (max %.1f%%)" % (fn, got, want))
        if got > want:
            fail("leaf share of %s is %.2f%%, expected <= %.1f%%" % (fn, got, want))

    for fn in ga.absent:
        n = sum(s.weight for s in sel if fn in s.functions())
        print("  samples with %s in their stack: %d (expected 0)" % (fn, n))
        if n:
            fail("%d samples have %s in their stack, expected none" % (n, fn))

    if ga.min_symbolized is not None:
        sym = sum(s.weight for s in sel if s.leaf_symbolized())
        print("  symbolized leaf: %.2f%% (%d of %d; min %.1f%%)" %
              (pct(sym, total), sym, total, ga.min_symbolized))
        if not total or pct(sym, total) < ga.min_symbolized:
            fail("%.2f%% of samples have a symbolized leaf, expected >= %.1f%%" %
                 (pct(sym, total), ga.min_symbolized))

    label_sets = [(label_condition(spec, "--same-label"), "--same-label") for spec in ga.same_label]
    label_sets += [(kv(spec, "--label-in"), "--label-in") for spec in ga.label_in]
    for (k, v), opt in label_sets:
        allowed = {v} if opt == "--same-label" else set(v.split(","))
        other = {}
        for s in sel:
            got = s.labels.get(k, "(none)")
            if got not in allowed:
                other[got] = other.get(got, 0) + s.weight
        n = sum(other.values())
        print("  samples with %s not in {%s}: %d" % (k, ",".join(sorted(allowed)), n))
        if n:
            shown = ", ".join("%s (%d)" % (x or '""', c)
                              for x, c in sorted(other.items(), key=lambda x: -x[1])[:5])
            fail("%d samples have %s not in {%s}: %s" % (n, k, ",".join(sorted(allowed)), shown))


def check_distinct(distinct_values, failures):
    """Each group that asked for it has one value of the label, unlike the other groups."""
    seen = {}
    for label, name, values in distinct_values:
        print("%s of [%s]: %s" % (label, name, ",".join(sorted(values)) or "none"))
        if len(values) != 1:
            failures.append("[%s] %d values of %s, expected exactly one" % (name, len(values), label))
            print("FAIL: [%s] %d values of %s, expected exactly one" % (name, len(values), label))
            continue
        v = next(iter(values))
        if (label, v) in seen:
            failures.append("[%s] and [%s] have the same %s %s" % (seen[label, v], name, label, v))
            print("FAIL: [%s] and [%s] have the same %s %s" % (seen[label, v], name, label, v))
        seen[label, v] = name


def check_summary(args, nfiles, profile_total, failures):
    try:
        with open(args.summary, encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        failures.append("summary %s: %s" % (args.summary, e))
        print("FAIL: summary %s: %s" % (args.summary, e))
        return
    brief = {k: v for k, v in summary.items() if k != "hottest"}
    print("summary: %s" % json.dumps(brief, sort_keys=True))
    for h in (summary.get("hottest") or [])[:5]:
        print("  hottest: %s %s" % (h.get("samples"), h.get("function")))
    print("summary samples %s, samples in the profiles %d" % (summary.get("samples"), profile_total))

    def get(k):
        v = summary.get(k)
        if not isinstance(v, (int, float)):
            failures.append("summary: %r is %r, not a number" % (k, v))
            print("FAIL: summary %r is %r, not a number" % (k, v))
            return None
        return v

    for spec in args.summary_eq:
        k, want = kv(spec, "--summary-eq", number=True)
        v = get(k)
        if v is not None and v != want:
            failures.append("summary: %s = %s, expected %g" % (k, v, want))
            print("FAIL: summary %s = %s, expected %g" % (k, v, want))
    for spec in args.summary_min:
        k, want = kv(spec, "--summary-min", number=True)
        v = get(k)
        if v is not None and v < want:
            failures.append("summary: %s = %s, expected >= %g" % (k, v, want))
            print("FAIL: summary %s = %s, expected >= %g" % (k, v, want))
    if args.summary_files_match:
        v = get("files")
        if v is not None and v != nfiles:
            failures.append("summary: files = %s, but %d profiles were found" % (v, nfiles))
            print("FAIL: summary files = %s, but %d profiles were found" % (v, nfiles))


def main(argv):
    try:
        args, groups = parse_args(argv)
    except UsageError as e:
        print("e2e_check.py: %s (see --help)" % e, file=sys.stderr)
        return 2
    if args.help:
        print(__doc__)
        return 0
    failures = []
    try:
        if args.json and args.profiles:
            raise UsageError("--json and --profiles are exclusive")
        if args.json:
            profiles = [p for j in args.json for p in load_json(j)]
        else:
            profiles = decode(profile_files(args.profiles), args)
        print("profiles: %d" % len(profiles))
        samples = collect(profiles, not args.no_type_check, failures)
        if len(profiles) < args.min_files:
            failures.append("%d profiles, expected at least %d" % (len(profiles), args.min_files))
            print("FAIL: %d profiles, expected at least %d" % (len(profiles), args.min_files))
        if args.summary:
            check_summary(args, len(profiles), sum(s.weight for s in samples), failures)
        distinct_values = []
        for ga in groups:
            check_group(ga, samples, failures, distinct_values)
        check_distinct(distinct_values, failures)
    except UsageError as e:
        print("e2e_check.py: %s" % e, file=sys.stderr)
        return 2
    except DataError as e:
        print("e2e_check.py: cannot read the profiles: %s" % e, file=sys.stderr)
        return 99
    if failures:
        print("%d check(s) failed:" % len(failures), file=sys.stderr)
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
