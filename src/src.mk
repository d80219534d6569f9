# src/ — the daemon. Everything but main.c goes into a convenience library that the unit
# tests link as well.
PA_DEP_CFLAGS = $(LIBELF_CFLAGS) $(LIBDW_CFLAGS) $(ZLIB_CFLAGS) $(ZSTD_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBCURL_CFLAGS) $(LIBDEBUGINFOD_CFLAGS) $(PCRE2_CFLAGS) \
	$(MHD_CFLAGS) $(LIBCAP_CFLAGS)
PA_DEP_LIBS = $(LIBDW_LIBS) $(LIBELF_LIBS) $(LZMA_LIBS) $(LIBIBERTY_LIBS) $(ZLIB_LIBS) \
	$(JANSSON_LIBS) $(LIBCURL_LIBS) $(ZSTD_LIBS) $(LIBDEBUGINFOD_LIBS) $(PCRE2_LIBS) $(PTHREAD_LIBS) \
	$(MHD_LIBS) $(LIBCAP_LIBS)

# Symbolization, also linked on its own by tests that do not take the whole library.
SYMBOLIZE_SOURCES = \
	src/symbolize.c src/symbolize.h \
	src/debuginfo.c src/debuginfo.h \
	src/dwarfsym.c src/dwarfsym.h \
	src/gopclntab.c src/gopclntab.h
SYMBOLIZE_LIBS = $(LIBDW_LIBS) $(LIBELF_LIBS) $(LZMA_LIBS) $(ZLIB_LIBS)

noinst_LIBRARIES += src/libperfagent.a
src_libperfagent_a_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS)
src_libperfagent_a_SOURCES = \
	src/log.c src/log.h \
	src/maps.c src/maps.h \
	src/pprof.c src/pprof.h \
	$(SYMBOLIZE_SOURCES) \
	src/demangle.c src/demangle.h \
	src/jitmap.c src/jitmap.h \
	src/debuginfod.c src/debuginfod.h \
	src/vdso.c src/vdso.h \
	src/elfcfi.c src/elfcfi.h \
	src/cfistore.c src/cfistore.h \
	src/record.c src/record.h \
	src/ring.c src/ring.h \
	src/proc.c src/proc.h \
	src/profile.c src/profile.h \
	src/sampler.c src/sampler.h \
	src/flush.c src/flush.h \
	src/export.c src/export.h \
	src/export-file.c \
	src/export-pyroscope.c \
	src/export-parca.c \
	src/export-datadog.c \
	src/export-wire.c src/export-wire.h \
	src/upload.c src/upload.h \
	src/spool.c src/spool.h \
	src/util.c src/util.h \
	src/metrics.c src/metrics.h \
	src/reload.c src/reload.h \
	src/doctor.c src/doctor.h \
	src/labels.c src/labels.h \
	src/relabel.c src/relabel.h \
	src/discover.c src/discover.h \
	src/labeler.c src/labeler.h \
	src/options.c src/options.h \
	src/conffile.c src/conffile.h \
	src/sidecar.c src/sidecar.h

PA_LDADD = src/libperfagent.a unwind/libpuw.a $(PA_DEP_LIBS)

bin_PROGRAMS += perfagent
perfagent_SOURCES = src/main.c
perfagent_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS)
perfagent_LDADD = $(PA_LDADD)
