/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-unwind — ns per frame of puw, libunwind and libdw on the same unwind snapshots
 * (tests/lib/snapshot.h), all three given exactly the same stacks and memory: libunwind and
 * libdw through the differential suite's harness (tests/diff/replay.c), puw through
 * puw_unwind() itself, called the way the daemon's sampler calls it.
 *
 *   bench-unwind [--mode auto|cfi|fp] [--min-ms MS] [--rounds N] [--passes N] [--cpu N]
 *                [--only puw|libunwind|libdw] [--temp warm|cold] FILE...
 *
 * warm: unwinder state kept across samples, as a long-running profiler keeps it — puw with
 *       one struct puw_cache (the daemon has one per sampling thread); libunwind with
 *       UNW_CACHE_GLOBAL, one address space per process; libdw with one Dwfl per process,
 *       attached once (ddprof's arrangement). An untimed pass fills them first.
 * cold: nothing kept from one sample to the next — puw with its cache cleared
 *       (puw_cache_clear()) before every sample; libunwind with UNW_CACHE_NONE and
 *       unw_flush_cache() before each sample; libdw with a new Dwfl per sample (report,
 *       attach, unwind, end). In every case the unwind information itself is ready: puw's
 *       CFI tables are compiled once per binary, as the daemon does off the sample path, and
 *       that compile time is reported separately, per binary, with the compiled bytes.
 *
 * A shared, noisy machine: the process pins itself to one CPU (the last one it may run on,
 * or --cpu), prints the load average before and after, and times with the thread's CPU
 * clock (CLOCK_THREAD_CPUTIME_ID), so that time slices other tasks take on that CPU do not
 * count (the share it got is printed); what they still cost, evicted caches, is what rounds
 * are for. It measures in --rounds rounds (default 5): a round times each unwinder, warm then
 * cold, over each file, in whole passes over the file's snapshots (no clock read per sample)
 * until the round's share of --min-ms (default 300 per cell, split over the rounds and
 * files) has been spent, or exactly --passes passes. Rounds interleave the unwinders, so a
 * burst of load hits all three alike; each cell reports the median and the best of its
 * rounds, and the ratios use the medians.
 *
 * Instructions per frame, repeatable under any load: `valgrind --tool=callgrind
 * --toggle-collect=timed_passes bench-unwind --only puw --temp warm --rounds 1 --passes N`
 * for two values of N; the difference of the instruction counts divided by the difference of
 * the timed frames printed at the end. Before the timing, a digest of puw's results (chains and
 * counters, with and without a cache) is printed: an optimisation must leave it unchanged.
 *
 * Targets (docs: performance anchors): puw <= 20 ns/frame warm and <= 100 ns/frame cold;
 * >= 15x faster than libdw and >= 25x faster than libunwind. Figures, not pass/fail: the exit
 * status is 0 unless the input cannot be read.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libunwind.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"
#include "snapshot.h"

#define TARGET_WARM_NS 20.0
#define TARGET_COLD_NS 100.0
#define TARGET_VS_LIBDW 15.0
#define TARGET_VS_LIBUNWIND 25.0

#define MAX_FRAMES REPLAY_MAX_FRAMES
#define MAX_ROUNDS 1000

struct sample {
	struct snapshot snap;
	struct replay_target target;
	unsigned file;
	unsigned group; /* process: same file, pid and modules */
};

/* One measurement: one unwinder, warm or cold, over one file, in one round. */
struct cell {
	uint64_t ns;	  /* CPU time of the thread */
	uint64_t wall_ns; /* elapsed */
	uint64_t frames, samples;
};

enum { WARM, COLD, _TEMP_MAX };
static const char *const temp_name[_TEMP_MAX] = {"warm", "cold"};

static struct sample *samples;
static unsigned n_samples, n_groups, n_files;
/* Samples of file f are samples[file_begin[f] .. file_begin[f + 1]). */
static unsigned *file_begin;
static enum puw_mode mode = PUW_MODE_AUTO;
static uint64_t min_ns = 300 * 1000000ull;
static unsigned rounds = 5, fixed_passes;
static volatile uint64_t sink;

/*
 * cells[((round * (n_files + 1) + file) * _REPLAY_UNWINDER_MAX + u) * _TEMP_MAX + temp]; file
 * n_files is the sum over the files.
 */
static struct cell *cells;

static struct cell *cell_at(unsigned round, unsigned file, int u, int temp)
{
	return &cells[((round * (n_files + 1) + file) * _REPLAY_UNWINDER_MAX + u) * _TEMP_MAX +
		      temp];
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_loadavg(const char *when)
{
	char buf[128] = "";
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	printf("load average %s: %s\n", when, buf[0] ? buf : "unknown");
}

/*
 * Pins the process to cpu, or (cpu < 0) to the last CPU it may run on: the first ones take
 * most of the machine's interrupts and housekeeping. Returns the CPU, or -errno.
 */
static int pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return -errno;
		for (int c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &set)) {
				cpu = c;
				break;
			}
		if (cpu < 0)
			return -ENOENT;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return cpu;
}

static int load(struct replay_ctx *ctx, char **files)
{
	unsigned cap = 0;

	file_begin = calloc(n_files + 1, sizeof(*file_begin));
	if (!file_begin)
		return -ENOMEM;
	for (unsigned fi = 0; fi < n_files; fi++) {
		FILE *f = fopen(files[fi], "re");
		unsigned idx = 0;
		int r;

		file_begin[fi] = n_samples;
		if (!f) {
			fprintf(stderr, "bench-unwind: open %s: %s\n", files[fi], strerror(errno));
			return -errno;
		}
		for (;;) {
			struct sample *s;

			if (n_samples == cap) {
				struct sample *n;

				cap = cap ? cap * 2 : 256;
				n = realloc(samples, cap * sizeof(*n));
				if (!n)
					return -ENOMEM;
				samples = n;
			}
			s = &samples[n_samples];
			r = snapshot_read(f, &s->snap);
			if (r == 0)
				break;
			if (r < 0) {
				fprintf(stderr, "bench-unwind: %s: snapshot #%u: %s\n", files[fi],
					idx, r == -EBADMSG ? "malformed" : strerror(-r));
				fclose(f);
				return r;
			}
			s->file = fi;
			n_samples++;
			idx++;
		}
		fclose(f);
	}
	file_begin[n_files] = n_samples;
	/* Targets point into samples[]: resolve them once the array stops moving. */
	for (unsigned i = 0; i < n_samples; i++) {
		struct sample *s = &samples[i];
		int r = replay_target_init(ctx, &s->snap, &s->target);

		if (r < 0)
			return r;
		s->group = n_groups;
		for (unsigned j = 0; j < i; j++)
			if (samples[j].file == s->file && samples[j].snap.pid == s->snap.pid &&
			    samples[j].snap.tid == s->snap.tid &&
			    samples[j].target.modules_hash == s->target.modules_hash) {
				s->group = samples[j].group;
				break;
			}
		if (s->group == n_groups)
			n_groups++;
	}
	return 0;
}

/* puw's request for one sample: replay_find_module() over its target, as the daemon's. */
static struct puw_request bench_request(struct sample *s, struct puw_cache *cache,
					 struct puw_stats *stats)
{
	return (struct puw_request){
		.arch = s->snap.arch,
		.mode = mode,
		.regs = &s->snap.regs,
		.stack = s->snap.stack,
		.stack_start = s->snap.stack_start,
		.stack_size = s->snap.stack_size,
		.find_module = replay_find_module,
		.ctx = &s->target,
		.stats = stats,
		.cache = cache,
	};
}

/*
 * The state one unwinder keeps for a cell: set up untimed (and a first pass run untimed),
 * then whole passes over one file's samples are timed together, so that reading the clock
 * costs nothing per sample.
 */
struct bench_state {
	int temp;
	struct puw_cache *cache; /* puw: the thread's cache, cleared per sample when cold */
	struct replay_unw **unw; /* libunwind: one address space per process */
	struct replay_dw **dw;	 /* libdw warm: one attached Dwfl per process */
};

static unsigned run_puw(struct bench_state *st, struct sample *s)
{
	static uint64_t pcs[MAX_FRAMES];
	struct puw_request req = bench_request(s, st->cache, NULL);
	enum puw_stop stop;
	int n;

	if (st->temp == COLD)
		puw_cache_clear(st->cache);
	n = puw_unwind(&req, pcs, MAX_FRAMES, &stop);
	if (n <= 0)
		return 0;
	sink += pcs[n - 1] + stop;
	return (unsigned)n;
}

/*
 * A digest of every chain puw returns (PCs, count and stop reason) and of its counters
 * (struct puw_stats), with no cache, with one cache kept across the samples and with the
 * cache cleared before each: the three must be equal, and an optimisation must not change
 * them (compare with the figure of a build before it).
 */
static void print_puw_digest(void)
{
	static uint64_t pcs[MAX_FRAMES];
	struct puw_cache *cache = puw_cache_new();
	uint64_t digest[3] = {0};

	if (!cache)
		return;
	for (int pass = 0; pass < 3; pass++) {
		uint64_t h = UINT64_C(0xcbf29ce484222325);
		struct puw_stats stats = {0};

		for (unsigned i = 0; i < n_samples; i++) {
			struct puw_request req = bench_request(&samples[i], pass ? cache : NULL, &stats);
			enum puw_stop stop = PUW_STOP_END;
			int n;

			if (pass == 2)
				puw_cache_clear(cache);
			n = puw_unwind(&req, pcs, MAX_FRAMES, &stop);
			/* FNV-1a over 64-bit words: order-sensitive, enough to spot a change. */
			h = (h ^ (uint64_t)n) * UINT64_C(0x100000001b3);
			h = (h ^ (uint64_t)stop) * UINT64_C(0x100000001b3);
			for (int j = 0; j < n; j++)
				h = (h ^ pcs[j]) * UINT64_C(0x100000001b3);
		}
		/* The counters too: how each frame was found. */
		h = (h ^ stats.steps_cfi) * UINT64_C(0x100000001b3);
		h = (h ^ stats.steps_fp) * UINT64_C(0x100000001b3);
		h = (h ^ stats.steps_fp_fallback) * UINT64_C(0x100000001b3);
		h = (h ^ stats.steps_signal) * UINT64_C(0x100000001b3);
		digest[pass] = h;
	}
	puw_cache_free(cache);
	printf("puw chain digest: %016" PRIx64 " (no cache), %016" PRIx64 " (warm), %016" PRIx64
	       " (cold)%s\n",
	       digest[0], digest[1], digest[2],
	       digest[0] == digest[1] && digest[1] == digest[2] ? "" : "  MISMATCH");
}

static unsigned run_one(int u, struct bench_state *st, struct sample *s)
{
	static struct replay_chain ch;

	ch.n = 0;
	switch (u) {
	case REPLAY_PUW:
		return run_puw(st, s);
	case REPLAY_LIBUNWIND:
		if (st->temp == COLD)
			replay_unw_flush(st->unw[s->group]);
		replay_unw_run(st->unw[s->group], &s->target, &ch);
		break;
	case REPLAY_LIBDW:
		if (st->temp == WARM) {
			replay_dw_run(st->dw[s->group], &s->target, &ch);
		} else {
			struct replay_dw *d;

			if (replay_dw_new(&s->target, &d) == 0) {
				replay_dw_run(d, &s->target, &ch);
				replay_dw_free(d);
			}
		}
		break;
	}
	sink += ch.n ? ch.pcs[ch.n - 1] : 0;
	return ch.n;
}

static int state_init(int u, int temp, struct bench_state *st)
{
	memset(st, 0, sizeof(*st));
	st->temp = temp;
	if (u == REPLAY_PUW) {
		st->cache = puw_cache_new();
		return st->cache ? 0 : -ENOMEM;
	}
	if (u == REPLAY_LIBUNWIND) {
		st->unw = calloc(n_groups, sizeof(*st->unw));
		if (!st->unw)
			return -ENOMEM;
		for (unsigned g = 0; g < n_groups; g++)
			if (replay_unw_new(temp == WARM, &st->unw[g]) < 0)
				return -ENOMEM;
	}
	if (u == REPLAY_LIBDW && temp == WARM) {
		st->dw = calloc(n_groups, sizeof(*st->dw));
		if (!st->dw)
			return -ENOMEM;
		for (unsigned i = 0; i < n_samples; i++)
			if (!st->dw[samples[i].group] &&
			    replay_dw_new(&samples[i].target, &st->dw[samples[i].group]) < 0)
				return -ENOEXEC;
	}
	return 0;
}

static void state_done(struct bench_state *st)
{
	puw_cache_free(st->cache);
	for (unsigned g = 0; st->unw && g < n_groups; g++)
		replay_unw_free(st->unw[g]);
	for (unsigned g = 0; st->dw && g < n_groups; g++)
		replay_dw_free(st->dw[g]);
	free(st->unw);
	free(st->dw);
}

/*
 * The timed part of a cell, kept out of line so that callgrind can count it alone
 * (--toggle-collect=timed_passes): passes over samples [begin, end) until budget_ns have
 * elapsed, or exactly fixed_passes of them.
 */
static __attribute__((noinline)) void timed_passes(int u, struct bench_state *st,
						   unsigned begin, unsigned end,
						   uint64_t budget_ns, struct cell *ret)
{
	uint64_t frames = 0, n = 0, passes = 0, t, w0 = clock_ns(CLOCK_MONOTONIC);
	uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	do {
		for (unsigned i = begin; i < end; i++)
			frames += run_one(u, st, &samples[i]);
		n += end - begin;
		passes++;
		t = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	} while (fixed_passes ? passes < fixed_passes : t < budget_ns);
	ret->ns = t;
	ret->wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
	ret->frames = frames;
	ret->samples = n;
}

static void bench_cell(unsigned round, int u, int temp)
{
	struct bench_state st;

	if (state_init(u, temp, &st) < 0) {
		fprintf(stderr, "bench-unwind: %s %s: setup failed\n", replay_unwinder_name(u),
			temp_name[temp]);
		state_done(&st);
		return;
	}
	/* Untimed pass: page the binaries and tables in, fill the warm caches. */
	for (unsigned i = 0; i < n_samples; i++)
		run_one(u, &st, &samples[i]);
	for (unsigned f = 0; f < n_files; f++) {
		struct cell *c = cell_at(round, f, u, temp);
		struct cell *all = cell_at(round, n_files, u, temp);

		if (file_begin[f] == file_begin[f + 1])
			continue;
		timed_passes(u, &st, file_begin[f], file_begin[f + 1], min_ns / rounds / n_files,
			     c);
		all->ns += c->ns;
		all->wall_ns += c->wall_ns;
		all->frames += c->frames;
		all->samples += c->samples;
	}
	state_done(&st);
}

/* ---- report ---- */

struct summary {
	double median, best; /* ns/frame over the rounds; 0: not measured */
	double frames_per_sample;
	uint64_t frames; /* timed, over every round */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct summary summarize(unsigned file, int u, int temp)
{
	struct summary s = {0};
	double v[MAX_ROUNDS];
	unsigned n = 0;
	uint64_t samples_total = 0;

	for (unsigned r = 0; r < rounds; r++) {
		const struct cell *c = cell_at(r, file, u, temp);

		if (!c->frames)
			continue;
		v[n++] = (double)c->ns / (double)c->frames;
		s.frames += c->frames;
		samples_total += c->samples;
	}
	if (!n)
		return s;
	qsort(v, n, sizeof(v[0]), cmp_double);
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.best = v[0];
	s.frames_per_sample = (double)s.frames / (double)samples_total;
	return s;
}

static const char *verdict(bool ok)
{
	return ok ? "ok" : "MISSED";
}

static void print_ratio(const char *label, const struct summary *other, const struct summary *p,
			double target)
{
	char w[32] = "-", c[32] = "-", vw[16] = "-", vc[16] = "-";

	if (other[WARM].median && p[WARM].median) {
		snprintf(w, sizeof(w), "%.0fx", other[WARM].median / p[WARM].median);
		snprintf(vw, sizeof(vw), "%s",
			 verdict(other[WARM].median >= target * p[WARM].median));
	}
	if (other[COLD].median && p[COLD].median) {
		snprintf(c, sizeof(c), "%.0fx", other[COLD].median / p[COLD].median);
		snprintf(vc, sizeof(vc), "%s",
			 verdict(other[COLD].median >= target * p[COLD].median));
	}
	printf("    %-26s %17s %17s   target >= %.0fx: warm %s, cold %s\n", label, w, c, target,
	       vw, vc);
}

static void print_result(const char *name, unsigned file, const char *mode_name)
{
	struct summary s[_REPLAY_UNWINDER_MAX][_TEMP_MAX];
	unsigned n = file_begin[file == n_files ? n_files : file + 1] -
		     file_begin[file == n_files ? 0 : file];

	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		for (int t = 0; t < _TEMP_MAX; t++)
			s[u][t] = summarize(file, u, t);

	printf("\n== %s (%u snapshots)\n", name, n);
	printf("    %-26s %17s %17s %14s\n", "ns/frame", "warm median best", "cold median best",
	       "frames/sample");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++) {
		char label[64];

		if (u == REPLAY_PUW)
			snprintf(label, sizeof(label), "puw (%s)", mode_name);
		else if (u == REPLAY_LIBUNWIND)
			snprintf(label, sizeof(label), "libunwind %d.%d.%d remote",
				 UNW_VERSION_MAJOR, UNW_VERSION_MINOR, UNW_VERSION_EXTRA);
		else
			snprintf(label, sizeof(label), "libdw %s", replay_libdw_version());
		printf("    %-26s %8.1f %8.1f %8.1f %8.1f %14.1f\n", label, s[u][WARM].median,
		       s[u][WARM].best, s[u][COLD].median, s[u][COLD].best,
		       s[u][WARM].frames_per_sample ? s[u][WARM].frames_per_sample
						    : s[u][COLD].frames_per_sample);
	}
	print_ratio("libunwind / puw", s[REPLAY_LIBUNWIND], s[REPLAY_PUW], TARGET_VS_LIBUNWIND);
	print_ratio("libdw / puw", s[REPLAY_LIBDW], s[REPLAY_PUW], TARGET_VS_LIBDW);
	if (s[REPLAY_PUW][WARM].median || s[REPLAY_PUW][COLD].median) {
		char w[32] = "-", c[32] = "-";

		if (s[REPLAY_PUW][WARM].median)
			snprintf(w, sizeof(w), "%.2fx %s",
				 s[REPLAY_PUW][WARM].median / TARGET_WARM_NS,
				 verdict(s[REPLAY_PUW][WARM].median <= TARGET_WARM_NS));
		if (s[REPLAY_PUW][COLD].median)
			snprintf(c, sizeof(c), "%.2fx %s",
				 s[REPLAY_PUW][COLD].median / TARGET_COLD_NS,
				 verdict(s[REPLAY_PUW][COLD].median <= TARGET_COLD_NS));
		printf("    %-26s %17s %17s   of the target: <= %.0f ns warm, <= %.0f ns cold\n",
		       "puw / target", w, c, TARGET_WARM_NS, TARGET_COLD_NS);
	}
}

static void print_cfi(struct replay_ctx *ctx)
{
	size_t total_bytes = 0, total_rows = 0;

	printf("\n== compiled CFI per binary (elfcfi_load: read the sections + puw_cfi_compile, "
	       "median of 5)\n");
	printf("    %-52s %10s %10s %12s\n", "", "rows", "bytes", "compile us");
	for (unsigned i = 0;; i++) {
		struct replay_binary_info bi;
		int64_t ns;

		if (replay_ctx_binary(ctx, i, &bi) < 0)
			break;
		if (!bi.cfi)
			continue;
		ns = replay_ctx_time_cfi_load(ctx, i, 5);
		printf("    %-52.52s %10zu %10zu %12.1f%s\n", bi.path, bi.cfi_rows, bi.cfi_bytes,
		       ns < 0 ? 0.0 : (double)ns / 1000.0,
		       bi.debug_file ? "  (+ separate .debug_frame)" : "");
		total_bytes += bi.cfi_bytes;
		total_rows += bi.cfi_rows;
	}
	printf("    %-52s %10zu %10zu\n", "total", total_rows, total_bytes);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-unwind [--mode auto|cfi|fp] [--min-ms MS] [--rounds N] "
		   "[--passes N] [--cpu N]\n"
		   "                    [--only puw|libunwind|libdw] [--temp warm|cold] "
		   "SNAPSHOT-FILE...\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"min-ms", required_argument, NULL, 't'},
		{"rounds", required_argument, NULL, 'r'},
		{"passes", required_argument, NULL, 'p'},
		{"cpu", required_argument, NULL, 'c'},
		{"only", required_argument, NULL, 'o'},
		{"temp", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *mode_name = "auto";
	int only = -1, only_temp = -1, cpu = -1;
	struct replay_ctx *ctx = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "fp"))
				mode = PUW_MODE_FP;
			else if (!strcmp(optarg, "auto"))
				mode = PUW_MODE_AUTO;
			else if (!strcmp(optarg, "cfi"))
				mode = PUW_MODE_CFI;
			else {
				fprintf(stderr, "bench-unwind: --mode: expected fp, auto or cfi\n");
				return 2;
			}
			mode_name = optarg;
			break;
		case 't':
			min_ns = strtoull(optarg, NULL, 10) * 1000000ull;
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "bench-unwind: --rounds: expected 1..1000\n");
				return 2;
			}
			break;
		case 'p':
			fixed_passes = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'o':
			only = !strcmp(optarg, "puw")	      ? REPLAY_PUW
			       : !strcmp(optarg, "libunwind") ? REPLAY_LIBUNWIND
			       : !strcmp(optarg, "libdw")     ? REPLAY_LIBDW
							      : -2;
			if (only == -2) {
				fprintf(stderr,
					"bench-unwind: --only: expected puw, libunwind or libdw\n");
				return 2;
			}
			break;
		case 'T':
			only_temp = !strcmp(optarg, "warm")   ? WARM
				    : !strcmp(optarg, "cold") ? COLD
							      : -2;
			if (only_temp == -2) {
				fprintf(stderr, "bench-unwind: --temp: expected warm or cold\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	n_files = (unsigned)(argc - optind);

	print_loadavg("at start");
	r = pin_cpu(cpu);
	if (r < 0)
		printf("not pinned to a CPU: %s\n", strerror(-r));
	else
		printf("pinned to CPU %d\n", r);

	cells = calloc((size_t)rounds * (n_files + 1) * _REPLAY_UNWINDER_MAX * _TEMP_MAX,
		       sizeof(*cells));
	if (!cells || replay_ctx_new(mode != PUW_MODE_FP, &ctx) < 0)
		return 99;
	r = load(ctx, argv + optind);
	if (r < 0)
		return 99;
	printf("bench-unwind: %u snapshots in %u files, %u processes; puw mode %s; %u rounds, ",
	       n_samples, n_files, n_groups, mode_name, rounds);
	if (fixed_passes)
		printf("%u passes per cell\n", fixed_passes);
	else
		printf(">= %" PRIu64 " ms per cell and round\n", min_ns / rounds / 1000000);
	if (only < 0 || only == REPLAY_PUW)
		print_puw_digest();
	fflush(stdout);

	for (unsigned round = 0; round < rounds; round++)
		for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++) {
			if (only >= 0 && u != only)
				continue;
			for (int t = 0; t < _TEMP_MAX; t++)
				if (only_temp < 0 || t == only_temp)
					bench_cell(round, u, t);
		}

	for (unsigned f = 0; f < n_files; f++)
		print_result(argv[optind + f], f, mode_name);
	if (n_files > 1)
		print_result("all files", n_files, mode_name);
	if (mode != PUW_MODE_FP)
		print_cfi(ctx);

	printf("\ntimed frames (for instruction counts per frame):");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		for (int t = 0; t < _TEMP_MAX; t++) {
			struct summary s = summarize(n_files, u, t);

			if (s.frames)
				printf(" %s %s %" PRIu64 ";", replay_unwinder_name(u), temp_name[t],
				       s.frames);
		}
	printf("\n");
	{
		uint64_t cpu_ns = 0, wall_ns = 0;

		for (unsigned k = 0; k < rounds; k++)
			for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
				for (int t = 0; t < _TEMP_MAX; t++) {
					cpu_ns += cell_at(k, n_files, u, t)->ns;
					wall_ns += cell_at(k, n_files, u, t)->wall_ns;
				}
		if (wall_ns)
			printf("CPU share while timed: %.0f %% (the rest went to other tasks; "
			       "ns/frame counts only this thread's CPU time)\n",
			       100.0 * (double)cpu_ns / (double)wall_ns);
	}
	print_loadavg("at end");

	for (unsigned i = 0; i < n_samples; i++) {
		replay_target_done(&samples[i].target);
		snapshot_done(&samples[i].snap);
	}
	free(samples);
	free(file_begin);
	free(cells);
	replay_ctx_free(ctx);
	return 0;
}
