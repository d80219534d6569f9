#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The pprof encoder checked by two decoders that share no code with it: go tool pprof (the
# reference implementation, google/pprof vendored in Go) and protoc-generated Python from the
# upstream schema (tests/lib/pprof_decode.py). pprof-sample writes a profile whose every value
# is known; both decoders must read back exactly those values, and both must reject a
# malformed profile. A missing decoder skips (fails under CI=true) after the other has run.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

make_tmpdir
SAMPLE=$top_builddir/tests/unit/pprof-sample
DECODE=$top_srcdir/tests/lib/pprof_decode.py
P=52631578

[ -x "$SAMPLE" ] || fail "$SAMPLE not built"
"$SAMPLE" "$TEST_TMP/s.pb.gz" "$TEST_TMP/s.pb" || fail "pprof-sample failed"

# Malformed profiles, as raw protobuf bytes (octal escapes: POSIX printf has no \x).
# sample_type {type: 1, unit: 2}, sample {location_id: [5], value: [1]}, no location 5:
printf '\012\004\010\001\020\002\022\006\012\001\005\022\001\001\062\000\062\007samples\062\005count' \
	>"$TEST_TMP/bad-loc.pb"
gzip -c "$TEST_TMP/bad-loc.pb" >"$TEST_TMP/bad-loc.pb.gz" || exit 99
# Two sample types but a sample with one value:
printf '\012\004\010\001\020\002\012\004\010\003\020\004\022\003\022\001\001\062\000\062\007samples\062\005count\062\003cpu\062\002ns' \
	>"$TEST_TMP/bad-values.pb"
# string_table[0] is not "":
printf '\012\004\010\001\020\002\062\007samples\062\005count\062\000' >"$TEST_TMP/bad-str0.pb"
# Invalid UTF-8 in the string table (Pyroscope rejects it; Go does not check):
printf '\012\004\010\001\020\002\062\000\062\007samples\062\003c\377t' >"$TEST_TMP/bad-utf8.pb"
# A sample type name with '-' (Pyroscope rejects it):
printf '\012\004\010\001\020\002\062\000\062\010cpu-time\062\005count' >"$TEST_TMP/bad-dash.pb"

missing=""

# ---- decoder 1: go tool pprof ----
if command -v go >/dev/null 2>&1; then
	# go wants a writable HOME and build cache; keep both, and pprof's own files, private.
	export HOME="$TEST_TMP/home" GOCACHE="$TEST_TMP/gocache" GOTOOLCHAIN=local GOFLAGS=
	export PPROF_TMPDIR="$TEST_TMP/pprof" PPROF_BINARY_PATH="$TEST_TMP/nobinaries"
	mkdir -p "$HOME" "$GOCACHE" "$PPROF_TMPDIR" || exit 99
	# No symbolization: the profile names files that are not on this machine.
	gopprof() {
		go tool pprof -symbolize=none "$@"
	}

	for f in s.pb.gz s.pb; do
		gopprof -raw "$TEST_TMP/$f" >"$TEST_TMP/raw.txt" 2>"$TEST_TMP/raw.err" ||
			fail "go tool pprof -raw $f: $(cat "$TEST_TMP/raw.err")"
		for want in 'PeriodType: cpu nanoseconds' "Period: $P" 'Duration: 10s' \
			'Comment: perfagent pprof-sample' 'samples/count cpu/nanoseconds[dflt]' \
			'1: 0x555555555200 M=1 leaf_work demo.c:12 s=0()' \
			'2: 0x555555555300 M=1 compute demo.c:30 s=0()' \
			'3: 0x555555555400 M=1 main demo.c:45 s=0()' \
			'4: 0x7ffff7da9d90 M=2' \
			'5: 0x555555555280 M=1 leaf_work demo.c:14 s=0()' \
			'compute demo.c:31 s=0()' \
			'6: 0xffffffff81e00010 M=3 do_syscall_64 :0 s=0()' \
			'7: 0xffffffff82000090 M=3 entry_SYSCALL_64_after_hwframe :0 s=0()' \
			'1: 0x555555554000/0x555555600000/0x0 /usr/bin/perfagent-demo 4f3c2a1b0e9d8c7b6a5948372615f4e3d2c1b0a9 [FN][FL][LN][IN]' \
			'2: 0x7ffff7d80000/0x7ffff7f15000/0x28000 /usr/lib/x86_64-linux-gnu/libc.so.6 c289da5071a3399de893d2af81d6a30c62646e1e' \
			'3: 0xffffffff81000000/0xffffffff83000000/0x0 [kernel.kallsyms] [FN]'; do
			tr -s ' ' <"$TEST_TMP/raw.txt" | sed 's/^ //; s/ $//' | grep -qxF "$want" ||
				fail "go tool pprof -raw $f: no line '$want' in:
$(cat "$TEST_TMP/raw.txt")"
		done
		# libc is not symbolized: has_functions is false, so no [FN] on mapping 2.
		grep -q 'libc.so.6 c289da5071a3399de893d2af81d6a30c62646e1e *$' "$TEST_TMP/raw.txt" ||
			fail "go tool pprof -raw $f: libc mapping has flags"

		# Each sample line joined with its string-label line and its numeric-label line.
		awk '/^ +[0-9]+ +[0-9]+:/ { s = $0; getline a; getline n; print s " | " a " | " n }' \
			"$TEST_TMP/raw.txt" | tr -s ' ' | sed 's/^ //; s/ $//' >"$TEST_TMP/samples.txt"
		[ "$(wc -l <"$TEST_TMP/samples.txt")" -eq 3 ] ||
			fail "go tool pprof -raw $f: want 3 samples, got: $(cat "$TEST_TMP/samples.txt")"
		for want in \
			"7 $((7 * P)): 1 2 3 4 | comm:[perfagent-demo] executable:[/usr/bin/perfagent-demo] pid:[4242] thread_name:[perfagent-demo] tid:[4242] | cpu:[0 cpu]" \
			"3 $((3 * P)): 5 3 4 | comm:[worker-1] executable:[/usr/bin/perfagent-demo] pid:[4242] thread_name:[worker-1] tid:[4243] | cpu:[1 cpu]" \
			"2 $((2 * P)): 6 7 2 3 4 | comm:[worker-1] executable:[/usr/bin/perfagent-demo] pid:[4242] thread_name:[worker-1] tid:[4243] | cpu:[3 cpu]"; do
			grep -qxF "$want" "$TEST_TMP/samples.txt" ||
				fail "go tool pprof -raw $f: no sample '$want' in:
$(cat "$TEST_TMP/samples.txt")"
		done
	done

	# -top: flat and cumulative per function, in both value columns.
	gopprof -top "$TEST_TMP/s.pb.gz" >"$TEST_TMP/top.txt" 2>"$TEST_TMP/top.err" ||
		fail "go tool pprof -top: $(cat "$TEST_TMP/top.err")"
	grep -q '^Type: cpu$' "$TEST_TMP/top.txt" || fail "default sample type is not cpu: $(cat "$TEST_TMP/top.txt")"
	grep -q 'Total samples = 631.58ms' "$TEST_TMP/top.txt" ||
		fail "go tool pprof -top: wrong cpu total: $(cat "$TEST_TMP/top.txt")"
	gopprof -top -sample_index=samples "$TEST_TMP/s.pb.gz" >"$TEST_TMP/top.txt" 2>"$TEST_TMP/top.err" ||
		fail "go tool pprof -top -sample_index=samples: $(cat "$TEST_TMP/top.err")"
	grep -q 'Total samples = 12 *$' "$TEST_TMP/top.txt" ||
		fail "go tool pprof -top: wrong sample total: $(cat "$TEST_TMP/top.txt")"
	for want in 'leaf_work 10 10' 'do_syscall_64 2 2' 'compute 0 12' 'main 0 12' \
		'entry_SYSCALL_64_after_hwframe 0 2' '[libc.so.6] 0 12'; do
		awk 'NF == 6 && $1 ~ /^[0-9]+$/ { print $6, $1, $4 }' "$TEST_TMP/top.txt" |
			grep -qxF "$want" || fail "go tool pprof -top: no row '$want' in:
$(cat "$TEST_TMP/top.txt")"
	done

	# Malformed: an unknown location id, raw and gzipped.
	for f in bad-loc.pb bad-loc.pb.gz; do
		if gopprof -raw "$TEST_TMP/$f" >/dev/null 2>"$TEST_TMP/bad.err"; then
			fail "go tool pprof accepted $f"
		fi
		grep -q 'malformed profile' "$TEST_TMP/bad.err" ||
			fail "go tool pprof on $f: want 'malformed profile', got: $(cat "$TEST_TMP/bad.err")"
	done
	if gopprof -raw "$TEST_TMP/bad-values.pb" >/dev/null 2>"$TEST_TMP/bad.err"; then
		fail "go tool pprof accepted bad-values.pb"
	fi
	if gopprof -raw "$TEST_TMP/bad-str0.pb" >/dev/null 2>"$TEST_TMP/bad.err"; then
		fail "go tool pprof accepted bad-str0.pb"
	fi
	echo "go tool pprof: sample profile decoded as expected, malformed ones rejected"
else
	missing="$missing go"
fi

# ---- decoder 2: protoc-generated Python ----
if [ -n "$PROTO_DIR" ] && [ -f "$PROTO_DIR/pprof_profile.proto" ] &&
	command -v protoc >/dev/null 2>&1 &&
	"$TESTS_PYTHON" -c 'import google.protobuf' 2>/dev/null; then
	decode() {
		"$TESTS_PYTHON" "$DECODE" --proto-dir "$PROTO_DIR" "$@"
	}

	decode --check --check-time "$TEST_TMP/s.pb.gz" "$TEST_TMP/s.pb" 2>"$TEST_TMP/py.err" ||
		fail "pprof_decode.py --check: $(cat "$TEST_TMP/py.err")"
	decode --json "$TEST_TMP/s.pb.gz" "$TEST_TMP/s.pb" >"$TEST_TMP/s.json" 2>"$TEST_TMP/py.err" ||
		fail "pprof_decode.py --json: $(cat "$TEST_TMP/py.err")"
	"$TESTS_PYTHON" - "$TEST_TMP/s.json" "$P" <<'EOF' || fail "pprof_decode.py: unexpected content"
import json
import sys
import time

profiles = json.load(open(sys.argv[1]))
P = int(sys.argv[2])
assert len(profiles) == 2, len(profiles)
exe, libc = "/usr/bin/perfagent-demo", "/usr/lib/x86_64-linux-gnu/libc.so.6"


def labels(tid, comm, cpu):
    return {"pid": "4242", "tid": tid, "comm": comm, "thread_name": comm,
            "executable": exe, "cpu": cpu}


def fr(function, address, mapping):
    return {"function": function, "address": address, "mapping": mapping}


LEAF = fr("leaf_work", 0x555555555200, exe)
COMPUTE = fr("compute", 0x555555555300, exe)
MAIN = fr("main", 0x555555555400, exe)
LIBC = fr("", 0x7ffff7da9d90, libc)
want_samples = [
    {"values": [7, 7 * P], "labels": labels("4242", "perfagent-demo", 0),
     "frames": [LEAF, COMPUTE, MAIN, LIBC]},
    {"values": [3, 3 * P], "labels": labels("4243", "worker-1", 1),
     "frames": [fr("leaf_work", 0x555555555280, exe), fr("compute", 0x555555555280, exe),
                MAIN, LIBC]},
    {"values": [2, 2 * P], "labels": labels("4243", "worker-1", 3),
     "frames": [fr("do_syscall_64", 0xffffffff81e00010, "[kernel.kallsyms]"),
                fr("entry_SYSCALL_64_after_hwframe", 0xffffffff82000090,
                   "[kernel.kallsyms]"),
                COMPUTE, MAIN, LIBC]},
]
want_mappings = [
    {"id": 1, "start": 0x555555554000, "limit": 0x555555600000, "offset": 0,
     "filename": exe, "build_id": "4f3c2a1b0e9d8c7b6a5948372615f4e3d2c1b0a9",
     "has_functions": True},
    {"id": 2, "start": 0x7ffff7d80000, "limit": 0x7ffff7f15000, "offset": 0x28000,
     "filename": libc, "build_id": "c289da5071a3399de893d2af81d6a30c62646e1e",
     "has_functions": False},
    {"id": 3, "start": 0xffffffff81000000, "limit": 0xffffffff83000000, "offset": 0,
     "filename": "[kernel.kallsyms]", "build_id": "", "has_functions": True},
]
for p in profiles:
    f = p["file"]
    assert p["sample_types"] == [["samples", "count"], ["cpu", "nanoseconds"]], (f, p)
    assert p["period_type"] == ["cpu", "nanoseconds"], (f, p["period_type"])
    assert p["period"] == P, (f, p["period"])
    assert p["duration_nanos"] == 10 * 10**9, (f, p["duration_nanos"])
    assert abs(p["time_nanos"] - time.time_ns()) < 300 * 10**9, (f, p["time_nanos"])
    assert p["mappings"] == want_mappings, (f, p["mappings"])
    assert p["samples"] == want_samples, (f, json.dumps(p["samples"], indent=1))
a, b = profiles
a.pop("file")
b.pop("file")
assert a == b, "gzipped and raw encodings differ"
EOF

	# Malformed profiles are rejected, each with a reason naming the rule.
	for c in 'bad-loc.pb:location_id\[0\] = 5 does not resolve' \
		'bad-loc.pb.gz:location_id\[0\] = 5 does not resolve' \
		'bad-values.pb:has 1 values, want 2' \
		'bad-str0.pb:string_table\[0\] must be ""' \
		'bad-utf8.pb:string_table\[2\] is not valid UTF-8' \
		"bad-dash.pb:name 'cpu-time' contains '-'"; do
		f=${c%%:*}
		msg=${c#*:}
		if decode --check "$TEST_TMP/$f" 2>"$TEST_TMP/bad.err"; then
			fail "pprof_decode.py --check accepted $f"
		fi
		grep -q "$msg" "$TEST_TMP/bad.err" ||
			fail "pprof_decode.py --check $f: want '$msg', got: $(cat "$TEST_TMP/bad.err")"
	done
	# --check-time rejects a profile without a collection time.
	if decode --check-time "$TEST_TMP/bad-dash.pb" 2>"$TEST_TMP/bad.err"; then
		fail "pprof_decode.py --check-time accepted a profile without time_nanos"
	fi
	grep -q 'time_nanos is not set' "$TEST_TMP/bad.err" ||
		fail "pprof_decode.py --check-time: $(cat "$TEST_TMP/bad.err")"
	echo "pprof_decode.py: sample profile decoded as expected, malformed ones rejected"
else
	missing="$missing python3-protobuf/protoc/protos"
fi

[ -z "$missing" ] || skip "decoder(s) not available:$missing"
exit 0
