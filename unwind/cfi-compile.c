/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CFI compilation: from the .eh_frame and .debug_frame bytes of one ELF file to the packed,
 * immutable table described in cfi.h.
 *
 * 1. Collect: walk every entry of both sections, decode each FDE's address range, skip and
 *    count what is malformed, unsupported or empty.
 * 2. Order: sort FDEs by start address; where ranges overlap the first one wins (a signal
 *    trampoline the caller named, then .eh_frame, then .debug_frame), later ones are
 *    clipped to what is still uncovered.
 * 3. Run each FDE's CFA program; every row's state is packed into a fixed-size rule with
 *    the patterns the step evaluates without an expression machine recognised (x86-64 PLT,
 *    CFA read through a register, glibc's x86-64 signal frame). Rules are interned, so rows
 *    are (address, rule index) pairs; consecutive rows with the same rule merge. An FDE
 *    that fails midway leaves no row behind.
 * 4. Lay out: one allocation holding u32 row offsets, u16 rule indices (u32 past 65535
 *    rules), a page index that narrows each lookup to a few rows, rules and expressions.
 *
 * Allocates; runs off the sample path. Not thread-safe during compilation, and it needs not
 * be: the result is immutable and shared.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"
#include "cfi-parse.h"

/* Caps on what one table may hold: far beyond real binaries, short of overflow. */
#define MAX_ROWS (UINT32_C(1) << 28)
#define MAX_RULES (UINT32_C(1) << 24)
#define MAX_EXPRS_BYTES ((size_t)1 << 26)

enum fde_prio {
	PRIO_SIGRETURN,
	PRIO_EH_FRAME,
	PRIO_DEBUG_FRAME,
};

/* One FDE found in step 1. */
struct fde_ref {
	uint64_t begin, end;
	size_t off; /* entry offset in its section */
	uint8_t prio;
};

/* A row while the table is built: absolute address and rule index. */
struct trow {
	uint64_t pc;
	uint32_t rule;
};

struct compiler {
	const struct puw_arch_ops *ops;
	struct cfi_parser ps;
	struct cfi_sec secs[PRIO_DEBUG_FRAME + 1];
	uint32_t stride;
	unsigned ra_idx;

	struct fde_ref *fdes;
	size_t n_fdes, cap_fdes;

	uint8_t *rules;
	uint32_t n_rules, cap_rules;
	uint32_t *rule_hash; /* rule index + 1, 0 = empty */
	uint32_t rule_hash_cap;

	uint8_t *exprs;
	size_t exprs_size, exprs_cap;
	uint32_t *expr_hash; /* offset + 1 */
	uint32_t expr_hash_cap, n_exprs;

	struct trow *rows;
	size_t n_rows, cap_rows;

	/* The FDE being run: rows before clip_begin are held back, rows at or past end dropped. */
	uint64_t clip_begin, fde_end;
	bool pending;
	uint32_t pending_rule;
	bool signal;
	/* The rule packed for the previous emit, reused while the state repeats. */
	uint8_t *scratch;

	struct puw_cfi_stats stats;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t n;
	void *q;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return (uint32_t)(h ^ (h >> 32));
}

/* ---- interning ------------------------------------------------------------------------ */

static int rule_hash_rebuild(struct compiler *cc, uint32_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (uint32_t i = 0; i < cc->n_rules; i++) {
		uint32_t k = hash_bytes(cc->rules + (size_t)i * cc->stride, cc->stride) & (cap - 1);

		while (h[k])
			k = (k + 1) & (cap - 1);
		h[k] = i + 1;
	}
	free(cc->rule_hash);
	cc->rule_hash = h;
	cc->rule_hash_cap = cap;
	return 0;
}

/* Index of the rule with these bytes, added if new. */
static int rule_intern(struct compiler *cc, const uint8_t *rule, uint32_t *ret)
{
	uint32_t k;
	size_t cap;
	int r;

	if ((cc->n_rules + 1) * 2 > cc->rule_hash_cap) {
		r = rule_hash_rebuild(cc, cc->rule_hash_cap ? cc->rule_hash_cap * 2 : 1024);
		if (r)
			return r;
	}
	k = hash_bytes(rule, cc->stride) & (cc->rule_hash_cap - 1);
	while (cc->rule_hash[k]) {
		uint32_t i = cc->rule_hash[k] - 1;

		if (memcmp(cc->rules + (size_t)i * cc->stride, rule, cc->stride) == 0) {
			*ret = i;
			return 0;
		}
		k = (k + 1) & (cc->rule_hash_cap - 1);
	}
	cap = cc->cap_rules;
	r = grow((void **)&cc->rules, &cap, cc->n_rules + 1, cc->stride, MAX_RULES);
	if (r)
		return r;
	cc->cap_rules = (uint32_t)cap;
	memcpy(cc->rules + (size_t)cc->n_rules * cc->stride, rule, cc->stride);
	cc->rule_hash[k] = cc->n_rules + 1;
	*ret = cc->n_rules++;
	return 0;
}

static int expr_hash_rebuild(struct compiler *cc, uint32_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));
	size_t off = 0;

	if (!h)
		return -ENOMEM;
	while (off < cc->exprs_size) {
		size_t len = cc->exprs[off] | (size_t)cc->exprs[off + 1] << 8;
		uint32_t k = hash_bytes(cc->exprs + off, len + 2) & (cap - 1);

		while (h[k])
			k = (k + 1) & (cap - 1);
		h[k] = (uint32_t)off + 1;
		off += len + 2;
	}
	free(cc->expr_hash);
	cc->expr_hash = h;
	cc->expr_hash_cap = cap;
	return 0;
}

/* Offset of a copy of the expression in the pool (len <= CFI_EXPR_MAX_BYTES, validated). */
static int expr_intern(struct compiler *cc, const uint8_t *p, size_t len, int32_t *ret)
{
	uint8_t buf[CFI_EXPR_MAX_BYTES + 2];
	uint32_t k;
	int r;

	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	memcpy(buf + 2, p, len);
	if ((cc->n_exprs + 1) * 2 > cc->expr_hash_cap) {
		r = expr_hash_rebuild(cc, cc->expr_hash_cap ? cc->expr_hash_cap * 2 : 64);
		if (r)
			return r;
	}
	k = hash_bytes(buf, len + 2) & (cc->expr_hash_cap - 1);
	while (cc->expr_hash[k]) {
		size_t off = cc->expr_hash[k] - 1;

		if (off + len + 2 <= cc->exprs_size && memcmp(cc->exprs + off, buf, len + 2) == 0) {
			*ret = (int32_t)off;
			return 0;
		}
		k = (k + 1) & (cc->expr_hash_cap - 1);
	}
	/* Offsets travel in 29-bit rule values. */
	if (cc->exprs_size + len + 2 > MAX_EXPRS_BYTES ||
	    cc->exprs_size > (size_t)CFI_REG_VALUE_MAX)
		return -E2BIG;
	r = grow((void **)&cc->exprs, &cc->exprs_cap, cc->exprs_size + len + 2, 1, MAX_EXPRS_BYTES);
	if (r)
		return r;
	memcpy(cc->exprs + cc->exprs_size, buf, len + 2);
	cc->expr_hash[k] = (uint32_t)cc->exprs_size + 1;
	*ret = (int32_t)cc->exprs_size;
	cc->exprs_size += len + 2;
	cc->n_exprs++;
	return 0;
}

/* ---- packing a row's state ------------------------------------------------------------ */

/*
 * x86-64 PLT entries (GNU ld's .plt): CFA = rsp + N + ((rip & 15) >= K) << 3, written as
 * breg7 N; breg16 0; lit15; and; litK; ge; lit3; shl; plus.
 */
static bool match_plt(const uint8_t *p, size_t len, int64_t *ret_off, uint8_t *ret_k)
{
	static const uint8_t tail[] = {0x80, 0x00, DW_OP_lit0 + 15, DW_OP_and};
	size_t i = 1;
	int64_t off;

	if (len < 2 || p[0] != DW_OP_breg0 + 7 || !cfi_sleb128(p, len, &i, &off))
		return false;
	if (len - i != sizeof(tail) + 5 || memcmp(p + i, tail, sizeof(tail)) != 0)
		return false;
	i += sizeof(tail);
	if (p[i] < DW_OP_lit0 || p[i] > DW_OP_lit0 + 15 || p[i + 1] != DW_OP_ge ||
	    p[i + 2] != DW_OP_lit0 + 3 || p[i + 3] != DW_OP_shl || p[i + 4] != DW_OP_plus)
		return false;
	*ret_off = off;
	*ret_k = (uint8_t)(p[i] - DW_OP_lit0);
	return true;
}

/* "breg<r> N; deref" or "bregx r N; deref": the CFA saved at a register-relative slot. */
static bool match_deref(const uint8_t *p, size_t len, uint64_t *ret_reg, int64_t *ret_off)
{
	size_t i = 1;
	uint64_t reg;
	int64_t off;

	if (len < 3)
		return false;
	if (p[0] >= DW_OP_breg0 && p[0] <= DW_OP_breg31)
		reg = p[0] - DW_OP_breg0;
	else if (p[0] != DW_OP_bregx || !cfi_uleb128(p, len, &i, &reg))
		return false;
	if (!cfi_sleb128(p, len, &i, &off) || i + 1 != len || p[i] != DW_OP_deref)
		return false;
	*ret_reg = reg;
	*ret_off = off;
	return true;
}

/* glibc's x86-64 __restore_rt: CFA = *(rsp + 160), the saved rsp in uc_mcontext. */
static const uint8_t x86_64_sigframe_cfa[] = {DW_OP_breg0 + 7, 0xa0, 0x01, DW_OP_deref};

static bool fits_value(int64_t v)
{
	return v >= CFI_REG_VALUE_MIN && v <= CFI_REG_VALUE_MAX;
}

/*
 * Packs a state into a rule of cc->stride bytes. Returns 0, or -EOPNOTSUPP when the CFA or
 * the return address cannot be represented (the FDE is then skipped); a callee-saved
 * register whose rule cannot be represented becomes "undefined" instead.
 */
static int rule_pack(struct compiler *cc, const struct cfi_state *st, uint8_t *out)
{
	struct cfi_rule *rule = (struct cfi_rule *)(void *)out;
	int64_t off;
	uint64_t reg;
	bool simple = true, all_offset = true;
	uint8_t k;
	int32_t x;
	int r;

	memset(out, 0, cc->stride);
	rule->flags =
		(uint8_t)((cc->signal ? CFI_F_SIGNAL : 0) | (st->ra_signed ? CFI_F_RA_SIGNED : 0));

	switch (st->cfa_kind) {
	case CFI_CFA_REG:
		if (st->cfa_reg > UINT8_MAX || st->cfa_off < INT32_MIN || st->cfa_off > INT32_MAX)
			return -EOPNOTSUPP;
		rule->cfa_kind = CFI_CFA_REG;
		rule->cfa_reg = (uint8_t)st->cfa_reg;
		rule->cfa_off = (int32_t)st->cfa_off;
		break;
	case CFI_CFA_EXPR:
		if (cc->ps.arch == PUW_ARCH_X86_64 && cc->signal &&
		    st->cfa_expr_len == sizeof(x86_64_sigframe_cfa) &&
		    memcmp(st->cfa_expr, x86_64_sigframe_cfa, sizeof(x86_64_sigframe_cfa)) == 0) {
			/* The whole context comes from the frame: no register rule matters. */
			rule->cfa_kind = CFI_CFA_SIGFRAME;
			return 0;
		}
		if (cc->ps.arch == PUW_ARCH_X86_64 &&
		    match_plt(st->cfa_expr, st->cfa_expr_len, &off, &k)) {
			if (off < INT32_MIN || off > INT32_MAX)
				return -EOPNOTSUPP;
			rule->cfa_kind = CFI_CFA_PLT;
			rule->cfa_reg = k;
			rule->cfa_off = (int32_t)off;
			break;
		}
		if (match_deref(st->cfa_expr, st->cfa_expr_len, &reg, &off)) {
			if (reg > UINT8_MAX || off < INT32_MIN || off > INT32_MAX)
				return -EOPNOTSUPP;
			rule->cfa_kind = CFI_CFA_DEREF;
			rule->cfa_reg = (uint8_t)reg;
			rule->cfa_off = (int32_t)off;
			break;
		}
		if (!cfi_expr_valid(st->cfa_expr, st->cfa_expr_len))
			return -EOPNOTSUPP;
		r = expr_intern(cc, st->cfa_expr, st->cfa_expr_len, &x);
		if (r)
			return r;
		rule->cfa_kind = CFI_CFA_EXPR;
		rule->cfa_off = x;
		break;
	default:
		/* No CFA rule at all: nothing to unwind with. */
		return -EOPNOTSUPP;
	}

	for (unsigned i = 0; i < cc->ops->n_kept; i++) {
		const struct cfi_col *col = &st->col[i];
		enum puw_cfi_rule kind = (enum puw_cfi_rule)col->kind;
		bool ok = true;

		switch (kind) {
		case PUW_CFI_SAME:
			continue;
		case PUW_CFI_UNDEFINED:
			x = 0;
			break;
		case PUW_CFI_OFFSET:
		case PUW_CFI_VAL_OFFSET:
			ok = fits_value(col->value);
			x = ok ? (int32_t)col->value : 0;
			break;
		case PUW_CFI_REGISTER:
			ok = col->value >= 0 && col->value < PUW_REGS_MAX;
			x = ok ? (int32_t)col->value : 0;
			break;
		case PUW_CFI_EXPR:
		case PUW_CFI_VAL_EXPR:
			ok = cfi_expr_valid(col->expr, col->expr_len);
			x = 0;
			if (ok) {
				r = expr_intern(cc, col->expr, col->expr_len, &x);
				if (r)
					return r;
			}
			break;
		default:
			ok = false;
			x = 0;
			break;
		}
		if (!ok) {
			if (i == cc->ra_idx)
				return -EOPNOTSUPP;
			kind = PUW_CFI_UNDEFINED;
			x = 0;
		}
		rule->saved |= (uint16_t)(1u << i);
		rule->reg[i] = cfi_reg_pack(kind, x);
		if (kind != PUW_CFI_OFFSET && kind != PUW_CFI_VAL_OFFSET &&
		    kind != PUW_CFI_UNDEFINED)
			simple = false;
		if (kind != PUW_CFI_OFFSET)
			all_offset = false;
	}
	if (simple)
		rule->flags |= CFI_F_SIMPLE;
	/* The shape of nearly every row in a function body: see CFI_F_FAST. */
	if (all_offset && rule->cfa_kind == CFI_CFA_REG && rule->cfa_reg < PUW_REGS_MAX &&
	    (rule->saved & (1u << cc->ra_idx)) && !(rule->flags & CFI_F_SIGNAL))
		rule->flags |= CFI_F_FAST;
	return 0;
}

/* ---- rows ----------------------------------------------------------------------------- */

static int row_push(struct compiler *cc, uint64_t pc, uint32_t rule)
{
	int r;

	if (cc->n_rows > 0) {
		struct trow *last = &cc->rows[cc->n_rows - 1];

		if (last->rule == rule)
			return 0;
		if (last->pc == pc) {
			/* An empty row: replaced, then merged with the one before if equal. */
			last->rule = rule;
			if (cc->n_rows > 1 && cc->rows[cc->n_rows - 2].rule == rule)
				cc->n_rows--;
			return 0;
		}
	}
	r = grow((void **)&cc->rows, &cc->cap_rows, cc->n_rows + 1, sizeof(*cc->rows), MAX_ROWS);
	if (r)
		return r;
	cc->rows[cc->n_rows++] = (struct trow){pc, rule};
	return 0;
}

static int row_emit(void *ctx, uint64_t pc, const struct cfi_state *st)
{
	struct compiler *cc = ctx;
	uint32_t id;
	int r;

	if (pc >= cc->fde_end)
		return 0;
	r = rule_pack(cc, st, cc->scratch);
	if (r)
		return r;
	r = rule_intern(cc, cc->scratch, &id);
	if (r)
		return r;
	/* Rows before the clip point (covered by an earlier FDE): keep only the last one. */
	if (pc <= cc->clip_begin) {
		cc->pending = true;
		cc->pending_rule = id;
		return 0;
	}
	if (cc->pending) {
		cc->pending = false;
		r = row_push(cc, cc->clip_begin, cc->pending_rule);
		if (r)
			return r;
	}
	return row_push(cc, pc, id);
}

/* ---- step 1: collect ------------------------------------------------------------------ */

static int fde_add(struct compiler *cc, uint64_t begin, uint64_t end, size_t off, uint8_t prio)
{
	int r = grow((void **)&cc->fdes, &cc->cap_fdes, cc->n_fdes + 1, sizeof(*cc->fdes),
		     MAX_ROWS);

	if (r)
		return r;
	cc->fdes[cc->n_fdes++] = (struct fde_ref){begin, end, off, prio};
	return 0;
}

/* Counts a skipped FDE by the reason its parse gave. */
static void count_skip(struct compiler *cc, int r)
{
	if (r == -EOPNOTSUPP)
		cc->stats.fdes_unsupported++;
	else
		cc->stats.fdes_malformed++;
}

static int collect(struct compiler *cc, uint8_t prio)
{
	const struct cfi_sec *s = &cc->secs[prio];
	struct cfi_cie cie;
	size_t cie_off = SIZE_MAX, pos = 0;
	int cie_r = 0, r;

	if (!s->data)
		return 0;
	for (;;) {
		struct cfi_entry e;
		struct cfi_fde fde;
		size_t at = pos;

		r = cfi_entry_next(s, pos, &e);
		if (r == 0)
			break;
		if (r < 0) {
			/* A length past the end: nothing after it can be found. */
			cc->stats.fdes_malformed++;
			break;
		}
		pos = e.next;
		if (e.empty)
			continue;
		if (e.is_cie) {
			cc->stats.cies++;
			continue;
		}
		if (e.cie_off == SIZE_MAX) {
			cc->stats.fdes_malformed++;
			continue;
		}
		if (e.cie_off != cie_off) {
			cie_off = e.cie_off;
			cie_r = cfi_cie_parse(&cc->ps, s, cie_off, &cie);
		}
		if (cie_r) {
			count_skip(cc, cie_r);
			continue;
		}
		r = cfi_fde_parse(&cc->ps, s, &e, &cie, &fde);
		if (r) {
			count_skip(cc, r);
			continue;
		}
		/* Zero-length, or discarded by the linker (address 0, left by --gc-sections). */
		if (fde.begin == fde.end || fde.begin == 0) {
			cc->stats.fdes_empty++;
			continue;
		}
		r = fde_add(cc, fde.begin, fde.end, at, prio);
		if (r)
			return r;
	}
	return 0;
}

static int fde_cmp(const void *a, const void *b)
{
	const struct fde_ref *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* ---- step 3: run ---------------------------------------------------------------------- */

static int run_fde(struct compiler *cc, struct cfi_vm *vm, const struct fde_ref *f)
{
	const struct cfi_sec *s = &cc->secs[f->prio];
	struct cfi_entry e;
	struct cfi_cie cie;
	struct cfi_fde fde;
	int r;

	/* The entry was parsed once already; only its CIE and program are needed again. */
	r = cfi_entry_next(s, f->off, &e);
	if (r <= 0 || e.is_cie || e.empty)
		return -EBADMSG;
	r = cfi_cie_parse(&cc->ps, s, e.cie_off, &cie);
	if (r)
		return r;
	r = cfi_fde_parse(&cc->ps, s, &e, &cie, &fde);
	if (r)
		return r;
	/* The return address must be in the column the step reads it from. */
	if (cie.ra_col != cc->ops->ra_col)
		return -EOPNOTSUPP;
	cc->signal = cie.signal;
	vm->cie = &cie;
	return cfi_fde_run(vm, s, &fde);
}

/* The trampoline row: one rule, the kernel's signal frame. */
static int run_sigreturn(struct compiler *cc)
{
	struct cfi_rule *rule = (struct cfi_rule *)(void *)cc->scratch;
	uint32_t id;
	int r;

	memset(cc->scratch, 0, cc->stride);
	rule->cfa_kind = CFI_CFA_SIGFRAME;
	rule->flags = CFI_F_SIGNAL;
	r = rule_intern(cc, cc->scratch, &id);
	if (r)
		return r;
	return row_push(cc, cc->clip_begin, id);
}

static int run_all(struct compiler *cc)
{
	struct cfi_vm *vm;
	uint64_t covered = 0;
	bool have = false;
	uint32_t none;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->ps = &cc->ps;
	vm->emit = row_emit;
	vm->emit_ctx = cc;

	/* Rule 0 is "no CFI": all zeroes, cfa_kind CFI_CFA_NONE. */
	memset(cc->scratch, 0, cc->stride);
	r = rule_intern(cc, cc->scratch, &none);
	if (r)
		goto out;

	for (size_t i = 0; i < cc->n_fdes; i++) {
		const struct fde_ref *f = &cc->fdes[i];
		size_t saved_rows = cc->n_rows;
		struct trow saved_last = saved_rows ? cc->rows[saved_rows - 1] : (struct trow){0};

		cc->clip_begin = have && covered > f->begin ? covered : f->begin;
		cc->fde_end = f->end;
		cc->pending = false;
		if (cc->clip_begin >= f->end) {
			cc->stats.fdes_overlapping++;
			continue;
		}
		if (cc->clip_begin > f->begin)
			cc->stats.fdes_overlapping++;
		/* A gap since the previous FDE: "no CFI" there. */
		if (have && cc->clip_begin > covered) {
			r = row_push(cc, covered, none);
			if (r)
				goto out;
		}
		if (f->prio == PRIO_SIGRETURN)
			r = run_sigreturn(cc);
		else
			r = run_fde(cc, vm, f);
		if (!r && cc->pending)
			r = row_push(cc, cc->clip_begin, cc->pending_rule);
		if (r == -ENOMEM || r == -E2BIG)
			goto out;
		if (r) {
			/* Leave nothing of a failed FDE behind. */
			cc->n_rows = saved_rows;
			if (saved_rows)
				cc->rows[saved_rows - 1] = saved_last;
			count_skip(cc, r);
			continue;
		}
		if (f->prio != PRIO_SIGRETURN)
			cc->stats.fdes++;
		covered = f->end;
		have = true;
	}
	/* The terminator: nothing is covered past the last FDE. */
	r = have ? row_push(cc, covered, none) : -ENOENT;
out:
	free(vm);
	return r;
}

/* ---- step 4: layout ------------------------------------------------------------------- */

static uint32_t next_table_id;

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int layout(struct compiler *cc, struct puw_cfi **ret)
{
	size_t n = cc->n_rows, sz_rows, sz_page, sz_rules, total;
	uint64_t base, span64, target;
	uint32_t span, n_pages;
	unsigned shift = 2, row_bytes = cc->n_rules > UINT16_MAX ? 8 : 6;
	struct puw_cfi *cfi;
	uint8_t *p, *rows;
	uint32_t *page;

	if (n < 2)
		return -ENOENT;
	base = cc->rows[0].pc;
	span64 = cc->rows[n - 1].pc - base;
	if (span64 > UINT32_MAX || span64 == 0)
		return -EFBIG;
	span = (uint32_t)span64;

	/*
	 * About one page entry per row: a lookup then searches one or two rows. A quarter as
	 * many pages costs 2.3 fewer bytes per row and a third more time per lookup (libc:
	 * 8 vs 12 ns for random addresses).
	 */
	target = n;
	while (shift < 31 && ((uint64_t)span >> shift) + 1 > target)
		shift++;
	n_pages = (span >> shift) + 1;

	sz_rows = align8(n * row_bytes);
	sz_page = align8(((size_t)n_pages + 1) * sizeof(uint32_t));
	sz_rules = align8((size_t)cc->n_rules * cc->stride);
	total = align8(sizeof(*cfi)) + sz_rows + sz_page + sz_rules + cc->exprs_size;

	cfi = calloc(1, total);
	if (!cfi)
		return -ENOMEM;
	p = (uint8_t *)cfi + align8(sizeof(*cfi));
	rows = p;
	p += sz_rows;
	page = (uint32_t *)(void *)p;
	p += sz_page;
	cfi->rules = p;
	p += sz_rules;
	cfi->exprs = p;

	for (size_t i = 0; i < n; i++) {
		uint32_t off = (uint32_t)(cc->rows[i].pc - base);
		uint16_t r16 = (uint16_t)cc->rows[i].rule;

		memcpy(rows + i * row_bytes, &off, 4);
		if (row_bytes == 8)
			memcpy(rows + i * row_bytes + 4, &cc->rows[i].rule, 4);
		else
			memcpy(rows + i * row_bytes + 4, &r16, 2);
	}
	cfi->rows = rows;
	cfi->row_bytes = (uint8_t)row_bytes;
	/* page[p]: the last row starting at or below p << shift. */
	for (uint32_t pg = 0, row = 0; pg <= n_pages; pg++) {
		uint64_t at = (uint64_t)pg << shift;

		while (row + 1 < n && cfi_row_pc(cfi, row + 1) <= at)
			row++;
		page[pg] = row;
	}
	memcpy((uint8_t *)cfi->rules, cc->rules, (size_t)cc->n_rules * cc->stride);
	if (cc->exprs_size)
		memcpy((uint8_t *)cfi->exprs, cc->exprs, cc->exprs_size);

	/* Wraps after 2^32 tables; 0 stays reserved for empty cache slots. */
	do
		cfi->id = __atomic_add_fetch(&next_table_id, 1, __ATOMIC_RELAXED);
	while (cfi->id == 0);
	cfi->arch = cc->ps.arch;
	cfi->page_shift = (uint8_t)shift;
	cfi->n_rows = (uint32_t)n;
	cfi->n_pages = n_pages;
	cfi->n_rules = cc->n_rules;
	cfi->rule_stride = cc->stride;
	cfi->base = base;
	cfi->span = span;
	cfi->page = page;
	cfi->exprs_size = cc->exprs_size;

	cfi->stats = cc->stats;
	cfi->stats.bytes = total;
	cfi->stats.rows = n - 1; /* the terminator describes nothing */
	cfi->stats.rules = cc->n_rules - 1;
	cfi->stats.exprs_bytes = cc->exprs_size;
	cfi->stats.text_bytes = span;
	cfi->stats.input_bytes = cc->secs[PRIO_EH_FRAME].size + cc->secs[PRIO_DEBUG_FRAME].size;
	*ret = cfi;
	return 0;
}

/* ---- API ------------------------------------------------------------------------------ */

int puw_cfi_compile(const struct puw_cfi_sections *s, struct puw_cfi **ret)
{
	struct compiler cc = {0};
	int r;

	if (!s || !ret)
		return -EINVAL;
	cc.ops = puw_arch_ops_get(s->arch);
	if (!cc.ops || cc.ops->n_kept == 0 || cc.ops->n_kept > CFI_MAX_KEPT)
		return -EINVAL;
	if ((s->eh_frame_size && !s->eh_frame) || (s->debug_frame_size && !s->debug_frame))
		return -EINVAL;

	cc.ps.arch = s->arch;
	cc.ps.text_addr = s->text_addr;
	cc.ps.data_addr = s->data_addr;
	memset(cc.ps.kept_index, -1, sizeof(cc.ps.kept_index));
	for (unsigned i = 0; i < cc.ops->n_kept; i++)
		cc.ps.kept_index[cc.ops->kept_regs[i]] = (int8_t)i;
	/* The step reads the return address as the last kept register. */
	cc.ra_idx = cc.ops->n_kept - 1;
	if (cc.ops->kept_regs[cc.ra_idx] != cc.ops->ra_col)
		return -EINVAL;
	cc.stride = CFI_RULE_HEADER_BYTES + 4 * cc.ops->n_kept;

	cc.secs[PRIO_EH_FRAME] = (struct cfi_sec){
		.data = s->eh_frame_size ? s->eh_frame : NULL,
		.size = s->eh_frame_size,
		.addr = s->eh_frame_addr,
		.addr_known = true,
		.eh = true,
	};
	/* .debug_frame is not loaded: it has no address, and pcrel has no meaning there. */
	cc.secs[PRIO_DEBUG_FRAME] = (struct cfi_sec){
		.data = s->debug_frame_size ? s->debug_frame : NULL,
		.size = s->debug_frame_size,
	};

	cc.scratch = calloc(1, cc.stride);
	if (!cc.scratch)
		return -ENOMEM;

	r = collect(&cc, PRIO_EH_FRAME);
	if (!r)
		r = collect(&cc, PRIO_DEBUG_FRAME);
	if (!r && s->sigreturn_size && s->sigreturn_addr > cc.ops->sigreturn_lead) {
		uint64_t b = s->sigreturn_addr - cc.ops->sigreturn_lead;
		uint64_t e = s->sigreturn_addr + s->sigreturn_size;

		if (e > b)
			r = fde_add(&cc, b, e, 0, PRIO_SIGRETURN);
	}
	if (!r) {
		if (cc.n_fdes)
			qsort(cc.fdes, cc.n_fdes, sizeof(*cc.fdes), fde_cmp);
		r = run_all(&cc);
	}
	if (!r)
		r = layout(&cc, ret);

	free(cc.scratch);
	free(cc.fdes);
	free(cc.rules);
	free(cc.rule_hash);
	free(cc.exprs);
	free(cc.expr_hash);
	free(cc.rows);
	return r;
}

void puw_cfi_free(struct puw_cfi *cfi)
{
	free(cfi);
}

void puw_cfi_get_stats(const struct puw_cfi *cfi, struct puw_cfi_stats *ret)
{
	if (!ret)
		return;
	if (!cfi) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	*ret = cfi->stats;
}

static void reg_decode(const struct puw_cfi *cfi, uint32_t rr, struct puw_cfi_reg *ret)
{
	ret->rule = cfi_reg_kind(rr);
	ret->value = cfi_reg_value(rr);
	ret->expr = NULL;
	ret->expr_size = 0;
	if (ret->rule == PUW_CFI_EXPR || ret->rule == PUW_CFI_VAL_EXPR) {
		if (!cfi_expr_get(cfi, ret->value, &ret->expr, &ret->expr_size)) {
			ret->expr = NULL;
			ret->expr_size = 0;
		}
		ret->value = 0;
	}
	if (ret->rule == PUW_CFI_UNDEFINED)
		ret->value = 0;
}

int puw_cfi_find_row(const struct puw_cfi *cfi, uint64_t addr, struct puw_cfi_row *ret)
{
	const struct puw_arch_ops *ops;
	const struct cfi_rule *rule;
	struct puw_cfi_row row;
	int64_t i;
	uint32_t idx;

	if (!cfi || !ret)
		return -EINVAL;
	ops = puw_arch_ops_get(cfi->arch);
	i = cfi_find_row_index(cfi, addr);
	if (i < 0)
		return -ENOENT;
	idx = cfi_row_rule(cfi, (uint32_t)i);
	if (idx == 0)
		return -ENOENT;
	rule = cfi_rule_at(cfi, idx);

	memset(&row, 0, sizeof(row));
	row.start = cfi->base + cfi_row_pc(cfi, (uint32_t)i);
	/* The terminator row follows every rule row. */
	row.end = cfi->base + cfi_row_pc(cfi, (uint32_t)i + 1);
	row.cfa = (enum puw_cfi_cfa)(rule->cfa_kind - 1);
	row.cfa_reg = rule->cfa_reg;
	row.cfa_offset = rule->cfa_off;
	if (rule->cfa_kind == CFI_CFA_EXPR) {
		row.cfa_offset = 0;
		if (!cfi_expr_get(cfi, rule->cfa_off, &row.cfa_expr, &row.cfa_expr_size)) {
			row.cfa_expr = NULL;
			row.cfa_expr_size = 0;
		}
	}
	row.ra_column = ops->ra_col;
	row.signal_frame = (rule->flags & CFI_F_SIGNAL) != 0;
	row.ra_signed = (rule->flags & CFI_F_RA_SIGNED) != 0;
	for (unsigned k = 0; k < ops->n_kept; k++) {
		unsigned reg = ops->kept_regs[k];

		row.kept |= UINT64_C(1) << reg;
		if (rule->saved & (1u << k))
			reg_decode(cfi, rule->reg[k], &row.regs[reg]);
	}
	*ret = row;
	return 0;
}
