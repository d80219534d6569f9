# Shared helpers for the shell tests. Sourced, not run.
#
# Exit codes follow automake's harness: 0 pass, 77 skip, 99 hard error, else fail.
# Under CI=true a test that cannot run (no perf privileges, a missing tool) fails instead of
# skipping, so a green CI run means every test really ran.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PERFAGENT:=$top_builddir/perfagent}"
: "${TESTS_PYTHON:=/usr/bin/python3}"
: "${PROTO_DIR:=}"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# skip REASON: skip the test, or fail it under CI.
skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

require_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
	done
}

require_protos() {
	[ -n "$PROTO_DIR" ] && [ -f "$PROTO_DIR/pprof_profile.proto" ] ||
		skip "upstream protos not found (configure --with-proto-dir=DIR)"
	require_cmd protoc
	"$TESTS_PYTHON" -c 'import google.protobuf' 2>/dev/null || skip "python3-protobuf is not installed"
}

# The daemon can open a cpu-clock sampling event on every CPU: root, CAP_PERFMON, or a
# permissive kernel.perf_event_paranoid.
require_perf() {
	[ -x "$PERFAGENT" ] || fail "$PERFAGENT not built"
	perfcheck_err=$("$PERFAGENT" --check-perf 2>&1 >/dev/null) ||
		skip "cannot open perf events: $perfcheck_err"
}

# A scratch directory removed when the test exits.
make_tmpdir() {
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/perfagent-test.XXXXXX") || exit 99
	trap 'rm -rf "$TEST_TMP"' EXIT
}

# pprof_json FILE: the profile decoded by protoc-generated code, as JSON (tests/lib/pprof_decode.py).
pprof_json() {
	"$TESTS_PYTHON" "$top_srcdir/tests/lib/pprof_decode.py" --proto-dir "$PROTO_DIR" --json "$@"
}
