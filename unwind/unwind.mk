# unwind/ — the unwinder library (puw_*), linked into the daemon and its tests.
noinst_LIBRARIES += unwind/libpuw.a
unwind_libpuw_a_SOURCES = \
	unwind/puw.h \
	unwind/puw-internal.h \
	unwind/unwind.c \
	unwind/arch-x86_64.c \
	unwind/arch-aarch64.c
