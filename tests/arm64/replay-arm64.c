/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay-arm64 [OPTIONS] FILE...: replays arm64 unwind snapshots (tests/lib/snapshot.h) on
 * this host with puw as PUW_ARCH_AARCH64 and compares each chain with the one the fixture
 * recorded from libgcc's unwinder at the same point (tests/arm64/capture.h).
 *
 *   --mode fp|auto|cfi     puw's mode (default fp)
 *   --sysroot DIR          where the target's files are (default /usr/aarch64-linux-gnu)
 *   --min-agreement PCT    exit 1 when fewer frames agree (default 99.9)
 *   --quiet                print no mismatch, only the figures
 *   --show                 print every judged chain, not only those that disagree
 *   --expect-pac yes|no    exit 1 unless signed return addresses were (yes) or were not (no)
 *                          found: a saved x30 on the stack or x30 itself that, with the
 *                          pointer-authentication code above bit 47 cleared, is an expected
 *                          return address. Keeps the PAC variants from passing vacuously.
 *
 * The snapshots' files are found, and the modules resolved, by the differential suite's
 * replay (tests/diff/replay.h), with the sysroot for target paths: under qemu-user with
 * -L SYSROOT the paths already are host paths (qemu shows the files it opened), from a real
 * arm64 machine they are target paths, looked up under the sysroot. "[vdso]" is the vdso.so
 * the fixture dumped next to the snapshots; "[sigtramp]" is qemu-user's signal trampoline,
 * given CFI by the replay (tests/diff/replay.c says how, arm64-unwind.sh why there).
 *
 * A frame agrees when puw's PC at that depth equals the expected one (pcs[0] the interrupted
 * pc, then return addresses; 1 is added to call-site addresses in a snapshot without
 * SNAPSHOT_F_EXPECTED_IS_RA). Frames beyond the
 * expected chain (libgcc stops where no CFI exists, a PLT stub for one) are counted, not
 * judged. Snapshots without an expected chain are not judged.
 *
 * Exit: 0 agreement reached, 1 below it (or nothing to compare), 99 unreadable input.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "puw.h"
#include "replay.h"
#include "snapshot.h"

#define MAX_PCS 1100
/* User virtual addresses have 48 bits here; a PAC signature sits above them. */
#define VA_MASK ((UINT64_C(1) << 48) - 1)

struct totals {
	uint64_t snapshots, judged, exact;
	uint64_t frames, agree, extra;
	uint64_t ra_signed, lr_signed; /* signed return addresses: on the stack, in x30 */
	uint64_t stops[_PUW_STOP_MAX];
	struct puw_stats stats;
};

static const char *sysroot = "/usr/aarch64-linux-gnu";
static enum puw_mode mode = PUW_MODE_FP;
static bool quiet, show;
static int expect_pac = -1; /* -1: no expectation */
static struct replay_ctx *ctx;

static const char *mode_name(enum puw_mode m)
{
	return m == PUW_MODE_FP ? "fp" : m == PUW_MODE_AUTO ? "auto" : "cfi";
}

/* "0xPC function+0xoff (file)" for a PC (a return address is looked up at ra - 1). */
static void describe(const struct replay_target *t, uint64_t pc, bool is_ra, char *buf, size_t size)
{
	char sym[448];

	snprintf(buf, size, "0x%" PRIx64 " %s", pc,
		 replay_symbolize(t, pc, is_ra && pc, sym, sizeof(sym)));
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Counts the signed return addresses of a snapshot: words of the stack copy (8-byte aligned,
 * as AAPCS64 saves x30) and x30, that are not an expected return address as they stand but
 * are one once the bits above the VA are cleared.
 */
static void count_signed(const struct snapshot *s, struct totals *t)
{
	uint64_t ras[SNAPSHOT_MAX_EXPECTED];
	size_t n = 0;
	uint64_t lr = s->regs.r[30];

	for (uint32_t i = 1; i < s->n_expected; i++)
		ras[n++] = s->expected[i];
	if (n == 0)
		return;
	qsort(ras, n, sizeof(ras[0]), u64_cmp);
	for (uint64_t off = (8 - (s->stack_start & 7)) & 7; off + 8 <= s->stack_size; off += 8) {
		uint64_t w, plain;

		memcpy(&w, s->stack + off, sizeof(w));
		w = le64toh(w);
		plain = w & VA_MASK;
		if (w != plain && bsearch(&plain, ras, n, sizeof(ras[0]), u64_cmp))
			t->ra_signed++;
	}
	if ((s->regs.valid & (UINT64_C(1) << 30)) && lr != (lr & VA_MASK)) {
		uint64_t plain = lr & VA_MASK;

		if (bsearch(&plain, ras, n, sizeof(ras[0]), u64_cmp))
			t->lr_signed++;
	}
}

/* Compares puw's chain pcs[n] with the snapshot's expected one, and prints it if asked. */
static void judge(const char *file, unsigned index, struct snapshot *s,
		  const struct replay_target *target, const uint64_t *pcs, int n,
		  enum puw_stop stop, struct totals *t)
{
	unsigned agree = 0, n_exp = s->n_expected;

	t->judged++;
	t->frames += n_exp;
	/* Without SNAPSHOT_F_EXPECTED_IS_RA the expected callers are return addresses - 1. */
	if (!(s->flags & SNAPSHOT_F_EXPECTED_IS_RA))
		for (unsigned i = 1; i < n_exp; i++)
			s->expected[i]++;
	count_signed(s, t);
	for (unsigned i = 0; i < n_exp; i++)
		if (i < (unsigned)n && pcs[i] == s->expected[i])
			agree++;
	t->agree += agree;
	if ((unsigned)n > n_exp)
		t->extra += (unsigned)n - n_exp;
	if (agree == n_exp)
		t->exact++;
	if (quiet || (agree == n_exp && !show))
		return;

	printf("%s %s#%u [%s]: %u of %u frames agree, puw gave %d (stop: %s)\n",
	       agree == n_exp ? "AGREE" : "MISMATCH", file, index, mode_name(mode), agree, n_exp, n,
	       puw_stop_name(stop));
	for (unsigned i = 0; i < n_exp || i < (unsigned)n; i++) {
		char e[512], g[512];
		bool has_e = i < n_exp, has_g = i < (unsigned)n;

		if (has_e && has_g && pcs[i] == s->expected[i]) {
			describe(target, pcs[i], i > 0, g, sizeof(g));
			printf("    #%-3u   %s\n", i, g);
			continue;
		}
		if (has_e)
			describe(target, s->expected[i], i > 0, e, sizeof(e));
		if (has_g)
			describe(target, pcs[i], i > 0, g, sizeof(g));
		printf("    #%-3u ! expected %s\n", i,
		       has_e ? e : "(nothing: beyond libgcc's chain)");
		printf("    %4s   puw gave %s\n", "", has_g ? g : "(nothing)");
	}
}

static void replay_one(const char *file, unsigned index, struct snapshot *s, struct totals *t)
{
	struct replay_target target;
	uint64_t pcs[MAX_PCS];
	enum puw_stop stop = PUW_STOP_END;
	int n;

	t->snapshots++;
	if (s->arch != PUW_ARCH_AARCH64) {
		fprintf(stderr, "%s#%u: not an arm64 snapshot (arch %u), skipped\n", file, index,
			(unsigned)s->arch);
		return;
	}
	n = replay_target_init(ctx, s, &target);
	if (n < 0) {
		fprintf(stderr, "replay-arm64: %s#%u: %s\n", file, index, strerror(-n));
		exit(99);
	}
	n = replay_puw_pcs(&target, mode, NULL, pcs, MAX_PCS, &stop, &t->stats);
	if (n < 0) {
		fprintf(stderr, "%s#%u: puw_unwind: %s\n", file, index, strerror(-n));
		n = 0;
	}
	if ((unsigned)stop < _PUW_STOP_MAX)
		t->stops[stop]++;
	if (s->n_expected > 0)
		judge(file, index, s, &target, pcs, n, stop, t);
	replay_target_done(&target);
}

static void print_totals(const char *what, const struct totals *t)
{
	double pct = t->frames ? 100.0 * (double)t->agree / (double)t->frames : 0.0;

	printf("%s [%s]: %" PRIu64 " snapshots (%" PRIu64 " with an expected chain, %" PRIu64
	       " exact), %" PRIu64 " frames compared, %" PRIu64 " agree (%.2f %%), signed return "
	       "addresses %" PRIu64 " on the stack and %" PRIu64 " in x30; %" PRIu64
	       " frames beyond the expected chain; stops:",
	       what, mode_name(mode), t->snapshots, t->judged, t->exact, t->frames, t->agree, pct,
	       t->ra_signed, t->lr_signed, t->extra);
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		if (t->stops[i])
			printf(" %s=%" PRIu64, puw_stop_name((enum puw_stop)i), t->stops[i]);
	printf("; steps: cfi=%" PRIu64 " fp=%" PRIu64 " fp-fallback=%" PRIu64 " signal=%" PRIu64
	       "\n",
	       t->stats.steps_cfi, t->stats.steps_fp, t->stats.steps_fp_fallback,
	       t->stats.steps_signal);
}

static void totals_add(struct totals *sum, const struct totals *t)
{
	sum->snapshots += t->snapshots;
	sum->judged += t->judged;
	sum->exact += t->exact;
	sum->frames += t->frames;
	sum->agree += t->agree;
	sum->extra += t->extra;
	sum->ra_signed += t->ra_signed;
	sum->lr_signed += t->lr_signed;
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		sum->stops[i] += t->stops[i];
	sum->stats.steps_cfi += t->stats.steps_cfi;
	sum->stats.steps_fp += t->stats.steps_fp;
	sum->stats.steps_fp_fallback += t->stats.steps_fp_fallback;
	sum->stats.steps_signal += t->stats.steps_signal;
}

static int replay_file(const char *path, struct totals *sum)
{
	struct totals t = {0};
	struct snapshot s;
	unsigned index = 0;
	FILE *f;
	int r;

	r = replay_ctx_set_snapshot_file(ctx, path);
	if (r < 0)
		return r;
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "replay-arm64: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((r = snapshot_read(f, &s)) > 0) {
		replay_one(path, index++, &s, &t);
		snapshot_done(&s);
	}
	fclose(f);
	if (r < 0) {
		fprintf(stderr, "replay-arm64: %s: snapshot %u: %s\n", path, index, strerror(-r));
		return r;
	}
	print_totals(path, &t);
	totals_add(sum, &t);
	return 0;
}

/* The files that could not be used, and why: their frames get no CFI or no symbol. */
static void report_binaries(void)
{
	struct replay_binary_info bi;

	for (unsigned i = 0; replay_ctx_binary(ctx, i, &bi) == 0; i++) {
		if (bi.problem && (bi.path[0] == '/' || !strcmp(bi.path, "[vdso]")))
			fprintf(stderr,
				"replay-arm64: %s (build ID %s): %s here and under %s: its "
				"frames get no CFI — install the target's libraries "
				"(libc6-dev-arm64-cross) or pass --sysroot\n",
				bi.path, bi.build_id[0] ? bi.build_id : "none", bi.problem,
				sysroot);
		else if (!bi.problem && mode != PUW_MODE_FP && !bi.cfi)
			fprintf(stderr, "replay-arm64: CFI of %s: %s\n", bi.path,
				strerror(-bi.cfi_error));
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: replay-arm64 [--mode fp|auto|cfi] [--sysroot DIR] "
		     "[--min-agreement PCT] [--expect-pac yes|no] [--quiet] [--show] FILE...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"sysroot", required_argument, NULL, 's'},
		{"min-agreement", required_argument, NULL, 'a'},
		{"quiet", no_argument, NULL, 'q'},
		{"show", no_argument, NULL, 'S'},
		{"expect-pac", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct totals sum = {0};
	double min_agreement = 99.9, pct;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "fp") == 0)
				mode = PUW_MODE_FP;
			else if (strcmp(optarg, "auto") == 0)
				mode = PUW_MODE_AUTO;
			else if (strcmp(optarg, "cfi") == 0)
				mode = PUW_MODE_CFI;
			else {
				fprintf(stderr, "replay-arm64: unknown mode '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			sysroot = optarg;
			break;
		case 'a':
			min_agreement = strtod(optarg, NULL);
			break;
		case 'q':
			quiet = true;
			break;
		case 'S':
			show = true;
			break;
		case 'p':
			if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
				fprintf(stderr, "replay-arm64: --expect-pac yes or no\n");
				return 2;
			}
			expect_pac = strcmp(optarg, "yes") == 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	if (replay_ctx_new(mode != PUW_MODE_FP, &ctx) < 0 ||
	    replay_ctx_set_sysroot(ctx, sysroot) < 0) {
		fprintf(stderr, "replay-arm64: out of memory\n");
		return 99;
	}

	for (int i = optind; i < argc; i++)
		if (replay_file(argv[i], &sum) < 0)
			rc = 99;
	print_totals("total", &sum);

	pct = sum.frames ? 100.0 * (double)sum.agree / (double)sum.frames : 0.0;
	if (rc == 0 && sum.frames == 0) {
		printf("FAIL: no frame to compare\n");
		rc = 1;
	} else if (rc == 0 && pct < min_agreement) {
		printf("FAIL [%s]: %.2f %% of frames agree, below %.2f %%\n", mode_name(mode), pct,
		       min_agreement);
		rc = 1;
	}
	if (rc == 0 && expect_pac >= 0 && (sum.ra_signed + sum.lr_signed > 0) != expect_pac) {
		printf("FAIL: %s signed return address found, %s expected\n",
		       expect_pac ? "no" : "a", expect_pac ? "some were" : "none was");
		rc = 1;
	}

	report_binaries();
	replay_ctx_free(ctx);
	return rc;
}
