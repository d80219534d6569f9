#!/bin/sh
# Parca: every window goes to files and to ProfileStoreService/WriteRaw twice: as gRPC over
# cleartext HTTP/2 to a real gRPC C-core server (Debian's python3-grpcio, which resets any
# stream without "te: trailers"), and as gRPC-Web over HTTP/1.1 to Buf's Connect server;
# both apply Parca's checks (__name__, valid labels, sequential ids). Every window must
# arrive exactly once per transport, in order, identical to the file under go tool pprof.
# Basic auth takes its password from a file: the header arrives, no log line shows it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"
. "$top_srcdir/tests/e2e/export-lib.sh"

e2e_setup
export_require

password="pw-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s\n' "$password" >"$TEST_TMP/password"
basic="Basic $(printf 'agent:%s' "$password" | base64 -w0)"
start_py parca_grpc_receiver.py grpc
grpc_port=$PORT
start_connect web
web_port=$PORT

run_perfagent 60 "$TEST_TMP/perfagent.log" -F 199 -i 1 --log-level debug \
	-o "$TEST_TMP/files" --export "parca=http://127.0.0.1:$grpc_port" \
	--export "parca-grpc-web=http://127.0.0.1:$web_port" --service-name shares-test \
	--basic-auth-user agent --basic-auth-password-file "$TEST_TMP/password" \
	--spool-dir "$TEST_TMP/spool" --summary-json "$TEST_TMP/summary.json" \
	-- "$(workload shares)" 4 || fail "perfagent exited with $PA_RC"

export_check --files "$TEST_TMP/files" --received "$TEST_TMP/grpc" --api parca \
	--exactly-once --in-order --min-windows 3 --label __name__=process_cpu \
	--label service_name=shares-test --header "authorization=$basic" ||
	fail "gRPC (h2c) delivery (see above)"
grep -q '"protocol": "grpc"' "$TEST_TMP/grpc/received.jsonl" || fail "not gRPC"
export_check --files "$TEST_TMP/files" --received "$TEST_TMP/web" --api parca \
	--exactly-once --in-order --min-windows 3 --label __name__=process_cpu \
	--header "authorization=$basic" || fail "gRPC-Web delivery (see above)"
grep -q '"protocol":"grpc-web"' "$TEST_TMP/web/received.jsonl" || fail "not gRPC-Web"
[ "$(summary_field "$TEST_TMP/summary.json" lost)" = 0 ] || fail "samples were lost"
for t in parca= parca-grpc-web=; do
	[ "$(summary_exporter "$TEST_TMP/summary.json" $t retried)" = 0 ] ||
		fail "$t needed retries with a healthy receiver"
done
! grep -qF "$password" "$TEST_TMP/perfagent.log" "$TEST_TMP/summary.json" ||
	fail "the basic-auth password appears in the log or the summary"
