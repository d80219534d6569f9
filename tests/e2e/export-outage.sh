#!/bin/sh
# A backend outage of 60 s: the daemon starts while neither the Pyroscope nor the Parca
# receiver is listening (connection refused), writes 3 s windows to files and to both
# exporters' spools with backoff between attempts, and once the receivers come up (after
# 60 s) replays the spool. Every window the file exporter wrote must arrive exactly once at
# each receiver, in order, identical under go tool pprof; no sample is lost.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/export-lib.sh"

e2e_setup
export_require

pport=$(free_port)
gport=$(free_port)
run_perfagent 150 "$TEST_TMP/perfagent.log" -F 99 -i 3 -o "$TEST_TMP/files" \
	--export "pyroscope=http://127.0.0.1:$pport" --export "parca=http://127.0.0.1:$gport" \
	--retry-max-delay 5 --spool-dir "$TEST_TMP/spool" --summary-json "$TEST_TMP/summary.json" \
	-- "$(workload shares)" 72 &
pa=$!
sleep 60
echo "receivers up after 60 s"
start_connect pyro --port "$pport"
start_py parca_grpc_receiver.py parca --port "$gport"
wait $pa || fail "perfagent exited with $?"

export_check --files "$TEST_TMP/files" --received "$TEST_TMP/pyro" --api push \
	--exactly-once --in-order --min-windows 22 || fail "Pyroscope after the outage"
export_check --files "$TEST_TMP/files" --received "$TEST_TMP/parca" --api parca \
	--exactly-once --in-order --min-windows 22 || fail "Parca after the outage"
[ "$(summary_field "$TEST_TMP/summary.json" lost)" = 0 ] || fail "samples were lost"
for t in pyroscope= parca=; do
	spooled=$(summary_exporter "$TEST_TMP/summary.json" $t spooled)
	replayed=$(summary_exporter "$TEST_TMP/summary.json" $t replayed)
	echo "$t $spooled windows spooled, $replayed replayed"
	[ "$spooled" -ge 19 ] && [ "$replayed" = "$spooled" ] ||
		fail "$t: the outage's windows were not all spooled and replayed"
	[ "$(summary_exporter "$TEST_TMP/summary.json" $t pending)" = 0 ] ||
		fail "$t: windows left in the spool"
	[ "$(summary_exporter "$TEST_TMP/summary.json" $t dropped)" = 0 ] ||
		fail "$t: windows dropped"
done
