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
 * Frames are recovered by DWARF call frame information (CFI) compiled ahead of time, once
 * per binary, into compact sorted tables (puw_cfi_compile(), off the sample path), by frame
 * pointers, or by CFI with a frame-pointer fallback where no CFI covers a PC (JIT code, Go).
 *
 * Thread safety: puw_unwind() keeps no state; concurrent calls are fine as long as each
 * has its own output buffer, statistics and lookup cache. A compiled struct puw_cfi is
 * immutable: one table serves every process and thread that maps the binary, from any
 * number of threads.
 */
#ifndef PUW_H
#define PUW_H

#include <stdbool.h>
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
	PUW_STOP_END,             /* reached the outermost frame: FP chain ended with 0, CFI
				   * marks the return address undefined (_start, thread entry),
				   * or the return address is 0 */
	PUW_STOP_NO_REGS,         /* the sample carried no user registers (kernel thread), or
				   * not those the walk starts from (then only pcs[0]) */
	PUW_STOP_STACK_EXHAUSTED, /* the next read falls outside the copied stack */
	PUW_STOP_BAD_FP,          /* frame pointer not aligned or not moving toward the base */
	PUW_STOP_BAD_PC,          /* a return address outside every executable mapping */
	PUW_STOP_MAX_DEPTH,       /* the caller's buffer (or the depth cap) is full */
	PUW_STOP_NO_CFI,          /* no CFI covers the PC and no fallback applied */
	PUW_STOP_BAD_CFA,         /* CFI produced a CFA that does not move toward the base, or
				   * a rule the step needs cannot be evaluated */
	_PUW_STOP_MAX,
};

/* Short stable name of a stop reason ("end", "stack-exhausted", ...). */
const char *puw_stop_name(enum puw_stop stop);

enum puw_mode {
	PUW_MODE_FP,   /* frame pointers only */
	PUW_MODE_AUTO, /* CFI; the frame-pointer step where no CFI covers the PC (JIT, Go) */
	PUW_MODE_CFI,  /* CFI only: PUW_STOP_NO_CFI where none covers the PC (tests) */
	_PUW_MODE_MAX,
};

struct puw_cfi;

/* What the caller knows of the module that holds a PC. */
struct puw_module {
	uint64_t start; /* executable mapping [start, end) */
	uint64_t end;
	const struct puw_cfi *cfi; /* compiled CFI of the module's ELF file, NULL: none (borrowed
				    * for the duration of the puw_unwind() call) */
	uint64_t bias;             /* runtime address - ELF virtual address */
};

/*
 * Returns 0 and fills *ret when pc lies in an executable mapping of the target, -ENOENT when
 * it does not. Called at most once per frame, and not at all for a PC inside the [start,
 * end) of the previous answer or of one of the few before it in the same puw_unwind() call,
 * which is reused; must not allocate. For a return address ra the library asks about
 * ra - 1, the call instruction's last byte.
 */
typedef int puw_find_module_fn(void *ctx, uint64_t pc, struct puw_module *ret);

/* Counters of one or more unwinds; puw_unwind() adds to them. */
struct puw_stats {
	uint64_t steps_cfi;         /* caller frames recovered by CFI */
	uint64_t steps_fp;          /* caller frames recovered by the frame-pointer walk */
	uint64_t steps_fp_fallback; /* PUW_MODE_AUTO: of steps_fp, those where no CFI covered */
	uint64_t steps_signal;      /* signal frames crossed (their CFI or the trampoline rule) */
};

/*
 * An optional memo of CFI row lookups, keyed by (table, address): the caller's scratch,
 * reused across unwinds, one per thread that unwinds (it is written during puw_unwind()).
 * It only ever caches what a table says, and tables are told apart by a serial number, so
 * one cache serves every process and binary, and freeing tables never leaves it stale.
 * With it, a frame whose row is remembered costs one cache line besides the stack: the
 * daemon's sampling threads keep one each for as long as they run.
 */
struct puw_cache;

/* Returns an owned, empty cache (about 65 KiB), or NULL when out of memory. */
struct puw_cache *puw_cache_new(void);
void puw_cache_free(struct puw_cache *cache); /* accepts NULL */
/*
 * Empties the cache. Costs about one store per lookup that missed since the last clear (a
 * full reset past a few hundred): cheap enough before every unwind, for measurements of
 * unwinds with nothing remembered. Accepts NULL.
 */
void puw_cache_clear(struct puw_cache *cache);

struct puw_request {
	enum puw_arch arch;
	enum puw_mode mode;
	const struct puw_regs *regs;
	const uint8_t *stack;   /* copy of user memory [stack_start, stack_start + stack_size) */
	uint64_t stack_start;   /* user address of stack[0]: the SP at the sample */
	size_t stack_size;
	puw_find_module_fn *find_module; /* may be NULL: no PC validation, and no CFI */
	void *ctx;
	struct puw_stats *stats; /* may be NULL */
	struct puw_cache *cache; /* may be NULL: every lookup searches the table */
};

/*
 * Unwinds one sample. Writes at most max PCs to pcs (innermost first) and the stop reason to
 * *ret_stop. Returns the number of PCs written (>= 0), or -EINVAL for a malformed request.
 */
int puw_unwind(const struct puw_request *req, uint64_t *pcs, unsigned max,
	       enum puw_stop *ret_stop);

/*
 * ---- DWARF CFI tables ------------------------------------------------------------------
 *
 * The CFI of one ELF file (.eh_frame, and .debug_frame of the file or of its separate debug
 * file) is compiled into rows sorted by address: for each address range, how to compute the
 * CFA, the return address and the callee-saved registers a caller's CFA may need (x86-64
 * rbx rbp r12-r15; arm64 x19-x30), plus the signal-frame and arm64 RA-signed states.
 * Malformed FDEs are skipped and counted, never trusted: compiling hostile bytes is safe.
 */

/* The sections of one ELF file, as bytes plus their ELF virtual addresses. */
struct puw_cfi_sections {
	enum puw_arch arch;
	const uint8_t *eh_frame; /* may be NULL; parsing stops at a zero terminator, so the size
				  * may be an upper bound (the rest of the segment) */
	size_t eh_frame_size;
	uint64_t eh_frame_addr;  /* for DW_EH_PE_pcrel */
	const uint8_t *debug_frame; /* may be NULL; covers only what .eh_frame does not */
	size_t debug_frame_size;
	uint64_t text_addr; /* DW_EH_PE_textrel base */
	uint64_t data_addr; /* DW_EH_PE_datarel base (.got) */
	/*
	 * The signal-return trampoline when the caller knows it (x86-64 __restore_rt, arm64 vDSO
	 * __kernel_rt_sigreturn): its rows are replaced by the kernel's signal frame layout.
	 * Size 0: none (an x86-64 'S' FDE of glibc's shape is recognised anyway).
	 */
	uint64_t sigreturn_addr;
	uint64_t sigreturn_size;
};

struct puw_cfi_stats {
	size_t bytes;            /* memory the compiled table holds */
	size_t rows;             /* address ranges, after merging identical neighbours */
	size_t rules;            /* distinct rules the rows share */
	size_t exprs_bytes;      /* DWARF expressions kept for evaluation */
	size_t cies;             /* CIEs parsed */
	size_t fdes;             /* FDEs compiled */
	size_t fdes_malformed;   /* skipped: truncated, bad encoding, bad CFA program */
	size_t fdes_unsupported; /* skipped: valid DWARF the tables cannot represent */
	size_t fdes_overlapping; /* skipped or clipped: range (partly) covered already, by
				  * the trampoline row, then .eh_frame, then .debug_frame */
	size_t fdes_empty;       /* skipped: zero length or discarded (address 0) */
	uint64_t text_bytes;     /* span of addresses the rows describe */
	size_t input_bytes;      /* .eh_frame + .debug_frame bytes parsed */
};

/*
 * Compiles the CFI in s. Returns 0 and an owned table in *ret (free with puw_cfi_free()),
 * -ENOENT when the sections hold no usable FDE, -EINVAL, -ENOMEM, or -EFBIG (the FDEs span
 * 4 GiB or more). The section bytes are not referenced after return.
 */
int puw_cfi_compile(const struct puw_cfi_sections *s, struct puw_cfi **ret);
void puw_cfi_free(struct puw_cfi *cfi); /* accepts NULL */
void puw_cfi_get_stats(const struct puw_cfi *cfi, struct puw_cfi_stats *ret);

/* How a compiled row computes the CFA. */
enum puw_cfi_cfa {
	PUW_CFI_CFA_REG,      /* register + offset */
	PUW_CFI_CFA_DEREF,    /* *(register + offset) (x86-64 stack realignment, DRAP) */
	PUW_CFI_CFA_PLT,      /* x86-64 PLT: rsp + offset + ((rip & 15) >= cfa_reg) * 8 */
	PUW_CFI_CFA_EXPR,     /* a DWARF expression */
	PUW_CFI_CFA_SIGFRAME, /* signal trampoline: every register from the kernel's frame */
};

/* How a compiled row recovers one register. */
enum puw_cfi_rule {
	PUW_CFI_SAME,       /* unchanged (the callee-saved default; arm64 RA: still in LR) */
	PUW_CFI_UNDEFINED,  /* not recoverable; for the return address: the outermost frame */
	PUW_CFI_OFFSET,     /* saved at CFA + value */
	PUW_CFI_VAL_OFFSET, /* is CFA + value */
	PUW_CFI_REGISTER,   /* in register value */
	PUW_CFI_EXPR,       /* saved at the address a DWARF expression computes */
	PUW_CFI_VAL_EXPR,   /* is the value a DWARF expression computes */
};

struct puw_cfi_reg {
	enum puw_cfi_rule rule;
	int64_t value;
	const uint8_t *expr; /* PUW_CFI_EXPR/VAL_EXPR, borrowed from the table */
	size_t expr_size;
};

/* One compiled row, decoded (diagnostics and tests; the unwinder reads the packed form). */
struct puw_cfi_row {
	uint64_t start, end; /* ELF virtual addresses [start, end) */
	enum puw_cfi_cfa cfa;
	unsigned cfa_reg;
	int64_t cfa_offset;
	const uint8_t *cfa_expr; /* PUW_CFI_CFA_EXPR, borrowed from the table */
	size_t cfa_expr_size;
	unsigned ra_column;    /* 16 on x86-64, 30 (x30) on arm64 */
	bool signal_frame;     /* augmentation 'S': the caller's PC is exact */
	bool ra_signed;        /* arm64: return address signed (DW_CFA_AARCH64_negate_ra_state) */
	uint64_t kept;         /* bit n: the table keeps a rule for DWARF register n */
	struct puw_cfi_reg regs[PUW_REGS_MAX]; /* by DWARF number, SAME where not kept */
};

/*
 * The row covering ELF virtual address addr. Returns 0, or -ENOENT when no CFI covers it.
 * Pure lookup: safe from any thread.
 */
int puw_cfi_find_row(const struct puw_cfi *cfi, uint64_t addr, struct puw_cfi_row *ret);

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
