#!/usr/bin/python3
"""Scrapes a running perfagent's /metrics twice and checks /healthz.

The exposition is parsed by prometheus_client's parser (python3-prometheus-client), which
is independent of the agent's code: anything it rejects fails the test. Checks: every
expected family is present with the right type, counters never go down, and the sampling
and window counters move between the two scrapes.
"""
import argparse
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

EXPECTED = {
    "perfagent_samples": "counter",
    "perfagent_lost_samples": "counter",
    "perfagent_throttled": "counter",
    "perfagent_unwind_stops": "counter",
    "perfagent_symbol_cache_hits": "counter",
    "perfagent_symbol_cache_misses": "counter",
    "perfagent_cfi_cache_bytes": "gauge",
    "perfagent_symbol_cache_bytes": "gauge",
    "perfagent_export": "counter",
    "perfagent_spool_bytes": "gauge",
    "perfagent_resident_memory_bytes": "gauge",
    "perfagent_reloads": "counter",
}


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", e.read().decode()


def scrape(base):
    status, ctype, body = get(base + "/metrics")
    if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
        sys.exit(f"FAIL: /metrics answered {status} {ctype!r}")
    fams = {}
    for fam in text_string_to_metric_families(body):
        fams[fam.name] = fam
    values = {}
    for fam in fams.values():
        for s in fam.samples:
            key = s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items()))
            values[key] = s.value
    return fams, values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--wait", type=float, default=3.0)
    ap.add_argument("--min-reloads", type=int, default=0)
    a = ap.parse_args()
    base = f"http://127.0.0.1:{a.port}"

    status, _, body = get(base + "/healthz")
    if status != 200 or body.strip() != "ok":
        sys.exit(f"FAIL: /healthz answered {status} {body!r}")
    print(f"/healthz: {status} {body.strip()}")
    status, _, _ = get(base + "/nothing-here")
    if status != 404:
        sys.exit(f"FAIL: an unknown path answered {status}, expected 404")

    fams1, v1 = scrape(base)
    for name, typ in EXPECTED.items():
        if name not in fams1:
            sys.exit(f"FAIL: metric family {name} missing; have {sorted(fams1)}")
        if fams1[name].type != typ:
            sys.exit(f"FAIL: {name} has type {fams1[name].type}, expected {typ}")
    time.sleep(a.wait)
    fams2, v2 = scrape(base)
    for key, val in v1.items():
        if fams1 and key.endswith("_total") and v2.get(key, 0) < val:
            sys.exit(f"FAIL: counter {key} went down: {val} -> {v2.get(key)}")
    moved = {k: (v1.get(k, 0), v2.get(k, 0)) for k in
             ("perfagent_samples_total", "perfagent_windows_total",
              "perfagent_unwind_stops_total{reason=end}")}
    for k, (x, y) in moved.items():
        print(f"{k}: {x} -> {y}")
        if y <= x:
            sys.exit(f"FAIL: {k} did not move in {a.wait} s")
    if v2.get("perfagent_resident_memory_bytes", 0) <= 0:
        sys.exit("FAIL: perfagent_resident_memory_bytes is not positive")
    if v2.get("perfagent_symbol_cache_hits_total", 0) + v2.get("perfagent_symbol_cache_misses_total", 0) <= 0:
        sys.exit("FAIL: no symbol cache lookups counted after windows were flushed")
    if v2.get("perfagent_reloads_total", 0) < a.min_reloads:
        sys.exit(f"FAIL: perfagent_reloads_total {v2.get('perfagent_reloads_total')} < {a.min_reloads}")
    print(f"{len(fams2)} metric families parsed, counters moved")


main()
