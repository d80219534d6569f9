/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CFI compilation and the CFI step, on any host: hand-assembled CIEs and FDEs covering every
 * DW_CFA opcode and pointer encoding, with the compiled rows checked through
 * puw_cfi_find_row(); unwinds of synthetic stacks through those tables (x86-64 and arm64,
 * signal frames, PLT, expressions, every stop reason, the AUTO-mode fallback); and
 * malformed input: truncations at every length and byte flips of a real .eh_frame, which
 * must never crash and must be counted.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "puw.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (UINT64_C(1) << (n))

/* ---- an .eh_frame assembler --------------------------------------------------------- */

struct asm_buf {
	uint8_t b[8192];
	size_t n;
	uint64_t addr; /* ELF address of b[0] */
};

static void put_u8(struct asm_buf *a, uint8_t v)
{
	if (a->n < sizeof(a->b))
		a->b[a->n++] = v;
}

static void put_le(struct asm_buf *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		put_u8(a, (uint8_t)(v >> (8 * i)));
}

static void put_uleb(struct asm_buf *a, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		put_u8(a, b | (v ? 0x80 : 0));
	} while (v);
}

static void put_sleb(struct asm_buf *a, int64_t v)
{
	bool more;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		more = !((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40)));
		put_u8(a, b | (more ? 0x80 : 0));
	} while (more);
}

static void put_bytes(struct asm_buf *a, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_u8(a, ((const uint8_t *)p)[i]);
}

/* Starts an entry: a length to patch, then the CIE id/pointer. Returns its offset. */
static size_t entry_begin(struct asm_buf *a)
{
	size_t at = a->n;

	put_le(a, 0, 4);
	return at;
}

/* Pads the entry with DW_CFA_nop to a multiple of 8 and patches its length. */
static void entry_end(struct asm_buf *a, size_t at)
{
	uint32_t len;

	while ((a->n - at) % 8)
		put_u8(a, 0);
	len = (uint32_t)(a->n - at - 4);
	for (unsigned i = 0; i < 4; i++)
		a->b[at + i] = (uint8_t)(len >> (8 * i));
}

struct cie_desc {
	const char *aug;       /* "zR", "zPLR", "zRS", "zRB", "" */
	uint8_t fde_enc;       /* 'R' */
	uint8_t pers_enc;      /* 'P' */
	uint8_t lsda_enc;      /* 'L' */
	int64_t data_align;    /* -8 (x86-64), -4 (arm64) */
	unsigned ra;           /* 16, 30 */
	const uint8_t *insns;
	size_t n_insns;
};

static size_t cie_put(struct asm_buf *a, const struct cie_desc *d)
{
	size_t at = entry_begin(a), aug_len_at;

	put_le(a, 0, 4); /* CIE id */
	put_u8(a, 1);    /* version */
	put_bytes(a, d->aug, strlen(d->aug) + 1);
	put_uleb(a, d->data_align == -4 ? 4 : 1);
	put_sleb(a, d->data_align);
	put_u8(a, (uint8_t)d->ra);
	if (d->aug[0] == 'z') {
		aug_len_at = a->n;
		put_u8(a, 0); /* patched: < 128 */
		for (const char *c = d->aug + 1; *c; c++) {
			if (*c == 'R')
				put_u8(a, d->fde_enc);
			else if (*c == 'L')
				put_u8(a, d->lsda_enc);
			else if (*c == 'P') {
				/* A personality pointer in its encoding (value irrelevant). */
				put_u8(a, d->pers_enc);
				if ((d->pers_enc & 0x0f) == 0x0b || (d->pers_enc & 0x0f) == 0x03)
					put_le(a, 0x1234, 4);
				else
					put_le(a, 0x1234, 8);
			}
		}
		a->b[aug_len_at] = (uint8_t)(a->n - aug_len_at - 1);
	}
	put_bytes(a, d->insns, d->n_insns);
	entry_end(a, at);
	return at;
}

/* Writes a pointer in encoding enc at the current position. */
static void put_encoded(struct asm_buf *a, uint8_t enc, uint64_t v, uint64_t text, uint64_t data)
{
	uint64_t field = a->addr + a->n;

	if ((enc & 0x70) == 0x50)
		while ((a->addr + a->n) % 8)
			put_u8(a, 0);
	field = a->addr + a->n;
	switch (enc & 0x70) {
	case 0x10:
		v -= field;
		break;
	case 0x20:
		v -= text;
		break;
	case 0x30:
		v -= data;
		break;
	}
	switch (enc & 0x0f) {
	case 0x00:
	case 0x04:
	case 0x0c:
		put_le(a, v, 8);
		break;
	case 0x01:
		put_uleb(a, v);
		break;
	case 0x09:
		put_sleb(a, (int64_t)v);
		break;
	case 0x02:
	case 0x0a:
		put_le(a, v, 2);
		break;
	case 0x03:
	case 0x0b:
		put_le(a, v, 4);
		break;
	}
}

struct fde_desc {
	size_t cie;
	uint8_t enc; /* must match the CIE's 'R' */
	bool z;      /* CIE has 'z': an augmentation length follows */
	uint64_t begin, len;
	const uint8_t *insns;
	size_t n_insns;
};

static size_t fde_put(struct asm_buf *a, const struct fde_desc *d)
{
	size_t at = entry_begin(a);

	put_le(a, a->n - d->cie, 4); /* back to the CIE from this field */
	put_encoded(a, d->enc, d->begin, 0x1000, 0x200000);
	put_encoded(a, d->enc & 0x0f, d->len, 0, 0);
	if (d->z)
		put_uleb(a, 0);
	put_bytes(a, d->insns, d->n_insns);
	entry_end(a, at);
	return at;
}

/* DW_CFA_* bytes for the programs below. */
#define ADV(n) (0x40 | (n))
#define OFF(r, n) (0x80 | (r)), (n)
#define RESTORE(r) (0xc0 | (r))

/* x86-64 CIE: CFA = rsp + 8, RA at CFA - 8 (GCC's). */
static const uint8_t x86_cie_insns[] = {0x0c, 7, 8, OFF(16, 1)};
/* arm64 CIE: CFA = sp + 0, RA rule unspecified (still in LR). */
static const uint8_t a64_cie_insns[] = {0x0c, 31, 0};

static struct puw_cfi *compile(enum puw_arch arch, const struct asm_buf *eh,
			       const struct asm_buf *dbg, struct puw_cfi_stats *st)
{
	struct puw_cfi_sections s = {
		.arch = arch,
		.eh_frame = eh ? eh->b : NULL,
		.eh_frame_size = eh ? eh->n : 0,
		.eh_frame_addr = eh ? eh->addr : 0,
		.debug_frame = dbg ? dbg->b : NULL,
		.debug_frame_size = dbg ? dbg->n : 0,
		.text_addr = 0x1000,
		.data_addr = 0x200000,
	};
	struct puw_cfi *cfi = NULL;
	int r = puw_cfi_compile(&s, &cfi);

	CHECK_EQ_U64(r, 0);
	if (st) {
		memset(st, 0, sizeof(*st));
		if (cfi)
			puw_cfi_get_stats(cfi, st);
	}
	return r ? NULL : cfi;
}

/* Checks the CFA of the row at addr. */
static void check_cfa(const struct puw_cfi *cfi, uint64_t addr, enum puw_cfi_cfa kind,
		      unsigned reg, int64_t off)
{
	struct puw_cfi_row row;
	int r = puw_cfi_find_row(cfi, addr, &row);

	CHECK_EQ_U64(r, 0);
	if (r) {
		fprintf(stderr, "  ... no row at 0x%" PRIx64 "\n", addr);
		return;
	}
	if (row.cfa != kind || (kind != PUW_CFI_CFA_EXPR && kind != PUW_CFI_CFA_SIGFRAME &&
				(row.cfa_reg != reg || row.cfa_offset != off))) {
		check_failures++;
		fprintf(stderr, "row at 0x%" PRIx64 ": cfa kind %d reg %u off %" PRId64
				", want kind %d reg %u off %" PRId64 "\n",
			addr, row.cfa, row.cfa_reg, row.cfa_offset, kind, reg, off);
	}
}

static void check_reg(const struct puw_cfi *cfi, uint64_t addr, unsigned reg,
		      enum puw_cfi_rule rule, int64_t value)
{
	struct puw_cfi_row row;
	int r = puw_cfi_find_row(cfi, addr, &row);

	CHECK_EQ_U64(r, 0);
	if (r)
		return;
	if (row.regs[reg].rule != rule || row.regs[reg].value != value) {
		check_failures++;
		fprintf(stderr, "row at 0x%" PRIx64 ": reg %u rule %d value %" PRId64
				", want rule %d value %" PRId64 "\n",
			addr, reg, row.regs[reg].rule, row.regs[reg].value, rule, value);
	}
}

static void check_range(const struct puw_cfi *cfi, uint64_t addr, uint64_t start, uint64_t end)
{
	struct puw_cfi_row row;

	CHECK_EQ_U64(puw_cfi_find_row(cfi, addr, &row), 0);
	CHECK_EQ_U64(row.start, start);
	CHECK_EQ_U64(row.end, end);
}

static void check_none(const struct puw_cfi *cfi, uint64_t addr)
{
	struct puw_cfi_row row;

	CHECK_EQ_U64(puw_cfi_find_row(cfi, addr, &row), -ENOENT);
}

#define EH_ADDR UINT64_C(0x5000)
#define FN UINT64_C(0x2000)

/* ---- rows: a GCC-style x86-64 function ---------------------------------------------- */

static void test_x86_prologue(void)
{
	/*
	 * push %rbp; mov %rsp,%rbp; push %rbx; ... ; pop %rbx; pop %rbp; ret, with the epilogue
	 * under remember/restore_state and code after it.
	 */
	static const uint8_t prog[] = {
		ADV(1), 0x0e, 16, OFF(6, 2),       /* +1: cfa rsp+16, rbp at cfa-16 */
		ADV(3), 0x0d, 6,                   /* +4: cfa = rbp + 16 */
		ADV(1), OFF(3, 3),                 /* +5: rbx at cfa-24 */
		0x02, 20,                          /* advance_loc1 20 -> +25 */
		0x0a,                              /* remember_state */
		0xc3,                              /* restore rbx */
		0x0c, 7, 8,                        /* cfa = rsp + 8 */
		RESTORE(6),                        /* rbp: back to same value */
		ADV(1), 0x0b,                      /* +26: restore_state */
		0x03, 0x00, 0x01,                  /* advance_loc2 256 -> +282 */
		0x2e, 16,                          /* GNU_args_size: ignored */
		0x04, 0x10, 0, 0, 0,               /* advance_loc4 16 -> +298 */
		0x07, 6,                           /* undefined rbp */
	};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd = {cie, 0x1b, true, FN, 0x200, prog, sizeof(prog)};
	struct puw_cfi_stats st;
	struct puw_cfi *cfi;

	fde_put(&eh, &fd);
	put_le(&eh, 0, 4); /* terminator */
	cfi = compile(PUW_ARCH_X86_64, &eh, NULL, &st);
	if (!cfi)
		return;
	CHECK_EQ_U64(st.fdes, 1);
	CHECK_EQ_U64(st.cies, 1);
	CHECK_EQ_U64(st.fdes_malformed, 0);

	check_cfa(cfi, FN, PUW_CFI_CFA_REG, 7, 8);
	check_reg(cfi, FN, 16, PUW_CFI_OFFSET, -8);
	check_reg(cfi, FN, 6, PUW_CFI_SAME, 0);
	check_range(cfi, FN, FN, FN + 1);
	check_cfa(cfi, FN + 1, PUW_CFI_CFA_REG, 7, 16);
	check_reg(cfi, FN + 3, 6, PUW_CFI_OFFSET, -16);
	check_cfa(cfi, FN + 4, PUW_CFI_CFA_REG, 6, 16);
	check_reg(cfi, FN + 4, 3, PUW_CFI_SAME, 0);
	check_reg(cfi, FN + 5, 3, PUW_CFI_OFFSET, -24);
	check_range(cfi, FN + 10, FN + 5, FN + 25);
	/* The epilogue row, then the state remembered before it. */
	check_cfa(cfi, FN + 25, PUW_CFI_CFA_REG, 7, 8);
	check_reg(cfi, FN + 25, 3, PUW_CFI_SAME, 0);
	check_reg(cfi, FN + 25, 6, PUW_CFI_SAME, 0);
	check_cfa(cfi, FN + 26, PUW_CFI_CFA_REG, 6, 16);
	check_reg(cfi, FN + 26, 3, PUW_CFI_OFFSET, -24);
	/* Rows equal to their neighbour merge: +5..+25 and +26..+298 are one rule each. */
	check_range(cfi, FN + 26, FN + 26, FN + 298);
	check_reg(cfi, FN + 298, 6, PUW_CFI_UNDEFINED, 0);
	check_range(cfi, FN + 298, FN + 298, FN + 0x200);
	/* Outside the FDE. */
	check_none(cfi, FN - 1);
	check_none(cfi, FN + 0x200);
	check_none(cfi, 0);
	check_none(cfi, UINT64_MAX);
	puw_cfi_free(cfi);
}

/* ---- every remaining opcode ------------------------------------------------------- */

static void test_opcodes(void)
{
	static const uint8_t expr_cfa[] = {0x77, 0x10, 0x06, 0x23, 0x08}; /* breg7 16; deref; plus_uconst 8 */
	static const uint8_t prog[] = {
		0x05, 3, 2,              /* offset_extended rbx, 2*-8 */
		0x11, 12, 0x7d,          /* offset_extended_sf r12, -3*-8 = +24 */
		0x14, 13, 4,             /* val_offset r13, 4*-8 = -32 */
		0x15, 14, 0x02,          /* val_offset_sf r14, 2*-8 = -16 */
		0x09, 15, 1,             /* register r15 in rdx */
		0x2f, 6, 5,              /* GNU_negative_offset_extended rbp: -(5*-8) = +40 */
		ADV(2),
		0x06, 3,                 /* restore_extended rbx */
		0x08, 12,                /* same_value r12 */
		0x12, 7, 0x7e,           /* def_cfa_sf rsp, -2*-8 = 16 */
		ADV(2),
		0x13, 0x7c,              /* def_cfa_offset_sf -4*-8 = 32 */
		0x10, 3, 3, 0x77, 0x08, 0x06, /* expression rbx: breg7 8; deref */
		0x16, 6, 2, 0x77, 0x08,  /* val_expression rbp: breg7 8 */
		ADV(2),
		0x0f, sizeof(expr_cfa), 0x77, 0x10, 0x06, 0x23, 0x08, /* def_cfa_expression */
		ADV(2),
		0x0c, 6, 0x90, 0x01,     /* def_cfa rbp, 144 (uleb) */
		0x01, 0x10, 0x20, 0, 0, 0, 0, 0, 0, /* set_loc FN + 0x10 (absptr) */
		0x0c, 7, 8,              /* def_cfa rsp, 8 */
		0x00, 0x00,              /* nops */
	};
	struct asm_buf eh = {.addr = EH_ADDR};
	/* absptr FDE pointers so DW_CFA_set_loc can take an 8-byte address. */
	struct cie_desc cd = {"zR", 0x00, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd = {cie, 0x00, true, FN, 0x20, prog, sizeof(prog)};
	struct puw_cfi_row row;
	struct puw_cfi_stats st;
	struct puw_cfi *cfi;

	fde_put(&eh, &fd);
	cfi = compile(PUW_ARCH_X86_64, &eh, NULL, &st);
	if (!cfi)
		return;
	CHECK_EQ_U64(st.fdes, 1);
	check_reg(cfi, FN, 3, PUW_CFI_OFFSET, -16);
	check_reg(cfi, FN, 12, PUW_CFI_OFFSET, 24);
	check_reg(cfi, FN, 13, PUW_CFI_VAL_OFFSET, -32);
	check_reg(cfi, FN, 14, PUW_CFI_VAL_OFFSET, -16);
	check_reg(cfi, FN, 15, PUW_CFI_REGISTER, 1);
	check_reg(cfi, FN, 6, PUW_CFI_OFFSET, 40);
	check_reg(cfi, FN + 2, 3, PUW_CFI_SAME, 0);
	check_reg(cfi, FN + 2, 12, PUW_CFI_SAME, 0);
	check_cfa(cfi, FN + 2, PUW_CFI_CFA_REG, 7, 16);
	check_cfa(cfi, FN + 4, PUW_CFI_CFA_REG, 7, 32);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, FN + 4, &row), 0);
	CHECK(row.regs[3].rule == PUW_CFI_EXPR && row.regs[3].expr_size == 3 &&
	      row.regs[3].expr && memcmp(row.regs[3].expr, "\x77\x08\x06", 3) == 0);
	CHECK(row.regs[6].rule == PUW_CFI_VAL_EXPR && row.regs[6].expr_size == 2);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, FN + 6, &row), 0);
	CHECK(row.cfa == PUW_CFI_CFA_EXPR && row.cfa_expr_size == sizeof(expr_cfa) &&
	      memcmp(row.cfa_expr, expr_cfa, sizeof(expr_cfa)) == 0);
	check_cfa(cfi, FN + 8, PUW_CFI_CFA_REG, 6, 144);
	check_range(cfi, FN + 8, FN + 8, FN + 0x10);
	check_cfa(cfi, FN + 0x10, PUW_CFI_CFA_REG, 7, 8);
	puw_cfi_free(cfi);
}

/* ---- pointer encodings and augmentations ----------------------------------------- */

static void test_encodings(void)
{
	static const uint8_t encs[] = {
		0x00, /* absptr */
		0x01, /* uleb128 */
		0x03, /* udata4 */
		0x04, /* udata8 */
		0x09, /* sleb128 */
		0x0b, /* sdata4 */
		0x0c, /* sdata8 */
		0x1b, /* pcrel sdata4: GCC's default */
		0x1c, /* pcrel sdata8 */
		0x19, /* pcrel sleb128 */
		0x23, /* textrel udata4 */
		0x3b, /* datarel sdata4 */
		0x50, /* aligned absptr */
		0x12, /* pcrel udata2 */
	};
	static const uint8_t prog[] = {ADV(4), 0x0e, 16};
	struct asm_buf eh = {.addr = EH_ADDR + 3}; /* odd address: exercises "aligned" */
	struct puw_cfi_stats st;
	struct puw_cfi *cfi;
	uint64_t fn = 0x3000;

	for (size_t i = 0; i < ARRAY_SIZE(encs); i++) {
		struct cie_desc cd = {"zR", encs[i], 0, 0, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		/* udata2 pcrel: the function must be within 64 KiB above the field. */
		uint64_t begin = encs[i] == 0x12 ? EH_ADDR + 0x8000 : fn + 0x100 * i;
		struct fde_desc fd = {cie, encs[i], true, begin, 0x40, prog, sizeof(prog)};

		fde_put(&eh, &fd);
	}
	/* zPLR with an indirect personality, and "zRS", "zRB" (arm64 only matters), "". */
	{
		struct cie_desc cd = {"zPLR", 0x1b, 0x9b, 0x1b, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		struct fde_desc fd = {cie, 0x1b, true, 0x4000, 0x40, prog, sizeof(prog)};

		fde_put(&eh, &fd);
	}
	{
		struct cie_desc cd = {"", 0x00, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		struct fde_desc fd = {cie, 0x00, false, 0x4100, 0x40, prog, sizeof(prog)};

		fde_put(&eh, &fd);
	}
	/* An indirect FDE address: valid DWARF, unsupported here. */
	{
		struct cie_desc cd = {"zR", 0x9b, 0, 0, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		struct fde_desc fd = {cie, 0x1b, true, 0x4200, 0x40, prog, sizeof(prog)};

		fde_put(&eh, &fd);
	}
	/* An unknown augmentation letter: unsupported. */
	{
		struct cie_desc cd = {"zRX", 0x1b, 0, 0, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		struct fde_desc fd = {cie, 0x1b, true, 0x4300, 0x40, prog, sizeof(prog)};

		fde_put(&eh, &fd);
	}
	/* Empty and discarded FDEs. */
	{
		struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t cie = cie_put(&eh, &cd);
		struct fde_desc fd = {cie, 0x03, true, 0x4400, 0, prog, sizeof(prog)};

		fde_put(&eh, &fd);
		fd.begin = 0;
		fd.len = 0x40;
		fd.enc = 0x1b;
		(void)fd;
	}
	put_le(&eh, 0, 4);

	cfi = compile(PUW_ARCH_X86_64, &eh, NULL, &st);
	if (!cfi)
		return;
	CHECK_EQ_U64(st.fdes, ARRAY_SIZE(encs) + 2);
	CHECK_EQ_U64(st.fdes_unsupported, 2);
	CHECK_EQ_U64(st.fdes_malformed, 0);
	CHECK_EQ_U64(st.fdes_empty, 1);
	for (size_t i = 0; i < ARRAY_SIZE(encs); i++) {
		uint64_t begin = encs[i] == 0x12 ? EH_ADDR + 0x8000 : fn + 0x100 * i;
		int before = check_failures;

		check_cfa(cfi, begin, PUW_CFI_CFA_REG, 7, 8);
		check_cfa(cfi, begin + 4, PUW_CFI_CFA_REG, 7, 16);
		check_range(cfi, begin + 4, begin + 4, begin + 0x40);
		check_none(cfi, begin + 0x40);
		if (check_failures != before)
			fprintf(stderr, "  ... encoding 0x%02x\n", encs[i]);
	}
	check_cfa(cfi, 0x4004, PUW_CFI_CFA_REG, 7, 16);
	check_cfa(cfi, 0x4104, PUW_CFI_CFA_REG, 7, 16);
	check_none(cfi, 0x4204);
	check_none(cfi, 0x4304);
	puw_cfi_free(cfi);
}

/* ---- .debug_frame, DWARF64, and overlap with .eh_frame ---------------------------- */

static size_t dbg_cie_v4(struct asm_buf *a, bool dwarf64)
{
	size_t at = a->n, body;

	if (dwarf64) {
		put_le(a, 0xffffffff, 4);
		put_le(a, 0, 8);
		body = a->n;
		put_le(a, UINT64_MAX, 8);
	} else {
		put_le(a, 0, 4);
		body = a->n;
		put_le(a, 0xffffffff, 4);
	}
	put_u8(a, 4);  /* version */
	put_u8(a, 0);  /* "" */
	put_u8(a, 8);  /* address_size */
	put_u8(a, 0);  /* segment_selector_size */
	put_uleb(a, 1);
	put_sleb(a, -8);
	put_uleb(a, 16);
	put_bytes(a, x86_cie_insns, sizeof(x86_cie_insns));
	while ((a->n - at) % 8)
		put_u8(a, 0);
	if (dwarf64)
		put_le(a, 0, 0), memcpy(a->b + at + 4, &(uint64_t){htole64(a->n - body)}, 8);
	else
		memcpy(a->b + at, &(uint32_t){htole32((uint32_t)(a->n - body))}, 4);
	return at;
}

static void dbg_fde(struct asm_buf *a, size_t cie, bool dwarf64, uint64_t begin, uint64_t len,
		    const uint8_t *prog, size_t n)
{
	size_t at = a->n, body;

	if (dwarf64) {
		put_le(a, 0xffffffff, 4);
		put_le(a, 0, 8);
		body = a->n;
		put_le(a, cie, 8);
	} else {
		put_le(a, 0, 4);
		body = a->n;
		put_le(a, cie, 4);
	}
	put_le(a, begin, 8);
	put_le(a, len, 8);
	put_bytes(a, prog, n);
	while ((a->n - at) % 8)
		put_u8(a, 0);
	if (dwarf64)
		memcpy(a->b + at + 4, &(uint64_t){htole64(a->n - body)}, 8);
	else
		memcpy(a->b + at, &(uint32_t){htole32((uint32_t)(a->n - body))}, 4);
}

static void test_debug_frame(void)
{
	static const uint8_t prog_a[] = {ADV(1), 0x0e, 16};
	static const uint8_t prog_b[] = {ADV(1), 0x0e, 32};
	struct asm_buf eh = {.addr = EH_ADDR}, dbg = {0};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	struct fde_desc fd;
	struct puw_cfi_stats st;
	struct puw_cfi *cfi;
	size_t c32, c64, cie;

	cie = cie_put(&eh, &cd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x2000, 0x100, prog_a, sizeof(prog_a)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);

	c32 = dbg_cie_v4(&dbg, false);
	c64 = dbg_cie_v4(&dbg, true);
	dbg_fde(&dbg, c32, false, 0x2000, 0x100, prog_b, sizeof(prog_b)); /* overlaps: eh wins */
	dbg_fde(&dbg, c32, false, 0x2080, 0x100, prog_b, sizeof(prog_b)); /* clipped to 0x2100 */
	dbg_fde(&dbg, c64, true, 0x3000, 0x100, prog_b, sizeof(prog_b));  /* DWARF64 */
	put_le(&dbg, 0, 4);                                                /* empty entry */

	cfi = compile(PUW_ARCH_X86_64, &eh, &dbg, &st);
	if (!cfi)
		return;
	CHECK_EQ_U64(st.fdes, 3);
	CHECK_EQ_U64(st.fdes_overlapping, 2);
	CHECK_EQ_U64(st.cies, 3);
	check_cfa(cfi, 0x2001, PUW_CFI_CFA_REG, 7, 16);
	check_cfa(cfi, 0x20ff, PUW_CFI_CFA_REG, 7, 16);
	/* The clipped FDE keeps the row in effect at its new start. */
	check_cfa(cfi, 0x2100, PUW_CFI_CFA_REG, 7, 32);
	check_range(cfi, 0x2100, 0x2100, 0x2180);
	check_none(cfi, 0x2180);
	check_cfa(cfi, 0x3000, PUW_CFI_CFA_REG, 7, 8);
	check_cfa(cfi, 0x3001, PUW_CFI_CFA_REG, 7, 32);
	puw_cfi_free(cfi);

	/* .debug_frame alone. */
	cfi = compile(PUW_ARCH_X86_64, NULL, &dbg, &st);
	if (cfi) {
		CHECK_EQ_U64(st.fdes, 3);
		CHECK_EQ_U64(st.fdes_overlapping, 1);
		check_cfa(cfi, 0x2001, PUW_CFI_CFA_REG, 7, 32);
		puw_cfi_free(cfi);
	}
}

/* ---- recognised patterns: PLT, DRAP, glibc's signal frame; arm64 ------------------ */

static void test_patterns(void)
{
	/* GNU ld's .plt FDE. */
	static const uint8_t plt[] = {
		0x0e, 16, ADV(6), 0x0e, 24, ADV(10),
		0x0f, 11, 0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22,
	};
	/* GCC's stack realignment: CFA = *(rbp - 8). */
	static const uint8_t drap[] = {ADV(4), 0x0f, 3, 0x76, 0x78, 0x06};
	/* glibc's __restore_rt. */
	static const uint8_t sig[] = {0x0f, 4, 0x77, 0xa0, 0x01, 0x06, 0x10, 16, 3, 0x77, 0xa8, 0x01};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	struct cie_desc cds = {"zRS", 0x1b, 0, 0, -8, 16, NULL, 0};
	struct fde_desc fd;
	struct puw_cfi_row row;
	struct puw_cfi *cfi;
	size_t cie, cies;

	cie = cie_put(&eh, &cd);
	cies = cie_put(&eh, &cds);
	fd = (struct fde_desc){cie, 0x1b, true, 0x1000, 0x40, plt, sizeof(plt)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x1100, 0x40, drap, sizeof(drap)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cies, 0x1b, true, 0x1200, 0x10, sig, sizeof(sig)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	cfi = compile(PUW_ARCH_X86_64, &eh, NULL, NULL);
	if (!cfi)
		return;
	check_cfa(cfi, 0x1000, PUW_CFI_CFA_REG, 7, 16);
	check_cfa(cfi, 0x1006, PUW_CFI_CFA_REG, 7, 24);
	check_cfa(cfi, 0x1010, PUW_CFI_CFA_PLT, 11, 8);
	check_cfa(cfi, 0x103f, PUW_CFI_CFA_PLT, 11, 8);
	check_cfa(cfi, 0x1104, PUW_CFI_CFA_DEREF, 6, -8);
	check_cfa(cfi, 0x1200, PUW_CFI_CFA_SIGFRAME, 0, 0);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x1200, &row), 0);
	CHECK(row.signal_frame);
	puw_cfi_free(cfi);
}

static void test_aarch64_rows(void)
{
	/* paciasp; stp x29, x30, [sp, #-16]!; ... ; ldp; autiasp; ret */
	static const uint8_t prog[] = {
		ADV(1), 0x2d,                    /* negate_ra_state */
		ADV(1), 0x0e, 16, OFF(29, 4), OFF(30, 2),
		ADV(4), 0x0a, RESTORE(29), RESTORE(30), 0x0e, 0,
		ADV(1), 0x2d,
		ADV(1), 0x0b,
	};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zRB", 0x1b, 0, 0, -4, 30, a64_cie_insns, sizeof(a64_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd = {cie, 0x1b, true, 0x2000, 0x40, prog, sizeof(prog)};
	struct puw_cfi_row row;
	struct puw_cfi *cfi;

	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	cfi = compile(PUW_ARCH_AARCH64, &eh, NULL, NULL);
	if (!cfi)
		return;
	/* The leaf state: RA still in LR (same value), CFA = sp. */
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x2000, &row), 0);
	CHECK(!row.ra_signed && row.ra_column == 30 && row.regs[30].rule == PUW_CFI_SAME);
	check_cfa(cfi, 0x2000, PUW_CFI_CFA_REG, 31, 0);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x2004, &row), 0);
	CHECK(row.ra_signed);
	check_reg(cfi, 0x2008, 29, PUW_CFI_OFFSET, -16);
	check_reg(cfi, 0x2008, 30, PUW_CFI_OFFSET, -8);
	CHECK(row.kept == (((BIT(31) - 1) & ~(BIT(19) - 1))));
	/* Epilogue: restored, then RA authenticated (unsigned), then the remembered state. */
	check_reg(cfi, 0x2018, 30, PUW_CFI_SAME, 0);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x2018, &row), 0);
	CHECK(row.ra_signed);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x201c, &row), 0);
	CHECK(!row.ra_signed);
	CHECK_EQ_U64(puw_cfi_find_row(cfi, 0x2020, &row), 0);
	CHECK(row.ra_signed && row.regs[30].rule == PUW_CFI_OFFSET);
	puw_cfi_free(cfi);

	/* DW_CFA_AARCH64_negate_ra_state is DW_CFA_GNU_window_save on x86-64: malformed. */
	{
		struct asm_buf x = {.addr = EH_ADDR};
		struct cie_desc xc = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns,
				      sizeof(x86_cie_insns)};
		size_t c = cie_put(&x, &xc);
		struct fde_desc f1 = {c, 0x1b, true, 0x2000, 0x40, prog, sizeof(prog)};
		static const uint8_t ok[] = {ADV(1), 0x0e, 16};
		struct fde_desc f2 = {c, 0x1b, true, 0x3000, 0x40, ok, sizeof(ok)};
		struct puw_cfi_stats st;

		fde_put(&x, &f1);
		fde_put(&x, &f2);
		cfi = compile(PUW_ARCH_X86_64, &x, NULL, &st);
		CHECK_EQ_U64(st.fdes, 1);
		CHECK_EQ_U64(st.fdes_malformed, 1);
		puw_cfi_free(cfi);
	}
}

/* ---- unwinding synthetic stacks through compiled tables -------------------------- */

#define STK UINT64_C(0x7ffd00001000)
#define STK_SIZE 4096

struct synth {
	uint8_t mem[STK_SIZE];
	struct puw_module mods[2];
	unsigned n_mods;
	unsigned calls;
};

static void sput(struct synth *s, uint64_t addr, uint64_t v)
{
	uint64_t le = htole64(v);

	if (addr < STK || addr + 8 > STK + STK_SIZE) {
		check_failures++;
		fprintf(stderr, "sput outside the stack: 0x%" PRIx64 "\n", addr);
		return;
	}
	memcpy(s->mem + (addr - STK), &le, 8);
}

static int synth_find(void *ctx, uint64_t pc, struct puw_module *ret)
{
	struct synth *s = ctx;

	s->calls++;
	for (unsigned i = 0; i < s->n_mods; i++)
		if (pc >= s->mods[i].start && pc < s->mods[i].end) {
			*ret = s->mods[i];
			return 0;
		}
	return -ENOENT;
}

static int synth_unwind(struct synth *s, enum puw_arch arch, enum puw_mode mode,
			const struct puw_regs *regs, uint64_t *pcs, unsigned max,
			enum puw_stop *stop, struct puw_stats *st, struct puw_cache *cache)
{
	struct puw_request req = {
		.arch = arch,
		.mode = mode,
		.regs = regs,
		.stack = s->mem,
		.stack_start = STK,
		.stack_size = STK_SIZE,
		.find_module = synth_find,
		.ctx = s,
		.stats = st,
		.cache = cache,
	};

	return puw_unwind(&req, pcs, max, stop);
}

static void rset(struct puw_regs *r, unsigned reg, uint64_t v)
{
	r->r[reg] = v;
	r->valid |= BIT(reg);
}

#define BIAS UINT64_C(0x555500000000)

/*
 * x86-64: a table with a frame-pointer-less function F (CFA rsp+N), an rbp-based one G, a
 * PLT, an expression-based one, _start (RA undefined) and a signal trampoline, loaded at
 * BIAS. The stack: F <- G <- PLT-interrupted? no: innermost F, caller G, caller E (expr),
 * caller _start.
 */
static void test_unwind_x86(void)
{
	static const uint8_t f_prog[] = {ADV(1), 0x0e, 16, OFF(3, 2), ADV(1), 0x0e, 48};
	static const uint8_t g_prog[] = {ADV(1), 0x0e, 16, OFF(6, 2), ADV(3), 0x0d, 6};
	/* E: CFA = rsp + 32 as an expression (bregx 7 32), rbx saved by val_expression. */
	static const uint8_t e_prog[] = {0x0f, 3, 0x92, 7, 32, 0x16, 3, 4, 0x9c, 0x08, 24, 0x1c};
	static const uint8_t start_prog[] = {0x07, 16};
	/* Epilogues at `ret`: CFA rsp+8, but the rows still say rbx / rbp saved below it. */
	static const uint8_t epi_rbx_prog[] = {OFF(3, 2)};
	static const uint8_t epi_rbp_prog[] = {OFF(6, 2)};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd;
	struct puw_cfi_sections sec;
	struct puw_cfi *cfi = NULL;
	struct synth *s = calloc(1, sizeof(*s));
	struct puw_regs regs = {0};
	struct puw_stats st = {0};
	struct puw_cache *cache = puw_cache_new();
	uint64_t pcs[16], sp, f_pc = 0x2010, g_ra = 0x3020, e_ra = 0x4010, start_ra = 0x5008;
	enum puw_stop stop;
	int n;

	fd = (struct fde_desc){cie, 0x1b, true, 0x2000, 0x100, f_prog, sizeof(f_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x3000, 0x100, g_prog, sizeof(g_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x4000, 0x100, e_prog, sizeof(e_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x5000, 0x100, start_prog, sizeof(start_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x5200, 0x100, epi_rbx_prog, sizeof(epi_rbx_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x5300, 0x100, epi_rbp_prog, sizeof(epi_rbp_prog)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	sec = (struct puw_cfi_sections){
		.arch = PUW_ARCH_X86_64,
		.eh_frame = eh.b,
		.eh_frame_size = eh.n,
		.eh_frame_addr = eh.addr,
	};
	CHECK_EQ_U64(puw_cfi_compile(&sec, &cfi), 0);
	if (!cfi || !s || !cache)
		goto out;
	s->mods[0] = (struct puw_module){BIAS + 0x1000, BIAS + 0x6000, cfi, BIAS};
	s->n_mods = 1;

	/*
	 * F at +0x10 (CFA rsp+48, rbx at CFA-16), called by G at +0x20 (CFA rbp+16, rbp at
	 * CFA-16), called by E (CFA rsp+32 by expression, rbx = CFA-24 by val_expression),
	 * called by _start.
	 */
	sp = STK + 0x100;
	sput(s, sp + 48 - 8, BIAS + g_ra);     /* F's RA */
	sput(s, sp + 48 - 16, 0x1111);         /* rbx saved by F */
	/* G's frame: CFA = rbp + 16, rbp (unchanged by F) points into the stack. */
	uint64_t g_cfa = sp + 48 + 64, g_rbp = g_cfa - 16;
	sput(s, g_cfa - 8, BIAS + e_ra);
	sput(s, g_cfa - 16, 0x2222);           /* caller's rbp */
	uint64_t e_cfa = g_cfa + 32;
	sput(s, e_cfa - 8, BIAS + start_ra);
	rset(&regs, 16, BIAS + f_pc);
	rset(&regs, 7, sp);
	rset(&regs, 6, g_rbp);
	rset(&regs, 3, 0x9999);

	for (int pass = 0; pass < 3; pass++) {
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, &st,
				 pass ? cache : NULL);
		CHECK_EQ_U64(n, 4);
		CHECK_STREQ(puw_stop_name(stop), "end");
		CHECK_EQ_U64(pcs[0], BIAS + f_pc);
		CHECK_EQ_U64(pcs[1], BIAS + g_ra);
		CHECK_EQ_U64(pcs[2], BIAS + e_ra);
		CHECK_EQ_U64(pcs[3], BIAS + start_ra);
	}
	CHECK_EQ_U64(st.steps_cfi, 9);
	CHECK_EQ_U64(st.steps_fp, 0);

	/* A CFA that does not move up: G's rbp pointing below F's CFA. */
	{
		struct puw_regs r = regs;

		rset(&r, 6, sp);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 2);
		CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
	}
	/*
	 * Sampled on an epilogue's `ret`: rbx's slot is below the sampled SP, outside the copy.
	 * rbx becomes unknown and the walk goes on through G (rbp-based); with rbp's slot
	 * outside instead, G's CFA cannot be computed.
	 */
	{
		struct puw_regs r = regs;

		sput(s, sp, BIAS + g_ra);
		rset(&r, 16, BIAS + 0x5210);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 4);
		CHECK_STREQ(puw_stop_name(stop), "end");
		CHECK_EQ_U64(pcs[1], BIAS + g_ra);
		CHECK_EQ_U64(pcs[3], BIAS + start_ra);
		rset(&r, 16, BIAS + 0x5310);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 2);
		CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
	}
	/* A return address outside the copy. */
	{
		struct puw_regs r = regs;

		rset(&r, 7, STK + STK_SIZE - 16);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 1);
		CHECK_STREQ(puw_stop_name(stop), "stack-exhausted");
	}
	/* The CFA register unknown. */
	{
		struct puw_regs r = regs;

		r.valid &= ~BIT(6);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 2);
		CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
	}
	/* Depth. */
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 3, &stop, NULL, NULL);
	CHECK_EQ_U64(n, 3);
	CHECK_STREQ(puw_stop_name(stop), "max-depth");

	/*
	 * No CFI for G's PC (a second module, JIT-like): CFI mode stops, AUTO mode walks G's
	 * frame record by its frame pointer and continues with CFI in E.
	 */
	{
		struct puw_stats ast = {0};
		uint64_t jit_ra = 0x7f0000001234;

		s->mods[1] = (struct puw_module){0x7f0000001000, 0x7f0000002000, NULL, 0};
		s->n_mods = 2;
		sput(s, sp + 48 - 8, jit_ra);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL,
				 NULL);
		CHECK_EQ_U64(n, 2);
		CHECK_STREQ(puw_stop_name(stop), "no-cfi");
		/* G's frame record at rbp: {caller rbp, RA}. */
		sput(s, g_rbp, e_cfa + 0x40);
		sput(s, g_rbp + 8, BIAS + e_ra);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_AUTO, &regs, pcs, 16, &stop, &ast,
				 NULL);
		CHECK_EQ_U64(n, 4);
		CHECK_STREQ(puw_stop_name(stop), "end");
		CHECK_EQ_U64(pcs[1], jit_ra);
		CHECK_EQ_U64(pcs[2], BIAS + e_ra);
		CHECK_EQ_U64(ast.steps_fp_fallback, 1);
		CHECK_EQ_U64(ast.steps_cfi, 2);
		sput(s, sp + 48 - 8, BIAS + g_ra);
		s->n_mods = 1;
	}
	/* A PC in no module at all: nothing to look up; in the middle, BAD_PC. */
	{
		struct puw_regs r = regs;

		rset(&r, 16, 0x10);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &r, pcs, 16, &stop, NULL, NULL);
		CHECK_EQ_U64(n, 1);
		CHECK_STREQ(puw_stop_name(stop), "no-cfi");
		sput(s, sp + 48 - 8, 0x10);
		n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL,
				 NULL);
		CHECK_EQ_U64(n, 1);
		CHECK_STREQ(puw_stop_name(stop), "bad-pc");
		sput(s, sp + 48 - 8, BIAS + g_ra);
	}
out:
	puw_cache_free(cache);
	puw_cfi_free(cfi);
	free(s);
}

/* The PLT rule and x86-64 signal frames, through the trampoline row. */
static void test_unwind_x86_plt_signal(void)
{
	static const uint8_t plt[] = {
		0x0e, 16, ADV(6), 0x0e, 24, ADV(10),
		0x0f, 11, 0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22,
	};
	static const uint8_t h_prog[] = {ADV(1), 0x0e, 16};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd;
	struct puw_cfi_sections sec;
	struct puw_cfi *cfi = NULL;
	struct synth *s = calloc(1, sizeof(*s));
	struct puw_regs regs = {0};
	struct puw_stats st = {0};
	uint64_t pcs[16], sp;
	enum puw_stop stop;
	int n;

	fd = (struct fde_desc){cie, 0x1b, true, 0x1000, 0x40, plt, sizeof(plt)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x2000, 0x100, h_prog, sizeof(h_prog)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	sec = (struct puw_cfi_sections){
		.arch = PUW_ARCH_X86_64,
		.eh_frame = eh.b,
		.eh_frame_size = eh.n,
		.eh_frame_addr = eh.addr,
		.sigreturn_addr = 0x3001,
		.sigreturn_size = 9,
	};
	CHECK_EQ_U64(puw_cfi_compile(&sec, &cfi), 0);
	if (!cfi || !s)
		goto out;
	s->mods[0] = (struct puw_module){BIAS + 0x1000, BIAS + 0x6000, cfi, BIAS};
	s->n_mods = 1;

	/* In a PLT entry at offsets 0x16 (before the push: rsp+8) and 0x1b (after: rsp+16). */
	sp = STK + 0x100;
	sput(s, sp, BIAS + 0x2010);
	sput(s, sp + 8, BIAS + 0x2020);
	sput(s, sp + 16, 0); /* the caller's caller's RA slot: 0 ends the chain */
	sput(s, sp + 24, 0);
	rset(&regs, 16, BIAS + 0x1016);
	rset(&regs, 7, sp);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL, NULL);
	CHECK(n >= 2);
	CHECK_EQ_U64(pcs[1], BIAS + 0x2010);
	rset(&regs, 16, BIAS + 0x101b);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL, NULL);
	CHECK(n >= 2);
	CHECK_EQ_U64(pcs[1], BIAS + 0x2020);

	/*
	 * A handler H (CFA rsp+16) returning to the trampoline at 0x3001; the trampoline's frame
	 * is the kernel's rt_sigframe: ucontext at its sp, registers from uc_mcontext at +40.
	 * The interrupted PC is exact and in H's function too (a leaf at its first byte: CFA
	 * rsp+8), its caller's RA at the interrupted rsp.
	 */
	memset(s->mem, 0, sizeof(s->mem));
	memset(&regs, 0, sizeof(regs));
	sp = STK + 0x100;
	uint64_t uc = sp + 16, intr_sp = STK + 0x800;
	sput(s, sp + 8, BIAS + 0x3001);
	static const unsigned order[] = {8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16};
	for (unsigned i = 0; i < ARRAY_SIZE(order); i++)
		sput(s, uc + 40 + 8 * i, 0x1000 + order[i]);
	sput(s, uc + 40 + 8 * 15, intr_sp);          /* rsp */
	sput(s, uc + 40 + 8 * 16, BIAS + 0x2000);    /* rip: H's first byte, exact */
	sput(s, intr_sp, BIAS + 0x2050);             /* RA of the interrupted frame */
	sput(s, intr_sp + 16, 0);
	rset(&regs, 16, BIAS + 0x2008);
	rset(&regs, 7, sp);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, &st, NULL);
	CHECK(n >= 4);
	CHECK_EQ_U64(pcs[1], BIAS + 0x3001);
	CHECK_EQ_U64(pcs[2], BIAS + 0x2000);
	CHECK_EQ_U64(pcs[3], BIAS + 0x2050);
	CHECK_EQ_U64(st.steps_signal, 1);
	/* The saved rsp must lie above the frame (not a sigaltstack's or junk). */
	sput(s, uc + 40 + 8 * 15, sp);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL, NULL);
	CHECK_EQ_U64(n, 2);
	CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
out:
	puw_cfi_free(cfi);
	free(s);
}

/*
 * arm64: a leaf with its RA still in LR, a non-leaf with {x29, x30} saved and a signed RA
 * (PAC bits stripped), and the vDSO signal trampoline.
 */
static void test_unwind_aarch64(void)
{
	static const uint8_t leaf[] = {0x00};
	static const uint8_t nonleaf[] = {ADV(1), 0x2d, ADV(1), 0x0e, 32, OFF(29, 8), OFF(30, 6),
					  OFF(19, 4)};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -4, 30, a64_cie_insns, sizeof(a64_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd;
	struct puw_cfi_sections sec;
	struct puw_cfi *cfi = NULL;
	struct synth *s = calloc(1, sizeof(*s));
	struct puw_regs regs = {0};
	struct puw_stats st = {0};
	uint64_t pcs[16], sp, cfa;
	enum puw_stop stop;
	int n;

	fd = (struct fde_desc){cie, 0x1b, true, 0x2000, 0x100, leaf, sizeof(leaf)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x3000, 0x100, nonleaf, sizeof(nonleaf)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	sec = (struct puw_cfi_sections){
		.arch = PUW_ARCH_AARCH64,
		.eh_frame = eh.b,
		.eh_frame_size = eh.n,
		.eh_frame_addr = eh.addr,
		.sigreturn_addr = 0x4004,
		.sigreturn_size = 8,
	};
	CHECK_EQ_U64(puw_cfi_compile(&sec, &cfi), 0);
	if (!cfi || !s)
		goto out;
	s->mods[0] = (struct puw_module){BIAS + 0x1000, BIAS + 0x6000, cfi, BIAS};
	s->n_mods = 1;

	/* leaf (LR -> nonleaf+0x20) <- nonleaf (saved x30, PAC-signed -> 0x2100 junk end). */
	sp = STK + 0x100;
	cfa = sp + 32;
	sput(s, cfa - 32, 0x29);                                      /* x29 */
	sput(s, cfa - 24, (BIAS + 0x3080) | UINT64_C(0x002a000000000000)); /* x30, signed */
	sput(s, cfa - 16, 0x19);                                      /* x19 */
	rset(&regs, 32, BIAS + 0x2010);
	rset(&regs, 31, sp);
	rset(&regs, 30, BIAS + 0x3020);
	rset(&regs, 29, 0);
	/* nonleaf+0x80 has nonleaf's rule too: its RA is at cfa - 24 again; then 0 ends it. */
	sput(s, cfa + 32 - 24, 0);
	n = synth_unwind(s, PUW_ARCH_AARCH64, PUW_MODE_CFI, &regs, pcs, 16, &stop, &st, NULL);
	CHECK_EQ_U64(n, 3);
	CHECK_STREQ(puw_stop_name(stop), "end");
	CHECK_EQ_U64(pcs[1], BIAS + 0x3020);
	CHECK_EQ_U64(pcs[2], BIAS + 0x3080);

	/* A leaf whose LR is unknown: the RA cannot be recovered. */
	regs.valid &= ~BIT(30);
	n = synth_unwind(s, PUW_ARCH_AARCH64, PUW_MODE_CFI, &regs, pcs, 16, &stop, NULL, NULL);
	CHECK_EQ_U64(n, 1);
	CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
	rset(&regs, 30, BIAS + 0x3020);

	/*
	 * The vDSO trampoline: a handler (leaf at 0x2000) returned to 0x4004 with sp at the
	 * rt_sigframe; x0..x30 at +312, sp at +560, pc at +568. The interrupted frame is a leaf
	 * too (CFA == sp allowed: exact PC), whose LR names nonleaf.
	 */
	memset(s->mem, 0, sizeof(s->mem));
	sp = STK + 0x100;
	uint64_t intr_sp = STK + 0x800;
	for (unsigned i = 0; i <= 30; i++)
		sput(s, sp + 312 + 8 * i, 0x5000 + i);
	sput(s, sp + 312 + 8 * 30, BIAS + 0x3040); /* interrupted LR */
	sput(s, sp + 560, intr_sp);
	sput(s, sp + 568, BIAS + 0x2004);
	sput(s, intr_sp + 32 - 24, 0);             /* nonleaf's RA slot: end */
	memset(&regs, 0, sizeof(regs));
	rset(&regs, 32, BIAS + 0x2000);
	rset(&regs, 31, sp);
	rset(&regs, 30, BIAS + 0x4004);
	n = synth_unwind(s, PUW_ARCH_AARCH64, PUW_MODE_CFI, &regs, pcs, 16, &stop, &st, NULL);
	CHECK_EQ_U64(n, 4);
	CHECK_STREQ(puw_stop_name(stop), "end");
	CHECK_EQ_U64(pcs[1], BIAS + 0x4004);
	CHECK_EQ_U64(pcs[2], BIAS + 0x2004);
	CHECK_EQ_U64(pcs[3], BIAS + 0x3040);
	CHECK_EQ_U64(st.steps_signal, 1);
out:
	puw_cfi_free(cfi);
	free(s);
}

/*
 * A hand-built signal-frame FDE ('S') whose CFA is sp + 0 and whose return address slot,
 * at the CFA, holds the interrupted PC itself: a step by that row would give the same PC
 * at the same sp, exact again (a signal frame's caller is), for ever. A signal frame's
 * CFA must lie above sp (the kernel's sigframe is there): bad-cfa on the first step. The
 * same row without 'S' is fine for the innermost frame (a leaf) and ends at the next step.
 */
static void test_unwind_signal_cfa_at_sp(void)
{
	static const uint8_t prog[] = {OFF(30, 0)}; /* CFA = sp + 0 (CIE), x30 at CFA + 0 */
	/* x86-64: CFA = rsp + 0, RA (16) at CFA + 0. */
	static const uint8_t x86_cie[] = {0x0c, 7, 0};
	static const uint8_t x86_prog[] = {OFF(16, 0)};
	static const struct {
		enum puw_arch arch;
		unsigned sp, pc, ra;
		int64_t align;
		const uint8_t *cie_insns;
		size_t n_cie_insns;
	} archs[] = {
		{PUW_ARCH_AARCH64, 31, 32, 30, -4, a64_cie_insns, sizeof(a64_cie_insns)},
		{PUW_ARCH_X86_64, 7, 16, 16, -8, x86_cie, sizeof(x86_cie)},
	};

	for (size_t a = 0; a < ARRAY_SIZE(archs); a++) {
		for (int signal = 1; signal >= 0; signal--) {
			struct asm_buf eh = {.addr = EH_ADDR};
			struct cie_desc cd = {
				.aug = signal ? "zRS" : "zR",
				.fde_enc = 0x1b,
				.data_align = archs[a].align,
				.ra = archs[a].ra,
				.insns = archs[a].cie_insns,
				.n_insns = archs[a].n_cie_insns,
			};
			size_t cie = cie_put(&eh, &cd);
			bool x86 = archs[a].arch == PUW_ARCH_X86_64;
			struct fde_desc fd = {
				.cie = cie,
				.enc = 0x1b,
				.z = true,
				.begin = 0x2000,
				.len = 0x100,
				.insns = x86 ? x86_prog : prog,
				.n_insns = x86 ? sizeof(x86_prog) : sizeof(prog),
			};
			struct synth *s = calloc(1, sizeof(*s));
			struct puw_regs regs = {0};
			struct puw_cfi *cfi;
			uint64_t pcs[64], sp = STK + 0x100;
			enum puw_stop stop;
			int n;

			fde_put(&eh, &fd);
			put_le(&eh, 0, 4);
			cfi = compile(archs[a].arch, &eh, NULL, NULL);
			if (!cfi || !s) {
				puw_cfi_free(cfi);
				free(s);
				continue;
			}
			s->mods[0] = (struct puw_module){BIAS + 0x1000, BIAS + 0x6000, cfi, BIAS};
			s->n_mods = 1;
			sput(s, sp, BIAS + 0x2010);
			rset(&regs, archs[a].pc, BIAS + 0x2010);
			rset(&regs, archs[a].sp, sp);
			if (!x86)
				rset(&regs, archs[a].ra, BIAS + 0x2010);
			for (int m = PUW_MODE_CFI; m >= PUW_MODE_AUTO; m--) {
				n = synth_unwind(s, archs[a].arch, (enum puw_mode)m, &regs, pcs,
						 ARRAY_SIZE(pcs), &stop, NULL, NULL);
				CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
				CHECK_EQ_U64(n, signal ? 1 : 2);
			}
			puw_cfi_free(cfi);
			free(s);
		}
	}
}

/* ---- malformed input ------------------------------------------------------------- */

/* .eh_frame of an ELF file, copied; NULL if unavailable. */
static uint8_t *read_eh_frame(const char *path, size_t *ret_size, uint64_t *ret_addr)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	uint8_t *copy = NULL;

	if (fd < 0)
		return NULL;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh))
				break;
			name = elf_strptr(elf, shstrndx, sh.sh_name);
			if (!name || strcmp(name, ".eh_frame") != 0 || sh.sh_type == SHT_NOBITS)
				continue;
			d = elf_rawdata(scn, NULL);
			if (d && d->d_size && (copy = malloc(d->d_size))) {
				memcpy(copy, d->d_buf, d->d_size);
				*ret_size = d->d_size;
				*ret_addr = sh.sh_addr;
			}
			break;
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return copy;
}

/*
 * Compiles bytes[0, len) copied into an exact-size heap buffer, so that a sanitizer or
 * valgrind sees any read past the end. Returns the FDE count (or -errno).
 */
static long compile_bytes(enum puw_arch arch, const uint8_t *bytes, size_t len, uint64_t addr,
			  bool as_debug)
{
	uint8_t *b = malloc(len ? len : 1);
	struct puw_cfi_sections s = {.arch = arch, .eh_frame_addr = addr, .text_addr = 0x1000};
	struct puw_cfi *cfi = NULL;
	struct puw_cfi_stats st;
	int r;

	if (!b)
		return -ENOMEM;
	memcpy(b, bytes, len);
	if (as_debug) {
		s.debug_frame = b;
		s.debug_frame_size = len;
	} else {
		s.eh_frame = b;
		s.eh_frame_size = len;
	}
	r = puw_cfi_compile(&s, &cfi);
	free(b);
	if (r)
		return r;
	puw_cfi_get_stats(cfi, &st);
	/* Every row lookup works on whatever was compiled. */
	for (uint64_t a = cfi ? 0 : 1; a < 64; a++) {
		struct puw_cfi_row row;

		(void)puw_cfi_find_row(cfi, addr + a * 977, &row);
	}
	puw_cfi_free(cfi);
	return (long)st.fdes;
}

static void test_malformed(void)
{
	uint64_t addr = 0;
	size_t size = 0, step;
	uint8_t *eh = read_eh_frame("/proc/self/exe", &size, &addr);
	long full, prev = 0;
	uint64_t rng = 0x9e3779b97f4a7c15;
	unsigned flips = 0;

	CHECK(eh != NULL);
	if (!eh)
		return;
	full = compile_bytes(PUW_ARCH_X86_64, eh, size, addr, false);
	CHECK(full > 10);

	/* Every truncation: never a crash, never more FDEs than the whole, monotonic-ish. */
	for (size_t len = 0; len <= size; len++) {
		long r = compile_bytes(PUW_ARCH_X86_64, eh, len, addr, false);

		if (r > full || (r < 0 && r != -ENOENT)) {
			check_failures++;
			fprintf(stderr, "truncated at %zu: %ld (whole: %ld)\n", len, r, full);
			break;
		}
		if (r >= 0)
			prev = r;
	}
	CHECK_EQ_U64(prev, full);
	/* The same bytes read as .debug_frame and as arm64 CFI: garbage, handled. */
	step = size / 64 ? size / 64 : 1;
	for (size_t len = 0; len <= size; len += step) {
		compile_bytes(PUW_ARCH_X86_64, eh, len, addr, true);
		compile_bytes(PUW_ARCH_AARCH64, eh, len, addr, false);
	}
	/* Byte flips (a deterministic PRNG): any result but a crash. */
	for (unsigned i = 0; i < 3000; i++) {
		uint8_t *m = malloc(size);
		unsigned nflip = 1 + i % 4;

		if (!m)
			break;
		memcpy(m, eh, size);
		for (unsigned k = 0; k < nflip; k++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			m[rng % size] ^= (uint8_t)(1u << ((rng >> 32) % 8));
			flips++;
		}
		compile_bytes(i & 1 ? PUW_ARCH_AARCH64 : PUW_ARCH_X86_64, m, size, addr, i % 7 == 0);
		free(m);
	}
	CHECK(flips > 0);
	free(eh);

	/* Hostile shapes: huge lengths, a CIE pointer out of range, a DWARF64 length. */
	{
		static const uint8_t huge[] = {0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0};
		static const uint8_t far_cie[] = {0x0c, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0,
						  0, 0, 0, 0};
		static const uint8_t d64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff};

		CHECK_EQ_U64(compile_bytes(PUW_ARCH_X86_64, huge, sizeof(huge), 0x1000, false), -ENOENT);
		CHECK_EQ_U64(compile_bytes(PUW_ARCH_X86_64, far_cie, sizeof(far_cie), 0x1000, false),
			     -ENOENT);
		CHECK_EQ_U64(compile_bytes(PUW_ARCH_X86_64, d64, sizeof(d64), 0x1000, true), -ENOENT);
	}
}

/* Expressions, both machines: a bad one fails the FDE's CFA; a loop ends by the op cap. */
static void test_expressions(void)
{
	/* CFA = an expression that branches back forever: bounded, then BAD_CFA. */
	static const uint8_t loop_prog[] = {0x0f, 3, 0x2f, 0xfd, 0xff}; /* skip -3 */
	/* CFA = rsp + 8 computed the long way: lit8, breg7 0, plus, dup, drop, swap? no. */
	static const uint8_t calc_prog[] = {0x0f, 9, 0x38, 0x77, 0x00, 0x22, 0x12, 0x13, 0x11, 0x00,
					    0x22};
	/* DW_OP_addr: not supported (needs the bias): the FDE is skipped. */
	static const uint8_t addr_prog[] = {0x0f, 9, 0x03, 1, 2, 3, 4, 5, 6, 7, 8};
	struct asm_buf eh = {.addr = EH_ADDR};
	struct cie_desc cd = {"zR", 0x1b, 0, 0, -8, 16, x86_cie_insns, sizeof(x86_cie_insns)};
	size_t cie = cie_put(&eh, &cd);
	struct fde_desc fd;
	struct puw_cfi_stats st;
	struct puw_cfi *cfi;
	struct synth *s = calloc(1, sizeof(*s));
	struct puw_regs regs = {0};
	uint64_t pcs[8];
	enum puw_stop stop;
	int n;

	fd = (struct fde_desc){cie, 0x1b, true, 0x2000, 0x100, loop_prog, sizeof(loop_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x3000, 0x100, calc_prog, sizeof(calc_prog)};
	fde_put(&eh, &fd);
	fd = (struct fde_desc){cie, 0x1b, true, 0x4000, 0x100, addr_prog, sizeof(addr_prog)};
	fde_put(&eh, &fd);
	put_le(&eh, 0, 4);
	cfi = compile(PUW_ARCH_X86_64, &eh, NULL, &st);
	if (!cfi || !s)
		goto out;
	CHECK_EQ_U64(st.fdes, 2);
	CHECK_EQ_U64(st.fdes_unsupported, 1);
	s->mods[0] = (struct puw_module){BIAS + 0x1000, BIAS + 0x6000, cfi, BIAS};
	s->n_mods = 1;
	sput(s, STK + 0x100, BIAS + 0x3010);
	sput(s, STK + 0x108, 0);
	rset(&regs, 16, BIAS + 0x2004);
	rset(&regs, 7, STK + 0x100);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 8, &stop, NULL, NULL);
	CHECK_EQ_U64(n, 1);
	CHECK_STREQ(puw_stop_name(stop), "bad-cfa");
	rset(&regs, 16, BIAS + 0x3004);
	n = synth_unwind(s, PUW_ARCH_X86_64, PUW_MODE_CFI, &regs, pcs, 8, &stop, NULL, NULL);
	CHECK_EQ_U64(n, 2);
	CHECK_EQ_U64(pcs[1], BIAS + 0x3010);
out:
	puw_cfi_free(cfi);
	free(s);
}

static void test_api(void)
{
	struct puw_cfi_sections s = {.arch = PUW_ARCH_X86_64};
	struct puw_cfi *cfi = (struct puw_cfi *)0x1;
	struct puw_cfi_stats st;
	struct puw_cfi_row row;

	CHECK_EQ_U64(puw_cfi_compile(NULL, &cfi), -EINVAL);
	CHECK_EQ_U64(puw_cfi_compile(&s, NULL), -EINVAL);
	CHECK_EQ_U64(puw_cfi_compile(&s, &cfi), -ENOENT); /* nothing at all */
	s.arch = _PUW_ARCH_MAX;
	CHECK_EQ_U64(puw_cfi_compile(&s, &cfi), -EINVAL);
	s.arch = PUW_ARCH_X86_64;
	s.eh_frame_size = 16;
	CHECK_EQ_U64(puw_cfi_compile(&s, &cfi), -EINVAL);
	CHECK(cfi == (struct puw_cfi *)0x1); /* untouched on error */
	puw_cfi_free(NULL);
	puw_cache_free(NULL);
	puw_cfi_get_stats(NULL, &st);
	CHECK_EQ_U64(st.bytes, 0);
	CHECK_EQ_U64(puw_cfi_find_row(NULL, 0, &row), -EINVAL);
}

int main(void)
{
	test_api();
	test_x86_prologue();
	test_opcodes();
	test_encodings();
	test_debug_frame();
	test_patterns();
	test_aarch64_rows();
	test_unwind_x86();
	test_unwind_x86_plt_signal();
	test_unwind_aarch64();
	test_unwind_signal_cfa_at_sp();
	test_expressions();
	test_malformed();
	return check_finish("test-cfi");
}
