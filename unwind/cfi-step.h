/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CFI step: turns a frame into its caller's by one compiled row (cfi.h). This is the
 * per-frame hot path of every CFI unwind, written once here and instantiated by each
 * architecture backend with its constants (kept registers, columns, callee-saved set), so
 * that the compiler resolves every table lookup and bit position at build time.
 *
 * Two tiers. The walk (cfi_walk_inline()) keeps the frame in locals and applies the rows
 * that nearly every frame of compiled code has (CFI_F_FAST: CFA = register + offset, saved
 * registers at CFA + offset) without a call or a rule kind to decode, after one range check
 * and one cache probe. Every other row goes to cfi_step_general(), out of line, on the
 * frame itself; its rare cases (expression CFAs, register or expression rules) call out to
 * cfi-step.c. Both tiers compute exactly the same caller.
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
	/* Kept-register bits (cfi_rule.saved) to DWARF register bits; inlined. */
	uint64_t (*kept_to_dwarf)(uint32_t kept_bits);
	/* cfi_step_general() with these constants, out of line (the walk's uncommon rows). */
	enum puw_step (*step_general)(const struct puw_walk *w, struct puw_frame *f,
				      const struct cfi_rule *rule, enum puw_stop *ret_stop);
};

/* The CFA for any kind but register + offset and the signal frame; 0 or a stop reason. */
int puw_cfi_cfa_slow(const struct puw_walk *w, const struct puw_frame *f,
		     const struct cfi_rule *rule, uint64_t *ret);
/* Recovery for rules that are not CFI_F_SIMPLE; 0 or a stop reason. */
int puw_cfi_regs_recover(const struct puw_walk *w, const struct puw_frame *f,
			 const struct cfi_rule *rule, uint64_t cfa, struct puw_regs *out);

/*
 * One CFI step by any row, on f itself: the rows the walk's fast path does not take
 * (CFI_F_FAST clear: the outermost frame, expression or PLT CFAs, register or expression
 * rules, signal frames, a return address still in its register). Instantiated out of line
 * by each backend (cfi_step_arch.step_general).
 */
static inline __attribute__((always_inline)) enum puw_step
cfi_step_general(const struct puw_walk *w, struct puw_frame *f, const struct cfi_rule *rule,
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
	 * always has the return address between). A signal frame's row never may: the kernel's
	 * sigframe sits at sp, the interrupted frame above it; and a signal frame's caller is
	 * exact, so a row that kept sp would allow the same step again, for ever (a hand-built
	 * 'S' FDE with CFA = sp + 0 and the PC in its RA slot). With that, exact frames cannot
	 * follow each other without a signal frame in between, which moves up: the walk ends.
	 */
	if (cfa < f->sp || (cfa == f->sp && (!f->innermost || (rule->flags & CFI_F_SIGNAL)))) {
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
 * The slot for runtime address addr in module m (addr inside it): m's ranges checked one by
 * one, then the cache's slot, or without a cache (or outside the table) scratch filled from
 * the table. Its rule is NULL when no CFI covers addr.
 */
const struct cfi_cache_slot *cfi_walk_lookup_slow(const struct puw_frame_module *m,
						  struct puw_cache *cache, uint64_t addr,
						  struct cfi_cache_slot *scratch);

/*
 * Steps from f while compiled CFI covers each PC (puw_arch_ops.cfi_walk): the driver's loop
 * for CFI frames, here so that the step inlines into it with the architecture's constants.
 * The frame's state lives in locals (registers) and its register file in f->regs.r; f is
 * brought up to date before anything out of line reads it, and when the walk returns.
 *
 * Per frame, in the common case: a range check standing for both the module and its table,
 * one cache probe, and a CFI_F_FAST row applied — no call, no rule kind to decode. Anything
 * else (a module change, a cache miss, another kind of row) goes out of line and comes back.
 */
static inline __attribute__((always_inline)) bool
cfi_walk_inline(const struct puw_walk *w, struct puw_frame *f, uint64_t *pcs, unsigned *ret_n,
		unsigned max, enum puw_stop *ret_stop, struct puw_stats *st,
		const struct cfi_step_arch *k)
{
	struct puw_cache *const cache = w->req->cache;
	uint64_t *const r = f->regs.r;
	const uint64_t ra_bit = UINT64_C(1) << k->ra_col;
	const uint64_t caller_bits = (UINT64_C(1) << k->sp) | ra_bit | (UINT64_C(1) << k->pc);
	uint64_t *out = pcs + *ret_n, *const end = pcs + max;
	uint64_t flo, flen, kbase;
	/* The frame: pc, sp, registers known; adj 1 when pc is a return address, 0 if exact. */
	uint64_t pc, sp, valid, adj;
	/* The last step was a fast one: f->fp and f->lr are to be derived from it on return. */
	bool stepped = false;
	/* Steps that produced a caller but no PC: the walk ended right after them. */
	unsigned extra = 0;
	bool stopped = true;
	/* The frame's lookup address (pc - adj) relative to the fast range. */
	uint64_t d;
	/* The slot of lookups that do not go through the cache. */
	struct cfi_cache_slot scratch;

	/* Without a callback there is no module, hence no CFI: the driver decides. */
	if (!puw_frame_module(w, f) || !f->mod->ans.cfi)
		return false;
	flo = f->mod->flo;
	flen = f->mod->flen;
	kbase = f->mod->kbase;
	pc = f->pc;
	sp = f->sp;
	valid = f->regs.valid;
	adj = !f->innermost;
	d = pc - adj - flo;

/* Brings f up to date with the locals. */
#define CFI_WALK_SYNC()                                                                            \
	do {                                                                                       \
		f->pc = pc;                                                                        \
		f->sp = sp;                                                                        \
		f->regs.valid = valid;                                                             \
		f->innermost = !adj;                                                               \
		if (stepped) {                                                                     \
			f->fp = valid & (UINT64_C(1) << k->fp) ? r[k->fp] : 0;                     \
			f->lr = 0;                                                                 \
			f->lr_valid = false;                                                       \
		}                                                                                  \
	} while (0)

	for (;;) {
		const struct cfi_cache_slot *e;
		uint64_t cfa, ra;

		if (__builtin_expect(d < flen, 1)) {
			uint64_t key = d + kbase;
			/* Fibonacci hashing: spreads nearby addresses and tables over the slots. */
			uint32_t h = (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >>
						(64 - CFI_CACHE_BITS));

			e = &cache->slot[h];
			if (__builtin_expect(e->key != key, 0))
				e = cfi_cache_fill(cache, f->mod->ans.cfi, (uint32_t)key, key, h);
		} else {
			e = cfi_walk_lookup_slow(f->mod, cache, pc - adj, &scratch);
		}

		if (__builtin_expect(e->fast, 1)) {
			/*
			 * CFA = register + offset, every saved register (the RA too) at CFA +
			 * offset: no rule kind to decode, and the RA comes from the stack. A slot's
			 * offset in the stack copy is (cfa - stack_start) + value: one subtraction
			 * per frame, one comparison per register.
			 */
			const uint8_t *const stack = w->stack;
			const uint64_t reads = w->stack_reads;
			const uint32_t saved = e->saved;
			const unsigned ra_i = k->n_kept - 1;
			const unsigned cfa_reg = e->cfa_reg;
			uint32_t fail = 0;
			uint64_t base, off, v;

			/*
			 * r[k->sp] is always sp, and known: the walk starts only with it
			 * (puw_unwind()) and every step sets both. Most CFAs are sp-based: no
			 * load, no check.
			 */
			if (__builtin_expect(cfa_reg == k->sp, 1)) {
				cfa = sp;
			} else if (valid & (UINT64_C(1) << cfa_reg)) {
				cfa = r[cfa_reg];
			} else {
				*ret_stop = PUW_STOP_BAD_CFA;
				break;
			}
			cfa += (uint64_t)(int64_t)e->cfa_off;
			/* As in cfi_step_general(): the caller's frame lies above this one. */
			if (cfa < sp || (cfa == sp && adj)) {
				*ret_stop = PUW_STOP_BAD_CFA;
				break;
			}
			base = cfa - w->stack_start;
			/*
			 * Unrolled over the architecture's kept registers, so that each register's
			 * slot in r[] is a constant; the RA, always saved here, stays in a
			 * register.
			 */
#pragma GCC unroll 16
			for (unsigned i = 0; i < ra_i; i++) {
				if (!(saved & (1u << i)))
					continue;
				off = base + (uint64_t)(int64_t)e->off[i];
				if (__builtin_expect(off < reads, 1)) {
					memcpy(&v, stack + off, sizeof(v));
					r[k->kept[i]] = le64toh(v);
				} else {
					fail |= 1u << i;
				}
			}
			off = base + (uint64_t)(int64_t)e->off[ra_i];
			if (__builtin_expect(off >= reads, 0)) {
				*ret_stop = PUW_STOP_STACK_EXHAUSTED;
				break;
			}
			memcpy(&ra, stack + off, sizeof(ra));
			ra = le64toh(ra);
			/* What no rule mentions keeps its value only if callee-saved. */
			valid = (valid & k->callee_saved) | k->kept_to_dwarf(saved);
			/* See CFI_SLOT_OUTSIDE_COPY: unknown, not fatal. */
			if (__builtin_expect(fail != 0, 0))
				valid &= ~k->kept_to_dwarf(fail);
			if (k->strip_ra)
				ra = k->strip_ra(ra);
			/* Some runtimes end the chain with a zero return address. */
			if (ra == 0) {
				*ret_stop = PUW_STOP_END;
				break;
			}
			r[k->sp] = cfa;
			r[k->ra_col] = ra;
			r[k->pc] = ra;
			valid |= caller_bits;
			pc = ra;
			sp = cfa;
			/* Not a signal frame (CFI_F_FAST): the caller's PC is a return address. */
			adj = 1;
			stepped = true;
		} else if (!e->rule) {
			stopped = false;
			break;
		} else {
			CFI_WALK_SYNC();
			if (k->step_general(w, f, e->rule, ret_stop) == PUW_STEP_STOP)
				break;
			pc = f->pc;
			sp = f->sp;
			valid = f->regs.valid;
			adj = !f->innermost;
			stepped = false;
			/* Only crossing a signal frame makes a caller's PC exact. */
			st->steps_signal += !adj;
		}

		/*
		 * The caller's module: mostly the same one, and the lookup address inside the fast
		 * range (the call instruction's last byte for a return address, else the PC).
		 */
		d = pc - adj - flo;
		if (__builtin_expect(d >= flen, 0) && pc - adj - f->mod->ans.start >= f->mod->len) {
			f->pc = pc;
			f->innermost = !adj;
			f->mod_valid = false;
			if (!puw_frame_module_slow(w, f, pc - adj)) {
				*ret_stop = PUW_STOP_BAD_PC;
				extra = 1;
				break;
			}
			flo = f->mod->flo;
			flen = f->mod->flen;
			kbase = f->mod->kbase;
			d = pc - adj - flo;
		}
		if (out == end) {
			*ret_stop = PUW_STOP_MAX_DEPTH;
			extra = 1;
			break;
		}
		/* A module without CFI: the next lookup finds no rule, and the driver goes on. */
		*out++ = pc;
	}
	CFI_WALK_SYNC();
#undef CFI_WALK_SYNC
	st->steps_cfi += (uint64_t)(out - (pcs + *ret_n)) + extra;
	*ret_n = (unsigned)(out - pcs);
	return stopped;
}

#endif
