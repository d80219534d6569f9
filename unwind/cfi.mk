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

# CFI parsing, compilation and the CFI step on hand-assembled tables; malformed input.
check_PROGRAMS += tests/unit/test-cfi
tests_unit_test_cfi_SOURCES = tests/unit/test-cfi.c tests/unit/check.h
tests_unit_test_cfi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cfi_LDADD = unwind/libpuw.a $(LIBELF_LIBS)
TESTS += tests/unit/test-cfi

# The C++ fixture: automake has no C++ compiler configured (AC_PROG_CXX), so an explicit
# rule builds it with g++ and it runs as a check script; without g++ it is a script that
# skips (77).
FIXTURE_CXX = g++
tests/fixtures/unwind-cxx: $(top_srcdir)/tests/fixtures/unwind-cxx.cc \
		$(top_srcdir)/tests/fixtures/selfunwind.h tests/fixtures/libselfunwind.a \
		unwind/libpuw.a
	$(AM_V_CCLD)if $(FIXTURE_CXX) --version >/dev/null 2>&1; then \
		$(FIXTURE_CXX) $(SAN_CFLAGS) $(FIXTURE_CFLAGS) -Wall -Wextra -rdynamic -o $@ \
			$(top_srcdir)/tests/fixtures/unwind-cxx.cc $(FIXTURE_LIBS); \
	else \
		printf '#!/bin/sh\necho "unwind-cxx: $(FIXTURE_CXX) not found, skipped"\nexit 77\n' \
			>$@ && chmod +x $@; \
	fi
check_SCRIPTS += tests/fixtures/unwind-cxx
CLEANFILES += tests/fixtures/unwind-cxx
TESTS += tests/fixtures/unwind-cxx
EXTRA_DIST += tests/fixtures/unwind-cxx.cc

# The daemon's ELF reader: real files, biases, debug-file paths, corrupt files.
check_PROGRAMS += tests/unit/test-elfcfi
tests_unit_test_elfcfi_SOURCES = tests/unit/test-elfcfi.c tests/unit/check.h \
	src/elfcfi.c src/elfcfi.h
tests_unit_test_elfcfi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_elfcfi_LDADD = unwind/libpuw.a $(LIBELF_LIBS) $(PTHREAD_LIBS)
TESTS += tests/unit/test-elfcfi

# Differential check against libdw (the oracle) on this machine's binaries.
check_PROGRAMS += tests/unit/test-cfi-libdw
tests_unit_test_cfi_libdw_SOURCES = tests/unit/test-cfi-libdw.c tests/unit/check.h \
	src/elfcfi.c src/elfcfi.h
tests_unit_test_cfi_libdw_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cfi_libdw_LDADD = unwind/libpuw.a $(LIBDW_LIBS) $(LIBELF_LIBS) $(PTHREAD_LIBS)
TESTS += tests/unit/test-cfi-libdw
