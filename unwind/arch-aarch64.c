/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arm64 backend: perf <-> DWARF register numbering, the registers to request,
 * pointer-authentication stripping, and the frame-pointer step over AAPCS64 frame records
 * (x29 points at {saved x29, saved x30}), including the leaf case where the caller is still
 * only in the link register; the registers CFI tables keep, and the kernel's signal frame.
 *
 * Stateless tables and pure functions; safe from any thread, and usable on any host: an
 * arm64 sample is unwound the same on an x86-64 machine.
 */
#include <stdint.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi-step.h"

/*
 * Perf register numbers, arch/arm64/include/uapi/asm/perf_regs.h: X0..X30 = 0..30,
 * SP = 31, PC = 32. The DWARF numbers (AAPCS64 "DWARF for the Arm 64-bit Architecture")
 * are x0..x30 = 0..30, sp = 31, and this library uses 32 as the pc pseudo-column, so the
 * mapping is the identity.
 */
enum {
	A64_PERF_X19 = 19,
	A64_PERF_X29 = 29,
	A64_PERF_X30 = 30,
	A64_PERF_SP = 31,
	A64_PERF_PC = 32,
	A64_PERF_MAX = 33, /* PERF_REG_ARM64_MAX */
};

enum {
	A64_DWARF_FP = 29,
	A64_DWARF_LR = 30,
	A64_DWARF_SP = 31,
	A64_DWARF_PC = 32,
};

#define BIT(n) (UINT64_C(1) << (n))

/* clang-format off */
static const int8_t aarch64_perf_to_dwarf[A64_PERF_MAX] = {
	 0,  1,  2,  3,  4,  5,  6,  7,
	 8,  9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23,
	24, 25, 26, 27, 28, 29, 30, 31,
	32,
};
/* clang-format on */

/*
 * x19..x28 are the AAPCS64 callee-saved registers CFI recovers later; x29 (FP) and x30
 * (LR) start the frame-pointer walk; sp and pc seed the innermost frame.
 */
#define AARCH64_PERF_REGS_MASK                                                                     \
	(((BIT(A64_PERF_X30 + 1) - 1) & ~(BIT(A64_PERF_X19) - 1)) | BIT(A64_PERF_SP) |             \
	 BIT(A64_PERF_PC))

/*
 * Pointer authentication (ARMv8.3 PAC) signs return addresses by putting a code in the
 * otherwise unused upper bits of the pointer, above the virtual-address size (up to bit 54,
 * and in the top byte when top-byte-ignore is off). A signed LR or saved x30 is not an
 * address until those bits are cleared; clearing them also drops a TBI tag.
 *
 * Linux gives user space at most 48 VA bits unless a process explicitly maps above 2^48 on
 * a 52-bit kernel, and 39- or 42-bit configurations use fewer: keeping the low 48 bits is
 * right for every ordinary user address. A later phase derives the mask from the target's
 * VA size (ptrace exposes the PAC masks as the NT_ARM_PAC_MASK regset).
 */
#define AARCH64_USER_VA_BITS 48
#define AARCH64_USER_VA_MASK (BIT(AARCH64_USER_VA_BITS) - 1)

static uint64_t aarch64_strip_ra(uint64_t ra)
{
	return ra & AARCH64_USER_VA_MASK;
}

/*
 * A leaf function (or any function before its prologue stores {x29, x30}) has not saved its
 * return address: x29 still points at the caller's record, whose saved x30 returns to the
 * caller's caller, and the caller itself exists only in LR. So the first step offers LR as
 * the caller, with sp and fp unchanged, when LR is a plausible code address and is not the
 * very value the record at x29 holds (a non-leaf that stored its record: LR == saved x30,
 * reporting it twice would invent a frame).
 *
 * Known limit of any FP-only heuristic: a non-leaf that has made a call and got back has a
 * stale LR pointing into itself; CFI tells the cases apart.
 */
static enum puw_step aarch64_fp_step(const struct puw_walk *w, struct puw_frame *f,
				     enum puw_stop *ret_stop)
{
	if (f->innermost && f->lr_valid) {
		uint64_t lr = aarch64_strip_ra(f->lr);
		uint64_t saved;
		bool record_has_lr = false;

		/* One chance only: this frame must not offer LR again. */
		f->lr_valid = false;

		if (f->fp != 0 && (f->fp & 7) == 0 && f->fp >= f->sp &&
		    puw_stack_contains(w->req, f->fp, PUW_FRAME_RECORD_BYTES) &&
		    puw_stack_read_u64(w->req, f->fp + 8, &saved))
			record_has_lr = aarch64_strip_ra(saved) == lr;

		if (lr != 0 && !record_has_lr && puw_ra_in_module(w, lr)) {
			f->pc = lr;
			f->lr = 0;
			f->innermost = false;
			return PUW_STEP_CALLER;
		}
	}
	return puw_frame_record_step(w, f, ret_stop);
}

/*
 * CFI keeps x19..x28 (AAPCS64 callee-saved), x29 (frame pointer, often a caller's CFA base)
 * and x30, the return-address column. The table order is the DWARF order.
 */
static const uint8_t aarch64_kept_regs[] = {19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};

#define AARCH64_CALLEE_SAVED (((BIT(A64_DWARF_FP + 1) - 1) & ~(BIT(19) - 1)))

/*
 * The kernel's arm64 rt_sigframe (arch/arm64/kernel/signal.c) is {struct siginfo info (128
 * bytes), struct ucontext uc}, and the handler runs with sp at the frame, returning to
 * __kernel_rt_sigreturn in the vDSO with sp unchanged. In uc (uapi asm/ucontext.h):
 * uc_flags, uc_link, 24-byte stack_t, the 8-byte kernel sigset_t padded to 128 bytes, then
 * struct sigcontext aligned to 16, at 176: fault_address, regs[31], sp, pc, pstate. So
 * x0 is at sp + 128 + 176 + 8 = 312, sp at 560 and pc at 568.
 */
#define AARCH64_SIGFRAME_REGS 312

static enum puw_step aarch64_sigframe_step(const struct puw_walk *w, struct puw_frame *f,
					   enum puw_stop *ret_stop)
{
	uint64_t base = f->sp + AARCH64_SIGFRAME_REGS;
	struct puw_regs regs = {.valid = 0};

	if (base < f->sp) {
		*ret_stop = PUW_STOP_STACK_EXHAUSTED;
		return PUW_STEP_STOP;
	}
	/* x0..x30, sp, pc: DWARF 0..32, in this order. */
	for (unsigned i = 0; i <= A64_DWARF_PC; i++) {
		uint64_t v;

		if (!puw_stack_read_u64(w->req, base + 8 * i, &v)) {
			*ret_stop = PUW_STOP_STACK_EXHAUSTED;
			return PUW_STEP_STOP;
		}
		puw_regs_set(&regs, i, v);
	}
	/* The frame lies below the interrupted sp, unless the handler ran on a sigaltstack. */
	if (regs.r[A64_DWARF_SP] <= f->sp) {
		*ret_stop = PUW_STOP_BAD_CFA;
		return PUW_STEP_STOP;
	}
	f->regs = regs;
	f->pc = regs.r[A64_DWARF_PC];
	f->sp = regs.r[A64_DWARF_SP];
	f->fp = regs.r[A64_DWARF_FP];
	f->lr = regs.r[A64_DWARF_LR];
	f->lr_valid = true;
	f->innermost = true;
	return PUW_STEP_CALLER;
}

/* cfi_rule.saved bits to DWARF register bits: the kept registers are x19..x30, in order. */
static uint64_t aarch64_kept_to_dwarf(uint32_t kept)
{
	return (uint64_t)kept << 19;
}

static const struct cfi_step_arch aarch64_cfi;

static enum puw_step aarch64_cfi_step_general(const struct puw_walk *w, struct puw_frame *f,
					 const struct cfi_rule *rule, enum puw_stop *ret_stop)
{
	return cfi_step_general(w, f, rule, ret_stop, &aarch64_cfi);
}

static const struct cfi_step_arch aarch64_cfi = {
	.kept = {19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30},
	.n_kept = sizeof(aarch64_kept_regs),
	.sp = A64_DWARF_SP,
	.fp = A64_DWARF_FP,
	.pc = A64_DWARF_PC,
	.ra_col = A64_DWARF_LR,
	.callee_saved = AARCH64_CALLEE_SAVED,
	.strip_ra = aarch64_strip_ra,
	.kept_to_dwarf = aarch64_kept_to_dwarf,
	.step_general = aarch64_cfi_step_general,
};

static bool aarch64_cfi_walk(const struct puw_walk *w, struct puw_frame *f, uint64_t *pcs,
				   unsigned *n, unsigned max, enum puw_stop *ret_stop,
				   struct puw_stats *st)
{
	return cfi_walk_inline(w, f, pcs, n, max, ret_stop, st, &aarch64_cfi);
}

const struct puw_arch_ops puw_arch_aarch64_ops = {
	.name = "aarch64",
	.perf_regs_mask = AARCH64_PERF_REGS_MASK,
	.perf_to_dwarf = aarch64_perf_to_dwarf,
	.n_perf_regs = A64_PERF_MAX,
	.dwarf_pc = A64_DWARF_PC,
	.dwarf_sp = A64_DWARF_SP,
	.dwarf_fp = A64_DWARF_FP,
	.dwarf_lr = A64_DWARF_LR,
	.strip_ra = aarch64_strip_ra,
	.fp_step = aarch64_fp_step,
	.ra_col = A64_DWARF_LR,
	.kept_regs = aarch64_kept_regs,
	.n_kept = sizeof(aarch64_kept_regs),
	.callee_saved = AARCH64_CALLEE_SAVED,
	.sigframe_step = aarch64_sigframe_step,
	.sigreturn_lead = 4, /* the kernel puts a nop before __kernel_rt_sigreturn */
	.cfi_walk = aarch64_cfi_walk,
};
