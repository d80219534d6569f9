# tests/e2e/ — end-to-end tests: the real daemon on the real kernel, against workloads whose
# stacks and CPU shares are known in advance. Included from tests/tests.mk (after
# TEST_EXTENSIONS/SH_LOG_COMPILER are set there). The tests that need perf privileges skip
# with 77 without them, except under CI=true where they fail (tests/lib/common.sh).

# Workloads: -O2 with frame pointers, and neither AM_CFLAGS nor AM_LDFLAGS, which carry the
# sanitizer flags of --enable-sanitizers: instrumentation would change the stacks and the
# timings the tests check. (The sources defeat tail calls, identical code folding, cloning
# and frameless leaves themselves: see tests/e2e/workload.h.)
E2E_WORKLOAD_CFLAGS = $(WARN_CFLAGS) -O2 -fno-omit-frame-pointer

check_PROGRAMS += \
	tests/e2e/workload-shares \
	tests/e2e/workload-shares-nofp \
	tests/e2e/workload-threads \
	tests/e2e/workload-exec \
	tests/e2e/workload-exits \
	tests/e2e/workload-exitstatus \
	tests/e2e/workload-syscalls \
	tests/e2e/workload-exits-g

tests_e2e_workload_shares_SOURCES = tests/e2e/workload-shares.c tests/e2e/workload.h
tests_e2e_workload_shares_CFLAGS = $(E2E_WORKLOAD_CFLAGS)
tests_e2e_workload_shares_LDFLAGS =

# The same workload without frame pointers: only DWARF CFI unwinds it (cfi-real.sh).
tests_e2e_workload_shares_nofp_SOURCES = tests/e2e/workload-shares.c tests/e2e/workload.h
tests_e2e_workload_shares_nofp_CFLAGS = $(WARN_CFLAGS) -O2 -fomit-frame-pointer
tests_e2e_workload_shares_nofp_LDFLAGS =

tests_e2e_workload_threads_SOURCES = tests/e2e/workload-threads.c tests/e2e/workload.h
tests_e2e_workload_threads_CFLAGS = $(E2E_WORKLOAD_CFLAGS) $(PTHREAD_CFLAGS)
tests_e2e_workload_threads_LDFLAGS =
tests_e2e_workload_threads_LDADD = $(PTHREAD_LIBS)

tests_e2e_workload_exec_SOURCES = tests/e2e/workload-exec.c tests/e2e/workload.h
tests_e2e_workload_exec_CFLAGS = $(E2E_WORKLOAD_CFLAGS)
tests_e2e_workload_exec_LDFLAGS =

tests_e2e_workload_exits_SOURCES = tests/e2e/workload-exits.c tests/e2e/workload.h
tests_e2e_workload_exits_CFLAGS = $(E2E_WORKLOAD_CFLAGS)
tests_e2e_workload_exits_LDFLAGS =

tests_e2e_workload_exitstatus_SOURCES = tests/e2e/workload-exitstatus.c tests/e2e/workload.h
tests_e2e_workload_exitstatus_CFLAGS = $(E2E_WORKLOAD_CFLAGS)
tests_e2e_workload_exitstatus_LDFLAGS =

tests_e2e_workload_syscalls_SOURCES = tests/e2e/workload-syscalls.c tests/e2e/workload.h
tests_e2e_workload_syscalls_CFLAGS = $(E2E_WORKLOAD_CFLAGS)
tests_e2e_workload_syscalls_LDFLAGS =

# With DWARF: symbols-debuginfod.sh strips it and serves its debug file from a debuginfod.
tests_e2e_workload_exits_g_SOURCES = tests/e2e/workload-exits.c tests/e2e/workload.h
tests_e2e_workload_exits_g_CFLAGS = $(E2E_WORKLOAD_CFLAGS) -g
tests_e2e_workload_exits_g_LDFLAGS = -Wl,--build-id

# Targets and labels: kernel cgroup selection, exact per-sample cgroups, the configuration
# file, a Parca relabel example, sidecar mode (need root: cgroups, PID namespaces).
TARGETS_E2E_TESTS = \
	tests/e2e/cgroup-select.sh \
	tests/e2e/cgroup-move.sh \
	tests/e2e/config-file.sh \
	tests/e2e/parca-relabel.sh \
	tests/e2e/sidecar.sh \
	tests/e2e/series-overflow.sh

# check-selftest.sh runs everywhere (no privileges); workloads-perf.sh needs perf(1); the
# others need the daemon with perf privileges, and all but unprivileged.sh the protos.
E2E_TESTS = \
	tests/e2e/check-selftest.sh \
	tests/e2e/workloads-perf.sh \
	tests/e2e/system-wide.sh \
	tests/e2e/pid-mode.sh \
	tests/e2e/cmd-mode.sh \
	tests/e2e/threads.sh \
	tests/e2e/exec.sh \
	tests/e2e/exit-mid-window.sh \
	tests/e2e/cfi-real.sh \
	tests/e2e/unprivileged.sh \
	tests/e2e/symbols-jit.sh \
	tests/e2e/symbols-kernel.sh \
	tests/e2e/symbols-debuginfod.sh \
	tests/e2e/symbols-replaced.sh \
	tests/e2e/symbols-mountns.sh \
	$(TARGETS_E2E_TESTS) \
	tests/e2e/symbols.sh \
	tests/e2e/symbols-cache.sh \
	tests/e2e/export-pyroscope.sh \
	tests/e2e/export-parca.sh \
	tests/e2e/export-datadog.sh \
	tests/e2e/export-faults.sh \
	tests/e2e/export-outage.sh \
	tests/e2e/doctor.sh \
	tests/e2e/explain.sh \
	tests/e2e/metrics.sh \
	tests/e2e/sighup.sh \
	tests/e2e/sighup-config.sh

dist_check_SCRIPTS += $(E2E_TESTS)
TESTS += $(E2E_TESTS)
EXTRA_DIST += \
	tests/e2e/e2e-lib.sh \
	tests/e2e/jit-workload.js \
	tests/e2e/cgroup-lib.sh \
	tests/lib/e2e_check.py \
	tests/lib/e2e_check_selftest.py \
	tests/lib/e2e_perf2json.py \
	tests/lib/symbols_check.py \
	tests/e2e/symbols/sym-c.c \
	tests/e2e/symbols/sym-inline.c \
	tests/e2e/symbols/sym-cxx.cc \
	tests/e2e/symbols/sym-rust.rs \
	tests/e2e/symbols/sym-go.go \
	tests/lib/export_check.py \
	tests/e2e/export-lib.sh \
	tests/receivers/package.json \
	tests/receivers/package-lock.json \
	tests/receivers/connect-receiver.mjs \
	tests/receivers/parca_grpc_receiver.py \
	tests/receivers/datadog_receiver.py \
	tests/receivers/receiver_common.py \
	tests/lib/metrics_check.py
# e2e-lib.sh serializes the end-to-end tests with flock on this file.
CLEANFILES += tests/e2e/.e2e-lock
