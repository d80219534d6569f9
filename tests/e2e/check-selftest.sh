#!/bin/sh
# The analysis behind the end-to-end tests (tests/lib/e2e_check.py) passes good data and
# fails bad data, check by check. Unprivileged and offline: runs everywhere.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

exec "$TESTS_PYTHON" "$top_srcdir/tests/lib/e2e_check_selftest.py"
