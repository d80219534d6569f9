/* SPDX-License-Identifier: Apache-2.0 */
/*
 * diff-unwind — the differential suite: replays unwind snapshots with puw and with two
 * independent oracles, libunwind (remote API) and libdw (libdwfl), and compares the call
 * chains PC by PC.
 *
 *   diff-unwind [--mode fp|auto|cfi] [--min-agreement PCT] [--require-full PCT]
 *               [--min-oracle-agreement PCT] [--max-list N] [--report-only]
 *               [--write-disagreeing FILE] [--skip-unresolved] [--sysroot DIR] FILE...
 *
 * What is compared. An oracle's chain is a reference when the oracle completed: it reached
 * the outermost frame ("end") or needed a word past the end of the stack copy
 * ("stack-end"). Against a reference that ended, every position up to the longer chain is
 * compared (frames puw lost or invented count against it); against one that ran off the copy,
 * the positions up to the reference's length. PCs are compared exactly: [0] is the sampled
 * PC, the others are return addresses. When the snapshot carries an expected chain (the
 * self-unwind fixtures), puw and both oracles are compared with it as well. The two oracles
 * are also compared with each other where both complete: that is the harness checking itself.
 *
 * Reported: per file and per binary (the binary holding the reference's PC), frames
 * compared and the agreement; stop reasons of each unwinder; the share of samples that reach
 * the outermost frame (_start or the executable's entry point, __libc_start_main and
 * __libc_start_call_main, clone, clone3, start_thread) among those whose stack the copy
 * covers (excluded: samples where an unwinder ran off the copy and none reached the end);
 * then every sample where puw disagrees, frame by frame with symbols and each unwinder's stop.
 *
 * Architectures. Snapshots of either architecture puw supports replay on any host: arm64
 * ones (tests/arm64/) with their files found through --sysroot, their "[vdso]" as the vdso.so
 * next to the snapshot file (replay.h). libunwind here unwinds x86-64 only (its remote API is
 * built for the host target), so for arm64 only libdw and the expected chains are oracles;
 * the libunwind verdict is "n/a" when no snapshot is x86-64.
 *
 * An oracle's chain that reaches a PC outside every executable mapping ends there with stop
 * "bad-pc" (the impossible PC kept as detail): it did not complete, and is not a reference.
 * puw stops the same way where it finds no module. On arm64 this is libdw 0.188 on a
 * PAC-signed return address, which it returns with the signature bits still set.
 *
 * Exit status: 0; 1 when puw's agreement with an oracle (or the expected chains) is below
 * --min-agreement (99.9 by default) or below the other thresholds given; 2 on usage errors;
 * 77 when --skip-unresolved left nothing to replay; 99 when a file cannot be read (malformed
 * snapshots are reported with their index).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "snapshot.h"

/* Comparisons, each a tally of frames compared and frames equal. */
enum cmp {
	CMP_PUW_UNW,
	CMP_PUW_DW,
	CMP_UNW_DW,
	CMP_PUW_EXP,
	CMP_UNW_EXP,
	CMP_DW_EXP,
	_CMP_MAX,
};

static const char *const cmp_names[_CMP_MAX] = {
	[CMP_PUW_UNW] = "puw vs libunwind",	 [CMP_PUW_DW] = "puw vs libdw",
	[CMP_UNW_DW] = "libunwind vs libdw",	 [CMP_PUW_EXP] = "puw vs expected",
	[CMP_UNW_EXP] = "libunwind vs expected", [CMP_DW_EXP] = "libdw vs expected",
};

struct tally {
	uint64_t compared, agreed;
	uint64_t samples, samples_agreed;
};

struct stats {
	const char *name;
	unsigned samples;
	unsigned complete[_REPLAY_UNWINDER_MAX];
	unsigned stops[_REPLAY_UNWINDER_MAX][_REPLAY_STOP_MAX];
	uint64_t frames[_REPLAY_UNWINDER_MAX];
	unsigned full[_REPLAY_UNWINDER_MAX];
	unsigned covered, beyond_copy;
	struct tally cmp[_CMP_MAX];
	struct puw_stats puw;
};

struct bin_stats {
	char *name;
	struct tally cmp[_CMP_MAX];
};

struct opts {
	enum puw_mode mode;
	const char *mode_name;
	double min_agreement;
	double require_full; /* < 0: off */
	double min_oracle;   /* < 0: off */
	long max_list;	     /* < 0: all */
	bool report_only;
	bool skip_unresolved;	 /* skip snapshots naming a binary this host does not have */
	bool list_incomplete;	 /* list the samples an oracle (that ran) did not complete too */
	FILE *write_disagreeing; /* NULL: off */
};

static struct bin_stats *bins;
static unsigned n_bins, cap_bins;
static unsigned listed, unlisted, disagreeing, cache_mismatches, unresolved, x86_samples;
static struct puw_cache *puw_cache;

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static struct bin_stats *bin_for(const char *name)
{
	for (unsigned i = 0; i < n_bins; i++)
		if (!strcmp(bins[i].name, name))
			return &bins[i];
	if (n_bins == cap_bins) {
		unsigned cap = cap_bins ? cap_bins * 2 : 16;
		struct bin_stats *b = realloc(bins, cap * sizeof(*b));

		if (!b)
			return NULL;
		bins = b;
		cap_bins = cap;
	}
	bins[n_bins] = (struct bin_stats){.name = strdup(name)};
	if (!bins[n_bins].name)
		return NULL;
	return &bins[n_bins++];
}

static const char *binary_of(const struct replay_target *t, uint64_t pc, bool caller)
{
	const struct replay_module *m = replay_target_module(t, caller ? pc - 1 : pc);

	return m ? m->path : "(no module)";
}

/*
 * Compares chain a with reference ref (which completed). Adds to the file's and the binaries'
 * tallies; returns the number of differing positions.
 */
static unsigned compare(const struct replay_target *t, const struct replay_chain *a,
			const struct replay_chain *ref, enum cmp which, struct stats *st)
{
	unsigned n = ref->stop == REPLAY_STOP_END && a->n > ref->n ? a->n : ref->n;
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i++) {
		bool have_a = i < a->n, have_r = i < ref->n;
		bool same = have_a && have_r && a->pcs[i] == ref->pcs[i];
		uint64_t pc = have_r ? ref->pcs[i] : a->pcs[i];
		struct bin_stats *b = bin_for(binary_of(t, pc, i > 0));

		st->cmp[which].compared++;
		st->cmp[which].agreed += same;
		if (b) {
			b->cmp[which].compared++;
			b->cmp[which].agreed += same;
		}
		bad += !same;
	}
	st->cmp[which].samples++;
	st->cmp[which].samples_agreed += bad == 0;
	return bad;
}

/* The snapshot's expected chain as a reference that ended, with return addresses. */
static void expected_chain(const struct snapshot *s, struct replay_chain *ret)
{
	ret->n = s->n_expected < REPLAY_MAX_FRAMES ? s->n_expected : REPLAY_MAX_FRAMES;
	for (unsigned i = 0; i < ret->n; i++)
		ret->pcs[i] =
			s->expected[i] + (i > 0 && !(s->flags & SNAPSHOT_F_EXPECTED_IS_RA) ? 1 : 0);
	ret->stop = REPLAY_STOP_END;
	snprintf(ret->detail, sizeof(ret->detail), "expected");
}

static bool is_outermost_name(const char *n)
{
	static const char *const names[] = {
		"_start",
		"__libc_start_main",
		"__libc_start_call_main",
		"__libc_start_main_impl",
		"clone",
		"__clone",
		"clone3",
		"__clone3",
		"start_thread",
	};

	size_t len;

	if (!n)
		return false;
	/* glibc's internal aliases (__GI___clone3) and versions (@GLIBC_2.34) name the same. */
	if (!strncmp(n, "__GI_", 5))
		n += 5;
	len = strcspn(n, "@");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !strncmp(n, names[i], len))
			return true;
	return false;
}

/*
 * The chain reached a thread's or the program's first frame: its stop is "end" and its last
 * PC is in one of the outermost functions, or — stripped executables have no _start symbol —
 * in the first bytes after the main executable's entry point (_start is a few dozen bytes on
 * every libc), or both oracles ended there too (the CFI marks the return address undefined:
 * DWARF's own definition of the outermost frame; glibc's clone3 and _start do).
 */
static bool chain_full(const struct replay_target *t, const struct replay_chain *c,
		       const struct replay_chain ch[_REPLAY_UNWINDER_MAX])
{
	const struct replay_module *m;
	uint64_t last, pc;
	bool confirmed = true;

	if (c->stop != REPLAY_STOP_END || c->n == 0)
		return false;
	last = c->pcs[c->n - 1];
	pc = last - (c->n > 1);
	if (is_outermost_name(replay_function(t, last, c->n > 1)))
		return true;
	m = replay_target_module(t, pc);
	if (m && m->img && m->img->has_interp && pc - m->bias >= m->img->entry &&
	    pc - m->bias < m->img->entry + 64)
		return true;
	for (int u = REPLAY_LIBUNWIND; u < _REPLAY_UNWINDER_MAX; u++)
		confirmed &= ch[u].stop == REPLAY_STOP_END && ch[u].n == c->n &&
			     ch[u].pcs[c->n - 1] == last;
	return confirmed;
}

/*
 * Cuts an oracle's chain at its first PC outside every executable mapping (a caller's PC is
 * looked up at pc - 1): such a chain did not complete.
 */
static void oracle_cut_bad_pc(const struct replay_target *t, struct replay_chain *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		uint64_t pc = c->pcs[i];

		if (replay_target_module(t, i > 0 ? pc - 1 : pc))
			continue;
		snprintf(c->detail, sizeof(c->detail), "PC 0x%" PRIx64 " in no mapping", pc);
		c->n = i;
		c->stop = REPLAY_STOP_BAD_PC;
		return;
	}
}

static void print_cell(const struct replay_target *t, const struct replay_chain *c, unsigned i,
		       const struct replay_chain *puw, bool is_puw)
{
	char sym[256];

	if (i >= c->n) {
		printf("  %-58s", "-");
		return;
	}
	if (!is_puw && i < puw->n && puw->pcs[i] == c->pcs[i]) {
		printf("  %-58s", "=");
		return;
	}
	replay_symbolize(t, c->pcs[i], i > 0, sym, sizeof(sym));
	printf("  0x%012" PRIx64 " %-43.43s", c->pcs[i], sym);
}

static void list_disagreement(const char *file, unsigned idx, const struct replay_target *t,
			      const struct replay_chain ch[_REPLAY_UNWINDER_MAX],
			      const struct replay_chain *exp)
{
	const struct snapshot *s = t->snap;
	unsigned n = 0;

	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		n = ch[u].n > n ? ch[u].n : n;
	if (exp && exp->n > n)
		n = exp->n;
	printf("\n--- %s #%u  pid %u tid %u  stack 0x%" PRIx64 "+%" PRIu64 "\n", file, idx, s->pid,
	       s->tid, s->stack_start, s->stack_size);
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		printf("    %-9s %3u frames, stop %-9s (%s)\n", replay_unwinder_name(u), ch[u].n,
		       replay_stop_name(ch[u].stop), ch[u].detail);
	if (exp)
		printf("    %-9s %3u frames\n", "expected", exp->n);
	printf("    %5s  %-58s  %-58s  %-58s%s\n", "#", "puw", "libunwind", "libdw",
	       exp ? "  expected" : "");
	for (unsigned i = 0; i < n; i++) {
		bool differs = false;

		for (int u = REPLAY_LIBUNWIND; u < _REPLAY_UNWINDER_MAX; u++)
			if (replay_stop_complete(ch[u].stop) && i < ch[u].n &&
			    (i >= ch[REPLAY_PUW].n || ch[u].pcs[i] != ch[REPLAY_PUW].pcs[i]))
				differs = true;
		if (exp && i < exp->n &&
		    (i >= ch[REPLAY_PUW].n || exp->pcs[i] != ch[REPLAY_PUW].pcs[i]))
			differs = true;
		printf("    %s%3u", differs ? "! " : "  ", i);
		print_cell(t, &ch[REPLAY_PUW], i, &ch[REPLAY_PUW], true);
		print_cell(t, &ch[REPLAY_LIBUNWIND], i, &ch[REPLAY_PUW], false);
		print_cell(t, &ch[REPLAY_LIBDW], i, &ch[REPLAY_PUW], false);
		if (exp)
			print_cell(t, exp, i, &ch[REPLAY_PUW], false);
		printf("\n");
	}
}

/* The oracle completed, or does not apply (libunwind on a snapshot that is not x86-64). */
static bool oracle_done(const struct replay_chain ch[_REPLAY_UNWINDER_MAX], enum replay_unwinder u,
			const struct snapshot *s)
{
	return replay_stop_complete(ch[u].stop) ||
	       (u == REPLAY_LIBUNWIND && s->arch != PUW_ARCH_X86_64);
}

static int replay_one(struct replay_ctx *ctx, const struct opts *o, const char *file, unsigned idx,
		      const struct snapshot *s, struct stats *st)
{
	static struct replay_chain ch[_REPLAY_UNWINDER_MAX], exp, cached;
	struct replay_target t;
	struct replay_unw *unw = NULL;
	struct replay_dw *dw = NULL;
	unsigned bad = 0;
	bool have_exp = s->n_expected > 0, any_end = false, any_off = false;
	int r;

	r = replay_target_init(ctx, s, &t);
	if (r < 0)
		return r;
	if (o->skip_unresolved) {
		for (unsigned i = 0; i < t.n_mods; i++) {
			const struct replay_module *m = &t.mods[i];

			if (!m->img && (m->path[0] == '/' || !strcmp(m->path, "[vdso]"))) {
				unresolved++;
				replay_target_done(&t);
				return 0;
			}
		}
	}

	replay_puw(&t, o->mode, NULL, &ch[REPLAY_PUW], &st->puw);
	/* The row-lookup memo must never change a result: one cache across every snapshot. */
	replay_puw(&t, o->mode, puw_cache, &cached, NULL);
	if (cached.n != ch[REPLAY_PUW].n || cached.stop != ch[REPLAY_PUW].stop ||
	    memcmp(cached.pcs, ch[REPLAY_PUW].pcs, cached.n * sizeof(cached.pcs[0])) != 0) {
		cache_mismatches++;
		printf("\n!!! %s #%u: puw with a lookup cache: %u frames, stop %s; without: %u, "
		       "%s\n",
		       file, idx, cached.n, replay_stop_name(cached.stop), ch[REPLAY_PUW].n,
		       replay_stop_name(ch[REPLAY_PUW].stop));
	}

	/* Fresh oracle state per snapshot: the suite wants isolation, not speed. */
	r = replay_unw_new(false, &unw);
	if (r < 0)
		goto out;
	replay_unw_run(unw, &t, &ch[REPLAY_LIBUNWIND]);

	r = replay_dw_new(&t, &dw);
	if (r == 0) {
		replay_dw_run(dw, &t, &ch[REPLAY_LIBDW]);
	} else {
		ch[REPLAY_LIBDW] = (struct replay_chain){.stop = REPLAY_STOP_ERROR};
		snprintf(ch[REPLAY_LIBDW].detail, sizeof(ch[REPLAY_LIBDW].detail),
			 "no module could be reported to libdwfl: %s", strerror(-r));
	}
	r = 0;
	oracle_cut_bad_pc(&t, &ch[REPLAY_LIBUNWIND]);
	oracle_cut_bad_pc(&t, &ch[REPLAY_LIBDW]);
	x86_samples += s->arch == PUW_ARCH_X86_64;

	st->samples++;
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++) {
		st->stops[u][ch[u].stop]++;
		st->frames[u] += ch[u].n;
		st->complete[u] += replay_stop_complete(ch[u].stop);
		any_end |= ch[u].stop == REPLAY_STOP_END;
		any_off |= ch[u].stop == REPLAY_STOP_STACK_END;
	}
	if (any_end || !any_off) {
		st->covered++;
		for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
			st->full[u] += chain_full(&t, &ch[u], ch);
	} else {
		st->beyond_copy++;
	}

	if (replay_stop_complete(ch[REPLAY_LIBUNWIND].stop))
		bad += compare(&t, &ch[REPLAY_PUW], &ch[REPLAY_LIBUNWIND], CMP_PUW_UNW, st);
	if (replay_stop_complete(ch[REPLAY_LIBDW].stop))
		bad += compare(&t, &ch[REPLAY_PUW], &ch[REPLAY_LIBDW], CMP_PUW_DW, st);
	if (replay_stop_complete(ch[REPLAY_LIBUNWIND].stop) &&
	    replay_stop_complete(ch[REPLAY_LIBDW].stop))
		compare(&t, &ch[REPLAY_LIBUNWIND], &ch[REPLAY_LIBDW], CMP_UNW_DW, st);
	if (have_exp) {
		expected_chain(s, &exp);
		bad += compare(&t, &ch[REPLAY_PUW], &exp, CMP_PUW_EXP, st);
		compare(&t, &ch[REPLAY_LIBUNWIND], &exp, CMP_UNW_EXP, st);
		compare(&t, &ch[REPLAY_LIBDW], &exp, CMP_DW_EXP, st);
	}
	if (bad) {
		disagreeing++;
		if (o->write_disagreeing && snapshot_write(o->write_disagreeing, s) < 0)
			r = -EIO;
	}
	if (bad || (o->list_incomplete &&
		    (!oracle_done(ch, REPLAY_LIBDW, s) || !oracle_done(ch, REPLAY_LIBUNWIND, s)))) {
		if (o->max_list < 0 || listed < (unsigned long)o->max_list) {
			listed++;
			list_disagreement(file, idx, &t, ch, have_exp ? &exp : NULL);
		} else {
			unlisted++;
		}
	}
out:
	replay_dw_free(dw);
	replay_unw_free(unw);
	replay_target_done(&t);
	return r;
}

static void print_tally_row(const char *name, const struct tally *t)
{
	if (!t->compared) {
		printf("    %-24s %10s\n", name, "n/a");
		return;
	}
	printf("    %-24s %10" PRIu64 " %10" PRIu64 " %8.3f %%   samples %" PRIu64 "/%" PRIu64
	       " identical\n",
	       name, t->compared, t->agreed, pct(t->agreed, t->compared), t->samples_agreed,
	       t->samples);
}

static void print_stats(const struct stats *st)
{
	printf("\n== %s: %u samples\n", st->name, st->samples);
	printf("    %-24s %10s %10s %10s\n", "", "frames", "agree", "%");
	for (int c = 0; c < _CMP_MAX; c++)
		if (st->cmp[c].samples || c <= CMP_UNW_DW)
			print_tally_row(cmp_names[c], &st->cmp[c]);
	printf("    %-24s", "stop reasons");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		printf(" %12s", replay_unwinder_name(u));
	printf("\n");
	for (int r = 0; r < _REPLAY_STOP_MAX; r++) {
		bool any = false;

		for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
			any |= st->stops[u][r] != 0;
		if (!any)
			continue;
		printf("      %-22s", replay_stop_name(r));
		for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
			printf(" %12u", st->stops[u][r]);
		printf("\n");
	}
	printf("      %-22s", "frames/sample");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		printf(" %12.1f", st->samples ? (double)st->frames[u] / st->samples : 0.0);
	printf("\n      %-22s", "complete (end|stack-end)");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		printf(" %12u", st->complete[u]);
	printf("\n    puw steps: %" PRIu64 " CFI, %" PRIu64 " frame pointer (%" PRIu64
	       " as AUTO's fallback), %" PRIu64 " signal frames\n",
	       st->puw.steps_cfi, st->puw.steps_fp, st->puw.steps_fp_fallback,
	       st->puw.steps_signal);
	printf("    outermost frame reached, of %u samples the copy covers (%u ran off the "
	       "copy):\n",
	       st->covered, st->beyond_copy);
	printf("      %-22s", "full");
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++)
		printf(" %10.2f %%", pct(st->full[u], st->covered));
	printf("\n");
}

static void add_stats(struct stats *sum, const struct stats *st)
{
	sum->samples += st->samples;
	sum->puw.steps_cfi += st->puw.steps_cfi;
	sum->puw.steps_fp += st->puw.steps_fp;
	sum->puw.steps_fp_fallback += st->puw.steps_fp_fallback;
	sum->puw.steps_signal += st->puw.steps_signal;
	sum->covered += st->covered;
	sum->beyond_copy += st->beyond_copy;
	for (int u = 0; u < _REPLAY_UNWINDER_MAX; u++) {
		sum->complete[u] += st->complete[u];
		sum->frames[u] += st->frames[u];
		sum->full[u] += st->full[u];
		for (int r = 0; r < _REPLAY_STOP_MAX; r++)
			sum->stops[u][r] += st->stops[u][r];
	}
	for (int c = 0; c < _CMP_MAX; c++) {
		sum->cmp[c].compared += st->cmp[c].compared;
		sum->cmp[c].agreed += st->cmp[c].agreed;
		sum->cmp[c].samples += st->cmp[c].samples;
		sum->cmp[c].samples_agreed += st->cmp[c].samples_agreed;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: diff-unwind [OPTIONS] SNAPSHOT-FILE...\n"
		"  --mode fp|auto|cfi          puw's mode (default: auto when CFI is built in, "
		"else fp)\n"
		"  --min-agreement PCT         fail below this puw/oracle agreement (default "
		"99.9)\n"
		"  --require-full PCT          fail when fewer of puw's samples reach the "
		"outermost\n"
		"                              frame (of those the stack copy covers)\n"
		"  --min-oracle-agreement PCT  fail when libunwind and libdw agree less than this\n"
		"  --max-list N                list at most N samples (default: all)\n"
		"  --report-only               report, never fail on a threshold\n"
		"  --write-disagreeing FILE    write the snapshots where puw disagrees to FILE\n"
		"  --skip-unresolved           skip snapshots that name a binary missing here or "
		"with\n"
		"                              another build-id (a corpus from other hosts)\n"
		"  --sysroot DIR               look for the snapshots' files under DIR "
		"too\n"
		"                              (arm64 snapshots)\n"
		"  --list-incomplete           list the samples an oracle did not complete too\n");
}

static int parse_pct(const char *s, double *ret)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < 0 || v > 100)
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"min-agreement", required_argument, NULL, 'a'},
		{"require-full", required_argument, NULL, 'f'},
		{"min-oracle-agreement", required_argument, NULL, 'o'},
		{"max-list", required_argument, NULL, 'l'},
		{"report-only", no_argument, NULL, 'r'},
		{"write-disagreeing", required_argument, NULL, 'w'},
		{"skip-unresolved", no_argument, NULL, 's'},
		{"sysroot", required_argument, NULL, 'R'},
		{"list-incomplete", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct opts o = {
		.mode = PUW_MODE_AUTO,
		.mode_name = "auto",
		.min_agreement = 99.9,
		.require_full = -1,
		.min_oracle = -1,
		.max_list = -1,
	};
	struct replay_ctx *ctx = NULL;
	struct stats total = {.name = "all files"};
	struct stats *files;
	struct replay_ctx_stats cs;
	bool failed = false, want_cfi = true;
	const char *sysroot = NULL;
	int c, r, rc = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "fp")) {
				o.mode = PUW_MODE_FP;
				want_cfi = false;
			} else if (!strcmp(optarg, "auto")) {
				o.mode = PUW_MODE_AUTO;
				want_cfi = true;
			} else if (!strcmp(optarg, "cfi")) {
				o.mode = PUW_MODE_CFI;
				want_cfi = true;
			} else {
				fprintf(stderr,
					"diff-unwind: --mode %s: expected fp, auto or cfi\n",
					optarg);
				return 2;
			}
			o.mode_name = optarg;
			break;
		case 'a':
		case 'f':
		case 'o': {
			double v;

			if (parse_pct(optarg, &v) < 0) {
				fprintf(stderr, "diff-unwind: %s: expected a percentage\n", optarg);
				return 2;
			}
			*(c == 'a'   ? &o.min_agreement
			  : c == 'f' ? &o.require_full
				     : &o.min_oracle) = v;
			break;
		}
		case 'l':
			o.max_list = strtol(optarg, NULL, 10);
			break;
		case 'r':
			o.report_only = true;
			break;
		case 's':
			o.skip_unresolved = true;
			break;
		case 'R':
			sysroot = optarg;
			break;
		case 'i':
			o.list_incomplete = true;
			break;
		case 'w':
			o.write_disagreeing = fopen(optarg, "we");
			if (!o.write_disagreeing) {
				fprintf(stderr, "diff-unwind: create %s: %s\n", optarg,
					strerror(errno));
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}

	puw_cache = puw_cache_new();
	r = puw_cache ? replay_ctx_new(want_cfi, &ctx) : -ENOMEM;
	if (r == 0 && sysroot)
		r = replay_ctx_set_sysroot(ctx, sysroot);
	if (r < 0) {
		fprintf(stderr, "diff-unwind: %s\n", strerror(-r));
		return 99;
	}
	files = calloc((size_t)(argc - optind), sizeof(*files));
	if (!files)
		return 99;

	printf("diff-unwind: puw mode %s%s; oracles libunwind %d.%d.%d (remote, .eh_frame_hdr), "
	       "libdw %s (libdwfl)\n",
	       o.mode_name, replay_ctx_has_cfi(ctx) ? " (compiled CFI)" : " (frame pointers)",
	       UNW_VERSION_MAJOR, UNW_VERSION_MINOR, UNW_VERSION_EXTRA, replay_libdw_version());

	for (int i = optind; i < argc; i++) {
		struct stats *st = &files[i - optind];
		FILE *f = fopen(argv[i], "re");
		unsigned idx = 0;

		st->name = argv[i];
		if (replay_ctx_set_snapshot_file(ctx, argv[i]) < 0) {
			if (f)
				fclose(f);
			fprintf(stderr, "diff-unwind: out of memory\n");
			return 99;
		}
		if (!f) {
			fprintf(stderr, "diff-unwind: open %s: %s\n", argv[i], strerror(errno));
			rc = 99;
			continue;
		}
		for (;;) {
			struct snapshot s;

			r = snapshot_read(f, &s);
			if (r == 0)
				break;
			if (r < 0) {
				fprintf(stderr, "diff-unwind: %s: snapshot #%u: %s\n", argv[i], idx,
					r == -EBADMSG ? "malformed" : strerror(-r));
				rc = 99;
				break;
			}
			r = replay_one(ctx, &o, argv[i], idx, &s, st);
			snapshot_done(&s);
			if (r < 0) {
				fprintf(stderr, "diff-unwind: %s: snapshot #%u: replay: %s\n",
					argv[i], idx, strerror(-r));
				rc = 99;
				break;
			}
			idx++;
		}
		fclose(f);
		add_stats(&total, st);
	}

	if (unresolved)
		printf("\n(%u snapshots skipped: they name binaries this host does not have)\n",
		       unresolved);
	if (unlisted)
		printf("\n(%u more samples not listed: --max-list)\n", unlisted);

	replay_ctx_get_stats(ctx, &cs);
	printf("\n== binaries: %u loaded, %u missing, %u build-id mismatches, %u without CFI, %u "
	       "with "
	       "a separate debug file; %u mapping biases where elfcfi and the harness disagree\n",
	       cs.binaries, cs.missing, cs.build_id_mismatch, cs.cfi_failed, cs.with_debug_file,
	       cs.bias_mismatch);
	for (unsigned i = 0;; i++) {
		struct replay_binary_info bi;

		if (replay_ctx_binary(ctx, i, &bi) < 0)
			break;
		printf("    %-52.52s %-12.12s ", bi.path, bi.build_id[0] ? bi.build_id : "(no id)");
		if (bi.problem)
			printf("%s\n", bi.problem);
		else if (!replay_ctx_has_cfi(ctx))
			printf("%s\n",
			       bi.img->eh_frame_hdr_size ? ".eh_frame_hdr" : "no .eh_frame_hdr");
		else if (!bi.cfi)
			printf("no CFI: %s\n", strerror(-bi.cfi_error));
		else
			printf("CFI %zu rows, %zu bytes%s%s\n", bi.cfi_rows, bi.cfi_bytes,
			       bi.debug_file ? ", +.debug_frame of " : "",
			       bi.debug_file ? bi.debug_file : "");
	}
	printf("\n== per binary (the binary holding the reference frame)\n");
	printf("    %-40s %22s %22s %22s\n", "", "puw vs libunwind", "puw vs libdw",
	       "libunwind vs libdw");
	for (unsigned i = 0; i < n_bins; i++) {
		size_t len = strlen(bins[i].name);
		char name[64];

		/* The end of a long path is the part that tells binaries apart. */
		snprintf(name, sizeof(name), "%s%s", len > 40 ? "..." : "",
			 len > 40 ? bins[i].name + len - 37 : bins[i].name);
		printf("    %-40s", name);
		for (int c2 = CMP_PUW_UNW; c2 <= CMP_UNW_DW; c2++) {
			const struct tally *t = &bins[i].cmp[c2];

			if (t->compared)
				printf("  %8" PRIu64 " %8.3f %%", t->compared,
				       pct(t->agreed, t->compared));
			else
				printf("  %8s %10s", "-", "");
		}
		printf("\n");
	}

	for (int i = 0; i < argc - optind; i++)
		print_stats(&files[i]);
	if (argc - optind > 1)
		print_stats(&total);

	/* Verdict. */
	printf("\n== verdict (puw mode %s)\n", o.mode_name);
	for (int c2 = CMP_PUW_UNW; c2 <= CMP_PUW_EXP; c2++) {
		const struct tally *t = &total.cmp[c2];
		double min = c2 == CMP_UNW_DW ? o.min_oracle : o.min_agreement;
		bool ok;

		if (min < 0 || (c2 == CMP_PUW_EXP && !t->samples))
			continue;
		if (c2 == CMP_PUW_UNW && !x86_samples) {
			printf("    %-24s n/a: libunwind unwinds x86-64 here, no snapshot is\n",
			       cmp_names[c2]);
			continue;
		}
		ok = t->compared && pct(t->agreed, t->compared) >= min;
		printf("    %-24s %8.3f %% of %" PRIu64 " frames (>= %.3f %%): %s\n", cmp_names[c2],
		       pct(t->agreed, t->compared), t->compared, min,
		       ok	     ? "ok"
		       : t->compared ? "FAIL"
				     : "FAIL (nothing compared)");
		failed |= !ok;
	}
	if (o.require_full >= 0) {
		bool ok = total.covered &&
			  pct(total.full[REPLAY_PUW], total.covered) >= o.require_full;

		printf("    %-24s %8.3f %% of %u samples (>= %.3f %%): %s\n", "puw full stacks",
		       pct(total.full[REPLAY_PUW], total.covered), total.covered, o.require_full,
		       ok ? "ok" : "FAIL");
		failed |= !ok;
	}
	printf("    %-24s %u samples differ with the lookup cache: %s\n", "puw cache",
	       cache_mismatches, cache_mismatches ? "FAIL" : "ok");
	failed |= cache_mismatches != 0;
	if (failed && o.report_only)
		printf("    (--report-only: not failing)\n");

	for (unsigned i = 0; i < n_bins; i++)
		free(bins[i].name);
	free(bins);
	free(files);
	replay_ctx_free(ctx);
	puw_cache_free(puw_cache);
	if (o.write_disagreeing && fclose(o.write_disagreeing) != 0)
		rc = 99;
	if (rc)
		return rc;
	if (o.skip_unresolved && unresolved && !total.samples)
		return 77;
	return failed && !o.report_only ? 1 : 0;
}
