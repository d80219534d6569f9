#!/bin/sh
# Regression corpus of the differential suite: real snapshots where puw once disagreed with
# the oracles (kept with diff-unwind --write-disagreeing), replayed against this host's
# binaries. Snapshots that name a binary this host lacks, or has with another build-id, are
# skipped (the corpus is tied to the distribution it was captured on: tests/diff/corpus/
# names say which); when none is left the test skips, and fails under CI=true.
#
# Corpus:
#   debian12-xz-epilogue.snap  xz -9 sampled on the `ret` of two liblzma functions, where the
#                              CFI row still says "rbx..r15 saved at CFA-56..CFA-16": slots
#                              below the sampled SP, outside the stack copy.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

: "${DIFF_UNWIND:=$top_builddir/tests/diff/diff-unwind}"
[ -x "$DIFF_UNWIND" ] || fail "$DIFF_UNWIND not built (make check builds it)"

"$DIFF_UNWIND" --skip-unresolved --min-agreement 99.9 --min-oracle-agreement 99.9 \
	"$top_srcdir"/tests/diff/corpus/*.snap
case $? in
0) ;;
77) skip "the corpus' binaries are not on this host (see tests/diff/corpus/)" ;;
1) fail "puw disagrees with the oracles on the regression corpus" ;;
*) fail "diff-unwind failed" ;;
esac
