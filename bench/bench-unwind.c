/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-unwind — ns per frame of puw, libunwind and libdw on the same unwind snapshots
 * (tests/lib/snapshot.h), through the same harness as the differential suite
 * (tests/diff/replay.c), so the three unwind exactly the same stacks with the same memory.
 *
 *   bench-unwind [--mode auto|cfi|fp] [--min-ms MS] [--only puw|libunwind|libdw] FILE...
 *
 * warm: caches kept across samples — puw with its row-lookup cache (struct puw_cache);
 *       libunwind with UNW_CACHE_GLOBAL, one address space per process; libdw with one Dwfl
 *       per process, attached once (ddprof's arrangement). A first, untimed pass fills them.
 * cold: nothing kept from one sample to the next — puw without its lookup cache (the CFI
 *       tables are compiled once per binary, as in the daemon, and their load time is
 *       reported separately); libunwind with UNW_CACHE_NONE and unw_flush_cache() before each
 *       sample; libdw with a new Dwfl per sample (report, attach, unwind, end).
 *
 * Each cell times whole passes over one file's snapshots (no clock read per sample), repeated
 * until --min-ms (default 300, shared by the files) have elapsed, and divides the time by the
 * frames that unwinder produced. The process should be pinned to a
 * CPU (bench-unwind.sh does) on an otherwise quiet machine. Targets (docs: performance
 * anchors): puw <= 20 ns/frame warm and <= 100 ns/frame cold; >= 15x faster than libdw and
 * >= 25x faster than libunwind. Figures, not pass/fail: the exit status is 0 unless the input
 * cannot be read.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libunwind.h>
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

struct sample {
	struct snapshot snap;
	struct replay_target target;
	unsigned file;
	unsigned group; /* process: same file, pid and modules */
};

struct cell {
	uint64_t ns, frames, samples;
};

enum { WARM, COLD, _TEMP_MAX };

/* Results, per file (index n_files = all files). */
struct result {
	struct cell c[_REPLAY_UNWINDER_MAX][_TEMP_MAX];
};

static struct sample *samples;
static unsigned n_samples, n_groups;
/* Samples of file f are samples[file_begin[f] .. file_begin[f + 1]). */
static unsigned *file_begin;
static enum puw_mode mode = PUW_MODE_AUTO;
static uint64_t min_ns = 300 * 1000000ull;
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int load(struct replay_ctx *ctx, char **files, unsigned n_files)
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

static void add(struct result *res, unsigned n_files, unsigned file, int u, int temp, uint64_t ns,
		uint64_t frames, uint64_t n)
{
	struct cell *c = &res[file].c[u][temp], *all = &res[n_files].c[u][temp];

	c->ns += ns;
	c->frames += frames;
	c->samples += n;
	all->ns += ns;
	all->frames += frames;
	all->samples += n;
}

/*
 * The state one unwinder keeps for a cell: set up untimed (and a first pass run untimed),
 * then whole passes over one file's samples are timed together, so that reading the clock
 * costs nothing per sample.
 */
struct bench_state {
	int temp;
	struct puw_cache *cache; /* puw warm */
	struct replay_unw **unw; /* libunwind: one address space per process */
	struct replay_dw **dw;	 /* libdw warm: one attached Dwfl per process */
};

static unsigned run_one(int u, struct bench_state *st, struct sample *s)
{
	static struct replay_chain ch;

	ch.n = 0;
	switch (u) {
	case REPLAY_PUW:
		replay_puw(&s->target, mode, st->cache, &ch, NULL);
		break;
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
	if (u == REPLAY_PUW && temp == WARM) {
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

static void bench(struct result *res, unsigned n_files, int u, int temp)
{
	struct bench_state st;

	if (state_init(u, temp, &st) < 0) {
		fprintf(stderr, "bench-unwind: %s %s: setup failed\n", replay_unwinder_name(u),
			temp == WARM ? "warm" : "cold");
		state_done(&st);
		return;
	}
	/* Untimed pass: page the binaries and tables in, fill the warm caches. */
	for (unsigned i = 0; i < n_samples; i++)
		run_one(u, &st, &samples[i]);
	for (unsigned f = 0; f < n_files; f++) {
		uint64_t frames = 0, n = 0, t0 = now_ns(), t;

		if (file_begin[f] == file_begin[f + 1])
			continue;
		do {
			for (unsigned i = file_begin[f]; i < file_begin[f + 1]; i++)
				frames += run_one(u, &st, &samples[i]);
			n += file_begin[f + 1] - file_begin[f];
			t = now_ns() - t0;
		} while (t < min_ns / n_files);
		add(res, n_files, f, u, temp, t, frames, n);
	}
	state_done(&st);
}

/* ---- report ---- */

static double ns_per_frame(const struct cell *c)
{
	return c->frames ? (double)c->ns / (double)c->frames : 0.0;
}

static const char *verdict(bool ok)
{
	return ok ? "ok" : "MISSED";
}

static void print_result(const char *name, const struct result *r, const char *mode_name)
{
	const struct cell *p = r->c[REPLAY_PUW], *u = r->c[REPLAY_LIBUNWIND],
			  *d = r->c[REPLAY_LIBDW];
	uint64_t passes = p[WARM].samples;

	printf("\n== %s\n", name);
	printf("    %-30s %14s %14s %14s %12s\n", "", "warm ns/frame", "cold ns/frame",
	       "frames/sample", "ns/sample w");
	for (int k = 0; k < _REPLAY_UNWINDER_MAX; k++) {
		char label[64];

		if (k == REPLAY_PUW)
			snprintf(label, sizeof(label), "puw (%s)", mode_name);
		else if (k == REPLAY_LIBUNWIND)
			snprintf(label, sizeof(label), "libunwind %d.%d.%d remote",
				 UNW_VERSION_MAJOR, UNW_VERSION_MINOR, UNW_VERSION_EXTRA);
		else
			snprintf(label, sizeof(label), "libdw %s", replay_libdw_version());
		printf("    %-30s %14.1f %14.1f %14.1f %12.0f\n", label,
		       ns_per_frame(&r->c[k][WARM]), ns_per_frame(&r->c[k][COLD]),
		       r->c[k][WARM].samples ? (double)r->c[k][WARM].frames / r->c[k][WARM].samples
					     : 0.0,
		       r->c[k][WARM].samples ? (double)r->c[k][WARM].ns / r->c[k][WARM].samples
					     : 0.0);
	}
	if (!passes)
		return;
	printf("    %-30s %13.0fx %13.0fx   (target >= %.0fx: warm %s, cold %s)\n",
	       "libunwind / puw", ns_per_frame(&u[WARM]) / ns_per_frame(&p[WARM]),
	       ns_per_frame(&u[COLD]) / ns_per_frame(&p[COLD]), TARGET_VS_LIBUNWIND,
	       verdict(ns_per_frame(&u[WARM]) >= TARGET_VS_LIBUNWIND * ns_per_frame(&p[WARM])),
	       verdict(ns_per_frame(&u[COLD]) >= TARGET_VS_LIBUNWIND * ns_per_frame(&p[COLD])));
	printf("    %-30s %13.0fx %13.0fx   (target >= %.0fx: warm %s, cold %s)\n", "libdw / puw",
	       ns_per_frame(&d[WARM]) / ns_per_frame(&p[WARM]),
	       ns_per_frame(&d[COLD]) / ns_per_frame(&p[COLD]), TARGET_VS_LIBDW,
	       verdict(ns_per_frame(&d[WARM]) >= TARGET_VS_LIBDW * ns_per_frame(&p[WARM])),
	       verdict(ns_per_frame(&d[COLD]) >= TARGET_VS_LIBDW * ns_per_frame(&p[COLD])));
	printf("    %-30s %14s %14s   (target <= %.0f warm: %s, <= %.0f cold: %s)\n", "puw targets",
	       "", "", TARGET_WARM_NS, verdict(ns_per_frame(&p[WARM]) <= TARGET_WARM_NS),
	       TARGET_COLD_NS, verdict(ns_per_frame(&p[COLD]) <= TARGET_COLD_NS));
}

static void print_cfi(struct replay_ctx *ctx)
{
	size_t total_bytes = 0;

	printf("\n== compiled CFI per binary (elfcfi_load: read the sections + puw_cfi_compile, "
	       "median of 5)\n");
	printf("    %-52s %10s %10s %12s\n", "", "rows", "bytes", "load us");
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
	}
	printf("    %-52s %10s %10zu\n", "total", "", total_bytes);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"min-ms", required_argument, NULL, 't'},
		{"only", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *mode_name = "auto";
	int only = -1;
	struct replay_ctx *ctx = NULL;
	struct result *res;
	unsigned n_files;
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
		case 'h':
			printf("usage: bench-unwind [--mode auto|cfi|fp] [--min-ms MS] "
			       "[--only puw|libunwind|libdw] SNAPSHOT-FILE...\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: bench-unwind [--mode auto|cfi|fp] [--min-ms MS] "
				"SNAPSHOT-FILE...\n");
		return 2;
	}
	n_files = (unsigned)(argc - optind);
	res = calloc(n_files + 1, sizeof(*res));
	if (!res || replay_ctx_new(mode != PUW_MODE_FP, &ctx) < 0)
		return 99;
	r = load(ctx, argv + optind, n_files);
	if (r < 0)
		return 99;
	printf("bench-unwind: %u snapshots in %u files, %u processes; puw mode %s; >= %" PRIu64
	       " ms per cell\n",
	       n_samples, n_files, n_groups, mode_name, min_ns / 1000000);

	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++) {
		if (only >= 0 && u != only)
			continue;
		bench(res, n_files, u, WARM);
		bench(res, n_files, u, COLD);
	}

	for (unsigned f = 0; f < n_files; f++)
		print_result(argv[optind + f], &res[f], mode_name);
	if (n_files > 1)
		print_result("all files", &res[n_files], mode_name);
	if (mode != PUW_MODE_FP)
		print_cfi(ctx);

	for (unsigned i = 0; i < n_samples; i++) {
		replay_target_done(&samples[i].target);
		snapshot_done(&samples[i].snap);
	}
	free(samples);
	free(file_begin);
	free(res);
	replay_ctx_free(ctx);
	return 0;
}
