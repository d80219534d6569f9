/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CFI step: turns a frame into its caller's by one compiled row (cfi.h). This is the
 * per-frame hot path of every CFI unwind, written once here and instantiated by each
 * architecture backend with its constants (kept registers, columns, callee-saved set), so
 * that the compiler resolves every table lookup and bit position at build time. The rare
 * cases (expression CFAs, register or expression rules) call out to cfi-step.c.
 *
 * What it guarantees the driver: the caller's sp is the CFA and the CFA lies strictly above
 * the frame's sp (at or above for an exact frame, a leaf that allocated nothing); every
 * value it recovers came from the frame's known registers or the stack copy; registers it
 * cannot recover are marked unknown, never guessed. No allocation, no state.
 */
#ifndef PUW_CFI_STEP_H
#define PUW_CFI_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"

/*
 * CFI_SLOT_OUTSIDE_COPY: a callee-saved register whose save slot lies outside the stack
 * copy becomes unknown; the walk goes on. The common case is a sample on an epilogue's
 * `ret` whose row still says "rbx..r15 saved at CFA-56..CFA-16" (GCC does not always undo
 * the rules as it pops): the slots are below the sampled SP, where the copy does not reach.
 * Only a later frame whose CFA needs such a register stops (PUW_STOP_BAD_CFA), as libunwind
 * and libdw do. The return address is different: without it there is no caller.
 */

/* An architecture's constants, as the step needs them. */
struct cfi_step_arch {
	uint8_t kept[CFI_MAX_KEPT]; /* = puw_arch_ops.kept_regs; the RA column last */
	unsigned n_kept;
	unsigned sp, fp, pc, ra_col;
	uint64_t callee_saved;
	uint64_t (*strip_ra)(uint64_t ra);
};

/* The CFA for any kind but register + offset and the signal frame; 0 or a stop reason. */
int puw_cfi_cfa_slow(const struct puw_walk *w, const struct puw_frame *f,
		     const struct cfi_rule *rule, uint64_t *ret);
/* Recovery for rules that are not CFI_F_SIMPLE; 0 or a stop reason. */
int puw_cfi_regs_recover(const struct puw_walk *w, const struct puw_frame *f,
			 const struct cfi_rule *rule, uint64_t cfa, struct puw_regs *out);

static inline __attribute__((always_inline)) enum puw_step
cfi_step_inline(const struct puw_walk *w, struct puw_frame *f, const struct cfi_rule *rule,
		enum puw_stop *ret_stop, const struct cfi_step_arch *k)
{
	struct puw_regs *regs = &f->regs;
	const uint64_t ra_bit = UINT64_C(1) << k->ra_col;
	const uint32_t ra_saved = rule->saved & (1u << (k->n_kept - 1));
	uint64_t cfa, ra, valid;
	int r;

	/*
	 * The outermost frame (_start, a thread's entry) marks its return address undefined
	 * (DW_CFA_undefined): the walk ends there whatever its CFA says — arm64 _start has
	 * CFA == sp, which the direction check below would call a bad CFA.
	 */
	if (ra_saved && cfi_reg_kind(rule->reg[k->n_kept - 1]) == PUW_CFI_UNDEFINED) {
		*ret_stop = PUW_STOP_END;
		return PUW_STEP_STOP;
	}

	if (__builtin_expect(rule->cfa_kind == CFI_CFA_REG, 1)) {
		/* The common case: sp- or fp-relative. */
		if (!puw_regs_has(regs, rule->cfa_reg)) {
			*ret_stop = PUW_STOP_BAD_CFA;
			return PUW_STEP_STOP;
		}
		cfa = regs->r[rule->cfa_reg] + (uint64_t)(int64_t)rule->cfa_off;
	} else if (rule->cfa_kind == CFI_CFA_SIGFRAME) {
		return w->arch->sigframe_step(w, f, ret_stop);
	} else {
		r = puw_cfi_cfa_slow(w, f, rule, &cfa);
		if (r) {
			*ret_stop = (enum puw_stop)r;
			return PUW_STEP_STOP;
		}
	}

	/*
	 * The caller's frame lies above this one. Only an exact frame (the sample's, or the one
	 * a signal interrupted) may have CFA == sp: a leaf that pushed nothing (arm64; x86-64
	 * always has the return address between). Exact frames cannot follow each other without
	 * a signal frame in between, and that one moves up, so the walk terminates.
	 */
	if (cfa < f->sp || (cfa == f->sp && !f->innermost)) {
		*ret_stop = PUW_STOP_BAD_CFA;
		return PUW_STEP_STOP;
	}

	/*
	 * The return address is kept like the callee-saved registers (last), so recovering
	 * them recovers it: from its slot, or still in its register when its rule is "same
	 * value" (arm64 LR in a leaf or a prologue). Undefined marks the outermost frame
	 * (_start, thread entry: DW_CFA_undefined on the RA column).
	 */
	valid = regs->valid;
	if (!ra_saved && !(valid & ra_bit)) {
		*ret_stop = PUW_STOP_BAD_CFA;
		return PUW_STEP_STOP;
	}
	if (__builtin_expect(rule->flags & CFI_F_SIMPLE, 1)) {
		/*
		 * Every saved register is at or relative to the CFA: values go straight into the
		 * register file. What no rule mentions keeps its value only if callee-saved.
		 */
		uint64_t nvalid = (valid & k->callee_saved) | (ra_saved ? 0 : valid & ra_bit);

		for (uint32_t saved = rule->saved; saved; saved &= saved - 1) {
			unsigned i = (unsigned)__builtin_ctz(saved);
			uint32_t rr = rule->reg[i];
			unsigned reg = k->kept[i];

			if (__builtin_expect(cfi_reg_kind(rr) == PUW_CFI_OFFSET, 1)) {
				uint64_t slot = cfa + (uint64_t)(int64_t)cfi_reg_value(rr);

				if (puw_walk_read_u64(w, slot, &regs->r[reg])) {
					nvalid |= UINT64_C(1) << reg;
				} else if (reg == k->ra_col) {
					*ret_stop = PUW_STOP_STACK_EXHAUSTED;
					return PUW_STEP_STOP;
				} else {
					/* See CFI_SLOT_OUTSIDE_COPY: unknown, not fatal. */
					nvalid &= ~(UINT64_C(1) << reg);
				}
			} else if (cfi_reg_kind(rr) == PUW_CFI_VAL_OFFSET) {
				regs->r[reg] = cfa + (uint64_t)(int64_t)cfi_reg_value(rr);
				nvalid |= UINT64_C(1) << reg;
			} else {
				nvalid &= ~(UINT64_C(1) << reg);
			}
		}
		regs->valid = nvalid;
	} else {
		r = puw_cfi_regs_recover(w, f, rule, cfa, regs);
		if (r) {
			*ret_stop = (enum puw_stop)r;
			return PUW_STEP_STOP;
		}
		/* Recovery kept only callee-saved registers; "same value" keeps the RA too. */
		if (!ra_saved)
			regs->valid |= valid & ra_bit;
	}
	if (!(regs->valid & ra_bit)) {
		*ret_stop = PUW_STOP_END;
		return PUW_STEP_STOP;
	}
	ra = regs->r[k->ra_col];
	if (k->strip_ra)
		ra = k->strip_ra(ra);
	/* Some runtimes end the chain with a zero return address. */
	if (ra == 0) {
		*ret_stop = PUW_STOP_END;
		return PUW_STEP_STOP;
	}

	regs->r[k->sp] = cfa;
	regs->r[k->ra_col] = ra;
	regs->r[k->pc] = ra;
	regs->valid |= (UINT64_C(1) << k->sp) | ra_bit | (UINT64_C(1) << k->pc);

	f->pc = ra;
	f->sp = cfa;
	f->fp = regs->valid & (UINT64_C(1) << k->fp) ? regs->r[k->fp] : 0;
	f->lr = 0;
	f->lr_valid = false;
	/* A signal frame's caller was interrupted, not calling: its PC is exact. */
	f->innermost = (rule->flags & CFI_F_SIGNAL) != 0;
	return PUW_STEP_CALLER;
}

/*
 * Steps from f while compiled CFI covers each PC (puw_arch_ops.cfi_walk). The driver's loop
 * for CFI frames, here so that the step inlines into it with the architecture's constants.
 */
static inline __attribute__((always_inline)) bool
cfi_walk_inline(const struct puw_walk *w, struct puw_frame *f, uint64_t *pcs, unsigned *ret_n,
		unsigned max, enum puw_stop *ret_stop, struct puw_stats *st,
		const struct cfi_step_arch *k)
{
	const struct puw_request *req = w->req;
	struct puw_cache *cache = req->cache;
	unsigned n = *ret_n;
	bool stopped = true;

	for (;;) {
		const struct cfi_rule *rule;
		uint64_t pc;

		if (!puw_frame_module(w, f) || !f->mod.cfi) {
			stopped = false;
			break;
		}
		pc = (f->innermost ? f->pc : f->pc - 1) - f->mod.bias;
		rule = cache ? cfi_lookup_cached(f->mod.cfi, cache, pc)
			     : cfi_lookup(f->mod.cfi, pc);
		if (!rule) {
			stopped = false;
			break;
		}
		if (cfi_step_inline(w, f, rule, ret_stop, k) == PUW_STEP_STOP)
			break;
		st->steps_cfi++;
		/* Only crossing a signal frame makes a caller's PC exact. */
		st->steps_signal += f->innermost;
		f->mod_valid = false;
		if (req->find_module && !puw_frame_module(w, f)) {
			*ret_stop = PUW_STOP_BAD_PC;
			break;
		}
		if (n == max) {
			*ret_stop = PUW_STOP_MAX_DEPTH;
			break;
		}
		pcs[n++] = f->pc;
	}
	*ret_n = n;
	return stopped;
}

#endif
