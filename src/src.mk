# src/ — the daemon. Everything but main.c goes into a convenience library that the unit
# tests link as well.
PA_DEP_CFLAGS = $(LIBELF_CFLAGS) $(LIBDW_CFLAGS) $(ZLIB_CFLAGS) $(ZSTD_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBCURL_CFLAGS) $(MHD_CFLAGS) $(LIBCAP_CFLAGS)
PA_DEP_LIBS = $(LIBELF_LIBS) $(ZLIB_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) $(MHD_LIBS) \
	$(LIBCAP_LIBS)

noinst_LIBRARIES += src/libperfagent.a
src_libperfagent_a_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS)
src_libperfagent_a_SOURCES = \
	src/log.c src/log.h \
	src/maps.c src/maps.h \
	src/pprof.c src/pprof.h \
	src/symbolize.c src/symbolize.h \
	src/elfcfi.c src/elfcfi.h \
	src/cfistore.c src/cfistore.h \
	src/record.c src/record.h \
	src/ring.c src/ring.h \
	src/proc.c src/proc.h \
	src/profile.c src/profile.h \
	src/sampler.c src/sampler.h \
	src/flush.c src/flush.h \
	src/export-file.c src/export.h \
	src/util.c src/util.h \
	src/metrics.c src/metrics.h \
	src/reload.c src/reload.h \
	src/doctor.c src/doctor.h

PA_LDADD = src/libperfagent.a unwind/libpuw.a $(PA_DEP_LIBS)

bin_PROGRAMS += perfagent
perfagent_SOURCES = src/main.c
perfagent_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS)
perfagent_LDADD = $(PA_LDADD)
