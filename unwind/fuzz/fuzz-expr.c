/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the DWARF expression machine (cfi-expr.c), reached the way hostile CFI
 * reaches it: the input's expression is wrapped in a CIE and an FDE, compiled (the
 * compile-time validator, and the patterns recognised instead of evaluating: x86-64 PLT,
 * CFA read through a register), and the first frame of a sample is unwound through it.
 *
 * The expression is checked against a reference evaluator written here from DWARF 5,
 * section 2.5, with the limits puw documents (cfi.h: CFI_EXPR_STACK values, CFI_EXPR_MAX_OPS
 * operations; registers from the frame, memory from the stack copy only): the first step's
 * outcome, the caller's PC or the stop reason, must be exactly what the reference predicts.
 *
 * Input (little-endian; missing bytes are zero):
 *
 *   u8  ctl     bit 0: arch (0 x86-64, 1 arm64); bits 1-2: where the expression goes:
 *               0 the CFA (DW_CFA_def_cfa_expression), 1 where the return address is saved
 *               (DW_CFA_expression), 2 the return address itself (DW_CFA_val_expression),
 *               3 where a callee-saved register is saved (rbx / x19); bit 3: PUW_MODE_AUTO
 *               rather than PUW_MODE_CFI; bit 4: a lookup cache
 *   u64 valid   DWARF registers present (the PC always is, inside the FDE)
 *   u64 stack_start
 *   u16 pc_off  the PC's offset in the FDE
 *   u16 expr_len
 *   u64 value of each register in valid, ascending (PUW_REGS_MAX at most)
 *   ... expr_len bytes of expression, then the stack copy (the rest)
 *
 * The CIE says CFA = sp + 16 and the return address is saved at CFA - 8, except where the
 * expression replaces one of them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "puw.h"
#include "cfi.h"
#include "fuzz-common.h"

#define CTL_ARCH 0x01
#define CTL_PLACE_SHIFT 1
#define CTL_AUTO 0x08
#define CTL_CACHE 0x10

enum place {
	PLACE_CFA,
	PLACE_RA_AT,
	PLACE_RA_VAL,
	PLACE_REG_AT,
};

#define EH_ADDR UINT64_C(0x1000)
#define FDE_START UINT64_C(0x10000)
#define FDE_LEN UINT64_C(0x1000)
/* A module without CFI above the FDE's, where callers may return to. */
#define OTHER_START UINT64_C(0x400000)
#define OTHER_END UINT64_C(0x500000)
#define MAX_PCS 64
/* Longer than CFI_EXPR_MAX_BYTES, to see those refused. */
#define MAX_EXPR 600

/* ---- the eh_frame around the expression ----------------------------------------------- */

struct buf {
	uint8_t b[MAX_EXPR + 128];
	size_t n;
};

static void put(struct buf *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static void put_uleb(struct buf *b, uint64_t v)
{
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		b->b[b->n++] = byte | (v ? 0x80 : 0);
	} while (v);
}

static void put_bytes(struct buf *b, const uint8_t *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* Patches an entry's length once its end is known, padding with DW_CFA_nop to 8 bytes. */
static void entry_end(struct buf *b, size_t at)
{
	uint32_t len;

	while ((b->n - at) % 8)
		b->b[b->n++] = 0;
	len = (uint32_t)(b->n - at - 4);
	memcpy(b->b + at, &len, 4);
}

static void build_eh_frame(struct buf *b, enum puw_arch arch, enum place place, const uint8_t *expr,
			   size_t len)
{
	unsigned sp = arch == PUW_ARCH_X86_64 ? 7 : 31;
	unsigned ra = arch == PUW_ARCH_X86_64 ? 16 : 30;
	unsigned reg = arch == PUW_ARCH_X86_64 ? 3 : 19;
	size_t cie = b->n, fde, field;

	/* CIE: version 1, "zR", code 1, data -8, RA column, pcrel sdata4 pointers. */
	put(b, 0, 4);
	put(b, 0, 4);
	put(b, 1, 1);
	put_bytes(b, (const uint8_t *)"zR", 3);
	put_uleb(b, 1);
	put(b, 0x78, 1);
	put(b, ra, 1);
	put_uleb(b, 1);
	put(b, 0x1b, 1);
	/* DW_CFA_def_cfa sp 16; DW_CFA_offset ra 1 (CFA - 8). */
	put(b, 0x0c, 1);
	put_uleb(b, sp);
	put_uleb(b, 16);
	put(b, 0x80 | ra, 1);
	put_uleb(b, 1);
	entry_end(b, cie);

	fde = b->n;
	put(b, 0, 4);
	put(b, (uint32_t)(b->n - cie), 4);
	field = b->n;
	put(b, (uint32_t)(FDE_START - (EH_ADDR + field)), 4);
	put(b, FDE_LEN, 4);
	put_uleb(b, 0);
	switch (place) {
	case PLACE_CFA:
		put(b, 0x0f, 1); /* DW_CFA_def_cfa_expression */
		break;
	case PLACE_RA_AT:
		put(b, 0x10, 1); /* DW_CFA_expression */
		put_uleb(b, ra);
		break;
	case PLACE_RA_VAL:
		put(b, 0x16, 1); /* DW_CFA_val_expression */
		put_uleb(b, ra);
		break;
	case PLACE_REG_AT:
		put(b, 0x10, 1);
		put_uleb(b, reg);
		break;
	}
	put_uleb(b, len);
	put_bytes(b, expr, len);
	entry_end(b, fde);
	put(b, 0, 4); /* the terminator */
}

/* ---- the reference evaluator ---------------------------------------------------------- */

struct ref_ctx {
	const struct puw_regs *regs;
	const uint8_t *stack;
	uint64_t stack_start;
	size_t stack_size;
};

/* Little-endian bytes at a target address, from the stack copy only. */
static bool ref_read(const struct ref_ctx *c, uint64_t addr, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	if (addr < c->stack_start || c->stack_size < n || addr - c->stack_start > c->stack_size - n)
		return false;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->stack[addr - c->stack_start + i] << (8 * i);
	*ret = v;
	return true;
}

struct ref_cur {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static uint64_t ref_byte(struct ref_cur *c)
{
	if (c->pos >= c->len) {
		c->bad = true;
		return 0;
	}
	return c->p[c->pos++];
}

static uint64_t ref_fixed(struct ref_cur *c, unsigned n, bool sign)
{
	uint64_t v = 0;

	if (c->len - c->pos < n) {
		c->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= ref_byte(c) << (8 * i);
	if (sign && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~UINT64_C(0) << (8 * n);
	return v;
}

/* LEB128; an unsigned one must fit 64 bits, a signed one's excess bits are dropped. */
static uint64_t ref_leb(struct ref_cur *c, bool sign)
{
	uint64_t v = 0, b;
	unsigned shift = 0;

	do {
		b = ref_byte(c);
		if (c->bad)
			return 0;
		if (shift < 64)
			v |= (b & 0x7f) << shift;
		else if (!sign && (b & 0x7f))
			c->bad = true;
		shift += 7;
	} while (b & 0x80);
	if (sign && shift < 64 && (b & 0x40))
		v |= ~UINT64_C(0) << shift;
	return v;
}

/* Arithmetic shift right, without the compiler's signed >>; past 63 only sign bits remain. */
static uint64_t ref_shra(uint64_t a, uint64_t b)
{
	uint64_t sign = (int64_t)a < 0 ? UINT64_MAX : 0;

	if (b >= 64)
		return sign;
	if (b == 0)
		return a;
	return (a >> b) | (sign << (64 - b));
}

/*
 * Evaluates expr; returns 0 with the value, PUW_STOP_STACK_EXHAUSTED for a read outside the
 * copy, PUW_STOP_BAD_CFA for any other failure (as puw_expr_eval documents).
 */
static int ref_eval(const struct ref_ctx *ctx, const uint8_t *expr, size_t len, bool has_cfa,
		    uint64_t cfa, uint64_t *ret)
{
	uint64_t st[CFI_EXPR_STACK];
	unsigned n = 0, ops = 0;
	struct ref_cur c = {expr, len, 0, false};

	if (has_cfa)
		st[n++] = cfa;
	while (c.pos < c.len) {
		uint8_t op = (uint8_t)ref_byte(&c);
		uint64_t a, b, v = 0, reg;
		bool push = false;
		unsigned pop = 0;

		if (++ops > CFI_EXPR_MAX_OPS)
			return PUW_STOP_BAD_CFA;
		if (op >= 0x30 && op <= 0x4f) { /* DW_OP_lit<n> */
			v = op - 0x30u;
			push = true;
		} else if ((op >= 0x70 && op <= 0x8f) || op == 0x92) { /* DW_OP_breg<n>, bregx */
			reg = op == 0x92 ? ref_leb(&c, false) : op - 0x70u;
			v = ref_leb(&c, true);
			if (c.bad || reg >= PUW_REGS_MAX ||
			    !(ctx->regs->valid & (UINT64_C(1) << reg)))
				return PUW_STOP_BAD_CFA;
			v += ctx->regs->r[reg];
			push = true;
		} else if (op >= 0x08 && op <= 0x0f) { /* DW_OP_const{1,2,4,8}{u,s} */
			v = ref_fixed(&c, 1u << ((op - 0x08) / 2), op & 1);
			push = true;
		} else if (op == 0x10 || op == 0x11) { /* DW_OP_constu, DW_OP_consts */
			v = ref_leb(&c, op == 0x11);
			push = true;
		} else {
			switch (op) {
			case 0x12: /* dup */
				if (n < 1)
					return PUW_STOP_BAD_CFA;
				v = st[n - 1];
				push = true;
				break;
			case 0x13: /* drop */
				pop = 1;
				break;
			case 0x14: /* over */
				if (n < 2)
					return PUW_STOP_BAD_CFA;
				v = st[n - 2];
				push = true;
				break;
			case 0x15: /* pick */
				a = ref_fixed(&c, 1, false);
				if (c.bad || a >= n)
					return PUW_STOP_BAD_CFA;
				v = st[n - 1 - a];
				push = true;
				break;
			case 0x16: /* swap */
				if (n < 2)
					return PUW_STOP_BAD_CFA;
				a = st[n - 1];
				st[n - 1] = st[n - 2];
				st[n - 2] = a;
				break;
			case 0x17: /* rot: top to third, second to top, third to second */
				if (n < 3)
					return PUW_STOP_BAD_CFA;
				a = st[n - 1];
				b = st[n - 2];
				v = st[n - 3];
				st[n - 1] = b;
				st[n - 2] = v;
				st[n - 3] = a;
				break;
			case 0x06: /* deref */
				if (n < 1)
					return PUW_STOP_BAD_CFA;
				if (!ref_read(ctx, st[n - 1], 8, &st[n - 1]))
					return PUW_STOP_STACK_EXHAUSTED;
				break;
			case 0x94: /* deref_size */
				a = ref_fixed(&c, 1, false);
				if (c.bad || a == 0 || a > 8 || n < 1)
					return PUW_STOP_BAD_CFA;
				if (!ref_read(ctx, st[n - 1], (unsigned)a, &st[n - 1]))
					return PUW_STOP_STACK_EXHAUSTED;
				break;
			case 0x19: /* abs */
			case 0x1f: /* neg */
			case 0x20: /* not */
				if (n < 1)
					return PUW_STOP_BAD_CFA;
				a = st[n - 1];
				if (op == 0x19)
					st[n - 1] = (int64_t)a < 0 ? 0 - a : a;
				else if (op == 0x1f)
					st[n - 1] = 0 - a;
				else
					st[n - 1] = ~a;
				break;
			case 0x23: /* plus_uconst */
				a = ref_leb(&c, false);
				if (c.bad || n < 1)
					return PUW_STOP_BAD_CFA;
				st[n - 1] += a;
				break;
			case 0x1a: /* the binary operations */
			case 0x1b:
			case 0x1c:
			case 0x1d:
			case 0x1e:
			case 0x21:
			case 0x22:
			case 0x24:
			case 0x25:
			case 0x26:
			case 0x27:
			case 0x29:
			case 0x2a:
			case 0x2b:
			case 0x2c:
			case 0x2d:
			case 0x2e:
				if (n < 2)
					return PUW_STOP_BAD_CFA;
				b = st[n - 1]; /* the top is the second operand */
				a = st[n - 2];
				switch (op) {
				case 0x1a: /* and */
					v = a & b;
					break;
				case 0x1b: /* div: signed */
					if (b == 0 || (a == (UINT64_C(1) << 63) && b == UINT64_MAX))
						return PUW_STOP_BAD_CFA;
					v = (uint64_t)((int64_t)a / (int64_t)b);
					break;
				case 0x1c: /* minus */
					v = a - b;
					break;
				case 0x1d: /* mod: unsigned, as libgcc */
					if (b == 0)
						return PUW_STOP_BAD_CFA;
					v = a % b;
					break;
				case 0x1e: /* mul */
					v = a * b;
					break;
				case 0x21: /* or */
					v = a | b;
					break;
				case 0x22: /* plus */
					v = a + b;
					break;
				case 0x24: /* shl */
					v = b >= 64 ? 0 : a << b;
					break;
				case 0x25: /* shr */
					v = b >= 64 ? 0 : a >> b;
					break;
				case 0x26: /* shra */
					v = ref_shra(a, b);
					break;
				case 0x27: /* xor */
					v = a ^ b;
					break;
				case 0x29: /* eq */
					v = a == b;
					break;
				case 0x2a: /* ge */
					v = (int64_t)a >= (int64_t)b;
					break;
				case 0x2b: /* gt */
					v = (int64_t)a > (int64_t)b;
					break;
				case 0x2c: /* le */
					v = (int64_t)a <= (int64_t)b;
					break;
				case 0x2d: /* lt */
					v = (int64_t)a < (int64_t)b;
					break;
				case 0x2e: /* ne */
					v = a != b;
					break;
				}
				n -= 2;
				push = true;
				break;
			case 0x2f: /* skip */
			case 0x28: /* bra */ {
				int64_t target;

				a = ref_fixed(&c, 2, true);
				if (c.bad)
					return PUW_STOP_BAD_CFA;
				if (op == 0x28) {
					if (n < 1)
						return PUW_STOP_BAD_CFA;
					if (st[--n] == 0)
						break;
				}
				target = (int64_t)c.pos + (int64_t)a;
				if (target < 0 || (uint64_t)target > c.len)
					return PUW_STOP_BAD_CFA;
				c.pos = (size_t)target;
				break;
			}
			case 0x96: /* nop */
				break;
			case 0x9c: /* call_frame_cfa: only register rules have one */
				if (!has_cfa)
					return PUW_STOP_BAD_CFA;
				v = cfa;
				push = true;
				break;
			default:
				return PUW_STOP_BAD_CFA;
			}
		}
		if (c.bad)
			return PUW_STOP_BAD_CFA;
		if (pop) {
			if (n < pop)
				return PUW_STOP_BAD_CFA;
			n -= pop;
		}
		if (push) {
			if (n >= CFI_EXPR_STACK)
				return PUW_STOP_BAD_CFA;
			st[n++] = v;
		}
	}
	if (n < 1)
		return PUW_STOP_BAD_CFA;
	*ret = st[n - 1];
	return 0;
}

/* ---- the first step, predicted -------------------------------------------------------- */

struct expect {
	bool caller; /* a caller frame with PC pc; else the walk stops with stop */
	uint64_t pc;
	enum puw_stop stop;
};

static bool in_module(uint64_t pc)
{
	return (pc >= FDE_START && pc < FDE_START + FDE_LEN) ||
	       (pc >= OTHER_START && pc < OTHER_END);
}

static struct expect predict(const struct ref_ctx *ctx, enum puw_arch arch, enum place place,
			     bool valid, const uint8_t *expr, size_t len)
{
	const struct puw_regs *regs = ctx->regs;
	unsigned sp = arch == PUW_ARCH_X86_64 ? 7 : 31;
	struct expect e = {.caller = false};
	uint64_t cfa, ra, v;
	int r;

	if (place == PLACE_CFA) {
		r = ref_eval(ctx, expr, len, false, 0, &cfa);
		if (r) {
			e.stop = (enum puw_stop)r;
			return e;
		}
	} else {
		if (!(regs->valid & (UINT64_C(1) << sp))) {
			e.stop = PUW_STOP_BAD_CFA;
			return e;
		}
		cfa = regs->r[sp] + 16;
	}
	/* The sample's frame is exact: its CFA may equal its SP (a leaf), not lie below. */
	if (cfa < regs->r[sp]) {
		e.stop = PUW_STOP_BAD_CFA;
		return e;
	}
	/*
	 * A callee-saved register's rule comes before the return address's; one the machine
	 * could not run was compiled as "undefined". A save slot outside the copy only makes
	 * the register unknown (cfi-step.h, CFI_SLOT_OUTSIDE_COPY); a failed evaluation stops.
	 */
	if (place == PLACE_REG_AT && valid) {
		r = ref_eval(ctx, expr, len, true, cfa, &v);
		if (r) {
			e.stop = (enum puw_stop)r;
			return e;
		}
	}
	if (place == PLACE_RA_AT || place == PLACE_RA_VAL) {
		r = ref_eval(ctx, expr, len, true, cfa, &ra);
		if (!r && place == PLACE_RA_AT && !ref_read(ctx, ra, 8, &ra))
			r = PUW_STOP_STACK_EXHAUSTED;
	} else {
		r = ref_read(ctx, cfa - 8, 8, &ra) ? 0 : PUW_STOP_STACK_EXHAUSTED;
	}
	if (r) {
		e.stop = (enum puw_stop)r;
		return e;
	}
	/* arm64: pointer-authentication bits stripped (puw keeps 48 VA bits). */
	if (arch == PUW_ARCH_AARCH64)
		ra &= (UINT64_C(1) << 48) - 1;
	if (ra == 0) {
		e.stop = PUW_STOP_END;
		return e;
	}
	if (!in_module(ra - 1)) {
		e.stop = PUW_STOP_BAD_PC;
		return e;
	}
	e.caller = true;
	e.pc = ra;
	return e;
}

static int find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	const struct puw_cfi *cfi = ctx;

	if (pc >= FDE_START && pc < FDE_START + FDE_LEN) {
		*ret = (struct puw_module){FDE_START, FDE_START + FDE_LEN, cfi, 0};
		return 0;
	}
	if (pc >= OTHER_START && pc < OTHER_END) {
		*ret = (struct puw_module){OTHER_START, OTHER_END, NULL, 0};
		return 0;
	}
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct puw_cfi_sections s = {0};
	struct puw_regs regs = {.valid = 0};
	struct puw_request req = {0};
	struct puw_cfi *cfi = NULL;
	struct puw_cache *cache = NULL;
	struct ref_ctx ctx;
	struct expect e;
	struct buf *eh;
	const uint8_t *expr, *stack;
	uint8_t *stack_copy, *expr_copy;
	size_t expr_len, stack_len;
	uint64_t pcs[MAX_PCS], stack_start;
	enum puw_stop stop;
	enum puw_arch arch;
	enum place place;
	unsigned pc_reg, sp_reg;
	uint8_t ctl;
	bool valid;
	int n, r;

	ctl = (uint8_t)fuzz_take(&in, 1);
	arch = ctl & CTL_ARCH ? PUW_ARCH_AARCH64 : PUW_ARCH_X86_64;
	place = (enum place)((ctl >> CTL_PLACE_SHIFT) & 3);
	pc_reg = arch == PUW_ARCH_X86_64 ? 16 : 32;
	sp_reg = arch == PUW_ARCH_X86_64 ? 7 : 31;
	regs.valid = fuzz_take(&in, 8) & ((UINT64_C(1) << PUW_REGS_MAX) - 1);
	stack_start = fuzz_take(&in, 8);
	regs.r[pc_reg] = FDE_START + fuzz_take(&in, 2) % FDE_LEN;
	expr_len = (size_t)fuzz_take(&in, 2) % (MAX_EXPR + 1);
	for (unsigned reg = 0; reg < PUW_REGS_MAX; reg++)
		if (reg != pc_reg && (regs.valid & (UINT64_C(1) << reg)))
			regs.r[reg] = fuzz_take(&in, 8);
	regs.valid |= UINT64_C(1) << pc_reg;
	expr = fuzz_take_bytes(&in, expr_len, &expr_len);
	stack = fuzz_take_bytes(&in, in.n, &stack_len);
	if (stack_len > UINT64_MAX - stack_start)
		stack_len = (size_t)(UINT64_MAX - stack_start);

	eh = calloc(1, sizeof(*eh));
	FUZZ_CHECK(eh != NULL);
	build_eh_frame(eh, arch, place, expr, expr_len);
	s.arch = arch;
	s.eh_frame = fuzz_dup(eh->b, eh->n);
	s.eh_frame_size = eh->n;
	s.eh_frame_addr = EH_ADDR;
	r = puw_cfi_compile(&s, &cfi);
	free((void *)s.eh_frame);
	free(eh);
	FUZZ_CHECK(r == 0 || r == -ENOENT);
	/*
	 * An expression the machine cannot run (or too long) loses the FDE when it is the CFA's
	 * or the return address's, and makes a callee-saved register undefined. A CFA pattern
	 * (PLT, CFA through a register) with an operand the rule cannot hold loses it too.
	 */
	expr_copy = fuzz_dup(expr, expr_len);
	valid = cfi_expr_valid(expr_copy, expr_len);
	if (r == 0)
		FUZZ_CHECK(valid || place == PLACE_REG_AT);
	else
		FUZZ_CHECK(place != PLACE_REG_AT && (!valid || place == PLACE_CFA));

	stack_copy = fuzz_dup(stack, stack_len);
	req.arch = arch;
	req.mode = ctl & CTL_AUTO ? PUW_MODE_AUTO : PUW_MODE_CFI;
	req.regs = &regs;
	req.stack = stack_copy;
	req.stack_start = stack_start;
	req.stack_size = stack_len;
	req.find_module = find_module;
	req.ctx = cfi;
	if (ctl & CTL_CACHE) {
		cache = puw_cache_new();
		FUZZ_CHECK(cache != NULL);
		req.cache = cache;
	}
	n = puw_unwind(&req, pcs, MAX_PCS, &stop);
	FUZZ_CHECK(n >= 1 && n <= MAX_PCS && pcs[0] == regs.r[pc_reg]);
	FUZZ_CHECK((unsigned)stop < _PUW_STOP_MAX);

	if (!(regs.valid & (UINT64_C(1) << sp_reg))) {
		FUZZ_CHECK(n == 1 && stop == PUW_STOP_NO_REGS);
	} else if (!cfi) {
		/* No row: CFI mode stops, AUTO falls back to the frame pointer. */
		if (req.mode == PUW_MODE_CFI)
			FUZZ_CHECK(n == 1 && stop == PUW_STOP_NO_CFI);
	} else {
		ctx = (struct ref_ctx){&regs, stack_copy, stack_start, stack_len};
		e = predict(&ctx, arch, place, valid, expr_copy, expr_len);
		if (e.caller) {
			FUZZ_CHECK(n >= 2 && pcs[1] == e.pc);
		} else {
			if (n != 1 || stop != e.stop)
				fprintf(stderr, "n %d stop %s, expected %s\n", n,
					puw_stop_name(stop), puw_stop_name(e.stop));
			FUZZ_CHECK(n == 1 && stop == e.stop);
		}
	}

	puw_cache_free(cache);
	puw_cfi_free(cfi);
	free(stack_copy);
	free(expr_copy);
	return 0;
}
