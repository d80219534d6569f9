/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the puw unwinder shared by the generic driver (unwind.c) and the
 * architecture backends (arch-x86_64.c, arch-aarch64.c). Not installed, not for callers.
 *
 * The driver walks one frame at a time over a small frame state (struct puw_frame). Each
 * step asks a method to turn the frame into its caller's: today only the architecture's
 * frame-pointer step; the CFI phase puts a table-driven step in front of it, per frame,
 * without touching the backends' FP code. A step never reads outside the stack copy and
 * never dereferences a target address: every read goes through puw_stack_read_u64().
 *
 * Invariant the driver relies on for termination: every step that produces a caller frame
 * either moves sp strictly toward the stack base or is a one-off that cannot repeat
 * (arm64's "caller still in LR" step, only taken from the innermost frame).
 */
#ifndef PUW_INTERNAL_H
#define PUW_INTERNAL_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"

/* State of one frame while walking. */
struct puw_frame {
	uint64_t pc; /* interrupted IP (innermost) or a return address into this frame */
	uint64_t sp; /* lowest address the caller's data can occupy: SP, then each CFA */
	uint64_t fp; /* frame pointer (rbp / x29) as it was in this frame */
	uint64_t lr; /* arm64 x30 while it still holds a live value (innermost frame) */
	bool lr_valid;
	bool innermost; /* registers straight from the sample, not recovered from the stack */
};

/* One unwind in progress: the request and the backend serving it. */
struct puw_walk {
	const struct puw_request *req;
	const struct puw_arch_ops *arch;
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
};

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
