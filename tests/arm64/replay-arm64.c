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
 * The module paths are the ones the target saw in /proc/self/maps. Under qemu-user with
 * -L SYSROOT they already are host paths (qemu shows the files it opened); from a real arm64
 * machine they are target paths, looked up under the sysroot, where Debian's cross packages
 * keep /lib/aarch64-linux-gnu/ as SYSROOT/lib/. A file is used only when it is an arm64 ELF
 * whose build ID matches the one recorded, if any.
 *
 * "[vdso]" is the file the fixture dumped next to the snapshots (vdso.so, same build ID).
 * "[sigtramp]" is the page qemu-user (before 8.1) writes its rt_sigreturn trampoline to, at
 * the page's first byte (the fixture checked the two instructions). It has no ELF file: its
 * CFI is compiled from the trampoline alone (puw_cfi_sections.sigreturn_*), and the module
 * starts 4 bytes early, where Linux's vDSO has the nop before __kernel_rt_sigreturn: puw looks
 * a return address up at ra - 1, which for qemu's trampoline is the page before.
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

#include "elfcfi.h"
#include "puw.h"
#include "snapshot.h"
#include "symbolize.h"

#define MAX_PCS 1100
#define MAX_FILES_CACHED 256
#define SIGTRAMP_PATH "[sigtramp]"
/* Bytes before the trampoline that belong to it, as the vDSO's nop does (puw looks at ra-1). */
#define SIGTRAMP_LEAD 4
/* "movz x8, #139; svc #0" */
#define SIGTRAMP_BYTES 8
/* User virtual addresses have 48 bits here; a PAC signature sits above them. */
#define VA_MASK ((UINT64_C(1) << 48) - 1)

/* One ELF file of the target, loaded once. */
struct target_file {
	char *guest_path;
	char *build_id;
	char *host_path; /* NULL: not found */
	struct elfcfi_info info;
	struct puw_cfi *cfi; /* NULL: no CFI (or not loaded) */
	int cfi_err;
	struct sym_binary *sym;
};

/* One executable mapping of a snapshot, as find_module() answers it. */
struct replay_module {
	uint64_t start, end, pgoff;
	uint64_t map_start; /* the mapping's own start (start may include the trampoline lead) */
	uint64_t bias;
	const struct puw_cfi *cfi;
	struct target_file *file; /* NULL for [sigtramp] and anonymous code */
	const char *name;
};

struct replay_ctx {
	struct replay_module *mods;
	unsigned n_mods;
};

struct totals {
	uint64_t snapshots, judged, exact;
	uint64_t frames, agree, extra;
	uint64_t ra_signed, lr_signed; /* signed return addresses: on the stack, in x30 */
	uint64_t stops[_PUW_STOP_MAX];
	struct puw_stats stats;
};

static const char *sysroot = "/usr/aarch64-linux-gnu";
static char snap_dir[4096]; /* directory of the snapshot file being replayed */
static enum puw_mode mode = PUW_MODE_FP;
static bool quiet, show;
static int expect_pac = -1; /* -1: no expectation */
static struct symcache *symcache;
static struct target_file files[MAX_FILES_CACHED];
static unsigned n_files;
static struct puw_cfi *sigtramp_cfi;
static uint64_t sigtramp_cfi_addr;

static const char *mode_name(enum puw_mode m)
{
	return m == PUW_MODE_FP ? "fp" : m == PUW_MODE_AUTO ? "auto" : "cfi";
}

static void build_id_hex(const struct elfcfi_info *info, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < info->build_id_size && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", info->build_id[i]);
}

/* A candidate host file for a target file: an arm64 ELF with the recorded build ID. */
static bool candidate_ok(const char *path, const char *build_id, struct elfcfi_info *ret)
{
	char hex[2 * ELFCFI_BUILD_ID_MAX + 1];

	if (elfcfi_read_info(path, ret) < 0 || ret->arch != PUW_ARCH_AARCH64)
		return false;
	build_id_hex(ret, hex, sizeof(hex));
	return !build_id[0] || strcmp(hex, build_id) == 0;
}

static char *resolve(const char *guest, const char *build_id, struct elfcfi_info *ret)
{
	static const char *const multiarch[] = {"/lib/aarch64-linux-gnu/",
						"/usr/lib/aarch64-linux-gnu/"};
	char path[4096];

	if (strcmp(guest, "[vdso]") == 0) {
		if (snprintf(path, sizeof(path), "%s/vdso.so", snap_dir) >= (int)sizeof(path))
			return NULL;
		return candidate_ok(path, build_id, ret) ? strdup(path) : NULL;
	}
	if (guest[0] != '/')
		return NULL;
	if (candidate_ok(guest, build_id, ret))
		return strdup(guest);
	snprintf(path, sizeof(path), "%s%s", sysroot, guest);
	if (candidate_ok(path, build_id, ret))
		return strdup(path);
	for (size_t i = 0; i < sizeof(multiarch) / sizeof(multiarch[0]); i++) {
		size_t n = strlen(multiarch[i]);

		if (strncmp(guest, multiarch[i], n) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/lib/%s", sysroot, guest + n);
		if (candidate_ok(path, build_id, ret))
			return strdup(path);
	}
	return NULL;
}

static struct target_file *target_file_get(const char *guest, const char *build_id)
{
	struct target_file *f;

	/* Every directory of snapshots has its own vdso.so, told apart by the build ID. */
	for (unsigned i = 0; i < n_files; i++)
		if (strcmp(files[i].guest_path, guest) == 0 &&
		    strcmp(files[i].build_id, build_id) == 0)
			return &files[i];
	if (n_files == MAX_FILES_CACHED)
		return NULL;
	f = &files[n_files++];
	f->guest_path = strdup(guest);
	f->build_id = strdup(build_id);
	if (!f->guest_path || !f->build_id) {
		fprintf(stderr, "replay-arm64: out of memory\n");
		exit(99);
	}
	f->host_path = resolve(guest, build_id, &f->info);
	if (!f->host_path) {
		fprintf(stderr,
			"replay-arm64: %s (build ID %s): no arm64 ELF file for it here or "
			"under %s: its frames get no CFI — install the target's libraries "
			"(libc6-dev-arm64-cross) or pass --sysroot\n",
			guest, build_id[0] ? build_id : "none", sysroot);
		f->cfi_err = -ENOENT;
		return f;
	}
	if (mode != PUW_MODE_FP) {
		f->cfi_err = elfcfi_load(f->host_path, NULL, &f->cfi, NULL);
		if (f->cfi_err < 0)
			fprintf(stderr, "replay-arm64: CFI of %s: %s\n", f->host_path,
				strerror(-f->cfi_err));
	}
	if (symcache_get(symcache, f->host_path, &f->sym) < 0)
		f->sym = NULL;
	return f;
}

/* The trampoline page's CFI: one row, the kernel's signal frame layout. */
static const struct puw_cfi *sigtramp_cfi_get(uint64_t addr)
{
	struct puw_cfi_sections s = {
		.arch = PUW_ARCH_AARCH64,
		.sigreturn_addr = addr,
		.sigreturn_size = SIGTRAMP_BYTES,
	};
	int r;

	if (sigtramp_cfi && sigtramp_cfi_addr == addr)
		return sigtramp_cfi;
	puw_cfi_free(sigtramp_cfi);
	sigtramp_cfi = NULL;
	r = puw_cfi_compile(&s, &sigtramp_cfi);
	if (r < 0) {
		fprintf(stderr, "replay-arm64: CFI of the signal trampoline at 0x%" PRIx64 ": %s\n",
			addr, strerror(-r));
		return NULL;
	}
	sigtramp_cfi_addr = addr;
	return sigtramp_cfi;
}

static int find_module(void *ctx_, uint64_t pc, struct puw_module *ret)
{
	const struct replay_ctx *ctx = ctx_;

	for (unsigned i = 0; i < ctx->n_mods; i++) {
		const struct replay_module *m = &ctx->mods[i];

		if (pc >= m->start && pc < m->end) {
			ret->start = m->start;
			ret->end = m->end;
			ret->cfi = m->cfi;
			ret->bias = m->bias;
			return 0;
		}
	}
	return -ENOENT;
}

static int modules_build(const struct snapshot *s, struct replay_module *mods)
{
	for (uint32_t i = 0; i < s->n_modules; i++) {
		const struct snapshot_module *sm = &s->modules[i];
		struct replay_module *m = &mods[i];

		memset(m, 0, sizeof(*m));
		m->start = m->map_start = sm->start;
		m->end = sm->end;
		m->pgoff = sm->pgoff;
		m->name = sm->path[0] ? sm->path : "[anon]";
		if (strcmp(sm->path, SIGTRAMP_PATH) == 0) {
			if (m->start >= SIGTRAMP_LEAD)
				m->start -= SIGTRAMP_LEAD;
			if (mode != PUW_MODE_FP)
				m->cfi = sigtramp_cfi_get(sm->start);
			continue;
		}
		if (sm->path[0] != '/' && strcmp(sm->path, "[vdso]") != 0)
			continue;
		m->file = target_file_get(sm->path, sm->build_id ? sm->build_id : "");
		if (!m->file)
			return -ENOMEM;
		if (m->file->host_path &&
		    elfcfi_bias(&m->file->info, sm->start, sm->pgoff, &m->bias) < 0) {
			fprintf(stderr, "replay-arm64: %s: no PT_LOAD maps offset 0x%" PRIx64 "\n",
				m->file->host_path, sm->pgoff);
			continue;
		}
		m->cfi = m->file->cfi;
	}
	return 0;
}

/* "file:symbol+0xoff" for a PC (a return address is looked up at ra - 1). */
static void describe(const struct replay_ctx *ctx, uint64_t pc, bool is_ra, char *buf, size_t size)
{
	uint64_t at = is_ra && pc ? pc - 1 : pc;

	for (unsigned i = 0; i < ctx->n_mods; i++) {
		const struct replay_module *m = &ctx->mods[i];
		const char *base, *sym = NULL;
		uint64_t off = 0;

		if (at < m->start || at >= m->end)
			continue;
		base = strrchr(m->name, '/');
		base = base ? base + 1 : m->name;
		if (m->file && m->file->sym)
			sym = sym_binary_lookup(m->file->sym, at - m->map_start + m->pgoff, &off);
		if (sym)
			snprintf(buf, size, "0x%" PRIx64 " %s:%s+0x%" PRIx64, pc, base, sym,
				 off + (at != pc));
		else if (pc >= m->map_start)
			snprintf(buf, size, "0x%" PRIx64 " %s+0x%" PRIx64, pc, base,
				 pc - m->map_start + m->pgoff);
		else
			snprintf(buf, size, "0x%" PRIx64 " %s-0x%" PRIx64, pc, base,
				 m->map_start - pc);
		return;
	}
	snprintf(buf, size, "0x%" PRIx64 " ?", pc);
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

static void replay_one(const char *file, unsigned index, struct snapshot *s, struct totals *t)
{
	static struct replay_module mods[SNAPSHOT_MAX_MODULES];
	struct replay_ctx ctx = {.mods = mods, .n_mods = s->n_modules};
	struct puw_request req = {
		.arch = PUW_ARCH_AARCH64,
		.mode = mode,
		.regs = &s->regs,
		.stack = s->stack,
		.stack_start = s->stack_start,
		.stack_size = s->stack_size,
		.find_module = find_module,
		.ctx = &ctx,
		.stats = &t->stats,
	};
	uint64_t pcs[MAX_PCS];
	enum puw_stop stop = PUW_STOP_END;
	unsigned agree = 0, n_exp = s->n_expected;
	int n;

	t->snapshots++;
	if (s->arch != PUW_ARCH_AARCH64) {
		fprintf(stderr, "%s#%u: not an arm64 snapshot (arch %u), skipped\n", file, index,
			(unsigned)s->arch);
		return;
	}
	if (modules_build(s, mods) < 0) {
		fprintf(stderr, "replay-arm64: too many target files\n");
		exit(99);
	}
	n = puw_unwind(&req, pcs, MAX_PCS, &stop);
	if (n < 0) {
		fprintf(stderr, "%s#%u: puw_unwind: %s\n", file, index, strerror(-n));
		n = 0;
	}
	if ((unsigned)stop < _PUW_STOP_MAX)
		t->stops[stop]++;
	if (n_exp == 0)
		return;

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
			describe(&ctx, pcs[i], i > 0, g, sizeof(g));
			printf("    #%-3u   %s\n", i, g);
			continue;
		}
		if (has_e)
			describe(&ctx, s->expected[i], i > 0, e, sizeof(e));
		if (has_g)
			describe(&ctx, pcs[i], i > 0, g, sizeof(g));
		printf("    #%-3u ! expected %s\n", i,
		       has_e ? e : "(nothing: beyond libgcc's chain)");
		printf("    %4s   puw gave %s\n", "", has_g ? g : "(nothing)");
	}
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

/* The directory of the snapshot file path: where its fixture run left vdso.so. */
static void set_snap_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(snap_dir, sizeof(snap_dir), ".");
	else if (slash == path)
		snprintf(snap_dir, sizeof(snap_dir), "/");
	else
		snprintf(snap_dir, sizeof(snap_dir), "%.*s", (int)(slash - path), path);
}

static int replay_file(const char *path, struct totals *sum)
{
	struct totals t = {0};
	struct snapshot s;
	unsigned index = 0;
	FILE *f;
	int r;

	set_snap_dir(path);
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
	symcache = symcache_new(0);
	if (!symcache) {
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

	for (unsigned i = 0; i < n_files; i++) {
		puw_cfi_free(files[i].cfi);
		sym_binary_unref(files[i].sym);
		free(files[i].guest_path);
		free(files[i].build_id);
		free(files[i].host_path);
	}
	puw_cfi_free(sigtramp_cfi);
	symcache_free(symcache);
	return rc;
}
