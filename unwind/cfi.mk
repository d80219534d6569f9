# unwind/ — DWARF CFI: compilation of .eh_frame/.debug_frame into compact tables, the CFI
# step, the expression machine; the daemon-side ELF reader (src/elfcfi.c); their tests and
# self-unwind fixtures.
unwind_libpuw_a_SOURCES += \
	unwind/cfi.h \
	unwind/cfi-parse.h \
	unwind/cfi-step.h \
	unwind/cfi-parse.c \
	unwind/cfi-compile.c \
	unwind/cfi-expr.c \
	unwind/cfi-step.c

# The self-unwind fixtures' harness, and the daemon's ELF reader they load CFI with.
# (src/elfcfi.c belongs in src/libperfagent.a too once the daemon uses it.)
noinst_LIBRARIES += tests/fixtures/libselfunwind.a
tests_fixtures_libselfunwind_a_SOURCES = \
	tests/fixtures/selfunwind.c tests/fixtures/selfunwind.h \
	src/elfcfi.c src/elfcfi.h
tests_fixtures_libselfunwind_a_CFLAGS = $(AM_CFLAGS) $(LIBELF_CFLAGS) -O2
FIXTURE_LIBS = tests/fixtures/libselfunwind.a unwind/libpuw.a $(LIBELF_LIBS) $(PTHREAD_LIBS) -ldl

# Built without frame pointers: only CFI can unwind them. -rdynamic: dladdr names functions.
FIXTURE_CFLAGS = -O2 -g -fomit-frame-pointer -I$(top_srcdir)/tests/fixtures

check_PROGRAMS += tests/fixtures/unwind-c
tests_fixtures_unwind_c_SOURCES = tests/fixtures/unwind-c.c
tests_fixtures_unwind_c_CFLAGS = $(AM_CFLAGS) $(FIXTURE_CFLAGS)
tests_fixtures_unwind_c_LDFLAGS = -rdynamic
tests_fixtures_unwind_c_LDADD = $(FIXTURE_LIBS)
TESTS += tests/fixtures/unwind-c

# Compiled bytes per binary, and a parse of every FDE (not a test: a measuring tool).
check_PROGRAMS += tests/fixtures/cfi-stat
tests_fixtures_cfi_stat_SOURCES = tests/fixtures/cfi-stat.c
tests_fixtures_cfi_stat_CFLAGS = $(AM_CFLAGS) $(LIBELF_CFLAGS)
tests_fixtures_cfi_stat_LDADD = $(FIXTURE_LIBS)
