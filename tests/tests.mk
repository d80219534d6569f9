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
tests_unit_test_maps_SOURCES = tests/unit/test-maps.c tests/unit/check.h src/maps.c
tests_unit_test_maps_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_maps_LDADD =

check_PROGRAMS += tests/unit/test-pprof
tests_unit_test_pprof_SOURCES = tests/unit/test-pprof.c tests/unit/check.h src/pprof.c
tests_unit_test_pprof_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pprof_LDADD = $(ZLIB_LIBS)

check_PROGRAMS += tests/unit/test-symbolize
tests_unit_test_symbolize_SOURCES = tests/unit/test-symbolize.c tests/unit/check.h \
	$(SYMBOLIZE_SOURCES)
tests_unit_test_symbolize_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_symbolize_LDADD = $(SYMBOLIZE_LIBS)

check_PROGRAMS += tests/unit/test-symbol-sources
tests_unit_test_symbol_sources_SOURCES = tests/unit/test-symbol-sources.c tests/unit/check.h \
	src/demangle.c src/demangle.h src/debuginfo.c src/debuginfo.h \
	src/gopclntab.c src/gopclntab.h
tests_unit_test_symbol_sources_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_symbol_sources_LDADD = $(LIBIBERTY_LIBS) $(ZLIB_LIBS)

check_PROGRAMS += tests/unit/test-ring
tests_unit_test_ring_SOURCES = tests/unit/test-ring.c tests/unit/check.h src/ring.c src/record.c
tests_unit_test_ring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ring_LDADD =

check_PROGRAMS += tests/unit/test-jitmap
tests_unit_test_jitmap_SOURCES = tests/unit/test-jitmap.c tests/unit/check.h src/jitmap.c
tests_unit_test_jitmap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_jitmap_LDADD =

check_PROGRAMS += tests/unit/test-spool
tests_unit_test_spool_SOURCES = tests/unit/test-spool.c tests/unit/check.h src/spool.c src/util.c
tests_unit_test_spool_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_spool_LDADD = $(ZSTD_LIBS)

TESTS += \
	tests/unit/test-jitmap \
	tests/unit/test-spool \
	tests/unit/test-unwind-fp \
	tests/unit/test-maps \
	tests/unit/test-pprof \
	tests/unit/test-symbolize \
	tests/unit/test-symbol-sources \
	tests/unit/test-ring

# The pprof encoder checked by two independent decoders: go tool pprof and protoc-generated
# python3-protobuf code from the upstream schema.
check_PROGRAMS += tests/unit/pprof-sample
tests_unit_pprof_sample_SOURCES = tests/unit/pprof-sample.c src/pprof.c
tests_unit_pprof_sample_CFLAGS = $(UNIT_CFLAGS)
tests_unit_pprof_sample_LDADD = $(ZLIB_LIBS)
dist_check_SCRIPTS += tests/unit/pprof-decoders.sh
EXTRA_DIST += tests/lib/pprof_decode.py tests/lib/common.sh
TESTS += tests/unit/pprof-decoders.sh

include tests/e2e/e2e.mk

# Targets and labels: relabel conformance, cgroup path fixtures and configuration files
# (tests/data/).
check_PROGRAMS += tests/unit/test-relabel tests/unit/test-discover tests/unit/test-conffile
tests_unit_test_relabel_SOURCES = tests/unit/test-relabel.c tests/unit/check.h tests/unit/cases.h
tests_unit_test_relabel_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_relabel_LDADD = src/libperfagent.a $(PA_DEP_LIBS)
tests_unit_test_discover_SOURCES = tests/unit/test-discover.c tests/unit/check.h
tests_unit_test_discover_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_discover_LDADD = src/libperfagent.a $(PA_DEP_LIBS)
tests_unit_test_conffile_SOURCES = tests/unit/test-conffile.c tests/unit/check.h tests/unit/cases.h
tests_unit_test_conffile_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conffile_LDADD = src/libperfagent.a $(PA_DEP_LIBS)
TESTS += tests/unit/test-relabel tests/unit/test-discover tests/unit/test-conffile
EXTRA_DIST += tests/data/relabel tests/data/cgroup tests/data/parca tests/data/config
include tests/packaging/packaging.mk
