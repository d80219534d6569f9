/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: puw_unwind() on hostile samples. A sample's registers and stack bytes come
 * from the profiled process, so a hostile or merely corrupt program controls all of them:
 * the unwinder must never crash, hang, read outside the stack copy or write past the
 * caller's buffer, whatever they hold and whatever CFI the modules carry.
 *
 * Modules, as the find_module callback reports them (first match wins):
 *   self  this binary's own .eh_frame, compiled once at start-up, at a fixed fake load
 *         address SELF_BIAS + its ELF addresses (deterministic despite ASLR): real rows of
 *         every shape the compilers produce, for walks through real code
 *   blob  a small CFI blob from the input, compiled for every input
 *   jit   a mapping without CFI (JIT code), where PUW_MODE_AUTO falls back to frame pointers
 *
 * Input (little-endian; missing bytes are zero):
 *
 *   u8  ctl     bit 0: arch (0 x86-64, 1 arm64); bits 1-2: mode (% 3); bit 3: no
 *               find_module callback; bit 4: a lookup cache; bits 5/6/7: self/blob/jit
 *   u8  ctl2    bits 0-3: size of the small output buffer; bit 4: registers through
 *               puw_regs_from_perf() (valid is then the perf mask); bit 5: no stats;
 *               bit 6: the blob is .debug_frame rather than .eh_frame; bit 7: the blob
 *               names a signal trampoline (puw_cfi_sections.sigreturn_*)
 *   u64 valid   DWARF registers present (bit n: register n)
 *   u64 stack_start
 *   u64 blob_start, u32 blob_size, u64 blob_bias, u64 blob_eh_frame_addr
 *   u64 jit_start, u32 jit_size
 *   u16 blob_len
 *   u64 sigreturn_addr, u16 sigreturn_size
 *   u64 value of each register in valid, in ascending order (at most PUW_REGS_MAX, or 64
 *       perf registers)
 *   ... blob_len bytes of CFI, then the stack copy (the rest)
 *
 * Each input is unwound with a small and a large buffer, and with a cold and a warm cache
 * when asked; the results must agree (the small one a prefix of the large one, the cached
 * ones identical), and every one must satisfy what puw.h promises: count <= max, a valid
 * stop reason, pcs[0] the sample's IP, every later PC inside a module when there is a
 * callback, MAX_DEPTH exactly when the buffer is full, the statistics consistent.
 *
 * With PUW_FUZZ_UNWIND_SEED=DIR in the environment (x86-64 only), start-up also writes
 * seeds to DIR: this process's own registers and stack at a point three calls deep, in
 * this input format, its return addresses moved to the self module's fake addresses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "puw.h"
#include "cfi.h"
#include "fuzz-common.h"

#define CTL_ARCH 0x01
#define CTL_MODE_SHIFT 1
#define CTL_NO_FIND 0x08
#define CTL_CACHE 0x10
#define CTL_SELF 0x20
#define CTL_BLOB 0x40
#define CTL_JIT 0x80

#define CTL2_SMALL_MASK 0x0f
#define CTL2_PERF_REGS 0x10
#define CTL2_NO_STATS 0x20
#define CTL2_DEBUG_FRAME 0x40
#define CTL2_SIGRETURN 0x80

/* Where the self module appears to be loaded: a typical PIE base, the same every run. */
#define SELF_BIAS UINT64_C(0x555555000000)

#define LARGE_MAX 256

/* ---- the self module ------------------------------------------------------------------ */

static struct puw_cfi *self_cfi;
static uint64_t self_dlpi_addr; /* this process's real load bias */

/* Reads an .eh_frame_hdr pointer field (LSB: eh_frame_ptr is pcrel sdata4 in practice). */
static bool hdr_ptr(const uint8_t *field, uint8_t enc, uint64_t *ret)
{
	int32_t s32;
	uint32_t u32;
	uint64_t u64;

	switch (enc) {
	case 0x1b: /* DW_EH_PE_pcrel | DW_EH_PE_sdata4 */
		memcpy(&s32, field, 4);
		*ret = (uint64_t)(uintptr_t)field + (uint64_t)(int64_t)s32;
		return true;
	case 0x03: /* DW_EH_PE_udata4 */
		memcpy(&u32, field, 4);
		*ret = u32;
		return true;
	case 0x00: /* DW_EH_PE_absptr */
		memcpy(&u64, field, 8);
		*ret = u64;
		return true;
	default:
		return false;
	}
}

/*
 * The main program's .eh_frame, found through PT_GNU_EH_FRAME as a runtime unwinder would,
 * bounded by the end of the PT_LOAD segment that holds it (parsing stops at the terminator).
 */
static int self_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct puw_cfi_sections *s = data;
	const uint8_t *hdr = NULL;
	uint64_t eh = 0;

	for (unsigned i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)(uintptr_t)(info->dlpi_addr +
							   info->dlpi_phdr[i].p_vaddr);
	if (!hdr || hdr[0] != 1 || !hdr_ptr(hdr + 4, hdr[1], &eh))
		return 1;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;

		if (ph->p_type != PT_LOAD || eh < start || eh >= end)
			continue;
		s->eh_frame = (const uint8_t *)(uintptr_t)eh;
		s->eh_frame_size = end - eh;
		s->eh_frame_addr = eh - info->dlpi_addr;
		self_dlpi_addr = info->dlpi_addr;
	}
	return 1; /* the first object is the main program */
}

static void self_init(void)
{
	struct puw_cfi_sections s = {.arch = puw_arch_host()};

	if (s.arch == _PUW_ARCH_MAX)
		return;
	dl_iterate_phdr(self_phdr_cb, &s);
	if (!s.eh_frame || puw_cfi_compile(&s, &self_cfi) != 0)
		self_cfi = NULL;
}

/* ---- modules -------------------------------------------------------------------------- */

struct modules {
	struct puw_module mod[3];
	unsigned n;
	unsigned calls;
};

static int find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	struct modules *m = ctx;

	m->calls++;
	for (unsigned i = 0; i < m->n; i++)
		if (pc >= m->mod[i].start && pc < m->mod[i].end) {
			*ret = m->mod[i];
			return 0;
		}
	return -ENOENT;
}

static bool in_modules(const struct modules *m, uint64_t pc)
{
	for (unsigned i = 0; i < m->n; i++)
		if (pc >= m->mod[i].start && pc < m->mod[i].end)
			return true;
	return false;
}

/* ---- one unwind and its invariants ---------------------------------------------------- */

struct result {
	int n;
	enum puw_stop stop;
	uint64_t pcs[LARGE_MAX];
};

static void run(const struct puw_request *req, unsigned max, struct result *res, bool expect_einval)
{
	struct modules *m = req->ctx;
	const struct puw_regs *regs = req->regs;
	unsigned pc_reg = req->arch == PUW_ARCH_X86_64 ? 16 : 32;
	unsigned sp_reg = req->arch == PUW_ARCH_X86_64 ? 7 : 31;
	unsigned fp_reg = req->arch == PUW_ARCH_X86_64 ? 6 : 29;
	bool has_pc = regs->valid & (UINT64_C(1) << pc_reg);
	struct puw_stats before = {0}, *st = req->stats, d;
	uint64_t *pcs = NULL;
	unsigned calls = m->calls;
	int n;

	/* Exactly max slots: one more write is an ASan report. */
	if (max) {
		pcs = malloc(max * sizeof(*pcs));
		FUZZ_CHECK(pcs != NULL);
	}
	if (st)
		before = *st;
	res->stop = _PUW_STOP_MAX;
	n = puw_unwind(req, pcs, max, &res->stop);
	res->n = n;
	if (expect_einval) {
		FUZZ_CHECK(n == -EINVAL);
		free(pcs);
		return;
	}
	FUZZ_CHECK(n >= 0 && (unsigned)n <= max);
	FUZZ_CHECK((unsigned)res->stop < _PUW_STOP_MAX);
	FUZZ_CHECK(strcmp(puw_stop_name(res->stop), "unknown") != 0);
	if (n > 0)
		memcpy(res->pcs, pcs, (size_t)n * sizeof(*pcs));
	free(pcs);

	/* The sample's IP first; nothing at all without one. */
	if (!has_pc) {
		FUZZ_CHECK(n == 0 && res->stop == PUW_STOP_NO_REGS);
		return;
	}
	if (max == 0) {
		FUZZ_CHECK(n == 0 && res->stop == PUW_STOP_MAX_DEPTH);
		return;
	}
	FUZZ_CHECK(n >= 1 && res->pcs[0] == regs->r[pc_reg]);
	if (!(regs->valid & (UINT64_C(1) << sp_reg)) ||
	    (req->mode == PUW_MODE_FP && !(regs->valid & (UINT64_C(1) << fp_reg))))
		FUZZ_CHECK(n == 1 && res->stop == PUW_STOP_NO_REGS);
	/* MAX_DEPTH exactly when the buffer is full and a further frame was found. */
	if (res->stop == PUW_STOP_MAX_DEPTH)
		FUZZ_CHECK((unsigned)n == max);
	if (req->mode == PUW_MODE_FP)
		FUZZ_CHECK(res->stop != PUW_STOP_NO_CFI && res->stop != PUW_STOP_BAD_CFA);
	if (!req->find_module) {
		FUZZ_CHECK(res->stop != PUW_STOP_BAD_PC);
		/* No callback: no module, so no CFI. */
		if (req->mode == PUW_MODE_CFI)
			FUZZ_CHECK(n == 1);
	} else {
		/* Every caller's PC passed the module check (ra - 1, or the exact PC of a
		 * frame a signal interrupted). */
		for (int i = 1; i < n; i++)
			FUZZ_CHECK(in_modules(m, res->pcs[i] - 1) || in_modules(m, res->pcs[i]));
		/* At most one question per frame, plus the arm64 link-register check. */
		FUZZ_CHECK(m->calls - calls <= 2 * (unsigned)n + 4);
	}

	if (st) {
		d.steps_cfi = st->steps_cfi - before.steps_cfi;
		d.steps_fp = st->steps_fp - before.steps_fp;
		d.steps_fp_fallback = st->steps_fp_fallback - before.steps_fp_fallback;
		d.steps_signal = st->steps_signal - before.steps_signal;
		/* One step per caller frame, plus possibly one whose frame was not kept. */
		FUZZ_CHECK(d.steps_cfi + d.steps_fp + 1 >= (uint64_t)n);
		FUZZ_CHECK(d.steps_cfi + d.steps_fp <= (uint64_t)n);
		FUZZ_CHECK(d.steps_fp_fallback <= d.steps_fp);
		FUZZ_CHECK(d.steps_signal <= d.steps_cfi);
		if (req->mode != PUW_MODE_AUTO)
			FUZZ_CHECK(d.steps_fp_fallback == 0);
		if (req->mode == PUW_MODE_FP)
			FUZZ_CHECK(d.steps_cfi == 0);
		if (req->mode == PUW_MODE_CFI)
			FUZZ_CHECK(d.steps_fp == 0);
	}
}

/* Both ABIs are little-endian, whatever the host. */
static uint64_t ld64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * PUW_MODE_FP, predicted: the frame-record walk puw.h and the backends document, written
 * again from the ABIs. Records {caller's fp, return address} at fp, 8-aligned, at or above
 * the frame's sp and inside the copy; fp 0 or a zero return address ends the chain; each
 * return address (arm64: PAC bits cleared above bit 48) must be in a module when there is a
 * callback. arm64 first offers the link register as the caller, once, when it is a code
 * address the record at fp does not already hold.
 */
static void ref_fp_walk(const struct puw_request *req, const struct modules *m, struct result *res)
{
	bool arm = req->arch == PUW_ARCH_AARCH64;
	unsigned pc_reg = arm ? 32 : 16, sp_reg = arm ? 31 : 7, fp_reg = arm ? 29 : 6;
	uint64_t mask = arm ? (UINT64_C(1) << 48) - 1 : UINT64_MAX;
	const struct puw_regs *regs = req->regs;
	uint64_t sp, fp, next, ra;
	bool lr = arm && (regs->valid & (UINT64_C(1) << 30));

	res->n = 0;
	if (!(regs->valid & (UINT64_C(1) << pc_reg))) {
		res->stop = PUW_STOP_NO_REGS;
		return;
	}
	res->pcs[res->n++] = regs->r[pc_reg];
	if (!(regs->valid & (UINT64_C(1) << sp_reg)) || !(regs->valid & (UINT64_C(1) << fp_reg))) {
		res->stop = PUW_STOP_NO_REGS;
		return;
	}
	sp = regs->r[sp_reg];
	fp = regs->r[fp_reg];
	for (;;) {
		bool rec = fp != 0 && !(fp & 7) && fp >= sp && fp >= req->stack_start &&
			   req->stack_size >= 16 && fp - req->stack_start <= req->stack_size - 16;

		if (lr) {
			lr = false;
			ra = regs->r[30] & mask;
			if (rec && (ld64(req->stack + (fp - req->stack_start) + 8) & mask) == ra)
				ra = 0;
			if (ra != 0 && (!req->find_module || in_modules(m, ra - 1)))
				goto caller;
		}
		if (fp == 0) {
			res->stop = PUW_STOP_END;
			return;
		}
		if ((fp & 7) || fp < sp) {
			res->stop = PUW_STOP_BAD_FP;
			return;
		}
		if (!rec) {
			res->stop = PUW_STOP_STACK_EXHAUSTED;
			return;
		}
		next = ld64(req->stack + (fp - req->stack_start));
		ra = ld64(req->stack + (fp - req->stack_start) + 8) & mask;
		if (ra == 0) {
			res->stop = PUW_STOP_END;
			return;
		}
		sp = fp + 16;
		fp = next;
	caller:
		if (req->find_module && !in_modules(m, ra - 1)) {
			res->stop = PUW_STOP_BAD_PC;
			return;
		}
		if (res->n == LARGE_MAX) {
			res->stop = PUW_STOP_MAX_DEPTH;
			return;
		}
		res->pcs[res->n++] = ra;
	}
}

static void same_result(const struct result *a, const struct result *b)
{
	FUZZ_CHECK(a->n == b->n && a->stop == b->stop);
	FUZZ_CHECK(memcmp(a->pcs, b->pcs, (size_t)a->n * sizeof(a->pcs[0])) == 0);
}

/* The small buffer's walk is the large one's, cut at its size. */
static void prefix_result(const struct result *small, unsigned max_small,
			  const struct result *large)
{
	if (large->n <= (int)max_small && !(max_small == 0 && large->n > 0)) {
		same_result(small, large);
		return;
	}
	FUZZ_CHECK(small->n == (int)max_small && small->stop == PUW_STOP_MAX_DEPTH);
	FUZZ_CHECK(memcmp(small->pcs, large->pcs, (size_t)small->n * sizeof(small->pcs[0])) == 0);
}

/* The blob's table; the sections as they come, the trampoline as the caller would name it. */
static struct puw_cfi *blob_compile(enum puw_arch arch, const uint8_t *p, size_t len,
				    uint64_t eh_addr, bool debug_frame, uint64_t sig_addr,
				    uint64_t sig_size)
{
	struct puw_cfi_sections s = {.arch = arch};
	struct puw_cfi *cfi = NULL;
	uint8_t *copy = fuzz_dup(p, len);

	if (debug_frame) {
		s.debug_frame = copy;
		s.debug_frame_size = len;
	} else {
		s.eh_frame = copy;
		s.eh_frame_size = len;
		s.eh_frame_addr = eh_addr;
	}
	s.sigreturn_addr = sig_addr;
	s.sigreturn_size = sig_size;
	if (puw_cfi_compile(&s, &cfi) != 0)
		cfi = NULL;
	free(copy);
	return cfi;
}

static unsigned popcount64(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct modules m = {.n = 0};
	struct puw_regs regs = {.valid = 0};
	struct puw_stats stats = {0};
	struct puw_request req = {0};
	struct puw_cfi *blob_cfi = NULL;
	struct puw_cache *cache = NULL;
	struct result *small, *large, *again;
	uint64_t valid, stack_start, blob_start, blob_bias, blob_eh_addr, jit_start, sig_addr;
	uint64_t sig_size;
	uint32_t blob_size, jit_size;
	const uint8_t *blob, *stack;
	size_t blob_len, stack_len;
	uint8_t ctl, ctl2, *stack_copy;
	unsigned max_small;
	bool einval;

	ctl = (uint8_t)fuzz_take(&in, 1);
	ctl2 = (uint8_t)fuzz_take(&in, 1);
	valid = fuzz_take(&in, 8);
	stack_start = fuzz_take(&in, 8);
	blob_start = fuzz_take(&in, 8);
	blob_size = (uint32_t)fuzz_take(&in, 4);
	blob_bias = fuzz_take(&in, 8);
	blob_eh_addr = fuzz_take(&in, 8);
	jit_start = fuzz_take(&in, 8);
	jit_size = (uint32_t)fuzz_take(&in, 4);
	blob_len = (size_t)fuzz_take(&in, 2);
	sig_addr = fuzz_take(&in, 8);
	sig_size = fuzz_take(&in, 2);

	req.arch = ctl & CTL_ARCH ? PUW_ARCH_AARCH64 : PUW_ARCH_X86_64;
	req.mode = (enum puw_mode)(((ctl >> CTL_MODE_SHIFT) & 3) % _PUW_MODE_MAX);

	if (ctl2 & CTL2_PERF_REGS) {
		/* The kernel's layout: one value per set bit of the mask, lowest bit first. */
		uint64_t vals[64];
		unsigned n = popcount64(valid);
		struct puw_regs sentinel;

		for (unsigned i = 0; i < n; i++)
			vals[i] = fuzz_take(&in, 8);
		FUZZ_CHECK(puw_regs_from_perf(req.arch, valid, vals, n, &regs) == 0);
		FUZZ_CHECK((regs.valid >> PUW_REGS_MAX) == 0);
		if (n > 0) {
			memset(&sentinel, 0xa5, sizeof(sentinel));
			FUZZ_CHECK(puw_regs_from_perf(req.arch, valid, vals, n - 1, &sentinel) ==
				   -EINVAL);
			for (size_t i = 0; i < sizeof(sentinel); i++)
				FUZZ_CHECK(((const uint8_t *)&sentinel)[i] == 0xa5);
		}
	} else {
		regs.valid = valid;
		for (unsigned r = 0; r < PUW_REGS_MAX; r++)
			if (valid & (UINT64_C(1) << r))
				regs.r[r] = fuzz_take(&in, 8);
	}
	FUZZ_CHECK(puw_regs_from_perf(_PUW_ARCH_MAX, 0, NULL, 0, &regs) == -EINVAL);

	blob = fuzz_take_bytes(&in, blob_len, &blob_len);
	stack = fuzz_take_bytes(&in, in.n, &stack_len);

	if ((ctl & CTL_SELF) && self_cfi && self_cfi->arch == req.arch) {
		m.mod[m.n++] = (struct puw_module){
			.start = SELF_BIAS + self_cfi->base,
			.end = SELF_BIAS + self_cfi->base + self_cfi->span,
			.cfi = self_cfi,
			.bias = SELF_BIAS,
		};
	}
	if (ctl & CTL_BLOB) {
		if (blob_len)
			blob_cfi = blob_compile(req.arch, blob, blob_len, blob_eh_addr,
						ctl2 & CTL2_DEBUG_FRAME, sig_addr,
						ctl2 & CTL2_SIGRETURN ? sig_size : 0);
		m.mod[m.n++] = (struct puw_module){
			.start = blob_start,
			.end = blob_start + blob_size,
			.cfi = blob_cfi,
			.bias = blob_bias,
		};
	}
	if (ctl & CTL_JIT)
		m.mod[m.n++] = (struct puw_module){.start = jit_start, .end = jit_start + jit_size};

	stack_copy = fuzz_dup(stack, stack_len);
	req.regs = &regs;
	req.stack = stack_copy;
	req.stack_start = stack_start;
	req.stack_size = stack_len;
	req.find_module = ctl & CTL_NO_FIND ? NULL : find_module;
	req.ctx = &m;
	req.stats = ctl2 & CTL2_NO_STATS ? NULL : &stats;
	/* The copy's end must be representable: otherwise the request is malformed. */
	einval = stack_len > UINT64_MAX - stack_start;

	small = calloc(1, sizeof(*small));
	large = calloc(1, sizeof(*large));
	again = calloc(1, sizeof(*again));
	FUZZ_CHECK(small && large && again);

	max_small = ctl2 & CTL2_SMALL_MASK;
	run(&req, max_small, small, einval);
	run(&req, LARGE_MAX, large, einval);
	if (!einval)
		prefix_result(small, max_small, large);
	if (!einval && req.mode == PUW_MODE_FP) {
		ref_fp_walk(&req, &m, again);
		same_result(large, again);
	}

	/* A memo of lookups changes nothing, cold or warm. */
	if (ctl & CTL_CACHE) {
		cache = puw_cache_new();
		FUZZ_CHECK(cache != NULL);
		req.cache = cache;
		run(&req, LARGE_MAX, again, einval);
		if (!einval)
			same_result(again, large);
		run(&req, LARGE_MAX, again, einval);
		if (!einval)
			same_result(again, large);
		puw_cache_free(cache);
		req.cache = NULL;
	}

	/* Malformed requests are refused, not followed. */
	FUZZ_CHECK(puw_unwind(NULL, large->pcs, 1, &small->stop) == -EINVAL);
	FUZZ_CHECK(puw_unwind(&req, NULL, 1, &small->stop) == -EINVAL);
	FUZZ_CHECK(puw_unwind(&req, large->pcs, 1, NULL) == -EINVAL);

	free(small);
	free(large);
	free(again);
	free(stack_copy);
	puw_cfi_free(blob_cfi);
	return 0;
}

/* ---- seeds from this process's own stack ---------------------------------------------- */

#if defined(__x86_64__)
#define SEED_STACK_BYTES 8192

struct seed_capture {
	uint64_t rip, rsp, rbp, rbx, r12, r13, r14, r15;
	uint8_t stack[SEED_STACK_BYTES];
	size_t stack_len;
};

/*
 * Copies the live stack above the capture point. Not through memcpy and not instrumented:
 * the callers' frames hold ASan redzones, which are not errors to read here.
 */
__attribute__((no_sanitize("address"), noinline)) static void
seed_copy(uint8_t *dst, const volatile uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

/* Registers at one point of this function, then the stack from its rsp up. */
__attribute__((noinline)) static void seed_capture_here(struct seed_capture *c)
{
	pthread_attr_t attr;
	void *lo = NULL;
	size_t sz = 0, n;

	__asm__ volatile("lea 0(%%rip), %%rax\n\t"
			 "mov %%rax, 0(%0)\n\t"
			 "mov %%rsp, 8(%0)\n\t"
			 "mov %%rbp, 16(%0)\n\t"
			 "mov %%rbx, 24(%0)\n\t"
			 "mov %%r12, 32(%0)\n\t"
			 "mov %%r13, 40(%0)\n\t"
			 "mov %%r14, 48(%0)\n\t"
			 "mov %%r15, 56(%0)\n\t"
			 :
			 : "r"(c)
			 : "rax", "memory");
	n = SEED_STACK_BYTES;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &lo, &sz) == 0 && lo) {
			uint64_t top = (uint64_t)(uintptr_t)lo + sz;

			if (top > c->rsp && top - c->rsp < n)
				n = top - c->rsp;
		}
		pthread_attr_destroy(&attr);
	}
	seed_copy(c->stack, (const volatile uint8_t *)(uintptr_t)c->rsp, n);
	c->stack_len = n;
}

__attribute__((noinline)) static void seed_capture_deep(struct seed_capture *c, int depth)
{
	if (depth > 0)
		seed_capture_deep(c, depth - 1);
	else
		seed_capture_here(c);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

/* A code address of this binary, moved to the self module's fake load address. */
static uint64_t seed_rebase(uint64_t v)
{
	uint64_t lo = self_dlpi_addr + self_cfi->base;

	if (v >= lo && v - lo < self_cfi->span)
		return v - self_dlpi_addr + SELF_BIAS;
	return v;
}

static void put_le(FILE *f, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fputc((int)((v >> (8 * i)) & 0xff), f);
}

static void seed_write(const char *dir, const char *name, const struct seed_capture *c,
		       enum puw_mode mode)
{
	/* DWARF: rbx 3, rbp 6, rsp 7, r12..r15 12..15, rip 16. */
	const unsigned order[] = {3, 6, 7, 12, 13, 14, 15, 16};
	const uint64_t vals[] = {c->rbx, c->rbp, c->rsp, c->r12, c->r13, c->r14, c->r15, c->rip};
	uint64_t valid = 0;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f) {
		perror(path);
		return;
	}
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		valid |= UINT64_C(1) << order[i];
	put_le(f, CTL_SELF | CTL_JIT | ((unsigned)mode << CTL_MODE_SHIFT), 1);
	put_le(f, 8, 1); /* ctl2: a small buffer of 8 */
	put_le(f, valid, 8);
	put_le(f, c->rsp, 8); /* stack_start */
	for (unsigned i = 0; i < 8 + 4 + 8 + 8; i++)
		fputc(0, f);	      /* no blob module */
	put_le(f, 0x7f0000000000, 8); /* jit_start */
	put_le(f, 0x10000, 4);
	put_le(f, 0, 2); /* blob_len */
	put_le(f, 0, 8); /* no signal trampoline */
	put_le(f, 0, 2);
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		put_le(f, seed_rebase(vals[i]), 8);
	for (size_t i = 0; i + 8 <= c->stack_len; i += 8) {
		uint64_t w;

		memcpy(&w, c->stack + i, 8);
		put_le(f, seed_rebase(w), 8);
	}
	fclose(f);
}

static void seed_capture_write(const char *dir)
{
	struct seed_capture *c = calloc(1, sizeof(*c));

	if (!c || !self_cfi)
		goto out;
	seed_capture_deep(c, 3);
	seed_write(dir, "self-fp", c, PUW_MODE_FP);
	seed_write(dir, "self-auto", c, PUW_MODE_AUTO);
	seed_write(dir, "self-cfi", c, PUW_MODE_CFI);
out:
	free(c);
}
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	self_init();
#if defined(__x86_64__)
	if (getenv("PUW_FUZZ_UNWIND_SEED"))
		seed_capture_write(getenv("PUW_FUZZ_UNWIND_SEED"));
#endif
	return 0;
}
