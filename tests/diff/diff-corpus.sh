#!/bin/sh
# Regression corpus of the differential suite: real snapshots where puw once disagreed with
# the oracles (kept with diff-unwind --write-disagreeing), replayed against this host's
# binaries. Snapshots that name a binary this host lacks, or has with another build-id, are
# skipped (the corpus is tied to the exact package builds it was captured on: tests/diff/corpus/
# names say which). When none is left the test is skipped, under CI=true too: that is not a
# missing privilege or tool but a distribution update (a new build of the same package), and
# the live differential test (diff-real.sh) covers the same binaries on every host.
#
# Corpus:
#   debian12-xz-epilogue.snap  xz -9 sampled on the `ret` of two liblzma functions, where the
#                              CFI row still says "rbx..r15 saved at CFA-56..CFA-16": slots
#                              below the sampled SP, outside the stack copy. Captured
#                              on xz-utils/liblzma5 5.4.1-1 (replaced by 5.4.1-1+deb12u2).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

: "${DIFF_UNWIND:=$top_builddir/tests/diff/diff-unwind}"
[ -x "$DIFF_UNWIND" ] || fail "$DIFF_UNWIND not built (make check builds it)"

"$DIFF_UNWIND" --skip-unresolved --min-agreement 99.9 --min-oracle-agreement 99.9 \
	"$top_srcdir"/tests/diff/corpus/*.snap
case $? in
0) ;;
77)
	echo "SKIP: the corpus' binaries are not on this host with the build-ids it was captured" \
		"with (see tests/diff/corpus/); diff-real.sh covers these binaries live" >&2
	exit 77
	;;
1) fail "puw disagrees with the oracles on the regression corpus" ;;
*) fail "diff-unwind failed" ;;
esac
