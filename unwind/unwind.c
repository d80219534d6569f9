/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The generic unwind driver: validates a request, seeds the innermost frame from the
 * sample's registers, then steps frame by frame until a step stops or the caller's buffer
 * is full. Per frame it picks the method the mode allows: the CFI step when the module
 * holding the PC has a compiled table with a row for it, else (PUW_MODE_AUTO) the
 * architecture's frame-pointer step. Also the register conversion from the perf ABI to
 * DWARF numbering, which is table-driven from the backend.
 *
 * Owns nothing and keeps no state: no allocation, no syscalls, no logging, so it can run on
 * the sample path of any thread. Every PC emitted was either the interrupted IP or a return
 * address that passed the module check (when the caller gave one). The module of each PC is
 * asked once: the answer that validated a return address also finds its CFI.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"

static const struct puw_arch_ops *const arch_ops[_PUW_ARCH_MAX] = {
	[PUW_ARCH_X86_64] = &puw_arch_x86_64_ops,
	[PUW_ARCH_AARCH64] = &puw_arch_aarch64_ops,
};

const struct puw_arch_ops *puw_arch_ops_get(enum puw_arch arch)
{
	if ((unsigned)arch >= _PUW_ARCH_MAX)
		return NULL;
	return arch_ops[arch];
}

#define arch_get puw_arch_ops_get

/* Bytes of the stack copy prefetched when a walk starts: a dozen frames of compiled code. */
#define PUW_PREFETCH_BYTES 2048
#define PUW_CACHE_LINE 64

const char *puw_stop_name(enum puw_stop stop)
{
	static const char *const names[_PUW_STOP_MAX] = {
		[PUW_STOP_END] = "end",
		[PUW_STOP_NO_REGS] = "no-regs",
		[PUW_STOP_STACK_EXHAUSTED] = "stack-exhausted",
		[PUW_STOP_BAD_FP] = "bad-fp",
		[PUW_STOP_BAD_PC] = "bad-pc",
		[PUW_STOP_MAX_DEPTH] = "max-depth",
		[PUW_STOP_NO_CFI] = "no-cfi",
		[PUW_STOP_BAD_CFA] = "bad-cfa",
	};

	if ((unsigned)stop >= _PUW_STOP_MAX || !names[stop])
		return "unknown";
	return names[stop];
}

enum puw_arch puw_arch_host(void)
{
#if defined(__x86_64__)
	return PUW_ARCH_X86_64;
#elif defined(__aarch64__)
	return PUW_ARCH_AARCH64;
#else
	/* Cross-architecture unwinding still works on other hosts; there is no host arch. */
	return _PUW_ARCH_MAX;
#endif
}

uint64_t puw_arch_perf_regs_mask(enum puw_arch arch)
{
	const struct puw_arch_ops *ops = arch_get(arch);

	return ops ? ops->perf_regs_mask : 0;
}

int puw_regs_from_perf(enum puw_arch arch, uint64_t mask, const uint64_t *vals, size_t n,
		       struct puw_regs *ret)
{
	const struct puw_arch_ops *ops = arch_get(arch);
	struct puw_regs regs = {.valid = 0};
	size_t i = 0;

	if (!ops || !ret || (mask && !vals))
		return -EINVAL;

	/*
	 * The kernel writes one u64 per set bit of sample_regs_user, lowest bit first
	 * (perf_output_sample_regs() walks the mask with for_each_set_bit). A bit this
	 * library has no DWARF slot for still consumes its value, to keep the order.
	 */
	for (unsigned bit = 0; bit < 64; bit++) {
		int dwarf;

		if (!(mask & (UINT64_C(1) << bit)))
			continue;
		if (i >= n)
			return -EINVAL;
		dwarf = bit < ops->n_perf_regs ? ops->perf_to_dwarf[bit] : -1;
		if (dwarf >= 0 && dwarf < PUW_REGS_MAX) {
			regs.r[dwarf] = vals[i];
			regs.valid |= UINT64_C(1) << dwarf;
		}
		i++;
	}

	*ret = regs;
	return 0;
}

bool puw_frame_module_slow(const struct puw_walk *w, struct puw_frame *f, uint64_t pc)
{
	struct puw_frame_module *e;

	for (unsigned i = 0; i < f->n_mods; i++) {
		e = &f->mods[i];
		if (pc - e->ans.start < e->len) {
			f->mod = e;
			f->mod_valid = true;
			return true;
		}
	}
	/* The oldest answer makes room. */
	e = &f->mods[f->next_mod];
	if (w->req->find_module(w->req->ctx, pc, &e->ans) != 0) {
		/* Whatever the callback left there is no answer. */
		e->len = 0;
		f->mod = NULL;
		return false;
	}
	f->next_mod = (f->next_mod + 1) & (PUW_MODULE_MEMO - 1);
	if (f->n_mods < PUW_MODULE_MEMO)
		f->n_mods++;
	e->len = e->ans.end > e->ans.start ? e->ans.end - e->ans.start : 0;
	puw_frame_module_derive(e, w->req->cache);
	f->mod = e;
	f->mod_valid = true;
	return true;
}

bool puw_ra_in_module(const struct puw_walk *w, uint64_t ra)
{
	struct puw_module mod;

	if (!w->req->find_module)
		return true;
	/*
	 * A return address points just after the call instruction; the call itself is at
	 * ra - 1 and below. Asking for ra - 1 keeps a call that ends its mapping (a noreturn
	 * call as the last instruction of the text) inside the right module. ra != 0 here.
	 */
	return w->req->find_module(w->req->ctx, ra - 1, &mod) == 0;
}

enum puw_step puw_frame_record_step(const struct puw_walk *w, struct puw_frame *f,
				    enum puw_stop *ret_stop)
{
	uint64_t next_fp, ra;

	/*
	 * The outermost frame clears its frame pointer (x86-64 _start: xor %ebp,%ebp; arm64
	 * _start: mov x29, #0), so 0 is the regular end of the chain.
	 */
	if (f->fp == 0) {
		*ret_stop = PUW_STOP_END;
		return PUW_STEP_STOP;
	}
	/*
	 * Frame records are 8-byte aligned on both ABIs (x86-64 pushes rbp onto the 16-byte
	 * aligned call stack; AAPCS64 requires SP 16-byte aligned and records at SP offsets).
	 * A caller's record lies above the callee's whole frame, so each record must start at
	 * or above f->sp: the SP at the sample, then the callee's CFA (record + 16). Demanding
	 * that makes the chain strictly grow toward the stack base, so the walk terminates.
	 */
	if ((f->fp & 7) != 0 || f->fp < f->sp) {
		*ret_stop = PUW_STOP_BAD_FP;
		return PUW_STEP_STOP;
	}
	if (!puw_stack_contains(w->req, f->fp, PUW_FRAME_RECORD_BYTES)) {
		*ret_stop = PUW_STOP_STACK_EXHAUSTED;
		return PUW_STEP_STOP;
	}
	if (!puw_stack_read_u64(w->req, f->fp, &next_fp) ||
	    !puw_stack_read_u64(w->req, f->fp + 8, &ra)) {
		*ret_stop = PUW_STOP_STACK_EXHAUSTED;
		return PUW_STEP_STOP;
	}
	ra = w->arch->strip_ra ? w->arch->strip_ra(ra) : ra;
	/* Some runtimes end the chain with a zero return address rather than a zero FP. */
	if (ra == 0) {
		*ret_stop = PUW_STOP_END;
		return PUW_STEP_STOP;
	}

	/* The record is inside the copy, whose end does not wrap: fp + 16 cannot overflow. */
	f->pc = ra;
	f->sp = f->fp + PUW_FRAME_RECORD_BYTES;
	f->fp = next_fp;
	f->lr = 0;
	f->lr_valid = false;
	f->innermost = false;
	return PUW_STEP_CALLER;
}

/* After a frame-pointer step only sp, fp and pc of the caller are known. */
static void regs_after_fp_step(const struct puw_walk *w, struct puw_frame *f)
{
	f->regs.valid = 0;
	puw_regs_set(&f->regs, w->arch->dwarf_pc, f->pc);
	puw_regs_set(&f->regs, w->arch->dwarf_sp, f->sp);
	puw_regs_set(&f->regs, w->arch->dwarf_fp, f->fp);
}

static bool request_valid(const struct puw_request *req, const uint64_t *pcs, unsigned max)
{
	if (!req || !req->regs)
		return false;
	if (!arch_get(req->arch) || (unsigned)req->mode >= _PUW_MODE_MAX)
		return false;
	if (max > 0 && !pcs)
		return false;
	if (req->stack_size > 0 && !req->stack)
		return false;
	/* The copy's end must be representable, so bounds checks never wrap. */
	if (req->stack_size > UINT64_MAX - req->stack_start)
		return false;
	return true;
}

int puw_unwind(const struct puw_request *req, uint64_t *pcs, unsigned max, enum puw_stop *ret_stop)
{
	struct puw_walk w;
	struct puw_frame f;
	const struct puw_regs *regs;
	struct puw_stats st = {0};
	enum puw_stop stop;
	unsigned n = 0;

	if (!request_valid(req, pcs, max) || !ret_stop)
		return -EINVAL;
	/* The count is returned as an int. */
	if (max > INT_MAX)
		max = INT_MAX;
	w.req = req;
	w.arch = arch_get(req->arch);
	regs = req->regs;
	/*
	 * Field by field: the register file (a few hundred bytes) is copied below only when a
	 * CFI mode reads it, never zeroed for nothing.
	 */
	f.pc = f.sp = f.fp = f.lr = 0;
	f.lr_valid = false;
	f.innermost = true;
	f.mod_valid = false;
	f.mod = NULL;
	f.n_mods = f.next_mod = 0;
	f.regs.valid = 0;

	/* Without a PC there is nothing to report: a kernel thread, or REGS_USER missing. */
	if (!puw_regs_has(regs, w.arch->dwarf_pc)) {
		*ret_stop = PUW_STOP_NO_REGS;
		return 0;
	}
	f.pc = regs->r[w.arch->dwarf_pc];
	if (n == max) {
		*ret_stop = PUW_STOP_MAX_DEPTH;
		return 0;
	}
	pcs[n++] = f.pc;

	/*
	 * The PC alone is still worth reporting when the walk cannot start. The frame-pointer
	 * walk needs sp and fp; CFI needs sp and whatever registers the rows name, checked as
	 * they are used.
	 */
	if (!puw_regs_has(regs, w.arch->dwarf_sp) ||
	    (req->mode == PUW_MODE_FP && !puw_regs_has(regs, w.arch->dwarf_fp))) {
		*ret_stop = PUW_STOP_NO_REGS;
		return n;
	}
	f.sp = regs->r[w.arch->dwarf_sp];
	f.fp = puw_regs_has(regs, w.arch->dwarf_fp) ? regs->r[w.arch->dwarf_fp] : 0;
	if (w.arch->dwarf_lr >= 0 && puw_regs_has(regs, (unsigned)w.arch->dwarf_lr)) {
		f.lr = regs->r[w.arch->dwarf_lr];
		f.lr_valid = true;
	}
	if (req->mode != PUW_MODE_FP) {
		/*
		 * Fixed-size copies, which the compiler inlines: x86-64 numbers everything a walk
		 * uses below 17 (16 is the return-address column), arm64 uses up to 32.
		 */
		memcpy(f.regs.r, regs->r, 17 * sizeof(regs->r[0]));
		if (regs->valid >> 17)
			memcpy(&f.regs.r[17], &regs->r[17],
			       (PUW_REGS_MAX - 17) * sizeof(regs->r[0]));
		f.regs.valid = regs->valid;
	}
	w.stack = req->stack;
	w.stack_start = req->stack_start;
	w.stack_reads = req->stack_size >= 8 ? req->stack_size - 7 : 0;
	/*
	 * The copy is mostly cold: the kernel wrote it on the sampled CPU, a while before this
	 * thread drains the ring. A walk reads a few words per frame, each read depending on
	 * the one before; asking for the first lines at once overlaps their misses instead.
	 */
	if (req->stack_size >= PUW_PREFETCH_BYTES) {
#pragma GCC unroll 64
		for (size_t off = 0; off < PUW_PREFETCH_BYTES; off += PUW_CACHE_LINE)
			__builtin_prefetch(req->stack + off);
	} else {
		for (size_t off = 0; off < req->stack_size; off += PUW_CACHE_LINE)
			__builtin_prefetch(req->stack + off);
	}

	for (;;) {
		if (req->mode != PUW_MODE_FP) {
			/* As many frames as CFI covers, in the architecture's own loop. */
			if (w.arch->cfi_walk(&w, &f, pcs, &n, max, &stop, &st))
				break;
			/*
			 * No CFI for this PC. PUW_MODE_AUTO takes the frame-pointer step, provided
			 * the frame's frame pointer is known (a CFI step may have left it
			 * unrecoverable).
			 */
			if (req->mode == PUW_MODE_CFI || !puw_regs_has(&f.regs, w.arch->dwarf_fp)) {
				stop = PUW_STOP_NO_CFI;
				break;
			}
			f.fp = f.regs.r[w.arch->dwarf_fp];
			if (w.arch->fp_step(&w, &f, &stop) == PUW_STEP_STOP)
				break;
			regs_after_fp_step(&w, &f);
			st.steps_fp_fallback++;
		} else if (w.arch->fp_step(&w, &f, &stop) == PUW_STEP_STOP) {
			break;
		}
		st.steps_fp++;
		f.mod_valid = false;
		if (w.req->find_module && !puw_frame_module(&w, &f)) {
			stop = PUW_STOP_BAD_PC;
			break;
		}
		if (n == max) {
			stop = PUW_STOP_MAX_DEPTH;
			break;
		}
		pcs[n++] = f.pc;
	}

	if (req->stats) {
		req->stats->steps_cfi += st.steps_cfi;
		req->stats->steps_fp += st.steps_fp;
		req->stats->steps_fp_fallback += st.steps_fp_fallback;
		req->stats->steps_signal += st.steps_signal;
	}
	*ret_stop = stop;
	return n;
}
