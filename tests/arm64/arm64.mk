# tests/arm64/ — arm64 unwinding, checked on any host. Fixtures cross-compiled for aarch64 run
# under qemu-user (or natively on arm64) and write snapshots (tests/lib/snapshot.h) with the
# chain libgcc's unwinder reports; replay-arm64, a host program, unwinds them with puw and
# compares. Included from the top Makefile.am, after tests/tests.mk (TEST_EXTENSIONS).
#
# The cross compilers are looked for when make runs, not by configure: without them the
# fixtures are not built, and arm64-unwind.sh skips (fails under CI=true). Override with
# make ARM64_CC=... ARM64_CXX=... (clang: ARM64_CC='clang --target=aarch64-linux-gnu').

ARM64_CC = aarch64-linux-gnu-gcc
ARM64_CXX = aarch64-linux-gnu-g++
# Neither AM_CFLAGS nor the host's warning probes: another compiler, another target. -O2 as
# the brief of every variant; -g only so that mismatches can be read in a debugger.
ARM64_CFLAGS = -O2 -g -Wall -Wextra
ARM64_WITH_FP = -fno-omit-frame-pointer
ARM64_NO_FP = -fomit-frame-pointer
# PAC-signed return addresses (and BTI landing pads): run under qemu-aarch64 -cpu max.
ARM64_PAC = -mbranch-protection=standard
# fixture-eh interposes _dl_find_object for libgcc_s: export it from the executable.
ARM64_EH_LINK_FLAGS = -Wl,--export-dynamic-symbol=_dl_find_object -ldl

ARM64_C_SRCS = $(srcdir)/tests/arm64/fixture.c $(srcdir)/tests/arm64/capture.c
ARM64_EH_SRCS = $(srcdir)/tests/arm64/fixture-eh.cc $(srcdir)/tests/arm64/capture.c
ARM64_DEPS = $(ARM64_C_SRCS) $(ARM64_EH_SRCS) $(srcdir)/tests/arm64/capture.h

# Named <source>-<fp|nofp>[-pac]: arm64-unwind.sh derives the qemu CPU and the replay modes
# from the name.
ARM64_FIXTURES = \
	tests/arm64/fixture-fp \
	tests/arm64/fixture-nofp \
	tests/arm64/fixture-fp-pac \
	tests/arm64/fixture-nofp-pac \
	tests/arm64/fixture-eh-fp \
	tests/arm64/fixture-eh-nofp-pac

tests/arm64/fixture-fp: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CC) $(ARM64_CFLAGS) $(ARM64_WITH_FP) -o $@ $(ARM64_C_SRCS)
tests/arm64/fixture-nofp: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CC) $(ARM64_CFLAGS) $(ARM64_NO_FP) -o $@ $(ARM64_C_SRCS)
tests/arm64/fixture-fp-pac: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CC) $(ARM64_CFLAGS) $(ARM64_WITH_FP) $(ARM64_PAC) -o $@ $(ARM64_C_SRCS)
tests/arm64/fixture-nofp-pac: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CC) $(ARM64_CFLAGS) $(ARM64_NO_FP) $(ARM64_PAC) -o $@ $(ARM64_C_SRCS)
# capture.c is C: -x c for it, -x none to hand the libraries to the linker.
tests/arm64/fixture-eh-fp: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CXX) $(ARM64_CFLAGS) $(ARM64_WITH_FP) -o $@ \
		$(srcdir)/tests/arm64/fixture-eh.cc -x c $(srcdir)/tests/arm64/capture.c -x none \
		$(ARM64_EH_LINK_FLAGS)
tests/arm64/fixture-eh-nofp-pac: $(ARM64_DEPS)
	@$(MKDIR_P) tests/arm64
	$(AM_V_GEN)$(ARM64_CXX) $(ARM64_CFLAGS) $(ARM64_NO_FP) $(ARM64_PAC) -o $@ \
		$(srcdir)/tests/arm64/fixture-eh.cc -x c $(srcdir)/tests/arm64/capture.c -x none \
		$(ARM64_EH_LINK_FLAGS)

# Built with the check programs when the cross compilers are there; otherwise a note, and
# the stamp stays missing so that the next make check looks again.
tests/arm64/fixtures.stamp: $(ARM64_DEPS)
	@if command -v $(firstword $(ARM64_CC)) >/dev/null 2>&1 && \
	    command -v $(firstword $(ARM64_CXX)) >/dev/null 2>&1; then \
		$(MAKE) $(AM_MAKEFLAGS) $(ARM64_FIXTURES) && touch $@; \
	else \
		echo "tests/arm64: $(ARM64_CC) or $(ARM64_CXX) not found, arm64 fixtures not built"; \
	fi

.PHONY: arm64-fixtures
arm64-fixtures: tests/arm64/fixtures.stamp

check_SCRIPTS += tests/arm64/fixtures.stamp
CLEANFILES += $(ARM64_FIXTURES) tests/arm64/fixtures.stamp

# The host side: snapshots in, puw's chains compared with the expected ones.
check_PROGRAMS += tests/arm64/replay-arm64
tests_arm64_replay_arm64_SOURCES = \
	tests/arm64/replay-arm64.c \
	tests/lib/snapshot.c tests/lib/snapshot.h \
	src/elfcfi.c src/elfcfi.h \
	$(SYMBOLIZE_SOURCES)
tests_arm64_replay_arm64_CFLAGS = $(AM_CFLAGS) $(PA_DEP_CFLAGS) -I$(top_srcdir)/tests/lib
tests_arm64_replay_arm64_LDADD = unwind/libpuw.a $(SYMBOLIZE_LIBS) $(PTHREAD_LIBS)

dist_check_SCRIPTS += tests/arm64/arm64-unwind.sh
TESTS += tests/arm64/arm64-unwind.sh
EXTRA_DIST += \
	tests/arm64/fixture.c \
	tests/arm64/fixture-eh.cc \
	tests/arm64/capture.c \
	tests/arm64/capture.h \
	tests/arm64/arm64.mk
