/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arm64 backend: perf <-> DWARF register numbering, the registers to request,
 * pointer-authentication stripping, and the frame-pointer step over AAPCS64 frame records
 * (x29 points at {saved x29, saved x30}), including the leaf case where the caller is still
 * only in the link register.
 *
 * Stateless tables and pure functions; safe from any thread, and usable on any host: an
 * arm64 sample is unwound the same on an x86-64 machine.
 */
#include <stdint.h>

#include "puw.h"
#include "puw-internal.h"

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
};
