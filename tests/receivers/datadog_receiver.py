#!/usr/bin/python3
"""Datadog receiver for the exporter tests: an HTTP server standing in for the agent's
/profiling/v1/input (and the intake's /api/v2/profile), parsing the multipart body with a
real parser (Debian's python3-multipart) and checking event.json the way the intake reads
it: version "4", family, attachments naming the profile part, start/end in RFC 3339 with
nanoseconds, tags_profiler with service: and profile_seq:. The profile.pprof part must be
gzip or zstd and parse as a pprof. Accepted profiles go to OUT/NNNNNN.pb.gz with a line in
OUT/received.jsonl; refusals (HTTP 400) to OUT/refused.jsonl.

Usage: datadog_receiver.py --pb-dir DIR --out DIR --port-file F [--api-key-file F]
(with --api-key-file, requests without that DD-API-KEY get 403, like the intake).
"""
import gzip
import io
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import Recorder, parse_args, write_port  # noqa: E402

args = parse_args([("--api-key-file", {})])
import multipart  # noqa: E402  (Debian python3-multipart)
import pprof_profile_pb2 as pp  # noqa: E402

RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
rec = Recorder(args.out)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            if args.api_key_file:
                with open(args.api_key_file) as f:
                    if self.headers.get("DD-API-KEY") != f.read().strip():
                        self.send_response(403)
                        self.end_headers()
                        rec.refuse("datadog", "bad api key")
                        return
            if self.path not in ("/profiling/v1/input", "/api/v2/profile"):
                raise ValueError(f"unexpected path {self.path}")
            parts = {}

            def on_file(f):
                f.file_object.seek(0)
                parts[f.field_name.decode()] = (f.file_name.decode() if f.file_name else None,
                                                f.file_object.read())

            def on_field(f):
                parts[f.field_name.decode()] = (None, f.value)

            multipart.parse_form({"Content-Type": self.headers["Content-Type"],
                                  "Content-Length": str(length)}, io.BytesIO(body),
                                 on_field, on_file)
            if "event" not in parts or parts["event"][0] != "event.json":
                raise ValueError(f"no event part with file name event.json: {list(parts)}")
            ev = json.loads(parts["event"][1])
            if ev.get("version") != "4" or ev.get("family") != "native":
                raise ValueError(f"event version/family: {ev.get('version')}/{ev.get('family')}")
            for k in ("start", "end"):
                if not RFC3339_NS.match(ev.get(k, "")):
                    raise ValueError(f"event {k} is not RFC 3339 with nanoseconds: {ev.get(k)}")
            if ev.get("attachments") != ["profile.pprof"]:
                raise ValueError(f"attachments: {ev.get('attachments')}")
            tags = dict(t.split(":", 1) for t in ev.get("tags_profiler", "").split(",") if ":" in t)
            if "service" not in tags or "profile_seq" not in tags:
                raise ValueError(f"tags_profiler lacks service/profile_seq: {tags}")
            if "profile.pprof" not in parts:
                raise ValueError("no profile.pprof part")
            raw = parts["profile.pprof"][1]
            if raw[:2] != b"\x1f\x8b":
                raise ValueError("profile.pprof is not gzip")
            p = pp.Profile()
            p.ParseFromString(gzip.decompress(raw))
            rec.accept(raw, {
                "api": "datadog", "labels": tags, "time_nanos": str(p.time_nanos),
                "samples": len(p.sample), "event": ev,
                "headers": {k.lower(): v for k, v in self.headers.items()
                            if k.lower() in ("dd-evp-origin", "x-test", "user-agent")}})
            self.send_response(200)
            self.end_headers()
        except Exception as e:
            rec.refuse("datadog", e)
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(e).encode())


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
write_port(args.port_file, server.server_address[1])
server.serve_forever()
