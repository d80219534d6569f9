# tests/diff/ — the differential suite: unwind snapshots of real samples (tests/tools/
# capture-snapshots), replayed by puw and by libunwind and libdw (tests/diff/diff-unwind);
# and bench/bench-unwind, the ns/frame comparison of the three over the same snapshots.
# Included from the top Makefile.am after tests/tests.mk (TEST_EXTENSIONS is set there).

DIFF_CFLAGS = $(AM_CFLAGS) $(LIBELF_CFLAGS) $(LIBDW_CFLAGS) $(LIBUNWIND_CFLAGS) \
	-I$(top_srcdir)/tests/lib -I$(top_srcdir)/tests/diff -I$(top_srcdir)/tests/unit
# The daemon's modules (ring, record, proc, maps, symbolize, util) come from its convenience
# library: the linker takes only the members these programs use.
DIFF_REPLAY_SOURCES = \
	tests/diff/replay.c tests/diff/replay.h \
	tests/diff/elfimage.c tests/diff/elfimage.h \
	tests/lib/snapshot.c tests/lib/snapshot.h
DIFF_REPLAY_LDADD = src/libperfagent.a unwind/libpuw.a $(SYMBOLIZE_LIBS) \
	$(LIBUNWIND_LIBS)

check_PROGRAMS += tests/diff/test-snapshot
tests_diff_test_snapshot_SOURCES = tests/diff/test-snapshot.c tests/lib/snapshot.c \
	tests/lib/snapshot.h tests/unit/check.h
tests_diff_test_snapshot_CFLAGS = $(DIFF_CFLAGS)
tests_diff_test_snapshot_LDADD =

check_PROGRAMS += tests/tools/capture-snapshots
tests_tools_capture_snapshots_SOURCES = tests/tools/capture-snapshots.c \
	tests/diff/elfimage.c tests/diff/elfimage.h tests/lib/snapshot.c tests/lib/snapshot.h
tests_tools_capture_snapshots_CFLAGS = $(DIFF_CFLAGS)
tests_tools_capture_snapshots_LDADD = $(PA_LDADD)

check_PROGRAMS += tests/diff/diff-unwind
tests_diff_diff_unwind_SOURCES = tests/diff/diff-unwind.c $(DIFF_REPLAY_SOURCES)
tests_diff_diff_unwind_CFLAGS = $(DIFF_CFLAGS)
tests_diff_diff_unwind_LDADD = $(DIFF_REPLAY_LDADD)

# Built with the rest, like bench/bench-burn, so that it cannot rot unnoticed; run by
# `make bench-unwind`.
noinst_PROGRAMS += bench/bench-unwind
bench_bench_unwind_SOURCES = bench/bench-unwind.c $(DIFF_REPLAY_SOURCES)
bench_bench_unwind_CFLAGS = $(DIFF_CFLAGS)
bench_bench_unwind_LDADD = $(DIFF_REPLAY_LDADD)

DIFF_TESTS = tests/diff/diff-real.sh tests/diff/diff-corpus.sh
dist_check_SCRIPTS += $(DIFF_TESTS)
TESTS += tests/diff/test-snapshot $(DIFF_TESTS)
EXTRA_DIST += bench/bench-unwind.sh tests/diff/corpus/debian12-xz-epilogue.snap
# puw stops (stack-exhausted) where a CFI row names a saved-register slot below the sampled
# SP, on a function's `ret`: libunwind and libdw carry on. Remove once puw treats such a
# register as unknown (or as still live) instead of ending the walk.

# make bench-unwind [BENCH_SNAPSHOTS='a.snap b.snap']: captures python3, xz and an FP-built
# workload unless snapshot files are given, then prints the ns/frame table (root needed to
# capture).
.PHONY: bench-unwind
bench-unwind: bench/bench-unwind tests/tools/capture-snapshots tests/e2e/workload-shares
	BENCH_UNWIND='$(abs_top_builddir)/bench/bench-unwind' \
	CAPTURE_SNAPSHOTS='$(abs_top_builddir)/tests/tools/capture-snapshots' \
	FP_WORKLOAD='$(abs_top_builddir)/tests/e2e/workload-shares' \
	$(SHELL) '$(abs_top_srcdir)/bench/bench-unwind.sh' $(BENCH_SNAPSHOTS)
