/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x86-64 backend: perf <-> DWARF register numbering, the registers to request, the
 * frame-pointer step (System V psABI frames built by `push %rbp; mov %rsp, %rbp`), the
 * registers CFI tables keep, and the kernel's signal frame.
 *
 * Stateless tables and pure functions; safe from any thread.
 */
#include <stdint.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi-step.h"

/* Perf register numbers, arch/x86/include/uapi/asm/perf_regs.h (enum perf_event_x86_regs). */
enum {
	X86_PERF_AX = 0,
	X86_PERF_BX = 1,
	X86_PERF_CX = 2,
	X86_PERF_DX = 3,
	X86_PERF_SI = 4,
	X86_PERF_DI = 5,
	X86_PERF_BP = 6,
	X86_PERF_SP = 7,
	X86_PERF_IP = 8,
	X86_PERF_FLAGS = 9,
	X86_PERF_CS = 10,
	X86_PERF_SS = 11,
	X86_PERF_DS = 12,
	X86_PERF_ES = 13,
	X86_PERF_FS = 14,
	X86_PERF_GS = 15,
	X86_PERF_R8 = 16,
	X86_PERF_R12 = 20,
	X86_PERF_R13 = 21,
	X86_PERF_R14 = 22,
	X86_PERF_R15 = 23,
	X86_PERF_64_MAX = 24, /* PERF_REG_X86_64_MAX */
};

/*
 * DWARF register numbers, System V x86-64 psABI figure 3.36: rax rdx rcx rbx rsi rdi rbp
 * rsp = 0..7 (note rdx/rcx/rbx are not in encoding order), r8..r15 = 8..15, and 16 is the
 * return-address column, which holds rip.
 */
enum {
	X86_DWARF_RAX = 0,
	X86_DWARF_RDX = 1,
	X86_DWARF_RCX = 2,
	X86_DWARF_RBX = 3,
	X86_DWARF_RSI = 4,
	X86_DWARF_RDI = 5,
	X86_DWARF_RBP = 6,
	X86_DWARF_RSP = 7,
	X86_DWARF_R8 = 8,
	X86_DWARF_R12 = 12,
	X86_DWARF_R13 = 13,
	X86_DWARF_R14 = 14,
	X86_DWARF_R15 = 15,
	X86_DWARF_RA = 16,
};

#define BIT(n) (UINT64_C(1) << (n))

/*
 * Segment registers and rflags have DWARF numbers (49..) beyond PUW_REGS_MAX and play no
 * part in unwinding: -1.
 */
static const int8_t x86_64_perf_to_dwarf[X86_PERF_64_MAX] = {
	[X86_PERF_AX] = X86_DWARF_RAX,
	[X86_PERF_BX] = X86_DWARF_RBX,
	[X86_PERF_CX] = X86_DWARF_RCX,
	[X86_PERF_DX] = X86_DWARF_RDX,
	[X86_PERF_SI] = X86_DWARF_RSI,
	[X86_PERF_DI] = X86_DWARF_RDI,
	[X86_PERF_BP] = X86_DWARF_RBP,
	[X86_PERF_SP] = X86_DWARF_RSP,
	[X86_PERF_IP] = X86_DWARF_RA,
	[X86_PERF_FLAGS] = -1,
	[X86_PERF_CS] = -1,
	[X86_PERF_SS] = -1,
	[X86_PERF_DS] = -1,
	[X86_PERF_ES] = -1,
	[X86_PERF_FS] = -1,
	[X86_PERF_GS] = -1,
	[X86_PERF_R8 + 0] = X86_DWARF_R8 + 0,
	[X86_PERF_R8 + 1] = X86_DWARF_R8 + 1,
	[X86_PERF_R8 + 2] = X86_DWARF_R8 + 2,
	[X86_PERF_R8 + 3] = X86_DWARF_R8 + 3,
	[X86_PERF_R8 + 4] = X86_DWARF_R8 + 4,
	[X86_PERF_R8 + 5] = X86_DWARF_R8 + 5,
	[X86_PERF_R8 + 6] = X86_DWARF_R8 + 6,
	[X86_PERF_R8 + 7] = X86_DWARF_R8 + 7,
};

/*
 * A frame-pointer walk needs ip, sp and bp; CFI recovers the callee-saved registers (rbx,
 * rbp, r12..r15 in the psABI) of each caller, so those are requested too. r10 is not
 * callee-saved, but GCC's stack-realigning prologues (DRAP) define the CFA through it for a
 * few instructions: a sample taken there needs it for its own frame.
 */
#define X86_64_PERF_REGS_MASK                                                                      \
	(BIT(X86_PERF_BX) | BIT(X86_PERF_BP) | BIT(X86_PERF_SP) | BIT(X86_PERF_IP) |               \
	 BIT(X86_PERF_R8 + 2) | BIT(X86_PERF_R12) | BIT(X86_PERF_R13) | BIT(X86_PERF_R14) |        \
	 BIT(X86_PERF_R15))

/*
 * With frame pointers, rbp points at the saved caller rbp and the return address sits just
 * above it, pushed by `call`: exactly the shared frame-record layout.
 */
static enum puw_step x86_64_fp_step(const struct puw_walk *w, struct puw_frame *f,
				    enum puw_stop *ret_stop)
{
	return puw_frame_record_step(w, f, ret_stop);
}

/*
 * CFI keeps rules for the psABI callee-saved registers (a caller's CFA is rsp- or rbp-based,
 * or an expression over them: stack realignment reads the CFA through rbp) and the return
 * address column.
 */
static const uint8_t x86_64_kept_regs[] = {
	X86_DWARF_RBX, X86_DWARF_RBP, X86_DWARF_R12, X86_DWARF_R13,
	X86_DWARF_R14, X86_DWARF_R15, X86_DWARF_RA,
};

#define X86_64_CALLEE_SAVED                                                                        \
	(BIT(X86_DWARF_RBX) | BIT(X86_DWARF_RBP) | BIT(X86_DWARF_R12) | BIT(X86_DWARF_R13) |       \
	 BIT(X86_DWARF_R14) | BIT(X86_DWARF_R15))

/*
 * The kernel's rt_sigframe (arch/x86/include/asm/sigframe.h) is {pretcode, struct ucontext
 * uc, struct siginfo info}. The handler returns into __restore_rt with `ret`, which pops
 * pretcode: there rsp points at uc. uc_mcontext follows uc_flags, uc_link and the 24-byte
 * stack_t, at offset 40; struct sigcontext_64 starts with r8..r15, rdi, rsi, rbp, rbx, rdx,
 * rax, rcx, rsp, rip (glibc's CFI for __restore_rt reads the same offsets, 40..168).
 */
#define X86_64_UC_MCONTEXT 40

static const uint8_t x86_64_sigcontext_dwarf[] = {
	X86_DWARF_R8 + 0, X86_DWARF_R8 + 1, X86_DWARF_R8 + 2, X86_DWARF_R8 + 3, X86_DWARF_R12,
	X86_DWARF_R13,    X86_DWARF_R14,    X86_DWARF_R15,    X86_DWARF_RDI,    X86_DWARF_RSI,
	X86_DWARF_RBP,    X86_DWARF_RBX,    X86_DWARF_RDX,    X86_DWARF_RAX,    X86_DWARF_RCX,
	X86_DWARF_RSP,    X86_DWARF_RA,
};

static enum puw_step x86_64_sigframe_step(const struct puw_walk *w, struct puw_frame *f,
					  enum puw_stop *ret_stop)
{
	uint64_t base = f->sp + X86_64_UC_MCONTEXT;
	struct puw_regs regs = {.valid = 0};

	if (base < f->sp) {
		*ret_stop = PUW_STOP_STACK_EXHAUSTED;
		return PUW_STEP_STOP;
	}
	for (unsigned i = 0; i < sizeof(x86_64_sigcontext_dwarf); i++) {
		uint64_t v;

		if (!puw_stack_read_u64(w->req, base + 8 * i, &v)) {
			*ret_stop = PUW_STOP_STACK_EXHAUSTED;
			return PUW_STEP_STOP;
		}
		puw_regs_set(&regs, x86_64_sigcontext_dwarf[i], v);
	}
	/*
	 * The frame was pushed below the interrupted rsp (and its red zone). A saved rsp at or
	 * below the frame is a sigaltstack handler's (another stack, not in the copy) or junk.
	 */
	if (regs.r[X86_DWARF_RSP] <= f->sp) {
		*ret_stop = PUW_STOP_BAD_CFA;
		return PUW_STEP_STOP;
	}
	f->regs = regs;
	f->pc = regs.r[X86_DWARF_RA];
	f->sp = regs.r[X86_DWARF_RSP];
	f->fp = regs.r[X86_DWARF_RBP];
	f->innermost = true;
	return PUW_STEP_CALLER;
}

/*
 * cfi_rule.saved bits (x86_64_kept_regs order) to DWARF register bits: bit 0 -> 3 (rbx),
 * bit 1 -> 6 (rbp), bits 2..6 -> 12..16 (r12..r15, RA). A table: one load on the hot path.
 */
#define KEPT_DWARF(m)                                                                              \
	((uint64_t)((m) & 1) << X86_DWARF_RBX | (uint64_t)((m) & 2) << (X86_DWARF_RBP - 1) |      \
	 (uint64_t)((m) & 0x7c) << (X86_DWARF_R12 - 2))
#define KEPT_DWARF4(m) KEPT_DWARF(m), KEPT_DWARF((m) + 1), KEPT_DWARF((m) + 2), KEPT_DWARF((m) + 3)
#define KEPT_DWARF16(m)                                                                            \
	KEPT_DWARF4(m), KEPT_DWARF4((m) + 4), KEPT_DWARF4((m) + 8), KEPT_DWARF4((m) + 12)

static const uint64_t x86_64_kept_dwarf[128] = {
	KEPT_DWARF16(0),  KEPT_DWARF16(16), KEPT_DWARF16(32), KEPT_DWARF16(48),
	KEPT_DWARF16(64), KEPT_DWARF16(80), KEPT_DWARF16(96), KEPT_DWARF16(112),
};

static uint64_t x86_64_kept_to_dwarf(uint32_t kept)
{
	return x86_64_kept_dwarf[kept & 127];
}

static const struct cfi_step_arch x86_64_cfi;

static enum puw_step x86_64_cfi_step_general(const struct puw_walk *w, struct puw_frame *f,
					 const struct cfi_rule *rule, enum puw_stop *ret_stop)
{
	return cfi_step_general(w, f, rule, ret_stop, &x86_64_cfi);
}

static const struct cfi_step_arch x86_64_cfi = {
	.kept = {X86_DWARF_RBX, X86_DWARF_RBP, X86_DWARF_R12, X86_DWARF_R13, X86_DWARF_R14,
		 X86_DWARF_R15, X86_DWARF_RA},
	.n_kept = sizeof(x86_64_kept_regs),
	.sp = X86_DWARF_RSP,
	.fp = X86_DWARF_RBP,
	.pc = X86_DWARF_RA,
	.ra_col = X86_DWARF_RA,
	.callee_saved = X86_64_CALLEE_SAVED,
	.strip_ra = NULL,
	.kept_to_dwarf = x86_64_kept_to_dwarf,
	.step_general = x86_64_cfi_step_general,
};

static bool x86_64_cfi_walk(const struct puw_walk *w, struct puw_frame *f, uint64_t *pcs,
				  unsigned *n, unsigned max, enum puw_stop *ret_stop,
				  struct puw_stats *st)
{
	return cfi_walk_inline(w, f, pcs, n, max, ret_stop, st, &x86_64_cfi);
}

const struct puw_arch_ops puw_arch_x86_64_ops = {
	.name = "x86_64",
	.perf_regs_mask = X86_64_PERF_REGS_MASK,
	.perf_to_dwarf = x86_64_perf_to_dwarf,
	.n_perf_regs = X86_PERF_64_MAX,
	.dwarf_pc = X86_DWARF_RA,
	.dwarf_sp = X86_DWARF_RSP,
	.dwarf_fp = X86_DWARF_RBP,
	.dwarf_lr = -1,
	.strip_ra = NULL, /* return addresses are stored as-is */
	.fp_step = x86_64_fp_step,
	.ra_col = X86_DWARF_RA,
	.kept_regs = x86_64_kept_regs,
	.n_kept = sizeof(x86_64_kept_regs),
	.callee_saved = X86_64_CALLEE_SAVED,
	.sigframe_step = x86_64_sigframe_step,
	.sigreturn_lead = 1, /* glibc: a nop before __restore_rt, inside its FDE */
	.cfi_walk = x86_64_cfi_walk,
};
