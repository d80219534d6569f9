/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CFI parser's interface to the compiler (cfi-parse.c -> cfi-compile.c). Internal to
 * unwind/, compile time only.
 *
 * A CFA program run by a struct cfi_vm calls emit(ctx, pc, state) once per address range,
 * in increasing pc order: state holds from pc up to the next call's pc, the last one up to
 * the FDE's end. Only the registers the architecture keeps (puw_arch_ops.kept_regs) have
 * columns; rules for other registers are parsed and dropped.
 */
#ifndef PUW_CFI_PARSE_H
#define PUW_CFI_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puw.h"
#include "cfi.h"

/* DWARF registers below this may be kept; rules for higher ones are ignored. */
#define CFI_PARSE_MAX_REG 64
/* Nesting of DW_CFA_remember_state; GCC and clang use one or two levels. */
#define CFI_STATE_STACK 16

/* One section's bytes and where they are loaded. */
struct cfi_sec {
	const uint8_t *data;
	size_t size;
	uint64_t addr;
	bool addr_known; /* pcrel pointers resolvable */
	bool eh;	 /* .eh_frame conventions, else .debug_frame */
};

/* What the parser needs to know of the target. */
struct cfi_parser {
	enum puw_arch arch;
	uint64_t text_addr, data_addr;
	int8_t kept_index[CFI_PARSE_MAX_REG]; /* DWARF register -> kept column, or -1 */
};

/* One entry's framing. */
struct cfi_entry {
	size_t body;	 /* first byte after the length */
	size_t after_id; /* first byte after the CIE id / CIE pointer */
	size_t next;	 /* the next entry */
	size_t cie_off;	 /* FDE: offset of its CIE in the section, SIZE_MAX if outside */
	bool is_cie;
	bool is64;
	bool empty; /* .debug_frame zero-length entry */
};

struct cfi_cie {
	size_t off;
	uint8_t version;
	uint8_t fde_enc;
	uint8_t lsda_enc;
	uint8_t addr_size;
	bool has_z;
	bool signal;
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_col;
	size_t insns, insns_end;
};

struct cfi_fde {
	uint64_t begin, end;
	size_t insns, insns_end;
};

/* A register's rule while a program runs. */
struct cfi_col {
	uint8_t kind; /* enum puw_cfi_rule */
	int64_t value;
	const uint8_t *expr;
	size_t expr_len;
};

struct cfi_state {
	uint8_t cfa_kind; /* 0 (not defined yet), CFI_CFA_REG or CFI_CFA_EXPR */
	uint64_t cfa_reg;
	int64_t cfa_off;
	const uint8_t *cfa_expr;
	size_t cfa_expr_len;
	bool ra_signed;
	struct cfi_col col[CFI_MAX_KEPT];
};

typedef int cfi_emit_fn(void *ctx, uint64_t pc, const struct cfi_state *st);

struct cfi_vm {
	const struct cfi_parser *ps;
	const struct cfi_cie *cie;
	cfi_emit_fn *emit;
	void *emit_ctx;
	uint64_t loc, end;
	struct cfi_state st;
	struct cfi_state init; /* after the CIE's initial instructions: DW_CFA_restore's target */
	struct cfi_state stack[CFI_STATE_STACK];
	unsigned depth;
};

/* Entry at pos: 1 and *ret, 0 at the end of the section, -EBADMSG if it cannot be walked. */
int cfi_entry_next(const struct cfi_sec *s, size_t pos, struct cfi_entry *ret);
/* Returns 0, -EBADMSG (malformed) or -EOPNOTSUPP (valid but not representable). */
int cfi_cie_parse(const struct cfi_parser *ps, const struct cfi_sec *s, size_t off,
		  struct cfi_cie *ret);
int cfi_fde_parse(const struct cfi_parser *ps, const struct cfi_sec *s, const struct cfi_entry *e,
		  const struct cfi_cie *cie, struct cfi_fde *ret);
/* Runs the CIE's then the FDE's program over [fde->begin, fde->end), calling vm->emit. */
int cfi_fde_run(struct cfi_vm *vm, const struct cfi_sec *s, const struct cfi_fde *fde);
int cfi_program_run(struct cfi_vm *vm, const struct cfi_sec *s, size_t pos, size_t end,
		    bool is_cie);

#endif
