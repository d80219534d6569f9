#!/bin/sh
# bench-sampling.sh: what a sample costs perfagent, and perf for comparison. Figures only,
# never pass/fail.
#
# A CPU-bound load (bench-burn: one thread per CPU, stacks 24 frames deep) runs for the whole
# benchmark. For each frequency (BENCH_FREQS, default "19 999"), one after the other:
#   perfagent  system-wide for BENCH_SECONDS (default 20) s: its CPU time (user+sys, from
#              wait4) over the samples it took (--summary-json), and its peak RSS (VmHWM);
#   perf       `perf record -e cpu-clock -F HZ -a -g -o FILE -- sleep N`, then
#              `perf script -i FILE > /dev/null`: the CPU time of both over the samples
#              recorded (perf report --stats), and the larger of their two peak RSS.
# perf's call chains are the kernel's frame-pointer walk, perfagent copies user stacks and
# unwinds them itself: the comparison is between the two ways of getting a profile, each
# made readable (perf script symbolizes, perfagent writes symbolized pprof).
#
# Environment: PERFAGENT (default ./perfagent), BENCH_BURN (default ./bench/bench-burn),
# BENCH_SECONDS, BENCH_FREQS, BENCH_THREADS (default: online CPUs), BENCH_DEPTH (default
# 24), BENCH_PERFAGENT_ARGS (extra daemon options), BENCH_PERF_DWARF=1 to add a
# `perf record --call-graph dwarf` row (large perf.data: ~8 KiB per sample), TMPDIR.
# Run as root (or with CAP_PERFMON): both profilers sample every CPU.
set -u

here=$(cd "$(dirname "$0")" && pwd)
PERFAGENT=${PERFAGENT:-./perfagent}
BENCH_BURN=${BENCH_BURN:-./bench/bench-burn}
N=${BENCH_SECONDS:-20}
FREQS=${BENCH_FREQS:-"19 999"}
THREADS=${BENCH_THREADS:-$(getconf _NPROCESSORS_ONLN)}
DEPTH=${BENCH_DEPTH:-24}
PY=${TESTS_PYTHON:-/usr/bin/python3}
RUSAGE="$here/bench_rusage.py"

die() {
	echo "bench-sampling: $*" >&2
	exit 1
}

[ -x "$PERFAGENT" ] || die "$PERFAGENT not built (make perfagent, or set PERFAGENT)"
[ -x "$BENCH_BURN" ] || die "$BENCH_BURN not built (make bench/bench-burn, or set BENCH_BURN)"
command -v perf >/dev/null 2>&1 || die "perf is not installed (Debian: linux-perf)"
"$PERFAGENT" --check-perf >/dev/null || die "perfagent cannot open its events (see above)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/perfagent-bench.XXXXXX") || exit 1
burn_pid=""
cleanup() {
	[ -z "$burn_pid" ] || kill "$burn_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

nfreqs=$(echo "$FREQS" | wc -w)
# Long enough for every run and the perf script passes; killed at the end.
"$BENCH_BURN" $((nfreqs * (4 * N + 120) + 60)) "$THREADS" "$DEPTH" &
burn_pid=$!
sleep 1
echo "load: bench-burn, $THREADS threads, stacks $DEPTH frames deep, on $(getconf _NPROCESSORS_ONLN) CPUs"
echo "each run: $N s, system-wide; $(perf version 2>/dev/null); $("$PERFAGENT" --version 2>/dev/null | head -n 1)"

# perf_samples DATA: "SAMPLE LOST" from perf report --stats.
perf_samples() {
	perf report -i "$1" --stats 2>/dev/null | awk '
		/SAMPLE events:/ && !s { s = $3 }
		/LOST events:/ && !l { l = $3 }
		END { printf "%d %d\n", s, l }'
}

for f in $FREQS; do
	echo "== $f Hz: perfagent" >&2
	# shellcheck disable=SC2086 # BENCH_PERFAGENT_ARGS is split on purpose
	"$PY" "$RUSAGE" --timeout $((N + 60)) -- "$PERFAGENT" -F "$f" -d "$N" -i "$N" \
		-o "$tmp/pa-$f" --summary-json "$tmp/pa-$f.summary.json" ${BENCH_PERFAGENT_ARGS:-} \
		>"$tmp/pa-$f.rusage.json" || die "bench_rusage.py failed"
	rm -rf "$tmp/pa-$f"

	echo "== $f Hz: perf record -g, perf script" >&2
	"$PY" "$RUSAGE" --timeout $((N + 60)) -- perf record -q -e cpu-clock -F "$f" -a -g \
		-o "$tmp/perf-$f.data" -- sleep "$N" >"$tmp/perf-$f.record.json" ||
		die "bench_rusage.py failed"
	"$PY" "$RUSAGE" --timeout $((4 * N + 120)) -- perf script -i "$tmp/perf-$f.data" \
		>"$tmp/perf-$f.script.json" || die "bench_rusage.py failed"
	perf_samples "$tmp/perf-$f.data" >"$tmp/perf-$f.samples"
	wc -c <"$tmp/perf-$f.data" >"$tmp/perf-$f.bytes"
	rm -f "$tmp/perf-$f.data"

	if [ "${BENCH_PERF_DWARF:-0}" = 1 ]; then
		echo "== $f Hz: perf record --call-graph dwarf, perf script" >&2
		"$PY" "$RUSAGE" --timeout $((N + 60)) -- perf record -q -e cpu-clock -F "$f" -a \
			--call-graph dwarf -o "$tmp/dwarf-$f.data" -- sleep "$N" \
			>"$tmp/dwarf-$f.record.json" || die "bench_rusage.py failed"
		"$PY" "$RUSAGE" --timeout $((20 * N + 600)) -- perf script -i "$tmp/dwarf-$f.data" \
			>"$tmp/dwarf-$f.script.json" || die "bench_rusage.py failed"
		perf_samples "$tmp/dwarf-$f.data" >"$tmp/dwarf-$f.samples"
		wc -c <"$tmp/dwarf-$f.data" >"$tmp/dwarf-$f.bytes"
		rm -f "$tmp/dwarf-$f.data"
	fi
done

"$PY" - "$tmp" "$FREQS" <<'EOF'
import json, os, sys

tmp, freqs = sys.argv[1], sys.argv[2].split()


def load(name):
    path = os.path.join(tmp, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def row(config, samples, lost, cpu_s, rss_kib, note=""):
    us = cpu_s * 1e6 / samples if samples else float("nan")
    print("%-30s %9d %6s %8.2f %11.1f %13.1f  %s" %
          (config, samples, lost, cpu_s, us, rss_kib / 1024.0, note))
    return us, rss_kib


print()
print("%-30s %9s %6s %8s %11s %13s" %
      ("config", "samples", "lost", "CPU s", "us/sample", "peak RSS MiB"))
ratios = []
for f in freqs:
    pa = load("pa-%s.rusage.json" % f)
    summ = load("pa-%s.summary.json" % f) or {}
    pa_us, pa_rss = row("perfagent %s Hz" % f, summ.get("samples", 0), summ.get("lost", "?"),
                        pa["cpu_s"], pa["vmhwm_kib"],
                        "exit %d%s" % (pa["rc"], "" if summ else ", no summary"))
    for kind, label in (("perf", "perf -g"), ("dwarf", "perf --call-graph dwarf")):
        rec = load("%s-%s.record.json" % (kind, f))
        if rec is None:
            continue
        scr = load("%s-%s.script.json" % (kind, f))
        with open(os.path.join(tmp, "%s-%s.samples" % (kind, f))) as fh:
            samples, lost = (int(x) for x in fh.read().split())
        with open(os.path.join(tmp, "%s-%s.bytes" % (kind, f))) as fh:
            size = int(fh.read().strip() or 0)
        us, rss = row("%s %s Hz" % (label, f), samples, lost, rec["cpu_s"] + scr["cpu_s"],
                      max(rec["vmhwm_kib"], scr["vmhwm_kib"]),
                      "record %.2f s + script %.2f s CPU; RSS %.1f/%.1f MiB; %.1f MiB data" %
                      (rec["cpu_s"], scr["cpu_s"], rec["vmhwm_kib"] / 1024.0,
                       scr["vmhwm_kib"] / 1024.0, size / 1048576.0))
        ratios.append((label, f, us / pa_us if pa_us else float("nan"),
                       rss / pa_rss if pa_rss else float("nan")))
print()
for label, f, r_us, r_rss in ratios:
    print("ratio %s / perfagent at %s Hz: us/sample %.2fx, peak RSS %.2fx" % (label, f, r_us, r_rss))
EOF
