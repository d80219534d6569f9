"""Shared by the Python receivers of the exporter tests: the command line every receiver
takes (--pb-dir with protoc's modules, --out, --port-file, --port) and the records it
writes (OUT/received.jsonl, OUT/refused.jsonl, one OUT/NNNNNN.pb.gz per accepted profile)."""
import argparse
import json
import os
import sys
import threading


def parse_args(extra=()):
    """The common options plus (name, kwargs) pairs of extra ones; puts --pb-dir on sys.path."""
    p = argparse.ArgumentParser()
    p.add_argument("--pb-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    for name, kw in extra:
        p.add_argument(name, **kw)
    args = p.parse_args()
    sys.path.insert(0, args.pb_dir)
    os.makedirs(args.out, exist_ok=True)
    return args


class Recorder:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.count = 0

    def record(self, name, obj):
        with self.lock, open(os.path.join(self.out, name), "a") as f:
            f.write(json.dumps(obj) + "\n")

    def accept(self, raw, entry):
        """Stores an accepted profile and its description (n and file are added)."""
        with self.lock:
            self.count += 1
            entry = dict(entry, n=self.count, file="%06d.pb.gz" % self.count)
            with open(os.path.join(self.out, entry["file"]), "wb") as f:
                f.write(raw)
            with open(os.path.join(self.out, "received.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    def refuse(self, api, error):
        self.record("refused.jsonl", {"api": api, "error": str(error)})


def write_port(path, port):
    with open(path + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(path + ".tmp", path)
