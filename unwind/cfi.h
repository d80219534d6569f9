/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiled CFI tables: the packed form puw_cfi_compile() builds and the CFI step reads.
 * Internal to unwind/.
 *
 * A table is one allocation, immutable after compilation:
 *
 *   rows[n_rows]       packed {u32 offset from base, u16 rule index} (6 bytes; {u32, u32}
 *                      past 65535 rules), ascending; row i covers [pc(i), pc(i + 1)); rule 0
 *                      is "no CFI". Address and rule share a cache line: a lookup with cold
 *                      caches misses once for both.
 *   page[n_pages + 1]  for page p (addresses [p << page_shift, (p + 1) << page_shift) from
 *                      base): the row covering the page's first address; a lookup binary
 *                      searches only between page[p] and page[p + 1]
 *   rules              n_rules fixed-size struct cfi_rule records (rule_stride bytes each)
 *   exprs              DWARF expressions, each a little-endian u16 length then the bytes
 *
 * The last row is always a "no CFI" row starting at the end of the last FDE, so
 * row_pc[n_rows - 1] is the span of covered addresses. Identical neighbouring rows are
 * merged, and identical rules shared, which is what keeps the table at a few bytes per row:
 * most of a binary's rows say one of a few hundred things.
 */
#ifndef PUW_CFI_H
#define PUW_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"

/* Registers a rule can keep: arm64 x19..x30 is the largest set. */
#define CFI_MAX_KEPT 12

/* cfi_rule.cfa_kind: 0 is "no CFI here", the others are enum puw_cfi_cfa + 1. */
enum {
	CFI_CFA_NONE = 0,
	CFI_CFA_REG = PUW_CFI_CFA_REG + 1,
	CFI_CFA_DEREF = PUW_CFI_CFA_DEREF + 1,
	CFI_CFA_PLT = PUW_CFI_CFA_PLT + 1,
	CFI_CFA_EXPR = PUW_CFI_CFA_EXPR + 1,
	CFI_CFA_SIGFRAME = PUW_CFI_CFA_SIGFRAME + 1,
};

/* cfi_rule.flags */
#define CFI_F_SIGNAL 0x01    /* CIE augmentation 'S' */
#define CFI_F_RA_SIGNED 0x02 /* arm64 RA_SIGN_STATE = 1 */
/*
 * Every saved register is OFFSET, VAL_OFFSET or UNDEFINED: values depend on the CFA and the
 * stack only, never on another register, so the step may write them as it computes them.
 */
#define CFI_F_SIMPLE 0x04
/*
 * The common case, which the step takes without further checks: the CFA is a register
 * (< PUW_REGS_MAX) plus an offset, every saved register, the return address among them, is
 * saved at CFA + offset (DW_CFA_offset), and the frame is no signal frame. Implies
 * CFI_F_SIMPLE.
 */
#define CFI_F_FAST 0x08

/*
 * A kept register's rule in one u32: enum puw_cfi_rule in the low 3 bits, a signed 29-bit
 * value above (an offset from the CFA, a DWARF register, or an offset into exprs).
 */
#define CFI_REG_KIND_BITS 3
#define CFI_REG_KIND_MASK 7u
#define CFI_REG_VALUE_MIN (-(INT32_C(1) << 28))
#define CFI_REG_VALUE_MAX ((INT32_C(1) << 28) - 1)

static inline uint32_t cfi_reg_pack(enum puw_cfi_rule kind, int32_t value)
{
	return (uint32_t)kind | ((uint32_t)value << CFI_REG_KIND_BITS);
}

static inline enum puw_cfi_rule cfi_reg_kind(uint32_t r)
{
	return (enum puw_cfi_rule)(r & CFI_REG_KIND_MASK);
}

static inline int32_t cfi_reg_value(uint32_t r)
{
	/* Arithmetic shift of the signed word: GCC and clang define it, C23 requires it. */
	return (int32_t)r >> CFI_REG_KIND_BITS;
}

struct cfi_rule {
	uint8_t cfa_kind;
	uint8_t cfa_reg; /* DWARF register; PLT: the (rip & 15) threshold */
	uint8_t flags;
	uint8_t reserved;
	uint16_t saved; /* bit i: kept register i has a rule other than PUW_CFI_SAME */
	uint16_t reserved2;
	int32_t cfa_off; /* offset; CFI_CFA_EXPR: offset of the expression in exprs */
	uint32_t reg[];	 /* one per kept register of the architecture */
};

#define CFI_RULE_HEADER_BYTES 12

struct puw_cfi {
	uint32_t id; /* serial number, never 0, distinct for every live table (puw_cache keys) */
	enum puw_arch arch;
	uint8_t page_shift;
	uint8_t row_bytes; /* 6, or 8 with u32 rule indices */
	uint32_t n_rows;
	uint32_t n_pages;
	uint32_t n_rules;
	uint32_t rule_stride;
	uint64_t base;
	uint32_t span;
	const uint8_t *rows;
	const uint32_t *page;
	const uint8_t *rules;
	const uint8_t *exprs;
	size_t exprs_size;
	struct puw_cfi_stats stats;
};

static inline const struct cfi_rule *cfi_rule_at(const struct puw_cfi *cfi, uint32_t idx)
{
	return (const struct cfi_rule *)(const void *)(cfi->rules + (size_t)idx * cfi->rule_stride);
}

/* Row i's address offset and rule index (unaligned loads: the rows are packed). */
static inline uint32_t cfi_row_pc(const struct puw_cfi *cfi, uint32_t i)
{
	uint32_t v;

	memcpy(&v, cfi->rows + (size_t)i * cfi->row_bytes, sizeof(v));
	return v;
}

static inline uint32_t cfi_row_rule(const struct puw_cfi *cfi, uint32_t i)
{
	const uint8_t *p = cfi->rows + (size_t)i * cfi->row_bytes + 4;
	uint32_t v32;
	uint16_t v16;

	if (cfi->row_bytes == 8) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v16, p, sizeof(v16));
	return v16;
}

/*
 * The search of cfi_find_row_index() for one row size, a constant once inlined: the row
 * address is then a shift and an add, not a multiplication.
 */
static inline __attribute__((always_inline)) uint32_t
cfi_search_rows(const uint8_t *rows, unsigned row_bytes, uint32_t base, uint32_t n, uint32_t o)
{
	/*
	 * Last row in [base, base + n) starting at or below o; row base always qualifies. With
	 * about one page per row, n is mostly 1 to 3. Branch-free halving: the compiler turns
	 * the choice into a conditional move, so a lookup costs a few dependent loads and no
	 * mispredicted branches.
	 */
	while (n > 1) {
		uint32_t half = n / 2, v;

		memcpy(&v, rows + (size_t)(base + half) * row_bytes, sizeof(v));
		base = v <= o ? base + half : base;
		n -= half;
	}
	return base;
}

/* Row index covering offset o from the table's base, o < span. */
static inline uint32_t cfi_find_row_at(const struct puw_cfi *cfi, uint32_t o)
{
	uint32_t pg = o >> cfi->page_shift, base = cfi->page[pg];
	uint32_t n = cfi->page[pg + 1] - base + 1;

	if (cfi->row_bytes == 6)
		return cfi_search_rows(cfi->rows, 6, base, n, o);
	return cfi_search_rows(cfi->rows, 8, base, n, o);
}

/*
 * Row index covering ELF address addr, or -1 when addr is outside every FDE's span (inside
 * the span, gaps are rows whose rule is 0).
 */
static inline int64_t cfi_find_row_index(const struct puw_cfi *cfi, uint64_t addr)
{
	uint64_t off = addr - cfi->base;

	if (addr < cfi->base || off >= cfi->span)
		return -1;
	return cfi_find_row_at(cfi, (uint32_t)off);
}

/* The rule for ELF address addr, NULL when no CFI covers it. */
static inline const struct cfi_rule *cfi_lookup(const struct puw_cfi *cfi, uint64_t addr)
{
	int64_t row = cfi_find_row_index(cfi, addr);
	uint32_t idx;

	if (row < 0)
		return NULL;
	idx = cfi_row_rule(cfi, (uint32_t)row);
	if (idx == 0)
		return NULL;
	return cfi_rule_at(cfi, idx);
}

/*
 * The lookup memo (struct puw_cache): a direct-mapped table from (table serial, address
 * offset from the table's base), one 64-bit key, to the rule the row holds. A slot whose
 * rule is NULL remembers that no CFI covers the address. Serials are never reused (until
 * 2^32 tables have been compiled), so the slots of a freed table are never hit again.
 *
 * A slot is one cache line: the key, a pointer to the rule, and for a CFI_F_FAST rule whose
 * offsets fit 16 bits (nearly all) a copy of everything the walk's fast step reads of it.
 * A hit then costs one memory access, not two dependent ones: with thousands of rules and
 * slots the walk touches, both are mostly L2 hits, and their latency is most of a frame's.
 *
 * puw_cache_clear() must be cheap enough to run before every sample (a "cold" unwind): the
 * slots filled since the last clear are listed, and only those are emptied — a few dozen
 * stores, not 16 KiB. Past CFI_CACHE_DIRTY_MAX fills the list stops growing and the clear
 * empties everything; a cache never cleared (the daemon's) just keeps it saturated.
 */
#define CFI_CACHE_BITS 10
#define CFI_CACHE_DIRTY_MAX 256

struct cfi_cache_slot {
	uint64_t key;		     /* 0: empty (table ids start at 1) */
	const struct cfi_rule *rule; /* NULL: no CFI covers the address */
	uint8_t fast;		     /* the rule is CFI_F_FAST and copied below */
	uint8_t cfa_reg;
	uint16_t saved;
	int32_t cfa_off;
	int16_t off[CFI_MAX_KEPT]; /* cfi_reg_value(reg[i]) for the kept registers in saved */
} __attribute__((aligned(64)));

/* Fills a slot's rule and copy (not its key). */
static inline void cfi_cache_slot_set(struct cfi_cache_slot *s, const struct cfi_rule *rule)
{
	s->rule = rule;
	s->fast = 0;
	if (!rule || !(rule->flags & CFI_F_FAST))
		return;
	for (uint32_t todo = rule->saved; todo; todo &= todo - 1) {
		unsigned i = (unsigned)__builtin_ctz(todo);
		int32_t v = cfi_reg_value(rule->reg[i]);

		if (v < INT16_MIN || v > INT16_MAX)
			return;
		s->off[i] = (int16_t)v;
	}
	s->cfa_reg = rule->cfa_reg;
	s->saved = rule->saved;
	s->cfa_off = rule->cfa_off;
	s->fast = 1;
}

struct puw_cache {
	struct cfi_cache_slot slot[1u << CFI_CACHE_BITS];
	/* Slots filled since the last clear; n_dirty > CFI_CACHE_DIRTY_MAX: too many, all. */
	uint32_t n_dirty;
	uint16_t dirty[CFI_CACHE_DIRTY_MAX];
};

/*
 * A miss: searches the table for offset off (< span) and fills slot (the index key hashes
 * to), which it returns. Out of line: rare once the cache is warm (cfi-step.c).
 */
const struct cfi_cache_slot *cfi_cache_fill(struct puw_cache *cache, const struct puw_cfi *cfi,
					    uint32_t off, uint64_t key, uint32_t slot);

/* An expression stored in the table: its bytes and length, or false when out of bounds. */
static inline bool cfi_expr_get(const struct puw_cfi *cfi, int64_t off, const uint8_t **ret,
				size_t *ret_size)
{
	size_t len;

	if (off < 0 || (uint64_t)off + 2 > cfi->exprs_size)
		return false;
	len = cfi->exprs[off] | (size_t)cfi->exprs[off + 1] << 8;
	if (len > cfi->exprs_size - (size_t)off - 2)
		return false;
	*ret = cfi->exprs + off + 2;
	*ret_size = len;
	return true;
}

/*
 * Checks at compile time that a DWARF expression uses only operations the evaluator
 * implements and that every operand lies inside it. Returns true when it may be stored.
 */
bool cfi_expr_valid(const uint8_t *p, size_t len);

/* The DWARF expression operations the evaluator understands (DWARF 5, section 2.5). */
enum {
	DW_OP_addr = 0x03,
	DW_OP_deref = 0x06,
	DW_OP_const1u = 0x08,
	DW_OP_const1s = 0x09,
	DW_OP_const2u = 0x0a,
	DW_OP_const2s = 0x0b,
	DW_OP_const4u = 0x0c,
	DW_OP_const4s = 0x0d,
	DW_OP_const8u = 0x0e,
	DW_OP_const8s = 0x0f,
	DW_OP_constu = 0x10,
	DW_OP_consts = 0x11,
	DW_OP_dup = 0x12,
	DW_OP_drop = 0x13,
	DW_OP_over = 0x14,
	DW_OP_pick = 0x15,
	DW_OP_swap = 0x16,
	DW_OP_rot = 0x17,
	DW_OP_abs = 0x19,
	DW_OP_and = 0x1a,
	DW_OP_div = 0x1b,
	DW_OP_minus = 0x1c,
	DW_OP_mod = 0x1d,
	DW_OP_mul = 0x1e,
	DW_OP_neg = 0x1f,
	DW_OP_not = 0x20,
	DW_OP_or = 0x21,
	DW_OP_plus = 0x22,
	DW_OP_plus_uconst = 0x23,
	DW_OP_shl = 0x24,
	DW_OP_shr = 0x25,
	DW_OP_shra = 0x26,
	DW_OP_xor = 0x27,
	DW_OP_bra = 0x28,
	DW_OP_eq = 0x29,
	DW_OP_ge = 0x2a,
	DW_OP_gt = 0x2b,
	DW_OP_le = 0x2c,
	DW_OP_lt = 0x2d,
	DW_OP_ne = 0x2e,
	DW_OP_skip = 0x2f,
	DW_OP_lit0 = 0x30,
	DW_OP_lit31 = 0x4f,
	DW_OP_reg0 = 0x50,
	DW_OP_reg31 = 0x6f,
	DW_OP_breg0 = 0x70,
	DW_OP_breg31 = 0x8f,
	DW_OP_regx = 0x90,
	DW_OP_bregx = 0x92,
	DW_OP_deref_size = 0x94,
	DW_OP_nop = 0x96,
	DW_OP_call_frame_cfa = 0x9c,
};

/* Bounds of the evaluator: it never loops longer or stacks deeper than this. */
#define CFI_EXPR_STACK 16
#define CFI_EXPR_MAX_OPS 64
#define CFI_EXPR_MAX_BYTES 512

/*
 * LEB128 (DWARF 5 section 7.6) from bytes p[*pos .. len), advancing *pos. The parser and the
 * expression machine both read it. False when the bytes end first, or (unsigned) when the
 * value does not fit 64 bits; a signed value keeps its low 64 bits, as libdw does.
 */
static inline bool cfi_uleb128(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*pos >= len)
			return false;
		b = p[(*pos)++];
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		else if (b & 0x7f)
			return false;
		shift += 7;
	} while (b & 0x80);
	*ret = v;
	return true;
}

static inline bool cfi_sleb128(const uint8_t *p, size_t len, size_t *pos, int64_t *ret)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*pos >= len)
			return false;
		b = p[(*pos)++];
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~UINT64_C(0) << shift;
	*ret = (int64_t)v;
	return true;
}

#endif
