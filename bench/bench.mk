# bench/ — benchmarks: figures, never pass/fail. `make bench` (as root) runs
# bench/bench-sampling.sh: perfagent and perf record -g + perf script, each system-wide for
# BENCH_SECONDS (default 20) at 19 and 999 Hz while bench-burn keeps every CPU busy.
# bench-burn is built with the rest (it is tiny), so it cannot rot unnoticed.
noinst_PROGRAMS += bench/bench-burn
bench_bench_burn_SOURCES = bench/bench-burn.c
bench_bench_burn_CFLAGS = $(WARN_CFLAGS) -O2 -fno-omit-frame-pointer $(PTHREAD_CFLAGS)
bench_bench_burn_LDFLAGS =
bench_bench_burn_LDADD = $(PTHREAD_LIBS)
EXTRA_DIST += bench/bench-sampling.sh bench/bench_rusage.py

.PHONY: bench
bench: perfagent bench/bench-burn
	PERFAGENT='$(abs_top_builddir)/perfagent' BENCH_BURN='$(abs_top_builddir)/bench/bench-burn' \
	TESTS_PYTHON=/usr/bin/python3 $(SHELL) '$(abs_top_srcdir)/bench/bench-sampling.sh'

# bench/bench-bigdebug.sh: a >= 100 MB separate debug file loaded while the whole machine is
# sampled at 999 Hz; prints the load time and the lost samples (as root).
EXTRA_DIST += bench/bench-bigdebug.sh
.PHONY: bench-bigdebug
bench-bigdebug: perfagent
	PERFAGENT='$(abs_top_builddir)/perfagent' TESTS_PYTHON=/usr/bin/python3 \
	$(SHELL) '$(abs_top_srcdir)/bench/bench-bigdebug.sh'
