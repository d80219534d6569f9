/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DWARF expressions of CFI rules (DW_CFA_def_cfa_expression, DW_CFA_expression,
 * DW_CFA_val_expression): a compile-time validator and a bounded stack machine that
 * evaluates them during an unwind.
 *
 * The machine reads registers from the frame being unwound and memory only from the stack
 * copy; a read elsewhere (a global, TLS) ends the walk as "stack exhausted", the honest
 * answer for a sampled stack. Its stack holds CFI_EXPR_STACK values and it runs at most
 * CFI_EXPR_MAX_OPS operations, so a backward branch cannot loop forever. No allocation, no
 * state: safe from any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"

/* A reader over the expression bytes that fails instead of running past their end. */
struct expr_cur {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

/* Little-endian fixed-size operand of n bytes (1, 2, 4, 8). */
static bool cur_fixed(struct expr_cur *c, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	if (c->len - c->pos < n)
		return false;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[c->pos + i] << (8 * i);
	c->pos += n;
	*ret = v;
	return true;
}

static bool cur_uleb(struct expr_cur *c, uint64_t *ret)
{
	return cfi_uleb128(c->p, c->len, &c->pos, ret);
}

static bool cur_sleb(struct expr_cur *c, int64_t *ret)
{
	return cfi_sleb128(c->p, c->len, &c->pos, ret);
}

static uint64_t sext(uint64_t v, unsigned bytes)
{
	unsigned bits = 8 * bytes;

	if (bits >= 64)
		return v;
	return (v ^ (UINT64_C(1) << (bits - 1))) - (UINT64_C(1) << (bits - 1));
}

/*
 * Operand bytes of op, consumed from c; false for an operation the evaluator does not
 * implement or an operand past the end. Shared by the validator and the machine so the two
 * cannot disagree on the encoding.
 */
static bool skip_operands(struct expr_cur *c, uint8_t op)
{
	uint64_t u;
	int64_t s;

	if (op >= DW_OP_lit0 && op <= DW_OP_lit31)
		return true;
	if (op >= DW_OP_breg0 && op <= DW_OP_breg31)
		return cur_sleb(c, &s);
	switch (op) {
	case DW_OP_deref:
	case DW_OP_dup:
	case DW_OP_drop:
	case DW_OP_over:
	case DW_OP_swap:
	case DW_OP_rot:
	case DW_OP_abs:
	case DW_OP_and:
	case DW_OP_div:
	case DW_OP_minus:
	case DW_OP_mod:
	case DW_OP_mul:
	case DW_OP_neg:
	case DW_OP_not:
	case DW_OP_or:
	case DW_OP_plus:
	case DW_OP_shl:
	case DW_OP_shr:
	case DW_OP_shra:
	case DW_OP_xor:
	case DW_OP_eq:
	case DW_OP_ge:
	case DW_OP_gt:
	case DW_OP_le:
	case DW_OP_lt:
	case DW_OP_ne:
	case DW_OP_nop:
	case DW_OP_call_frame_cfa:
		return true;
	case DW_OP_const1u:
	case DW_OP_const1s:
	case DW_OP_pick:
	case DW_OP_deref_size:
		return cur_fixed(c, 1, &u);
	case DW_OP_const2u:
	case DW_OP_const2s:
	case DW_OP_bra:
	case DW_OP_skip:
		return cur_fixed(c, 2, &u);
	case DW_OP_const4u:
	case DW_OP_const4s:
		return cur_fixed(c, 4, &u);
	case DW_OP_const8u:
	case DW_OP_const8s:
		return cur_fixed(c, 8, &u);
	case DW_OP_constu:
	case DW_OP_plus_uconst:
		return cur_uleb(c, &u);
	case DW_OP_consts:
		return cur_sleb(c, &s);
	case DW_OP_bregx:
		return cur_uleb(c, &u) && cur_sleb(c, &s);
	default:
		/*
		 * DW_OP_addr would need the module's bias, register location descriptions
		 * (DW_OP_reg*) are not values; neither appears in real CFI.
		 */
		return false;
	}
}

bool cfi_expr_valid(const uint8_t *p, size_t len)
{
	struct expr_cur c = {p, len, 0};

	if (len == 0 || len > CFI_EXPR_MAX_BYTES)
		return false;
	while (c.pos < c.len) {
		uint8_t op = c.p[c.pos++];

		if (!skip_operands(&c, op))
			return false;
	}
	return true;
}

/* Reads n (1..8) little-endian bytes at target address addr from the stack copy. */
static bool stack_read_n(const struct puw_request *req, uint64_t addr, unsigned n, uint64_t *ret)
{
	uint8_t b[8];
	uint64_t v = 0;

	if (!puw_stack_contains(req, addr, n))
		return false;
	memcpy(b, req->stack + (addr - req->stack_start), n);
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	*ret = v;
	return true;
}

static bool reg_value(const struct puw_frame *f, uint64_t reg, uint64_t *ret)
{
	if (!puw_regs_has(&f->regs, (unsigned)(reg < PUW_REGS_MAX ? reg : PUW_REGS_MAX)))
		return false;
	*ret = f->regs.r[reg];
	return true;
}

int puw_expr_eval(const struct puw_walk *w, const struct puw_frame *f, const uint8_t *p, size_t len,
		  bool has_push, uint64_t push, uint64_t *ret)
{
	uint64_t st[CFI_EXPR_STACK];
	struct expr_cur c = {p, len, 0};
	unsigned n = 0, ops = 0;

#define NEED(k)                                                                                    \
	do {                                                                                       \
		if (n < (k))                                                                       \
			return PUW_STOP_BAD_CFA;                                                   \
	} while (0)
#define PUSH(v)                                                                                    \
	do {                                                                                       \
		uint64_t v_ = (v);                                                                 \
		if (n >= CFI_EXPR_STACK)                                                           \
			return PUW_STOP_BAD_CFA;                                                   \
		st[n++] = v_;                                                                      \
	} while (0)

	if (has_push)
		PUSH(push);
	while (c.pos < c.len) {
		uint8_t op = c.p[c.pos++];
		uint64_t u, a, b;
		int64_t s;

		if (++ops > CFI_EXPR_MAX_OPS)
			return PUW_STOP_BAD_CFA;
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			PUSH(op - DW_OP_lit0);
			continue;
		}
		if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			if (!cur_sleb(&c, &s) || !reg_value(f, op - DW_OP_breg0, &u))
				return PUW_STOP_BAD_CFA;
			PUSH(u + (uint64_t)s);
			continue;
		}
		switch (op) {
		case DW_OP_bregx:
			if (!cur_uleb(&c, &a) || !cur_sleb(&c, &s) || !reg_value(f, a, &u))
				return PUW_STOP_BAD_CFA;
			PUSH(u + (uint64_t)s);
			break;
		case DW_OP_const1u:
		case DW_OP_const2u:
		case DW_OP_const4u:
		case DW_OP_const8u: {
			unsigned size = op == DW_OP_const1u   ? 1
					: op == DW_OP_const2u ? 2
					: op == DW_OP_const4u ? 4
							      : 8;

			if (!cur_fixed(&c, size, &u))
				return PUW_STOP_BAD_CFA;
			PUSH(u);
			break;
		}
		case DW_OP_const1s:
		case DW_OP_const2s:
		case DW_OP_const4s:
		case DW_OP_const8s: {
			unsigned size = op == DW_OP_const1s   ? 1
					: op == DW_OP_const2s ? 2
					: op == DW_OP_const4s ? 4
							      : 8;

			if (!cur_fixed(&c, size, &u))
				return PUW_STOP_BAD_CFA;
			PUSH(sext(u, size));
			break;
		}
		case DW_OP_constu:
			if (!cur_uleb(&c, &u))
				return PUW_STOP_BAD_CFA;
			PUSH(u);
			break;
		case DW_OP_consts:
			if (!cur_sleb(&c, &s))
				return PUW_STOP_BAD_CFA;
			PUSH((uint64_t)s);
			break;
		case DW_OP_dup:
			NEED(1);
			PUSH(st[n - 1]);
			break;
		case DW_OP_drop:
			NEED(1);
			n--;
			break;
		case DW_OP_over:
			NEED(2);
			PUSH(st[n - 2]);
			break;
		case DW_OP_pick:
			if (!cur_fixed(&c, 1, &u))
				return PUW_STOP_BAD_CFA;
			NEED(u + 1);
			PUSH(st[n - 1 - u]);
			break;
		case DW_OP_swap:
			NEED(2);
			a = st[n - 1];
			st[n - 1] = st[n - 2];
			st[n - 2] = a;
			break;
		case DW_OP_rot:
			/* The top moves to third, the second to top, the third to second. */
			NEED(3);
			a = st[n - 1];
			st[n - 1] = st[n - 2];
			st[n - 2] = st[n - 3];
			st[n - 3] = a;
			break;
		case DW_OP_deref:
			NEED(1);
			if (!puw_stack_read_u64(w->req, st[n - 1], &st[n - 1]))
				return PUW_STOP_STACK_EXHAUSTED;
			break;
		case DW_OP_deref_size:
			if (!cur_fixed(&c, 1, &u) || u == 0 || u > 8)
				return PUW_STOP_BAD_CFA;
			NEED(1);
			if (!stack_read_n(w->req, st[n - 1], (unsigned)u, &st[n - 1]))
				return PUW_STOP_STACK_EXHAUSTED;
			break;
		case DW_OP_abs:
			NEED(1);
			if ((int64_t)st[n - 1] < 0)
				st[n - 1] = -st[n - 1];
			break;
		case DW_OP_neg:
			NEED(1);
			st[n - 1] = -st[n - 1];
			break;
		case DW_OP_not:
			NEED(1);
			st[n - 1] = ~st[n - 1];
			break;
		case DW_OP_plus_uconst:
			if (!cur_uleb(&c, &u))
				return PUW_STOP_BAD_CFA;
			NEED(1);
			st[n - 1] += u;
			break;
		case DW_OP_and:
		case DW_OP_div:
		case DW_OP_minus:
		case DW_OP_mod:
		case DW_OP_mul:
		case DW_OP_or:
		case DW_OP_plus:
		case DW_OP_shl:
		case DW_OP_shr:
		case DW_OP_shra:
		case DW_OP_xor:
		case DW_OP_eq:
		case DW_OP_ge:
		case DW_OP_gt:
		case DW_OP_le:
		case DW_OP_lt:
		case DW_OP_ne:
			NEED(2);
			b = st[--n]; /* the top is the second operand */
			a = st[n - 1];
			switch (op) {
			case DW_OP_and:
				a &= b;
				break;
			case DW_OP_div:
				/* Signed division; 0 and INT64_MIN / -1 would trap. */
				if (b == 0 || ((int64_t)a == INT64_MIN && (int64_t)b == -1))
					return PUW_STOP_BAD_CFA;
				a = (uint64_t)((int64_t)a / (int64_t)b);
				break;
			case DW_OP_minus:
				a -= b;
				break;
			case DW_OP_mod:
				if (b == 0)
					return PUW_STOP_BAD_CFA;
				a %= b;
				break;
			case DW_OP_mul:
				a *= b;
				break;
			case DW_OP_or:
				a |= b;
				break;
			case DW_OP_plus:
				a += b;
				break;
			case DW_OP_shl:
				a = b >= 64 ? 0 : a << b;
				break;
			case DW_OP_shr:
				a = b >= 64 ? 0 : a >> b;
				break;
			case DW_OP_shra:
				a = (uint64_t)((int64_t)a >> (b >= 63 ? 63 : b));
				break;
			case DW_OP_xor:
				a ^= b;
				break;
			/* Comparisons are signed (DWARF 5, 2.5.1.4, generic type). */
			case DW_OP_eq:
				a = a == b;
				break;
			case DW_OP_ge:
				a = (int64_t)a >= (int64_t)b;
				break;
			case DW_OP_gt:
				a = (int64_t)a > (int64_t)b;
				break;
			case DW_OP_le:
				a = (int64_t)a <= (int64_t)b;
				break;
			case DW_OP_lt:
				a = (int64_t)a < (int64_t)b;
				break;
			case DW_OP_ne:
				a = a != b;
				break;
			}
			st[n - 1] = a;
			break;
		case DW_OP_skip:
		case DW_OP_bra: {
			int64_t target;

			if (!cur_fixed(&c, 2, &u))
				return PUW_STOP_BAD_CFA;
			if (op == DW_OP_bra) {
				NEED(1);
				if (st[--n] == 0)
					break;
			}
			target = (int64_t)c.pos + (int16_t)(uint16_t)u;
			if (target < 0 || (uint64_t)target > c.len)
				return PUW_STOP_BAD_CFA;
			c.pos = (size_t)target;
			break;
		}
		case DW_OP_nop:
			break;
		case DW_OP_call_frame_cfa:
			/* Only register rules have a CFA, and it is what they start with. */
			if (!has_push)
				return PUW_STOP_BAD_CFA;
			PUSH(push);
			break;
		default:
			return PUW_STOP_BAD_CFA;
		}
	}
	NEED(1);
	*ret = st[n - 1];
	return 0;
#undef NEED
#undef PUSH
}
