/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay of unwind snapshots with puw, libunwind (remote API) and libdwfl (see replay.h).
 *
 * libunwind: an address space with our accessors; find_proc_info builds the
 * UNW_INFO_FORMAT_REMOTE_TABLE description of the module's .eh_frame_hdr binary-search table
 * (at its runtime address, read back through access_mem from the file) and lets libunwind's
 * dwarf_search_unwind_table() find and parse the FDE — what perf does. Binaries without
 * .eh_frame_hdr get no unwind info from libunwind (its .debug_frame path opens files itself).
 *
 * libdwfl: modules reported with dwfl_report_elf() at the snapshot's load bias, thread state
 * from Dwfl_Thread_Callbacks over the snapshot (one thread, the sampled one), frames from
 * dwfl_getthread_frames(). libdwfl finds .debug_frame in separate debug files through the
 * standard debuginfo search (never debuginfod: DEBUGINFOD_URLS is cleared). It unwinds arm64
 * snapshots on an x86-64 host as well: the machine comes from each reported ELF file
 * (its aarch64 backend is built into libdw), the registers are the DWARF ones.
 *
 * arm64 snapshots from the fixtures (tests/arm64/capture.h) name their files as the target
 * saw them: under qemu-user -L SYSROOT host paths already, from an arm64 machine target paths
 * that replay_ctx_set_sysroot() maps into the sysroot; their "[vdso]" is the vdso.so the
 * fixture dumped next to its snapshots (replay_ctx_set_snapshot_file()), not this host's; and
 * "[sigtramp]" is qemu-user's signal trampoline (see SIGTRAMP_PATH below).
 */
#include "config.h"

#include <endian.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <libunwind.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "elfcfi.h"
#include "replay.h"
#include "symbolize.h"

/* Exported by libunwind (perf declares it the same way); not in its public headers. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);
#define dwarf_search_unwind_table UNW_OBJ(dwarf_search_unwind_table)

#define REPLAY_MAX_BINARIES 4096

/*
 * qemu-user before 8.1 returns from a guest signal handler through "movz x8, #139; svc #0"
 * (rt_sigreturn) written at the start of an anonymous page of its own; Linux has
 * __kernel_rt_sigreturn in the [vdso] instead, whose CFI puw reads from the vDSO image. The
 * fixture names that page "[sigtramp]" after checking the two instructions (capture.c). It
 * has no file, so its CFI is compiled from the trampoline alone (puw_cfi_sections.sigreturn_*:
 * the kernel's rt_sigframe layout, which qemu reproduces), and the module starts 4 bytes
 * early, where the vDSO has a nop before __kernel_rt_sigreturn: puw looks a return address
 * up at ra - 1, which for qemu's trampoline is the page before. This stays in the replay:
 * the daemon never meets the trampoline of an emulated guest (perf samples a qemu-user
 * process's host registers and stack, not the guest's), and on a real arm64 kernel the
 * trampoline is the vDSO's, which elfcfi loads like any other binary.
 */
#define SIGTRAMP_PATH "[sigtramp]"
#define SIGTRAMP_LEAD 4
#define SIGTRAMP_BYTES 8
#define SIGTRAMP_MAX 64

/* DWARF number of the PC column (puw's numbering: x86-64 16, arm64 32). */
static unsigned dwarf_pc(enum puw_arch a)
{
	return a == PUW_ARCH_AARCH64 ? 32 : 16;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *replay_unwinder_name(enum replay_unwinder u)
{
	static const char *const names[_REPLAY_UNWINDER_MAX] = {
		[REPLAY_PUW] = "puw",
		[REPLAY_LIBUNWIND] = "libunwind",
		[REPLAY_LIBDW] = "libdw",
	};

	return (unsigned)u < _REPLAY_UNWINDER_MAX ? names[u] : "?";
}

const char *replay_stop_name(enum replay_stop s)
{
	static const char *const names[_REPLAY_STOP_MAX] = {
		[REPLAY_STOP_END] = "end",	     [REPLAY_STOP_STACK_END] = "stack-end",
		[REPLAY_STOP_BAD_READ] = "bad-read", [REPLAY_STOP_NO_INFO] = "no-info",
		[REPLAY_STOP_BAD_PC] = "bad-pc",     [REPLAY_STOP_BAD_FRAME] = "bad-frame",
		[REPLAY_STOP_NO_REGS] = "no-regs",   [REPLAY_STOP_MAX_DEPTH] = "max-depth",
		[REPLAY_STOP_ERROR] = "error",
	};

	return (unsigned)s < _REPLAY_STOP_MAX ? names[s] : "?";
}

/* ---- binaries ------------------------------------------------------------------------ */

struct binary {
	char *path;	/* as the snapshots name it */
	char *build_id; /* as the first snapshot naming it recorded it */
	struct elf_image *img;
	const char *problem;
	struct puw_cfi *cfi;
	int cfi_error;
	struct elfcfi_info info; /* valid with cfi */
	char *debug_file;
	size_t cfi_bytes, cfi_rows;
	uint64_t cfi_load_ns;
};

/* A trampoline page's CFI, by the trampoline's address. */
struct sigtramp {
	uint64_t addr;
	struct puw_cfi *cfi;
};

struct replay_ctx {
	bool want_cfi;
	struct symcache *syms;
	struct binary *bins;
	unsigned n_bins;
	struct replay_ctx_stats stats;
	char *sysroot;	    /* NULL: paths are host paths */
	char *snapshot_dir; /* NULL: "[vdso]" is this host's */
	struct sigtramp sigtramps[SIGTRAMP_MAX];
	unsigned n_sigtramps;
};

int replay_ctx_new(bool want_cfi, struct replay_ctx **ret)
{
	struct replay_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->want_cfi = want_cfi;
	c->syms = symcache_new(0);
	c->bins = calloc(REPLAY_MAX_BINARIES, sizeof(*c->bins));
	if (!c->syms || !c->bins) {
		replay_ctx_free(c);
		return -ENOMEM;
	}
	/* The oracles must not reach out to the network for debug information. */
	unsetenv("DEBUGINFOD_URLS");
	*ret = c;
	return 0;
}

void replay_ctx_free(struct replay_ctx *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n_bins; i++) {
		puw_cfi_free(c->bins[i].cfi);
		free(c->bins[i].debug_file);
		elf_image_free(c->bins[i].img);
		free(c->bins[i].path);
		free(c->bins[i].build_id);
	}
	free(c->bins);
	for (unsigned i = 0; i < c->n_sigtramps; i++)
		puw_cfi_free(c->sigtramps[i].cfi);
	free(c->sysroot);
	free(c->snapshot_dir);
	symcache_free(c->syms);
	free(c);
}

static int set_path(char **field, const char *value)
{
	char *v = NULL;

	if (value && !(v = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

int replay_ctx_set_sysroot(struct replay_ctx *c, const char *dir)
{
	return set_path(&c->sysroot, dir);
}

int replay_ctx_set_snapshot_file(struct replay_ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return set_path(&c->snapshot_dir, dir);
}

void replay_ctx_get_stats(const struct replay_ctx *c, struct replay_ctx_stats *ret)
{
	*ret = c->stats;
}

bool replay_ctx_has_cfi(const struct replay_ctx *c)
{
	return c->want_cfi;
}

int replay_ctx_binary(const struct replay_ctx *c, unsigned i, struct replay_binary_info *ret)
{
	const struct binary *b;

	if (i >= c->n_bins)
		return -ENOENT;
	b = &c->bins[i];
	*ret = (struct replay_binary_info){
		.path = b->path,
		.build_id = b->build_id,
		.img = b->img,
		.problem = b->problem,
		.cfi = b->cfi,
		.cfi_error = b->cfi_error,
		.debug_file = b->debug_file,
		.cfi_bytes = b->cfi_bytes,
		.cfi_rows = b->cfi_rows,
		.cfi_load_ns = b->cfi_load_ns,
	};
	return 0;
}

/*
 * A separate debug file, looked for as the daemon's CFI store does: by build-id under
 * /usr/lib/debug/.build-id, then where GDB looks for the .gnu_debuglink name.
 */
static bool find_debug_file(const struct elfcfi_info *info, const char *path, char *buf,
			    size_t size)
{
	if (elfcfi_build_id_path(info, "", buf, size) == 0 && access(buf, R_OK) == 0)
		return true;
	for (unsigned i = 0; i < 3; i++)
		if (elfcfi_debuglink_path(info, path, i, buf, size) == 0 && access(buf, R_OK) == 0)
			return true;
	return false;
}

/* elfcfi_load() of b, timed; *ret_dbg the debug file used (a buffer of PATH_MAX). */
static int binary_load_cfi(const struct binary *b, struct puw_cfi **ret_cfi,
			   struct elfcfi_info *ret_info, char *dbg, uint64_t *ret_ns)
{
	struct elfcfi_info info;
	bool have_dbg = false;
	uint64_t t0 = now_ns();
	int r;

	/* The vDSO is our own image (same kernel: the build-id was checked). */
	r = elfcfi_read_info(b->img->path, &info);
	if (r < 0)
		return r;
	if (strcmp(b->path, "[vdso]") != 0)
		have_dbg = find_debug_file(&info, b->path, dbg, PATH_MAX);
	if (!have_dbg)
		dbg[0] = '\0';
	r = elfcfi_load(b->img->path, have_dbg ? dbg : NULL, ret_cfi, ret_info);
	*ret_ns = now_ns() - t0;
	return r;
}

static void binary_compile_cfi(struct replay_ctx *c, struct binary *b)
{
	struct puw_cfi_stats st;
	char dbg[PATH_MAX];
	int r;

	r = binary_load_cfi(b, &b->cfi, &b->info, dbg, &b->cfi_load_ns);
	if (r < 0) {
		b->cfi = NULL;
		b->cfi_error = r;
		c->stats.cfi_failed++;
		return;
	}
	if (dbg[0]) {
		b->debug_file = strdup(dbg);
		c->stats.with_debug_file++;
	}
	puw_cfi_get_stats(b->cfi, &st);
	b->cfi_bytes = st.bytes;
	b->cfi_rows = st.rows;
}

static int u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

int64_t replay_ctx_time_cfi_load(const struct replay_ctx *c, unsigned i, unsigned iterations)
{
	const struct binary *b;
	uint64_t *ns;
	int64_t median;
	char dbg[PATH_MAX];

	if (i >= c->n_bins || !c->bins[i].cfi || iterations == 0)
		return -ENOENT;
	b = &c->bins[i];
	ns = calloc(iterations, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (unsigned k = 0; k < iterations; k++) {
		struct puw_cfi *cfi = NULL;
		struct elfcfi_info info;
		int r = binary_load_cfi(b, &cfi, &info, dbg, &ns[k]);

		puw_cfi_free(cfi);
		if (r < 0) {
			free(ns);
			return r;
		}
	}
	qsort(ns, iterations, sizeof(*ns), u64_cmp);
	median = (int64_t)ns[iterations / 2];
	free(ns);
	return median;
}

/*
 * The file for a snapshot's path: the path itself, else with a sysroot the path under it,
 * then /lib/<multiarch>/ and /usr/lib/<multiarch>/ as SYSROOT/lib/ (Debian's cross packages
 * keep the target's libraries there). The first whose build-id is the recorded one (any when
 * none was recorded); the path itself when none is.
 */
static int open_file(struct replay_ctx *c, const char *path, const char *build_id,
		     struct elf_image **ret)
{
	static const char *const multiarch[] = {"/lib/aarch64-linux-gnu/",
						"/usr/lib/aarch64-linux-gnu/"};
	char alt[PATH_MAX];
	int r = elf_image_open(c->syms, path, ret);

	if (!c->sysroot || (r == 0 && (!build_id[0] || !strcmp((*ret)->build_id, build_id))))
		return r;
	for (int i = -1; i < (int)(sizeof(multiarch) / sizeof(multiarch[0])); i++) {
		struct elf_image *img;
		size_t n = i < 0 ? 0 : strlen(multiarch[i]);

		if (i < 0)
			snprintf(alt, sizeof(alt), "%s%s", c->sysroot, path);
		else if (!strncmp(path, multiarch[i], n))
			snprintf(alt, sizeof(alt), "%s/lib/%s", c->sysroot, path + n);
		else
			continue;
		if (elf_image_open(c->syms, alt, &img) < 0)
			continue;
		if (!build_id[0] || !strcmp(img->build_id, build_id)) {
			if (r == 0)
				elf_image_free(*ret);
			*ret = img;
			return 0;
		}
		elf_image_free(img);
	}
	return r;
}

/* A snapshot directory's vdso.so when it holds one, else this process's vDSO. */
static int open_vdso(struct replay_ctx *c, const char *build_id, struct elf_image **ret)
{
	char path[PATH_MAX];

	if (c->snapshot_dir &&
	    snprintf(path, sizeof(path), "%s/vdso.so", c->snapshot_dir) < (int)sizeof(path) &&
	    access(path, R_OK) == 0 && elf_image_open(c->syms, path, ret) == 0) {
		if (!build_id[0] || !strcmp((*ret)->build_id, build_id))
			return 0;
		elf_image_free(*ret);
	}
	return elf_image_vdso(c->syms, ret);
}

/* The CFI of qemu's trampoline at addr (SIGTRAMP_PATH), compiled once; NULL on failure. */
static const struct puw_cfi *sigtramp_cfi(struct replay_ctx *c, uint64_t addr)
{
	struct puw_cfi_sections sec = {
		.arch = PUW_ARCH_AARCH64,
		.sigreturn_addr = addr,
		.sigreturn_size = SIGTRAMP_BYTES,
	};
	struct sigtramp *t;

	for (unsigned i = 0; i < c->n_sigtramps; i++)
		if (c->sigtramps[i].addr == addr)
			return c->sigtramps[i].cfi;
	if (c->n_sigtramps == SIGTRAMP_MAX)
		return NULL;
	t = &c->sigtramps[c->n_sigtramps];
	if (puw_cfi_compile(&sec, &t->cfi) < 0)
		return NULL;
	t->addr = addr;
	c->n_sigtramps++;
	return t->cfi;
}

static struct binary *binary_get(struct replay_ctx *c, const char *path, const char *build_id)
{
	struct binary *b;
	int r;

	for (unsigned i = 0; i < c->n_bins; i++) {
		b = &c->bins[i];
		if (!strcmp(b->path, path) &&
		    (!build_id[0] || !b->build_id[0] || !strcmp(b->build_id, build_id)))
			return b;
	}
	if (c->n_bins == REPLAY_MAX_BINARIES)
		return NULL;
	b = &c->bins[c->n_bins];
	b->path = strdup(path);
	b->build_id = strdup(build_id);
	if (!b->path || !b->build_id) {
		free(b->path);
		free(b->build_id);
		return NULL;
	}
	c->n_bins++;

	if (!strcmp(path, "[vdso]"))
		r = open_vdso(c, build_id, &b->img);
	else if (path[0] == '/')
		r = open_file(c, path, build_id, &b->img);
	else
		r = -ENOENT; /* [anon], memfd:..., JIT code: no file */
	if (r < 0) {
		b->img = NULL;
		/* [vsyscall], [anon:...], memfd:, JIT dumps: never had a file to read. */
		b->problem = path[0] == '/' || !strcmp(path, "[vdso]") ? "missing" : "no file";
		c->stats.missing += path[0] == '/' || !strcmp(path, "[vdso]");
		return b;
	}
	if (build_id[0] && b->img->build_id[0] && strcmp(build_id, b->img->build_id) != 0) {
		elf_image_free(b->img);
		b->img = NULL;
		b->problem = "build-id mismatch";
		c->stats.build_id_mismatch++;
		return b;
	}
	c->stats.binaries++;
	if (c->want_cfi)
		binary_compile_cfi(c, b);
	return b;
}

/* ---- targets ------------------------------------------------------------------------- */

static int mod_cmp(const void *pa, const void *pb)
{
	const struct replay_module *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

static int range_cmp(const void *pa, const void *pb)
{
	const struct replay_range *a = pa, *b = pb;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

int replay_target_init(struct replay_ctx *c, const struct snapshot *s, struct replay_target *t)
{
	unsigned n_ranges = 0, cap_ranges = 0;
	uint64_t h = 0xcbf29ce484222325ULL;

	memset(t, 0, sizeof(*t));
	t->snap = s;
	t->stack_end = s->stack_start + s->stack_size;
	t->mods = calloc(s->n_modules ? s->n_modules : 1, sizeof(*t->mods));
	if (!t->mods)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n_modules; i++) {
		const struct snapshot_module *sm = &s->modules[i];
		struct replay_module *m = &t->mods[t->n_mods++];
		struct binary *b =
			binary_get(c, sm->path ? sm->path : "", sm->build_id ? sm->build_id : "");

		*m = (struct replay_module){
			.start = sm->start,
			.map_start = sm->start,
			.end = sm->end,
			.pgoff = sm->pgoff,
			.path = sm->path ? sm->path : "",
		};
		if (s->arch == PUW_ARCH_AARCH64 && !strcmp(m->path, SIGTRAMP_PATH)) {
			if (m->start >= SIGTRAMP_LEAD)
				m->start -= SIGTRAMP_LEAD;
			if (c->want_cfi)
				m->cfi = sigtramp_cfi(c, sm->start);
		}
		if (b && b->img && elf_image_bias(b->img, sm->start, sm->pgoff, &m->bias) == 0) {
			m->img = b->img;
			cap_ranges += (unsigned)b->img->n_loads;
			if (b->cfi) {
				uint64_t bias;

				/* puw gets the daemon's bias; a disagreement is a finding. */
				if (elfcfi_bias(&b->info, sm->start, sm->pgoff, &bias) == 0) {
					c->stats.bias_mismatch += bias != m->bias;
					m->bias = bias;
					m->cfi = b->cfi;
				} else {
					c->stats.bias_mismatch++;
				}
			}
		}
		h = (h ^ sm->start) * 0x100000001b3ULL;
		h = (h ^ sm->end) * 0x100000001b3ULL;
		h = (h ^ (uint64_t)(uintptr_t)m->img) * 0x100000001b3ULL;
	}
	qsort(t->mods, t->n_mods, sizeof(*t->mods), mod_cmp);
	t->modules_hash = h;

	t->ranges = calloc(cap_ranges ? cap_ranges : 1, sizeof(*t->ranges));
	if (!t->ranges) {
		replay_target_done(t);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->n_mods; i++) {
		const struct replay_module *m = &t->mods[i];
		bool dup = false;

		if (!m->img)
			continue;
		/* A file mapped at one bias by several executable mappings: its segments once. */
		for (unsigned j = 0; j < i && !dup; j++)
			dup = t->mods[j].img == m->img && t->mods[j].bias == m->bias;
		if (dup)
			continue;
		for (size_t k = 0; k < m->img->n_loads; k++) {
			const struct elf_image_load *l = &m->img->loads[k];

			if (!l->filesz)
				continue;
			t->ranges[n_ranges++] = (struct replay_range){
				.lo = l->vaddr + m->bias,
				.hi = l->vaddr + m->bias + l->filesz,
				.bytes = m->img->data + l->offset,
			};
		}
	}
	t->n_ranges = n_ranges;
	qsort(t->ranges, t->n_ranges, sizeof(*t->ranges), range_cmp);
	return 0;
}

void replay_target_done(struct replay_target *t)
{
	free(t->mods);
	free(t->ranges);
	memset(t, 0, sizeof(*t));
}

const struct replay_module *replay_target_module(const struct replay_target *t, uint64_t pc)
{
	unsigned lo = 0, hi = t->n_mods;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->mods[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || pc >= t->mods[lo - 1].end)
		return NULL;
	return &t->mods[lo - 1];
}

bool replay_target_read(struct replay_target *t, uint64_t addr, uint64_t *ret)
{
	const struct snapshot *s = t->snap;
	unsigned lo = 0, hi = t->n_ranges;
	uint64_t v;

	if (addr >= s->stack_start && s->stack_size >= 8 &&
	    addr - s->stack_start <= s->stack_size - 8) {
		memcpy(&v, s->stack + (addr - s->stack_start), 8);
		*ret = le64toh(v);
		return true;
	}
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->ranges[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && addr < t->ranges[lo - 1].hi && t->ranges[lo - 1].hi - addr >= 8) {
		memcpy(&v, t->ranges[lo - 1].bytes + (addr - t->ranges[lo - 1].lo), 8);
		*ret = le64toh(v);
		return true;
	}
	t->faulted = true;
	t->fault_addr = addr;
	return false;
}

enum replay_stop replay_target_fault_stop(const struct replay_target *t, uint64_t addr)
{
	/* A word that starts in the copy and ends past it counts as past the end too. */
	if (addr + 8 > t->stack_end && addr + 8 > addr &&
	    addr < t->stack_end + REPLAY_STACK_SLACK_BYTES && addr + 8 > t->snap->stack_start)
		return REPLAY_STOP_STACK_END;
	return REPLAY_STOP_BAD_READ;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s && s[1] ? s + 1 : p;
}

const char *replay_function(const struct replay_target *t, uint64_t pc, bool caller)
{
	uint64_t at = caller ? pc - 1 : pc, off;
	const struct replay_module *m = replay_target_module(t, at);

	if (!m || !m->img)
		return NULL;
	return elf_image_symbol(m->img, at - m->bias, &off);
}

const char *replay_symbolize(const struct replay_target *t, uint64_t pc, bool caller, char *buf,
			     size_t size)
{
	uint64_t at = caller ? pc - 1 : pc, off = 0;
	const struct replay_module *m = replay_target_module(t, at);
	const char *name = NULL;

	if (!m) {
		snprintf(buf, size, "?");
		return buf;
	}
	if (m->img)
		name = elf_image_symbol(m->img, at - m->bias, &off);
	if (name)
		snprintf(buf, size, "%s+0x%" PRIx64 " (%s)", name, off + (caller ? 1 : 0),
			 base_name(m->path));
	else
		snprintf(buf, size, "%s+0x%" PRIx64, base_name(m->path),
			 pc - m->map_start + m->pgoff);
	return buf;
}

/* ---- puw ------------------------------------------------------------------------------ */

int replay_find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	const struct replay_module *m = replay_target_module(ctx, pc);

	if (!m)
		return -ENOENT;
	ret->start = m->start;
	ret->end = m->end;
	ret->cfi = m->cfi;
	ret->bias = m->bias;
	return 0;
}

static enum replay_stop from_puw_stop(enum puw_stop s)
{
	switch (s) {
	case PUW_STOP_END:
		return REPLAY_STOP_END;
	case PUW_STOP_NO_REGS:
		return REPLAY_STOP_NO_REGS;
	case PUW_STOP_STACK_EXHAUSTED:
		return REPLAY_STOP_STACK_END;
	case PUW_STOP_BAD_FP:
		return REPLAY_STOP_BAD_FRAME;
	case PUW_STOP_BAD_PC:
		return REPLAY_STOP_BAD_PC;
	case PUW_STOP_MAX_DEPTH:
		return REPLAY_STOP_MAX_DEPTH;
	case PUW_STOP_NO_CFI:
		return REPLAY_STOP_NO_INFO;
	case PUW_STOP_BAD_CFA:
		return REPLAY_STOP_BAD_FRAME;
	default:
		return REPLAY_STOP_ERROR;
	}
}

int replay_puw_pcs(const struct replay_target *t, enum puw_mode mode, struct puw_cache *cache,
		   uint64_t *pcs, unsigned max, enum puw_stop *ret_stop, struct puw_stats *stats)
{
	const struct snapshot *s = t->snap;
	struct puw_request req = {
		.arch = s->arch,
		.mode = mode,
		.regs = &s->regs,
		.stack = s->stack,
		.stack_start = s->stack_start,
		.stack_size = s->stack_size,
		.find_module = replay_find_module,
		.ctx = (void *)t,
		.stats = stats,
		.cache = cache,
	};

	return puw_unwind(&req, pcs, max, ret_stop);
}

int replay_puw(const struct replay_target *t, enum puw_mode mode, struct puw_cache *cache,
	       struct replay_chain *ret, struct puw_stats *stats)
{
	enum puw_stop stop = PUW_STOP_END;
	int n = replay_puw_pcs(t, mode, cache, ret->pcs, REPLAY_MAX_FRAMES, &stop, stats);

	if (n < 0) {
		ret->n = 0;
		ret->stop = REPLAY_STOP_ERROR;
		snprintf(ret->detail, sizeof(ret->detail), "puw_unwind: %s", strerror(-n));
		return n;
	}
	ret->n = (unsigned)n;
	ret->stop = from_puw_stop(stop);
	snprintf(ret->detail, sizeof(ret->detail), "%s", puw_stop_name(stop));
	return 0;
}

/* ---- libunwind ------------------------------------------------------------------------- */

struct replay_unw {
	unw_addr_space_t as;
};

/* DW_EH_PE encodings .eh_frame_hdr uses (LSB "Exception Frame Header"). */
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_datarel 0x30

static int eh_ptr_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		return 4;
	case 0x00: /* absptr */
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		return 8;
	default:
		return -1;
	}
}

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			      int need_unwind_info, void *arg)
{
	struct replay_target *t = arg;
	const struct replay_module *m = replay_target_module(t, ip);
	const struct elf_image *img;
	unw_dyn_info_t di;
	uint32_t fde_count;
	int psize;
	size_t table_off;

	if (!m || !m->img || m->img->eh_frame_hdr_size < 4)
		return -UNW_ENOINFO;
	img = m->img;
	/*
	 * version 1, eh_frame_ptr encoding, fde_count encoding, table encoding; libunwind's
	 * table search wants {sdata4 initial location, sdata4 FDE address} relative to the header.
	 */
	if (img->eh_frame_hdr[0] != 1 || img->eh_frame_hdr[2] != DW_EH_PE_udata4 ||
	    img->eh_frame_hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
		return -UNW_ENOINFO;
	psize = eh_ptr_size(img->eh_frame_hdr[1]);
	if (psize < 0 || img->eh_frame_hdr_size < 4 + (size_t)psize + 4)
		return -UNW_ENOINFO;
	memcpy(&fde_count, img->eh_frame_hdr + 4 + psize, 4);
	fde_count = le32toh(fde_count);
	table_off = 4 + (size_t)psize + 4;
	if ((img->eh_frame_hdr_size - table_off) / 8 < fde_count)
		return -UNW_ENOINFO;

	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = m->start;
	di.end_ip = m->end;
	di.u.rti.segbase = img->eh_frame_hdr_addr + m->bias;
	di.u.rti.table_data = img->eh_frame_hdr_addr + m->bias + table_off;
	di.u.rti.table_len = (unw_word_t)fde_count * 8 / sizeof(unw_word_t);
	return dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* dwarf_search_unwind_table()'s info lives in libunwind's own pools (perf does the same).
	 */
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	return -UNW_ENOINFO;
}

static int acc_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			  void *arg)
{
	uint64_t v;

	if (write)
		return -UNW_EINVAL;
	if (!replay_target_read(arg, addr, &v))
		return -UNW_EINVAL;
	*valp = v;
	return 0;
}

static int acc_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			  void *arg)
{
	const struct replay_target *t = arg;
	const struct puw_regs *regs = &t->snap->regs;

	if (write)
		return -UNW_EINVAL;
	/* libunwind's x86-64 numbers are the DWARF ones: rax rdx rcx rbx rsi rdi rbp rsp r8..r15
	 * rip. */
	if (reg < 0 || reg > UNW_X86_64_RIP || !(regs->valid & (UINT64_C(1) << reg)))
		return -UNW_EBADREG;
	*valp = regs->r[reg];
	return 0;
}

static int acc_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			    void *arg)
{
	return -UNW_EINVAL;
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			     unw_word_t *offp, void *arg)
{
	return -UNW_ENOINFO;
}

static unw_accessors_t replay_unw_accessors = {
	.find_proc_info = acc_find_proc_info,
	.put_unwind_info = acc_put_unwind_info,
	.get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
	.access_mem = acc_access_mem,
	.access_reg = acc_access_reg,
	.access_fpreg = acc_access_fpreg,
	.resume = acc_resume,
	.get_proc_name = acc_get_proc_name,
};

int replay_unw_new(bool cache, struct replay_unw **ret)
{
	struct replay_unw *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->as = unw_create_addr_space(&replay_unw_accessors, 0);
	if (!u->as) {
		free(u);
		return -ENOMEM;
	}
	unw_set_caching_policy(u->as, cache ? UNW_CACHE_GLOBAL : UNW_CACHE_NONE);
	*ret = u;
	return 0;
}

void replay_unw_free(struct replay_unw *u)
{
	if (!u)
		return;
	unw_destroy_addr_space(u->as);
	free(u);
}

void replay_unw_flush(struct replay_unw *u)
{
	unw_flush_cache(u->as, 0, 0);
}

static enum replay_stop from_unw_error(int r)
{
	switch (-r) {
	case UNW_ENOINFO:
		return REPLAY_STOP_NO_INFO;
	case UNW_EBADFRAME:
		return REPLAY_STOP_BAD_FRAME;
	case UNW_EBADREG:
		return REPLAY_STOP_NO_REGS;
	case UNW_EINVALIDIP:
		return REPLAY_STOP_BAD_PC;
	default:
		return REPLAY_STOP_ERROR;
	}
}

int replay_unw_run(struct replay_unw *u, struct replay_target *t, struct replay_chain *ret)
{
	unw_cursor_t cur;
	int r;

	ret->n = 0;
	ret->detail[0] = '\0';
	if (t->snap->arch != PUW_ARCH_X86_64) {
		ret->stop = REPLAY_STOP_ERROR;
		snprintf(ret->detail, sizeof(ret->detail), "libunwind: x86-64 snapshots only");
		return 0;
	}
	t->faulted = false;
	r = unw_init_remote(&cur, u->as, t);
	if (r < 0) {
		ret->stop =
			t->faulted ? replay_target_fault_stop(t, t->fault_addr) : from_unw_error(r);
		snprintf(ret->detail, sizeof(ret->detail), "unw_init_remote: %s", unw_strerror(r));
		return 0;
	}
	for (;;) {
		unw_word_t ip;

		if ((r = unw_get_reg(&cur, UNW_REG_IP, &ip)) < 0) {
			ret->stop = REPLAY_STOP_ERROR;
			snprintf(ret->detail, sizeof(ret->detail), "unw_get_reg(IP): %s",
				 unw_strerror(r));
			return 0;
		}
		if (ret->n == REPLAY_MAX_FRAMES) {
			ret->stop = REPLAY_STOP_MAX_DEPTH;
			return 0;
		}
		ret->pcs[ret->n++] = ip;
		t->faulted = false;
		r = unw_step(&cur);
		if (r > 0)
			continue;
		if (r == 0) {
			ret->stop = REPLAY_STOP_END;
			snprintf(ret->detail, sizeof(ret->detail), "unw_step: 0 (final frame)");
			return 0;
		}
		if (t->faulted) {
			ret->stop = replay_target_fault_stop(t, t->fault_addr);
			snprintf(ret->detail, sizeof(ret->detail),
				 "unw_step: %s (read 0x%" PRIx64 ")", unw_strerror(r),
				 t->fault_addr);
		} else {
			ret->stop = from_unw_error(r);
			snprintf(ret->detail, sizeof(ret->detail), "unw_step: %s", unw_strerror(r));
		}
		return 0;
	}
}

/* ---- libdw ----------------------------------------------------------------------------- */

struct replay_dw {
	Dwfl *dwfl;
	struct replay_target *cur;
	uint64_t modules_hash;
	pid_t pid, tid;
};

static char *debuginfo_path; /* NULL: libdwfl's default */

static const Dwfl_Callbacks dw_callbacks = {
	.find_elf = dwfl_build_id_find_elf, /* unused: every module is reported with its file */
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static pid_t dw_next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	struct replay_dw *d = dwfl_arg;

	if (*thread_argp)
		return 0;
	*thread_argp = d;
	return d->tid;
}

static bool dw_get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg, void **thread_argp)
{
	struct replay_dw *d = dwfl_arg;

	if (tid != d->tid)
		return false;
	*thread_argp = d;
	return true;
}

static bool dw_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct replay_dw *d = dwfl_arg;
	uint64_t v;

	if (!replay_target_read(d->cur, addr, &v))
		return false;
	*result = v;
	return true;
}

static bool dw_set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct replay_dw *d = thread_arg;
	const struct snapshot *s = d->cur->snap;
	unsigned pc = dwarf_pc(s->arch);

	for (unsigned r = 0; r < PUW_REGS_MAX; r++) {
		Dwarf_Word v = s->regs.r[r];

		if (!(s->regs.valid & (UINT64_C(1) << r)))
			continue;
		/* arm64's PC has no DWARF register: puw keeps it in pseudo column 32. */
		if (s->arch == PUW_ARCH_AARCH64 && r == pc)
			continue;
		if (!dwfl_thread_state_registers(thread, (int)r, 1, &v))
			return false;
	}
	if (!(s->regs.valid & (UINT64_C(1) << pc)))
		return false;
	dwfl_thread_state_register_pc(thread, s->regs.r[pc]);
	return true;
}

static const Dwfl_Thread_Callbacks dw_thread_callbacks = {
	.next_thread = dw_next_thread,
	.get_thread = dw_get_thread,
	.memory_read = dw_memory_read,
	.set_initial_registers = dw_set_initial_registers,
};

int replay_dw_new(struct replay_target *t, struct replay_dw **ret)
{
	struct replay_dw *d = calloc(1, sizeof(*d));
	int reported = 0;

	if (!d)
		return -ENOMEM;
	d->dwfl = dwfl_begin(&dw_callbacks);
	if (!d->dwfl) {
		free(d);
		return -ENOMEM;
	}
	d->cur = t;
	d->modules_hash = t->modules_hash;
	d->pid = t->snap->pid ? (pid_t)t->snap->pid : 1;
	d->tid = t->snap->tid ? (pid_t)t->snap->tid : d->pid;
	dwfl_report_begin(d->dwfl);
	for (unsigned i = 0; i < t->n_mods; i++) {
		const struct replay_module *m = &t->mods[i];
		bool seen = false;
		int fd;

		if (!m->img)
			continue;
		for (unsigned j = 0; j < i && !seen; j++)
			seen = t->mods[j].img == m->img;
		if (seen)
			continue;
		fd = dup(m->img->fd);
		if (fd < 0)
			continue;
		/* add_p_vaddr: the module starts at bias + its first p_vaddr (ET_DYN). */
		if (dwfl_report_elf(d->dwfl, base_name(m->img->name), m->img->path, fd, m->bias,
				    true))
			reported++;
		else
			close(fd);
	}
	if (dwfl_report_end(d->dwfl, NULL, NULL) != 0 || reported == 0 ||
	    !dwfl_attach_state(d->dwfl, NULL, d->pid, &dw_thread_callbacks, d)) {
		replay_dw_free(d);
		return -ENOEXEC;
	}
	*ret = d;
	return 0;
}

void replay_dw_free(struct replay_dw *d)
{
	if (!d)
		return;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	free(d);
}

bool replay_dw_matches(const struct replay_dw *d, const struct replay_target *t)
{
	pid_t tid = t->snap->tid ? (pid_t)t->snap->tid : (t->snap->pid ? (pid_t)t->snap->pid : 1);

	return d->modules_hash == t->modules_hash && d->tid == tid;
}

struct dw_walk {
	struct replay_dw *d;
	struct replay_chain *chain;
	bool full;
};

static int dw_frame(Dwfl_Frame *state, void *arg)
{
	struct dw_walk *w = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return -1;
	if (w->chain->n == REPLAY_MAX_FRAMES) {
		w->full = true;
		return DWARF_CB_ABORT;
	}
	w->chain->pcs[w->chain->n++] = pc;
	/* Faults from here on belong to the step to the next frame. */
	w->d->cur->faulted = false;
	return DWARF_CB_OK;
}

int replay_dw_run(struct replay_dw *d, struct replay_target *t, struct replay_chain *ret)
{
	struct dw_walk w = {.d = d, .chain = ret};
	int r;

	ret->n = 0;
	ret->detail[0] = '\0';
	d->cur = t;
	t->faulted = false;
	r = dwfl_getthread_frames(d->dwfl, d->tid, dw_frame, &w);
	if (r == 0) {
		ret->stop = REPLAY_STOP_END;
		snprintf(ret->detail, sizeof(ret->detail), "dwfl_getthread_frames: 0 (outermost)");
	} else if (w.full) {
		ret->stop = REPLAY_STOP_MAX_DEPTH;
	} else {
		const char *msg = dwfl_errmsg(-1);

		if (t->faulted) {
			ret->stop = replay_target_fault_stop(t, t->fault_addr);
			snprintf(ret->detail, sizeof(ret->detail), "%s (read 0x%" PRIx64 ")", msg,
				 t->fault_addr);
		} else {
			ret->stop = strstr(msg, "No DWARF") || strstr(msg, "no matching") ||
						    strstr(msg, "no CFI")
					    ? REPLAY_STOP_NO_INFO
					    : REPLAY_STOP_ERROR;
			snprintf(ret->detail, sizeof(ret->detail), "%s", msg);
		}
	}
	return 0;
}

const char *replay_libdw_version(void)
{
	return dwfl_version(NULL);
}
