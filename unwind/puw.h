/* SPDX-License-Identifier: Apache-2.0 */
/*
 * puw — the perfagent unwinder.
 *
 * Rebuilds a user call chain from what a perf sample carries: the user registers at the
 * interrupt and a copy of the top of the user stack (PERF_SAMPLE_REGS_USER /
 * PERF_SAMPLE_STACK_USER). The library never reads /proc, never opens files, never logs
 * and never allocates while unwinding: the caller hands it registers, the stack bytes with
 * their start address, and a callback that says which module holds a PC.
 *
 * Every unwind returns the PCs it found (innermost first: pcs[0] is the interrupted IP, the
 * others are return addresses) and a stop reason. A short stack is data, not an error.
 *
 * Thread safety: puw_unwind() keeps no state; concurrent calls are fine as long as each
 * has its own output buffer.
 */
#ifndef PUW_H
#define PUW_H

#include <stddef.h>
#include <stdint.h>

enum puw_arch {
	PUW_ARCH_X86_64,
	PUW_ARCH_AARCH64,
	_PUW_ARCH_MAX,
};

/*
 * Registers use DWARF numbering, so the same array serves frame-pointer walks and CFI.
 * x86-64: rbx=3 rbp=6 rsp=7 r12..r15=12..15, return address column 16 (= rip).
 * arm64:  x0..x30 = 0..30 (x29 = FP, x30 = LR), sp = 31, pc = 32 (pseudo column).
 */
#define PUW_REGS_MAX 33

struct puw_regs {
	uint64_t r[PUW_REGS_MAX];
	uint64_t valid; /* bit n set: r[n] holds a value */
};

enum puw_stop {
	PUW_STOP_END,             /* reached the outermost frame (FP chain ended with 0) */
	PUW_STOP_NO_REGS,         /* the sample carried no user registers (kernel thread), or
				   * not those the walk starts from (then only pcs[0]) */
	PUW_STOP_STACK_EXHAUSTED, /* the next read falls outside the copied stack */
	PUW_STOP_BAD_FP,          /* frame pointer not aligned or not moving toward the base */
	PUW_STOP_BAD_PC,          /* a return address outside every executable mapping */
	PUW_STOP_MAX_DEPTH,       /* the caller's buffer (or the depth cap) is full */
	PUW_STOP_NO_CFI,          /* no CFI covers the PC and no fallback applied */
	PUW_STOP_BAD_CFA,         /* CFI produced a CFA that does not move toward the base */
	_PUW_STOP_MAX,
};

/* Short stable name of a stop reason ("end", "stack-exhausted", ...). */
const char *puw_stop_name(enum puw_stop stop);

enum puw_mode {
	PUW_MODE_FP, /* frame pointers only */
	_PUW_MODE_MAX,
};

/* What the caller knows of the module that holds a PC. */
struct puw_module {
	uint64_t start; /* executable mapping [start, end) */
	uint64_t end;
};

/*
 * Returns 0 and fills *ret when pc lies in an executable mapping of the target, -ENOENT when
 * it does not. Called a bounded number of times per frame; must not allocate. For a return
 * address ra the library asks about ra - 1, the call instruction's last byte.
 */
typedef int puw_find_module_fn(void *ctx, uint64_t pc, struct puw_module *ret);

struct puw_request {
	enum puw_arch arch;
	enum puw_mode mode;
	const struct puw_regs *regs;
	const uint8_t *stack;   /* copy of user memory [stack_start, stack_start + stack_size) */
	uint64_t stack_start;   /* user address of stack[0]: the SP at the sample */
	size_t stack_size;
	puw_find_module_fn *find_module; /* may be NULL: no PC validation */
	void *ctx;
};

/*
 * Unwinds one sample. Writes at most max PCs to pcs (innermost first) and the stop reason to
 * *ret_stop. Returns the number of PCs written (>= 0), or -EINVAL for a malformed request.
 */
int puw_unwind(const struct puw_request *req, uint64_t *pcs, unsigned max,
	       enum puw_stop *ret_stop);

/*
 * Registers of one architecture as the kernel's perf ABI numbers them
 * (arch/<arch>/include/uapi/asm/perf_regs.h), for PERF_SAMPLE_REGS_USER.
 */
/* The sample_regs_user mask this library needs for arch. */
uint64_t puw_arch_perf_regs_mask(enum puw_arch arch);

/*
 * Converts the register values of a sample (in ascending perf-register order for the bits
 * set in mask, as the kernel writes them) to DWARF numbering. Returns 0, or -EINVAL when
 * mask asks for more values than n.
 */
int puw_regs_from_perf(enum puw_arch arch, uint64_t mask, const uint64_t *vals, size_t n,
		       struct puw_regs *ret);

/*
 * The architecture this library was built for (the host); _PUW_ARCH_MAX on a host that is
 * neither, where cross-architecture unwinding still works.
 */
enum puw_arch puw_arch_host(void);

#endif
