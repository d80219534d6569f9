/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the puw unwinder shared by the generic driver (unwind.c) and the
 * architecture backends (arch-x86_64.c, arch-aarch64.c). Not installed, not for callers.
 *
 * The driver walks one frame at a time over a small frame state (struct puw_frame). Each
 * step asks a method to turn the frame into its caller's: the table-driven CFI step
 * (cfi-step.h, run in the architecture's own loop, puw_arch_ops.cfi_walk) when the mode
 * allows and a compiled table covers the PC, else the architecture's frame-pointer step. A
 * step never reads outside the stack copy and never dereferences a target address: every
 * read goes through puw_stack_read_u64() or puw_walk_read_u64().
 *
 * Invariant the driver relies on for termination: every step that produces a caller frame
 * either moves sp strictly toward the stack base or is a one-off that cannot repeat: arm64's
 * "caller still in LR" step, only taken from an exact frame, and a CFI step from an exact
 * frame whose CFA equals its SP (a leaf that allocated nothing). Exact frames come only
 * from the sample and from signal frames, and crossing a signal frame moves sp strictly up.
 */
#ifndef PUW_INTERNAL_H
#define PUW_INTERNAL_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"

/* Module answers one unwind remembers (a power of two). */
#define PUW_MODULE_MEMO 4

/*
 * One answer of find_module, and what the CFI walk derives from it once
 * (puw_frame_module_derive(), cfi-step.c): stacks go back and forth between a few modules
 * (an interpreter, libc, the executable), so an unwind keeps its last few answers, and
 * returning to one costs a range check.
 */
struct puw_frame_module {
	/*
	 * The answer, written by find_module in place: copying it out right after the
	 * callback's stores would stall on store forwarding (GCC copies it with wide loads).
	 */
	struct puw_module ans;
	uint64_t len; /* ans.end - ans.start; 0 for a nonsensical answer (end <= start) */
	/*
	 * The CFI walk: the table offset of runtime address a is a - lo, inside the table when
	 * below span; the cache key of an address is (table id << 32 | offset), key_hi the
	 * first part. The fast range [flo, flo + flen) is where both the module and its table
	 * hold, so that one comparison stands for both; there the key is (a - flo) + kbase.
	 */
	uint64_t lo, span, key_hi;
	uint64_t flo, flen, kbase;
};

/* State of one frame while walking. */
struct puw_frame {
	/*
	 * pc and sp are not neighbours on purpose: GCC would otherwise pair them in a vector
	 * register through the CFI walk's loop (SLP vectorisation), at a few moves per frame.
	 */
	uint64_t pc; /* interrupted IP (innermost) or a return address into this frame */
	uint64_t fp; /* frame pointer (rbp / x29) as it was in this frame */
	uint64_t sp; /* lowest address the caller's data can occupy: SP, then each CFA */
	uint64_t lr; /* arm64 x30 while it still holds a live value (innermost frame) */
	bool lr_valid;
	/*
	 * pc is exact, not a return address: the sample itself, or the context a signal frame
	 * saved (then every register the frame saved is live too).
	 */
	bool innermost;
	bool mod_valid; /* mod describes the module holding pc (asked once per frame) */
	uint8_t n_mods;	/* answers in mods[] */
	uint8_t next_mod; /* the slot the next answer takes */
	/* The answer for pc when mod_valid, else for some earlier PC; NULL: none. */
	struct puw_frame_module *mod;
	struct puw_frame_module mods[PUW_MODULE_MEMO];
	/* CFI modes: the frame's registers as far as they are known, DWARF numbering. */
	struct puw_regs regs;
};

struct cfi_rule;

/* One unwind in progress: the request and the backend serving it. */
struct puw_walk {
	const struct puw_request *req;
	const struct puw_arch_ops *arch;
	/* The stack copy, for puw_walk_read_u64(): 8-byte reads may start at [0, reads). */
	const uint8_t *stack;
	uint64_t stack_start;
	uint64_t stack_reads;
};

/* What a step did. */
enum puw_step {
	PUW_STEP_CALLER, /* the frame now describes the caller; its pc is a return address */
	PUW_STEP_STOP,	 /* the walk ends; *ret_stop says why */
};

typedef enum puw_step puw_step_fn(const struct puw_walk *w, struct puw_frame *f,
				  enum puw_stop *ret_stop);

/* An architecture backend. */
struct puw_arch_ops {
	const char *name;

	/* PERF_SAMPLE_REGS_USER registers to request (perf numbering). */
	uint64_t perf_regs_mask;
	/*
	 * perf register number -> DWARF register number, or -1 when the register has no DWARF
	 * number this library stores. Registers at or above n_perf_regs are not known.
	 */
	const int8_t *perf_to_dwarf;
	unsigned n_perf_regs;

	/* DWARF numbers of the registers the walk starts from; dwarf_lr < 0: no link register. */
	unsigned dwarf_pc;
	unsigned dwarf_sp;
	unsigned dwarf_fp;
	int dwarf_lr;

	/* Turns a return address as stored in memory or LR into a plain code address. */
	uint64_t (*strip_ra)(uint64_t ra);

	/* Frame-pointer step: the fallback of every mode and the whole of PUW_MODE_FP. */
	puw_step_fn *fp_step;

	/* CFI: the return-address column (x86-64 16, arm64 30 = x30). */
	unsigned ra_col;
	/*
	 * Registers the compiled tables keep rules for, in the order of struct cfi_rule's reg[]:
	 * the callee-saved registers a caller's CFA or frame pointer may be based on, and the
	 * return-address column. At most CFI_MAX_KEPT.
	 */
	const uint8_t *kept_regs;
	unsigned n_kept;
	/* DWARF registers a call preserves; the others are unknown in a caller frame. */
	uint64_t callee_saved;
	/*
	 * Signal trampolines: the caller's whole context from the kernel's signal frame at f->sp
	 * (x86-64 rt_sigframe after the handler's ret, arm64 rt_sigframe at the handler's SP).
	 */
	puw_step_fn *sigframe_step;
	/* Bytes before the trampoline's symbol its rows cover (the nop that lets ra - 1 hit). */
	unsigned sigreturn_lead;
	/*
	 * The CFI walk (cfi-step.h, instantiated with this architecture's constants): steps
	 * from f as long as compiled CFI covers each frame's PC, appending the callers' PCs to
	 * pcs[*n..max). Returns true when the walk ended (*ret_stop says why), false when f's PC
	 * has no CFI and the driver must decide (frame-pointer fallback or PUW_STOP_NO_CFI).
	 */
	bool (*cfi_walk)(const struct puw_walk *w, struct puw_frame *f, uint64_t *pcs,
			 unsigned *n, unsigned max, enum puw_stop *ret_stop, struct puw_stats *st);
};

const struct puw_arch_ops *puw_arch_ops_get(enum puw_arch arch);

/*
 * Evaluates a DWARF expression of a CFI rule against f's registers and the stack copy.
 * push is pushed first (the CFA for register rules) when has_push. Returns 0 with the top of
 * the stack in *ret, or a stop reason > 0: PUW_STOP_STACK_EXHAUSTED for a read outside the
 * copy, PUW_STOP_BAD_CFA for anything else (unknown operation, stack under/overflow, unknown
 * register, too many operations).
 */
int puw_expr_eval(const struct puw_walk *w, const struct puw_frame *f, const uint8_t *p,
		  size_t len, bool has_push, uint64_t push, uint64_t *ret);

extern const struct puw_arch_ops puw_arch_x86_64_ops;
extern const struct puw_arch_ops puw_arch_aarch64_ops;

/* Bytes of one frame record, {saved frame pointer, return address}, on both ABIs. */
#define PUW_FRAME_RECORD_BYTES 16

/*
 * True when [addr, addr + len) lies inside the stack copy. Written so that no sum can wrap:
 * addresses near 2^64 are rejected, not aliased to the bottom of the copy.
 */
static inline bool puw_stack_contains(const struct puw_request *req, uint64_t addr, size_t len)
{
	if (addr < req->stack_start)
		return false;
	if (len > req->stack_size)
		return false;
	return addr - req->stack_start <= req->stack_size - len;
}

/*
 * Reads the 64-bit word at target address addr from the stack copy. memcpy because the copy
 * has no alignment guarantee and addr may be anything; le64toh because both supported ABIs
 * are little-endian (x86-64; arm64 Linux userspace is LE, aarch64_be is not supported),
 * whatever the host running the unwind is.
 */
static inline bool puw_stack_read_u64(const struct puw_request *req, uint64_t addr, uint64_t *ret)
{
	uint64_t v;

	if (!puw_stack_contains(req, addr, sizeof(v)))
		return false;
	memcpy(&v, req->stack + (addr - req->stack_start), sizeof(v));
	*ret = le64toh(v);
	return true;
}

static inline bool puw_regs_has(const struct puw_regs *regs, unsigned dwarf)
{
	return dwarf < PUW_REGS_MAX && (regs->valid & (UINT64_C(1) << dwarf));
}

static inline void puw_regs_set(struct puw_regs *regs, unsigned dwarf, uint64_t v)
{
	regs->r[dwarf] = v;
	regs->valid |= UINT64_C(1) << dwarf;
}

/*
 * puw_stack_read_u64() for the hot path: the bounds were reduced to one comparison when the
 * walk started.
 */
static inline bool puw_walk_read_u64(const struct puw_walk *w, uint64_t addr, uint64_t *ret)
{
	uint64_t off = addr - w->stack_start, v;

	/* addr below the copy wraps to a huge offset: rejected by the same comparison. */
	if (off >= w->stack_reads)
		return false;
	memcpy(&v, w->stack + off, sizeof(v));
	*ret = le64toh(v);
	return true;
}

/* puw_frame_module() when the PC left the current module: earlier answers, else ask. */
bool puw_frame_module_slow(const struct puw_walk *w, struct puw_frame *f, uint64_t pc);
/* Fills the CFI walk's fields of an answer (cfi-step.c). */
void puw_frame_module_derive(struct puw_frame_module *m, const struct puw_cache *cache);

/*
 * The module holding f's PC, asked once per frame: for a return address the call before it
 * (ra - 1, so that a call ending its function or mapping stays inside it), for an exact PC
 * the PC itself. Consecutive frames are mostly in one module, and a stack visits few: an
 * answer holds for its whole range, so the callback is skipped while the PC stays inside the
 * current answer or one of the few before it (f->mods).
 */
static inline bool puw_frame_module(const struct puw_walk *w, struct puw_frame *f)
{
	uint64_t pc;

	if (f->mod_valid)
		return true;
	if (!w->req->find_module)
		return false;
	pc = f->innermost ? f->pc : f->pc - 1;
	if (f->mod && pc - f->mod->ans.start < f->mod->len) {
		f->mod_valid = true;
		return true;
	}
	return puw_frame_module_slow(w, f, pc);
}

/*
 * True when ra is a plausible return address: in an executable module according to the
 * caller's find_module callback, or unconditionally when there is no callback.
 */
bool puw_ra_in_module(const struct puw_walk *w, uint64_t ra);

/*
 * The frame-record walk both ABIs share: the frame pointer points at a 16-byte record
 * {caller's frame pointer, return address} (x86-64 `push rbp; mov rbp, rsp` after the call
 * pushed the return address; AAPCS64 frame records {x29, x30}). Checks the record, reads it
 * and moves f to the caller; does not validate the return address against modules (the
 * driver does).
 */
enum puw_step puw_frame_record_step(const struct puw_walk *w, struct puw_frame *f,
				    enum puw_stop *ret_stop);

#endif
