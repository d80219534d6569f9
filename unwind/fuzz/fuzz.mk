# unwind/fuzz/ — libFuzzer targets of the unwinder library (see unwind/fuzz/README.md), and
# the unit tests that replay their committed corpora through the same entry points on every
# build, with the build's own compiler and flags.

FUZZ_TARGET_SRCS = unwind/fuzz/fuzz-common.h
EXTRA_DIST += unwind/fuzz/README.md unwind/fuzz/gen-seeds.py \
	unwind/fuzz/corpus-cfi-compile unwind/fuzz/corpus-unwind unwind/fuzz/corpus-expr

if ENABLE_FUZZING
# The library's sources are compiled again, instrumented (unwind/libpuw.a is not): coverage
# feedback and the sanitizers must see inside them. UBSan findings abort, so that libFuzzer
# records them as crashes instead of printing and going on.
PUW_FUZZ_CFLAGS = $(WARN_CFLAGS) $(FUZZ_CFLAGS) -fno-sanitize-recover=all

noinst_PROGRAMS += unwind/fuzz/fuzz-cfi-compile unwind/fuzz/fuzz-unwind unwind/fuzz/fuzz-expr

unwind_fuzz_fuzz_cfi_compile_SOURCES = unwind/fuzz/fuzz-cfi-compile.c $(FUZZ_TARGET_SRCS) \
	$(unwind_libpuw_a_SOURCES)
unwind_fuzz_fuzz_cfi_compile_CFLAGS = $(PUW_FUZZ_CFLAGS)
unwind_fuzz_fuzz_cfi_compile_LDFLAGS = $(FUZZ_CFLAGS)

unwind_fuzz_fuzz_unwind_SOURCES = unwind/fuzz/fuzz-unwind.c $(FUZZ_TARGET_SRCS) \
	$(unwind_libpuw_a_SOURCES)
unwind_fuzz_fuzz_unwind_CFLAGS = $(PUW_FUZZ_CFLAGS)
unwind_fuzz_fuzz_unwind_LDFLAGS = $(FUZZ_CFLAGS)
unwind_fuzz_fuzz_unwind_LDADD = $(PTHREAD_LIBS)

unwind_fuzz_fuzz_expr_SOURCES = unwind/fuzz/fuzz-expr.c $(FUZZ_TARGET_SRCS) \
	$(unwind_libpuw_a_SOURCES)
unwind_fuzz_fuzz_expr_CFLAGS = $(PUW_FUZZ_CFLAGS)
unwind_fuzz_fuzz_expr_LDFLAGS = $(FUZZ_CFLAGS)
endif

# Corpus replays: each target with replay.c's main() instead of libFuzzer's, against the
# plain library. The corpus is found through $top_srcdir (the test environment), else the
# source tree this was configured from.
FUZZ_REPLAY_CFLAGS = $(AM_CFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
FUZZ_REPLAY_SRCS = unwind/fuzz/replay.c $(FUZZ_TARGET_SRCS)

check_PROGRAMS += unwind/fuzz/replay-cfi-compile
unwind_fuzz_replay_cfi_compile_SOURCES = $(FUZZ_REPLAY_SRCS) unwind/fuzz/fuzz-cfi-compile.c
unwind_fuzz_replay_cfi_compile_CFLAGS = $(FUZZ_REPLAY_CFLAGS) \
	-DFUZZ_CORPUS='"unwind/fuzz/corpus-cfi-compile"'
unwind_fuzz_replay_cfi_compile_LDADD = unwind/libpuw.a
TESTS += unwind/fuzz/replay-cfi-compile

check_PROGRAMS += unwind/fuzz/replay-unwind
unwind_fuzz_replay_unwind_SOURCES = $(FUZZ_REPLAY_SRCS) unwind/fuzz/fuzz-unwind.c
unwind_fuzz_replay_unwind_CFLAGS = $(FUZZ_REPLAY_CFLAGS) -DFUZZ_CORPUS='"unwind/fuzz/corpus-unwind"'
unwind_fuzz_replay_unwind_LDADD = unwind/libpuw.a $(PTHREAD_LIBS)
TESTS += unwind/fuzz/replay-unwind

check_PROGRAMS += unwind/fuzz/replay-expr
unwind_fuzz_replay_expr_SOURCES = $(FUZZ_REPLAY_SRCS) unwind/fuzz/fuzz-expr.c
unwind_fuzz_replay_expr_CFLAGS = $(FUZZ_REPLAY_CFLAGS) -DFUZZ_CORPUS='"unwind/fuzz/corpus-expr"'
unwind_fuzz_replay_expr_LDADD = unwind/libpuw.a
TESTS += unwind/fuzz/replay-expr
