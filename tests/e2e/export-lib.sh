# Helpers for the exporter tests, sourced after tests/lib/common.sh and e2e-lib.sh. Not run.
#
# Receivers run on loopback: tests/receivers/connect-receiver.mjs (Buf's Connect server:
# Pyroscope Push, /ingest, Parca gRPC-Web), parca_grpc_receiver.py (python3-grpcio, h2c) and
# datadog_receiver.py (python3-multipart). The npm packages are pinned by
# tests/receivers/package-lock.json and installed with `npm ci` into
# $top_builddir/tests/receivers/node (ignored by git), or $PERFAGENT_NODE_DIR.

RECEIVERS="$top_srcdir/tests/receivers"

# export_require: what every exporter test needs; sets PB_DIR (protoc's Python modules) and
# DESC (a descriptor set of the upstream schemas for the Node receiver).
export_require() {
	e2e_require
	require_cmd go node npm
	"$TESTS_PYTHON" -c 'import grpc, multipart' 2>/dev/null ||
		skip "python3-grpcio and python3-multipart are needed (packaging/install-deps.sh --test)"
	PB_DIR="$TEST_TMP/pb"
	DESC="$TEST_TMP/protos.desc"
	mkdir -p "$PB_DIR"
	protoc -I"$PROTO_DIR" --python_out="$PB_DIR" parca_profilestore_min.proto \
		pprof_profile.proto || fail "protoc --python_out"
	protoc --include_imports -I"$PROTO_DIR" --descriptor_set_out="$DESC" \
		pyroscope_push_min.proto parca_profilestore_min.proto pprof_profile.proto ||
		fail "protoc --descriptor_set_out"
	NODE_DIR=${PERFAGENT_NODE_DIR:-$top_builddir/tests/receivers/node}
	mkdir -p "$NODE_DIR" || exit 99
	if ! cmp -s "$RECEIVERS/package-lock.json" "$NODE_DIR/package-lock.json" ||
	   [ ! -d "$NODE_DIR/node_modules/@connectrpc/connect-node" ]; then
		cp "$RECEIVERS/package.json" "$RECEIVERS/package-lock.json" "$NODE_DIR/" || exit 99
		(cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null) ||
			skip "npm ci of the test receivers failed (network?)"
	fi
	# ESM resolves packages from the script's own directory: run it from there.
	cp "$RECEIVERS/connect-receiver.mjs" "$NODE_DIR/" || exit 99
}

# wait_port FILE: waits until a receiver wrote its port to FILE, prints it.
wait_port() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "receiver did not start (no $1): $(cat "$1.log" 2>/dev/null)"
		sleep 0.05
	done
	cat "$1"
}

# start_connect NAME [ARGS...]: the Node receiver into $TEST_TMP/NAME; sets PORT and RPID.
start_connect() {
	name=$1
	shift
	rm -f "$TEST_TMP/$name.port"
	node "$NODE_DIR/connect-receiver.mjs" --desc "$DESC" --out "$TEST_TMP/$name" \
		--port-file "$TEST_TMP/$name.port" "$@" >"$TEST_TMP/$name.port.log" 2>&1 &
	RPID=$!
	e2e_track "$RPID"
	PORT=$(wait_port "$TEST_TMP/$name.port")
}

# start_py SCRIPT NAME [ARGS...]: a Python receiver into $TEST_TMP/NAME; sets PORT and RPID.
start_py() {
	script=$1
	name=$2
	shift 2
	rm -f "$TEST_TMP/$name.port"
	"$TESTS_PYTHON" "$RECEIVERS/$script" --pb-dir "$PB_DIR" --out "$TEST_TMP/$name" \
		--port-file "$TEST_TMP/$name.port" "$@" >"$TEST_TMP/$name.port.log" 2>&1 &
	RPID=$!
	e2e_track "$RPID"
	PORT=$(wait_port "$TEST_TMP/$name.port")
}

# free_port: a loopback TCP port nobody listens on (for a receiver started later).
free_port() {
	"$TESTS_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# export_check ARGS...: tests/lib/export_check.py.
export_check() {
	"$TESTS_PYTHON" "$top_srcdir/tests/lib/export_check.py" --pb-dir "$PB_DIR" "$@"
}

# summary_exporter JSON TARGET_PREFIX FIELD: a counter of the exporter whose target starts
# with TARGET_PREFIX in a --summary-json file.
summary_exporter() {
	"$TESTS_PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
e = [x for x in d["exporters"] if x["target"].startswith(sys.argv[2])]
print(e[0][sys.argv[3]] if e else "none")' "$1" "$2" "$3"
}

# summary_field JSON FIELD: a top-level value of a --summary-json file.
summary_field() {
	"$TESTS_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
