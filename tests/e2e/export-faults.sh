#!/bin/sh
# The exporters when the backend misbehaves (Pyroscope Push to the Connect receiver):
#  1. 500s, and 429s with Retry-After: 3 — every window still arrives exactly once and in
#     order, and no request follows a 429 sooner than the server asked;
#  2. a receiver that answers after 10 s — draining is unaffected (0 lost samples, every
#     window flushed on time) and the daemon still exits promptly, spooling what is unsent;
#  3. SIGTERM during an outage — every window, the last included, is spooled; after a
#     restart against the receiver, they all arrive exactly once, in order, before the new
#     ones;
#  4. a spool cap too small for the outage — the oldest windows are dropped and counted,
#     the newest kept, the cap respected;
#  5. the file exporter's retention cap keeps the newest files within --output-max-bytes.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/export-lib.sh"

e2e_setup
export_require
shares=$(workload shares) || exit 99
S=$TEST_TMP/summary

echo "== 1. 500s, and 429s with Retry-After"
start_connect r500 --fail 3 --fail-status 500
p500=$PORT
start_connect r429 --fail 2 --fail-status 429 --retry-after 3
p429=$PORT
run_perfagent 60 "$TEST_TMP/1.log" -F 199 -i 1 -o "$TEST_TMP/files1" --retry-max-delay 2 \
	--export "pyroscope=http://127.0.0.1:$p500" --export "pyroscope=http://127.0.0.1:$p429" \
	--spool-dir "$TEST_TMP/spool" --summary-json "$S.1" -- "$shares" 8 ||
	fail "perfagent exited with $PA_RC"
for r in r500 r429; do
	export_check --files "$TEST_TMP/files1" --received "$TEST_TMP/$r" --api push \
		--exactly-once --in-order --min-windows 6 || fail "delivery through $r faults"
done
[ "$(summary_exporter "$S.1" "pyroscope=http://127.0.0.1:$p500" retried)" -ge 3 ] ||
	fail "the three 500s were not counted as retries"
[ "$(summary_exporter "$S.1" "pyroscope=http://127.0.0.1:$p500" replayed)" -ge 1 ] ||
	fail "nothing was replayed from the spool"
"$TESTS_PYTHON" - "$TEST_TMP/r429" <<'PY' || fail "Retry-After not honored"
import json, sys
faults = [json.loads(l) for l in open(sys.argv[1] + "/faults.jsonl")]
got = [json.loads(l) for l in open(sys.argv[1] + "/received.jsonl")]
gap = (got[0]["at"] - faults[-1]["at"]) / 1000
between = (faults[1]["at"] - faults[0]["at"]) / 1000
print(f"429 Retry-After 3: {between:.2f} s between the two 429s, {gap:.2f} s to the next request")
if gap < 2.95 or between < 2.95:
    sys.exit("FAIL: a request came sooner than Retry-After allowed")
PY

echo "== 2. a receiver that answers after 10 s"
start_connect slow --delay-ms 10000
t0=$(date +%s)
run_perfagent 60 "$TEST_TMP/2.log" -F 499 -i 1 -o "$TEST_TMP/files2" \
	--export "pyroscope=http://127.0.0.1:$PORT" --spool-dir "$TEST_TMP/spool2" \
	--summary-json "$S.2" -- "$shares" 6 || fail "perfagent exited with $PA_RC"
took=$(($(date +%s) - t0))
windows=$(summary_field "$S.2" windows)
files=$(find "$TEST_TMP/files2" -name '*.pb.gz' | wc -l)
lost=$(summary_field "$S.2" lost)
pending=$(summary_exporter "$S.2" pyroscope= pending)
echo "slow receiver: $lost lost samples, $files of $windows windows written, exit after $took s, $pending windows spooled"
[ "$lost" = 0 ] || fail "samples were lost while the backend was slow"
[ "$files" -ge 6 ] && [ "$files" = "$windows" ] || fail "windows were not flushed on time"
[ "$took" -le 14 ] || fail "the slow backend held the exit back ($took s)"
[ "$pending" -ge 1 ] || fail "the unsent windows were not spooled"

echo "== 3. SIGTERM during an outage, then a restart"
port=$(free_port)
url=http://127.0.0.1:$port
"$shares" 60 >/dev/null &
w=$!
e2e_track "$w"
run_perfagent 60 "$TEST_TMP/3a.log" -F 199 -i 1 --pid "$w" -o "$TEST_TMP/files3a" \
	--export "pyroscope=$url" --spool-dir "$TEST_TMP/spool3" --summary-json "$S.3a" &
pa=$!
sleep 4.5
kill -TERM "$(pgrep -f -n "perfagent.*$TEST_TMP/spool3")" 2>/dev/null || true
wait $pa || fail "perfagent exited with $? on SIGTERM"
n3a=$(find "$TEST_TMP/files3a" -name '*.pb.gz' | wc -l)
[ "$(summary_exporter "$S.3a" pyroscope= pending)" = "$n3a" ] ||
	fail "not every window ($n3a) was left in the spool at SIGTERM"
[ "$(summary_exporter "$S.3a" pyroscope= sent)" = 0 ] || fail "sent during the outage?"
start_connect back --port "$port"
run_perfagent 60 "$TEST_TMP/3b.log" -F 199 -i 1 -d 3 --pid "$w" -o "$TEST_TMP/files3b" \
	--export "pyroscope=$url" --spool-dir "$TEST_TMP/spool3" --summary-json "$S.3b" ||
	fail "perfagent exited with $PA_RC"
export_check --files "$TEST_TMP/files3a" --files "$TEST_TMP/files3b" \
	--received "$TEST_TMP/back" --api push --exactly-once --in-order --min-windows 6 ||
	fail "spooled windows after the restart"
# (Windows of the second run that came while the spool was still replaying queue behind it.)
[ "$(summary_exporter "$S.3b" pyroscope= replayed)" -ge "$n3a" ] ||
	fail "the restart did not replay the $n3a spooled windows"
[ "$(summary_exporter "$S.3b" pyroscope= pending)" = 0 ] || fail "windows left in the spool"

echo "== 4. spool cap reached"
run_perfagent 60 "$TEST_TMP/4.log" -F 199 -i 1 -o "$TEST_TMP/files4" \
	--export "pyroscope=http://127.0.0.1:$(free_port)" --spool-dir "$TEST_TMP/spool4" \
	--spool-max-bytes 4096 --summary-json "$S.4" -- "$shares" 6 ||
	fail "perfagent exited with $PA_RC"
"$TESTS_PYTHON" - "$S.4" "$TEST_TMP/spool4" "$TEST_TMP/files4" "$PB_DIR" <<'PY' || fail "spool cap"
import glob, gzip, json, os, sys
sys.path.insert(0, sys.argv[4])
import pprof_profile_pb2 as pp
e = json.load(open(sys.argv[1]))["exporters"]
e = [x for x in e if x["target"].startswith("pyroscope=")][0]
spooled = glob.glob(sys.argv[2] + "/*/*.zst")
size = sum(os.path.getsize(f) for f in spooled)
times = []
for f in glob.glob(sys.argv[3] + "/*.pb.gz"):
    p = pp.Profile()
    p.ParseFromString(gzip.decompress(open(f, "rb").read()))
    times.append(p.time_nanos)
times.sort()
kept = sorted(int(os.path.basename(f).split("-")[0]) for f in spooled)
print(f"spool cap 4096: {len(times)} windows, {e['spooled']} spooled, {e['dropped']} dropped, "
      f"{e['pending']} kept in {size} bytes")
if e["dropped"] < 1 or size > 4096 or e["pending"] != len(spooled):
    sys.exit("FAIL: cap not enforced or drops not counted")
if e["pending"] + e["dropped"] != len(times) or kept != times[len(times) - len(kept):]:
    sys.exit("FAIL: the spool did not keep exactly the newest windows")
PY

echo "== 5. file exporter retention"
run_perfagent 60 "$TEST_TMP/5.log" -F 199 -i 1 -o "$TEST_TMP/files5" --output-max-bytes 3000 \
	--summary-json "$S.5" -- "$shares" 5 || fail "perfagent exited with $PA_RC"
windows=$(summary_field "$S.5" files)
kept=$(find "$TEST_TMP/files5" -name 'perfagent-*.pb.gz' | wc -l)
bytes=$(find "$TEST_TMP/files5" -name 'perfagent-*.pb.gz' -printf '%s\n' | awk '{s += $1} END {print s}')
newest=$(cd "$TEST_TMP/files5" && ls | sort | tail -n "$kept" | tr '\n' ' ')
echo "retention: $windows windows written, $kept files kept in $bytes bytes"
[ "$kept" -ge 1 ] && [ "$kept" -lt "$windows" ] || fail "--output-max-bytes removed nothing"
[ "$bytes" -le 3000 ] || [ "$kept" = 1 ] || fail "--output-max-bytes exceeded"
[ "$(cd "$TEST_TMP/files5" && ls | tr '\n' ' ')" = "$newest" ] || fail "not the newest kept"
