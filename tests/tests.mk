# tests/ — unit tests (unprivileged, offline) and end-to-end tests (real daemon, real kernel;
# they skip with 77 without perf privileges, except under CI=true where they fail).
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)

UNIT_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS) -I$(top_srcdir)/tests/unit

check_PROGRAMS += tests/unit/test-unwind-fp
tests_unit_test_unwind_fp_SOURCES = tests/unit/test-unwind-fp.c tests/unit/check.h
tests_unit_test_unwind_fp_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_unwind_fp_LDADD = unwind/libpuw.a

check_PROGRAMS += tests/unit/test-maps
tests_unit_test_maps_SOURCES = tests/unit/test-maps.c tests/unit/check.h
tests_unit_test_maps_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_maps_LDADD = $(PA_LDADD)

check_PROGRAMS += tests/unit/test-pprof
tests_unit_test_pprof_SOURCES = tests/unit/test-pprof.c tests/unit/check.h
tests_unit_test_pprof_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pprof_LDADD = $(PA_LDADD)

check_PROGRAMS += tests/unit/test-symbolize
tests_unit_test_symbolize_SOURCES = tests/unit/test-symbolize.c tests/unit/check.h
tests_unit_test_symbolize_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_symbolize_LDADD = $(PA_LDADD)

check_PROGRAMS += tests/unit/test-ring
tests_unit_test_ring_SOURCES = tests/unit/test-ring.c tests/unit/check.h
tests_unit_test_ring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ring_LDADD = $(PA_LDADD)

TESTS += \
	tests/unit/test-unwind-fp \
	tests/unit/test-maps \
	tests/unit/test-pprof \
	tests/unit/test-symbolize \
	tests/unit/test-ring
