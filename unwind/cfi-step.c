/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CFI step's uncommon paths (cfi-step.h has the common one, inlined per architecture):
 * CFAs that are not register + offset, and register rules that read other registers or
 * evaluate expressions. Same guarantees: no allocation, reads only from the stack copy.
 * Also the row-lookup memo's lifecycle and its miss path (struct puw_cache, cfi.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"
#include "cfi-step.h"

int puw_cfi_cfa_slow(const struct puw_walk *w, const struct puw_frame *f,
		     const struct cfi_rule *rule, uint64_t *ret)
{
	const struct puw_regs *regs = &f->regs;
	uint64_t base;

	switch (rule->cfa_kind) {
	case CFI_CFA_REG:
		if (!puw_regs_has(regs, rule->cfa_reg))
			return PUW_STOP_BAD_CFA;
		*ret = regs->r[rule->cfa_reg] + (uint64_t)(int64_t)rule->cfa_off;
		return 0;
	case CFI_CFA_DEREF:
		if (!puw_regs_has(regs, rule->cfa_reg))
			return PUW_STOP_BAD_CFA;
		base = regs->r[rule->cfa_reg] + (uint64_t)(int64_t)rule->cfa_off;
		if (!puw_stack_read_u64(w->req, base, ret))
			return PUW_STOP_STACK_EXHAUSTED;
		return 0;
	case CFI_CFA_PLT:
		/*
		 * x86-64 lazy-binding PLT entries are 16 bytes: `jmp *GOT(%rip); push $n; jmp
		 * .plt0`. Before the push (offset < 11, the threshold) the CFA is rsp + 8, after
		 * it rsp + 16. The entry's own PC, never a return address: PLT code calls nothing.
		 */
		if (!puw_regs_has(regs, w->arch->dwarf_sp))
			return PUW_STOP_BAD_CFA;
		*ret = regs->r[w->arch->dwarf_sp] + (uint64_t)(int64_t)rule->cfa_off +
		       ((f->pc & 15) >= rule->cfa_reg ? 8 : 0);
		return 0;
	case CFI_CFA_EXPR: {
		const uint8_t *p;
		size_t len;

		if (!cfi_expr_get(f->mod->ans.cfi, rule->cfa_off, &p, &len))
			return PUW_STOP_BAD_CFA;
		return puw_expr_eval(w, f, p, len, false, 0, ret);
	}
	default:
		return PUW_STOP_BAD_CFA;
	}
}

/*
 * Any rule: values computed from the callee's registers into a scratch array first, since a
 * REGISTER or expression rule may read a register another rule overwrites.
 */
int puw_cfi_regs_recover(const struct puw_walk *w, const struct puw_frame *f,
			 const struct cfi_rule *rule, uint64_t cfa, struct puw_regs *out)
{
	const struct puw_arch_ops *a = w->arch;
	const struct puw_regs *regs = &f->regs;
	uint64_t vals[CFI_MAX_KEPT];
	uint32_t unknown = 0;
	int r;

	for (uint32_t saved = rule->saved; saved; saved &= saved - 1) {
		unsigned i = (unsigned)__builtin_ctz(saved);
		uint32_t rr = rule->reg[i];
		int32_t v = cfi_reg_value(rr);
		const uint8_t *p;
		size_t len;
		uint64_t addr;

		switch (cfi_reg_kind(rr)) {
		case PUW_CFI_OFFSET:
			/* A slot outside the copy: see CFI_SLOT_OUTSIDE_COPY in cfi-step.h. */
			if (!puw_stack_read_u64(w->req, cfa + (uint64_t)(int64_t)v, &vals[i])) {
				if (i == a->n_kept - 1)
					return PUW_STOP_STACK_EXHAUSTED;
				unknown |= 1u << i;
			}
			break;
		case PUW_CFI_VAL_OFFSET:
			vals[i] = cfa + (uint64_t)(int64_t)v;
			break;
		case PUW_CFI_REGISTER:
			if (v < 0 || !puw_regs_has(regs, (unsigned)v))
				unknown |= 1u << i;
			else
				vals[i] = regs->r[v];
			break;
		case PUW_CFI_EXPR:
		case PUW_CFI_VAL_EXPR:
			if (!cfi_expr_get(f->mod->ans.cfi, v, &p, &len))
				return PUW_STOP_BAD_CFA;
			r = puw_expr_eval(w, f, p, len, true, cfa, &addr);
			if (r)
				return r;
			if (cfi_reg_kind(rr) == PUW_CFI_VAL_EXPR) {
				vals[i] = addr;
			} else if (!puw_stack_read_u64(w->req, addr, &vals[i])) {
				if (i == a->n_kept - 1)
					return PUW_STOP_STACK_EXHAUSTED;
				unknown |= 1u << i;
			}
			break;
		case PUW_CFI_UNDEFINED:
		default:
			unknown |= 1u << i;
			break;
		}
	}

	out->valid &= a->callee_saved;
	for (uint32_t saved = rule->saved; saved; saved &= saved - 1) {
		unsigned i = (unsigned)__builtin_ctz(saved);
		unsigned reg = a->kept_regs[i];

		if (unknown & (1u << i))
			out->valid &= ~(UINT64_C(1) << reg);
		else
			puw_regs_set(out, reg, vals[i]);
	}
	return 0;
}

/* ---- the lookup memo (struct puw_cache, cfi.h) ---------------------------------------- */

struct puw_cache *puw_cache_new(void)
{
	/* Slots are cache lines: aligned to them. */
	struct puw_cache *cache = aligned_alloc(_Alignof(struct puw_cache), sizeof(*cache));

	if (cache)
		memset(cache, 0, sizeof(*cache));
	return cache;
}

void puw_cache_free(struct puw_cache *cache)
{
	free(cache);
}

void puw_cache_clear(struct puw_cache *cache)
{
	if (!cache)
		return;
	if (cache->n_dirty > CFI_CACHE_DIRTY_MAX) {
		memset(cache->slot, 0, sizeof(cache->slot));
	} else {
		for (uint32_t i = 0; i < cache->n_dirty; i++)
			cache->slot[cache->dirty[i]].key = 0;
	}
	cache->n_dirty = 0;
}

const struct cfi_cache_slot *cfi_cache_fill(struct puw_cache *cache, const struct puw_cfi *cfi,
					    uint32_t off, uint64_t key, uint32_t slot)
{
	uint32_t idx = cfi_row_rule(cfi, cfi_find_row_at(cfi, off)), d = cache->n_dirty;
	struct cfi_cache_slot *s = &cache->slot[slot];

	s->key = key;
	cfi_cache_slot_set(s, idx ? cfi_rule_at(cfi, idx) : NULL);
	/* Listed for puw_cache_clear() until the list is full; then it counts one past it. */
	if (d < CFI_CACHE_DIRTY_MAX)
		cache->dirty[d] = (uint16_t)slot;
	if (d <= CFI_CACHE_DIRTY_MAX)
		cache->n_dirty = d + 1;
	return s;
}

/* ---- the walk's module and lookup paths (cfi-step.h) ---------------------------------- */

void puw_frame_module_derive(struct puw_frame_module *m, const struct puw_cache *cache)
{
	const struct puw_cfi *cfi = m->ans.cfi;
	uint64_t o;

	m->flo = m->flen = m->kbase = 0;
	if (!cfi) {
		m->lo = m->span = m->key_hi = 0;
		return;
	}
	m->lo = m->ans.bias + cfi->base;
	m->span = cfi->span;
	m->key_hi = (uint64_t)cfi->id << 32;
	/* Without a cache every lookup takes the slow path, which searches the table. */
	if (!cache)
		return;
	/* Offsets, not ends: neither range may wrap past 2^64 here. */
	o = m->lo - m->ans.start;
	if (o < m->len && m->span <= m->len - o) {
		/* The module contains the whole table: the usual case. */
		m->flo = m->lo;
		m->flen = m->span;
		m->kbase = m->key_hi;
		return;
	}
	o = m->ans.start - m->lo;
	if (o < m->span && m->len <= m->span - o) {
		/* The table covers the whole module. */
		m->flo = m->ans.start;
		m->flen = m->len;
		m->kbase = m->key_hi + o;
	}
	/* Otherwise (an odd layout) flen stays 0: every lookup takes the slow path. */
}

const struct cfi_cache_slot *cfi_walk_lookup_slow(const struct puw_frame_module *m,
						  struct puw_cache *cache, uint64_t addr,
						  struct cfi_cache_slot *scratch)
{
	/*
	 * A table's range never wraps (no FDE's does, cfi-parse.c: base + span <= 2^64), so
	 * one unsigned comparison of the offset rejects addresses below it too.
	 */
	uint64_t off = addr - m->lo, key;
	uint32_t h, idx;

	if (!m->ans.cfi || off >= m->span) {
		cfi_cache_slot_set(scratch, NULL);
		return scratch;
	}
	if (!cache) {
		idx = cfi_row_rule(m->ans.cfi, cfi_find_row_at(m->ans.cfi, (uint32_t)off));
		cfi_cache_slot_set(scratch, idx ? cfi_rule_at(m->ans.cfi, idx) : NULL);
		return scratch;
	}
	key = m->key_hi | off;
	h = (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - CFI_CACHE_BITS));
	if (cache->slot[h].key == key)
		return &cache->slot[h];
	return cfi_cache_fill(cache, m->ans.cfi, (uint32_t)off, key, h);
}
