/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing of DWARF call frame information: .eh_frame (LSB "Exception Frames") and
 * .debug_frame (DWARF 5, section 6.4) entries, their pointer encodings, and the CFA programs
 * of CIEs and FDEs, run to produce the rule state in effect over each address range.
 *
 * Everything is bounds-checked against the entry it belongs to: a length, an offset, a LEB128
 * or a block that runs past its entry fails the FDE (-EBADMSG); well-formed DWARF that this
 * library cannot represent fails it with -EOPNOTSUPP. Neither ever reads outside the section.
 * Compile time only: called by cfi-compile.c, single-threaded per compilation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "puw.h"
#include "puw-internal.h"
#include "cfi.h"
#include "cfi-parse.h"

/* DW_EH_PE_* pointer encodings (LSB, "DWARF Extensions"; GCC unwind-pe.h). */
enum {
	DW_EH_PE_absptr = 0x00,
	DW_EH_PE_uleb128 = 0x01,
	DW_EH_PE_udata2 = 0x02,
	DW_EH_PE_udata4 = 0x03,
	DW_EH_PE_udata8 = 0x04,
	DW_EH_PE_sleb128 = 0x09,
	DW_EH_PE_sdata2 = 0x0a,
	DW_EH_PE_sdata4 = 0x0b,
	DW_EH_PE_sdata8 = 0x0c,
	DW_EH_PE_pcrel = 0x10,
	DW_EH_PE_textrel = 0x20,
	DW_EH_PE_datarel = 0x30,
	DW_EH_PE_funcrel = 0x40,
	DW_EH_PE_aligned = 0x50,
	DW_EH_PE_indirect = 0x80,
	DW_EH_PE_omit = 0xff,
};

/* DW_CFA_* (DWARF 5, 6.4.2, and the GNU/AArch64 extensions). */
enum {
	DW_CFA_advance_loc = 0x40,
	DW_CFA_offset = 0x80,
	DW_CFA_restore = 0xc0,
	DW_CFA_nop = 0x00,
	DW_CFA_set_loc = 0x01,
	DW_CFA_advance_loc1 = 0x02,
	DW_CFA_advance_loc2 = 0x03,
	DW_CFA_advance_loc4 = 0x04,
	DW_CFA_offset_extended = 0x05,
	DW_CFA_restore_extended = 0x06,
	DW_CFA_undefined = 0x07,
	DW_CFA_same_value = 0x08,
	DW_CFA_register = 0x09,
	DW_CFA_remember_state = 0x0a,
	DW_CFA_restore_state = 0x0b,
	DW_CFA_def_cfa = 0x0c,
	DW_CFA_def_cfa_register = 0x0d,
	DW_CFA_def_cfa_offset = 0x0e,
	DW_CFA_def_cfa_expression = 0x0f,
	DW_CFA_expression = 0x10,
	DW_CFA_offset_extended_sf = 0x11,
	DW_CFA_def_cfa_sf = 0x12,
	DW_CFA_def_cfa_offset_sf = 0x13,
	DW_CFA_val_offset = 0x14,
	DW_CFA_val_offset_sf = 0x15,
	DW_CFA_val_expression = 0x16,
	DW_CFA_AARCH64_negate_ra_state = 0x2d, /* DW_CFA_GNU_window_save on SPARC */
	DW_CFA_GNU_args_size = 0x2e,
	DW_CFA_GNU_negative_offset_extended = 0x2f,
};

/* ---- bounded reader ------------------------------------------------------------------- */

struct cur {
	const struct cfi_sec *s;
	size_t pos;
	size_t end; /* the current entry's end: nothing past it is read */
};

static bool rd_u8(struct cur *c, uint8_t *ret)
{
	if (c->pos >= c->end)
		return false;
	*ret = c->s->data[c->pos++];
	return true;
}

static bool rd_fixed(struct cur *c, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	if (c->pos > c->end || c->end - c->pos < n)
		return false;
	/* Both supported ABIs are little-endian, and so is their CFI. */
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->s->data[c->pos + i] << (8 * i);
	c->pos += n;
	*ret = v;
	return true;
}

static bool rd_uleb(struct cur *c, uint64_t *ret)
{
	return cfi_uleb128(c->s->data, c->end, &c->pos, ret);
}

static bool rd_sleb(struct cur *c, int64_t *ret)
{
	return cfi_sleb128(c->s->data, c->end, &c->pos, ret);
}

/* A uleb128-length block; *ret points into the section. */
static bool rd_block(struct cur *c, const uint8_t **ret, size_t *ret_len)
{
	uint64_t len;

	if (!rd_uleb(c, &len) || len > c->end - c->pos)
		return false;
	*ret = c->s->data + c->pos;
	*ret_len = (size_t)len;
	c->pos += (size_t)len;
	return true;
}

static uint64_t sext(uint64_t v, unsigned bytes)
{
	unsigned bits = 8 * bytes;

	return (v ^ (UINT64_C(1) << (bits - 1))) - (UINT64_C(1) << (bits - 1));
}

/*
 * Reads a pointer in encoding enc. Returns 0, -EBADMSG when it is truncated or the encoding
 * is invalid, -EOPNOTSUPP when it is valid but cannot be resolved here (pcrel in a section
 * without an address, funcrel outside a function). An indirect pointer is returned as the
 * address of the pointer, with *ret_indirect set; the caller decides whether it needs it.
 */
static int rd_encoded(struct cur *c, uint8_t enc, const struct cfi_parser *ps, uint64_t func,
		      uint64_t *ret, bool *ret_indirect)
{
	uint64_t field_addr = c->s->addr + c->pos, v;

	if (enc == DW_EH_PE_omit)
		return -EBADMSG;
	if ((enc & 0x70) == DW_EH_PE_aligned) {
		/* Aligned to the address size, in the address space of the section. */
		uint64_t mis = (c->s->addr_known ? field_addr : c->pos) & 7;

		if (mis && !(c->end - c->pos >= 8 - mis))
			return -EBADMSG;
		if (mis)
			c->pos += 8 - mis;
		field_addr = c->s->addr + c->pos;
	}

	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
		if (!rd_fixed(c, 8, &v))
			return -EBADMSG;
		break;
	case DW_EH_PE_uleb128:
		if (!rd_uleb(c, &v))
			return -EBADMSG;
		break;
	case DW_EH_PE_udata2:
	case DW_EH_PE_sdata2:
		if (!rd_fixed(c, 2, &v))
			return -EBADMSG;
		if ((enc & 0x0f) == DW_EH_PE_sdata2)
			v = sext(v, 2);
		break;
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		if (!rd_fixed(c, 4, &v))
			return -EBADMSG;
		if ((enc & 0x0f) == DW_EH_PE_sdata4)
			v = sext(v, 4);
		break;
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		if (!rd_fixed(c, 8, &v))
			return -EBADMSG;
		break;
	case DW_EH_PE_sleb128: {
		int64_t s;

		if (!rd_sleb(c, &s))
			return -EBADMSG;
		v = (uint64_t)s;
		break;
	}
	default:
		return -EBADMSG;
	}

	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_aligned:
		break;
	case DW_EH_PE_pcrel:
		if (!c->s->addr_known)
			return -EOPNOTSUPP;
		v += field_addr;
		break;
	case DW_EH_PE_textrel:
		if (!ps->text_addr)
			return -EOPNOTSUPP;
		v += ps->text_addr;
		break;
	case DW_EH_PE_datarel:
		if (!ps->data_addr)
			return -EOPNOTSUPP;
		v += ps->data_addr;
		break;
	case DW_EH_PE_funcrel:
		if (!func)
			return -EOPNOTSUPP;
		v += func;
		break;
	default:
		return -EBADMSG;
	}
	*ret_indirect = (enc & DW_EH_PE_indirect) != 0;
	*ret = v;
	return 0;
}

/* ---- entries -------------------------------------------------------------------------- */

/*
 * The entry at pos: its body [*ret_body, *ret_next), whether it is a CIE, and the CIE it
 * names when it is an FDE. Returns 1 for an entry, 0 at the end of the section, -EBADMSG when
 * the section cannot be walked further (a length running past its end).
 */
static int entry_header(const struct cfi_sec *s, size_t pos, struct cfi_entry *ret)
{
	struct cur c = {s, pos, s->size};
	uint64_t len, id;
	size_t id_pos;
	bool is64 = false;

	if (pos >= s->size)
		return 0;
	if (!rd_fixed(&c, 4, &len))
		return -EBADMSG;
	if (len == 0) {
		/* .eh_frame ends with a zero terminator (crtend.o); .debug_frame has none. */
		if (s->eh)
			return 0;
		ret->body = ret->next = c.pos;
		ret->is_cie = false;
		ret->empty = true;
		return 1;
	}
	if (len == 0xffffffff) {
		if (!rd_fixed(&c, 8, &len))
			return -EBADMSG;
		is64 = true;
	} else if (len >= 0xfffffff0) {
		return -EBADMSG; /* reserved */
	}
	if (len > s->size - c.pos)
		return -EBADMSG;
	ret->body = c.pos;
	ret->next = c.pos + (size_t)len;
	ret->empty = false;
	c.end = ret->next;

	/* .eh_frame: a 4-byte CIE id (0) or pointer; .debug_frame: offset-sized, ~0 for CIEs. */
	id_pos = c.pos;
	if (!rd_fixed(&c, s->eh || !is64 ? 4 : 8, &id))
		return -EBADMSG;
	ret->after_id = c.pos;
	ret->is64 = is64;
	if (s->eh) {
		ret->is_cie = id == 0;
		/* The pointer counts back from its own field to the CIE. */
		if (!ret->is_cie) {
			if (id > id_pos)
				ret->cie_off = SIZE_MAX;
			else
				ret->cie_off = id_pos - (size_t)id;
		}
	} else {
		ret->is_cie = id == (is64 ? UINT64_MAX : 0xffffffff);
		if (!ret->is_cie)
			ret->cie_off = id < s->size ? (size_t)id : SIZE_MAX;
	}
	return 1;
}

int cfi_entry_next(const struct cfi_sec *s, size_t pos, struct cfi_entry *ret)
{
	return entry_header(s, pos, ret);
}

int cfi_cie_parse(const struct cfi_parser *ps, const struct cfi_sec *s, size_t off,
		  struct cfi_cie *ret)
{
	struct cfi_entry e;
	struct cfi_cie cie = {.off = off, .fde_enc = DW_EH_PE_absptr, .lsda_enc = DW_EH_PE_omit};
	struct cur c;
	const char *aug;
	size_t aug_len, aug_data_end = 0;
	uint64_t v;
	uint8_t b;
	int r;

	r = entry_header(s, off, &e);
	if (r <= 0 || e.empty || !e.is_cie)
		return -EBADMSG;
	c = (struct cur){s, e.after_id, e.next};

	if (!rd_u8(&c, &cie.version))
		return -EBADMSG;
	if (cie.version != 1 && cie.version != 3 && !(cie.version == 4 && !s->eh))
		return -EOPNOTSUPP;

	/* NUL-terminated augmentation string inside the entry. */
	aug = (const char *)s->data + c.pos;
	aug_len = strnlen(aug, c.end - c.pos);
	if (aug_len == c.end - c.pos)
		return -EBADMSG;
	c.pos += aug_len + 1;

	/* Old GCC "eh": the address of the exception table follows the string. */
	if (aug_len >= 2 && aug[0] == 'e' && aug[1] == 'h') {
		if (!rd_fixed(&c, 8, &v))
			return -EBADMSG;
		aug += 2;
		aug_len -= 2;
	}
	if (cie.version == 4) {
		uint8_t seg;

		if (!rd_u8(&c, &cie.addr_size) || !rd_u8(&c, &seg))
			return -EBADMSG;
		if (cie.addr_size != 8 || seg != 0)
			return -EOPNOTSUPP;
	}
	if (!rd_uleb(&c, &cie.code_align) || !rd_sleb(&c, &cie.data_align))
		return -EBADMSG;
	if (cie.version == 1) {
		if (!rd_u8(&c, &b))
			return -EBADMSG;
		cie.ra_col = b;
	} else if (!rd_uleb(&c, &cie.ra_col)) {
		return -EBADMSG;
	}

	if (aug_len > 0 && aug[0] == 'z') {
		uint64_t dlen;

		cie.has_z = true;
		if (!rd_uleb(&c, &dlen) || dlen > c.end - c.pos)
			return -EBADMSG;
		aug_data_end = c.pos + (size_t)dlen;
		c.end = aug_data_end;
		for (size_t i = 1; i < aug_len; i++) {
			bool ind;

			switch (aug[i]) {
			case 'L':
				if (!rd_u8(&c, &cie.lsda_enc))
					return -EBADMSG;
				break;
			case 'R':
				if (!rd_u8(&c, &cie.fde_enc))
					return -EBADMSG;
				break;
			case 'P':
				/* The personality routine: parsed to be skipped, never followed. */
				if (!rd_u8(&c, &b))
					return -EBADMSG;
				r = rd_encoded(&c, b, ps, 0, &v, &ind);
				if (r == -EBADMSG)
					return r;
				break;
			case 'S':
				cie.signal = true;
				break;
			case 'B': /* arm64: return addresses signed with the B key */
			case 'G': /* arm64: MTE-tagged stack frames */
				break;
			default:
				/*
				 * An unknown letter: its data could be anything, and the ones after
				 * it (an 'R' that sets the FDE encoding) cannot be trusted.
				 */
				return -EOPNOTSUPP;
			}
		}
		c.pos = aug_data_end;
		c.end = e.next;
	} else if (aug_len > 0) {
		/* Without 'z' the size of unknown augmentation data is unknown. */
		return -EOPNOTSUPP;
	}
	if (!s->eh)
		cie.fde_enc = DW_EH_PE_absptr;

	cie.insns = c.pos;
	cie.insns_end = e.next;
	*ret = cie;
	return 0;
}

int cfi_fde_parse(const struct cfi_parser *ps, const struct cfi_sec *s, const struct cfi_entry *e,
		  const struct cfi_cie *cie, struct cfi_fde *ret)
{
	struct cur c = {s, e->after_id, e->next};
	uint64_t begin, range;
	bool ind;
	int r;

	r = rd_encoded(&c, cie->fde_enc, ps, 0, &begin, &ind);
	if (r)
		return r;
	if (ind)
		return -EOPNOTSUPP; /* a function address stored elsewhere: never seen in practice
				     */
	/* The length has the pointer's size and format, without its relative base. */
	r = rd_encoded(&c, cie->fde_enc & 0x0f, ps, 0, &range, &ind);
	if (r)
		return r;
	if (cie->has_z) {
		uint64_t len;

		if (!rd_uleb(&c, &len) || len > c.end - c.pos)
			return -EBADMSG;
		c.pos += (size_t)len;
	}
	if (begin + range < begin)
		return -EBADMSG;
	ret->begin = begin;
	ret->end = begin + range;
	ret->insns = c.pos;
	ret->insns_end = e->next;
	return 0;
}

/* ---- CFA programs --------------------------------------------------------------------- */

static void col_set(struct cfi_state *st, const struct cfi_parser *ps, uint64_t reg,
		    enum puw_cfi_rule kind, int64_t value, const uint8_t *expr, size_t expr_len)
{
	int idx = reg < CFI_PARSE_MAX_REG ? ps->kept_index[reg] : -1;

	/* Registers the tables do not keep: parsed and ignored. */
	if (idx < 0)
		return;
	st->col[idx].kind = (uint8_t)kind;
	st->col[idx].value = value;
	st->col[idx].expr = expr;
	st->col[idx].expr_len = expr_len;
}

static bool factor(int64_t a, int64_t b, int64_t *ret)
{
	return !__builtin_mul_overflow(a, b, ret);
}

int cfi_program_run(struct cfi_vm *vm, const struct cfi_sec *s, size_t pos, size_t end, bool is_cie)
{
	const struct cfi_parser *ps = vm->ps;
	const struct cfi_cie *cie = vm->cie;
	struct cur c = {s, pos, end};
	struct cfi_state *st = &vm->st;

	while (c.pos < c.end) {
		uint8_t op, low;
		uint64_t reg, u, delta = 0, newloc;
		int64_t sv, off;
		const uint8_t *blk;
		size_t blen;
		bool ind;
		int r;

		if (!rd_u8(&c, &op))
			return -EBADMSG;
		low = op & 0x3f;
		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
			delta = low;
			goto advance;
		case DW_CFA_offset:
			if (!rd_uleb(&c, &u) || u > INT64_MAX ||
			    !factor((int64_t)u, cie->data_align, &off))
				return -EBADMSG;
			col_set(st, ps, low, PUW_CFI_OFFSET, off, NULL, 0);
			continue;
		case DW_CFA_restore:
			reg = low;
			goto restore;
		default:
			break;
		}

		switch (op) {
		case DW_CFA_nop:
			continue;
		case DW_CFA_set_loc:
			if (is_cie)
				return -EBADMSG;
			r = rd_encoded(&c, cie->fde_enc, ps, 0, &newloc, &ind);
			if (r)
				return r;
			if (ind || newloc < vm->loc)
				return -EBADMSG;
			delta = newloc - vm->loc;
			/* code_align does not apply: set the factor to 1 for this one. */
			goto advance_raw;
		case DW_CFA_advance_loc1:
			if (!rd_fixed(&c, 1, &delta))
				return -EBADMSG;
			goto advance;
		case DW_CFA_advance_loc2:
			if (!rd_fixed(&c, 2, &delta))
				return -EBADMSG;
			goto advance;
		case DW_CFA_advance_loc4:
			if (!rd_fixed(&c, 4, &delta))
				return -EBADMSG;
			goto advance;
		case DW_CFA_offset_extended:
		case DW_CFA_val_offset:
			if (!rd_uleb(&c, &reg) || !rd_uleb(&c, &u) || u > INT64_MAX ||
			    !factor((int64_t)u, cie->data_align, &off))
				return -EBADMSG;
			col_set(st, ps, reg,
				op == DW_CFA_val_offset ? PUW_CFI_VAL_OFFSET : PUW_CFI_OFFSET, off,
				NULL, 0);
			continue;
		case DW_CFA_offset_extended_sf:
		case DW_CFA_val_offset_sf:
			if (!rd_uleb(&c, &reg) || !rd_sleb(&c, &sv) ||
			    !factor(sv, cie->data_align, &off))
				return -EBADMSG;
			col_set(st, ps, reg,
				op == DW_CFA_val_offset_sf ? PUW_CFI_VAL_OFFSET : PUW_CFI_OFFSET,
				off, NULL, 0);
			continue;
		case DW_CFA_GNU_negative_offset_extended:
			if (!rd_uleb(&c, &reg) || !rd_uleb(&c, &u) || u > INT64_MAX ||
			    !factor(-(int64_t)u, cie->data_align, &off))
				return -EBADMSG;
			col_set(st, ps, reg, PUW_CFI_OFFSET, off, NULL, 0);
			continue;
		case DW_CFA_restore_extended:
			if (!rd_uleb(&c, &reg))
				return -EBADMSG;
			goto restore;
		case DW_CFA_undefined:
		case DW_CFA_same_value:
			if (!rd_uleb(&c, &reg))
				return -EBADMSG;
			col_set(st, ps, reg,
				op == DW_CFA_undefined ? PUW_CFI_UNDEFINED : PUW_CFI_SAME, 0, NULL,
				0);
			continue;
		case DW_CFA_register:
			if (!rd_uleb(&c, &reg) || !rd_uleb(&c, &u))
				return -EBADMSG;
			col_set(st, ps, reg, PUW_CFI_REGISTER, u > INT64_MAX ? -1 : (int64_t)u,
				NULL, 0);
			continue;
		case DW_CFA_remember_state:
			if (vm->depth >= CFI_STATE_STACK)
				return -EOPNOTSUPP;
			vm->stack[vm->depth++] = *st;
			continue;
		case DW_CFA_restore_state:
			/*
			 * The whole row comes back, CFA and RA-signing state included, as GCC's
			 * epilogues (remember; def_cfa_offset 8; ret; restore) expect.
			 */
			if (vm->depth == 0)
				return -EBADMSG;
			*st = vm->stack[--vm->depth];
			continue;
		case DW_CFA_def_cfa:
			if (!rd_uleb(&c, &reg) || !rd_uleb(&c, &u) || u > INT64_MAX)
				return -EBADMSG;
			st->cfa_kind = CFI_CFA_REG;
			st->cfa_reg = reg;
			st->cfa_off = (int64_t)u;
			continue;
		case DW_CFA_def_cfa_sf:
			if (!rd_uleb(&c, &reg) || !rd_sleb(&c, &sv) ||
			    !factor(sv, cie->data_align, &off))
				return -EBADMSG;
			st->cfa_kind = CFI_CFA_REG;
			st->cfa_reg = reg;
			st->cfa_off = off;
			continue;
		case DW_CFA_def_cfa_register:
			if (!rd_uleb(&c, &reg))
				return -EBADMSG;
			/* Only meaningful for a register-based CFA (DWARF 5, 6.4.2.2). */
			if (st->cfa_kind != CFI_CFA_REG)
				return -EBADMSG;
			st->cfa_reg = reg;
			continue;
		case DW_CFA_def_cfa_offset:
			if (!rd_uleb(&c, &u) || u > INT64_MAX || st->cfa_kind != CFI_CFA_REG)
				return -EBADMSG;
			st->cfa_off = (int64_t)u;
			continue;
		case DW_CFA_def_cfa_offset_sf:
			if (!rd_sleb(&c, &sv) || st->cfa_kind != CFI_CFA_REG ||
			    !factor(sv, cie->data_align, &off))
				return -EBADMSG;
			st->cfa_off = off;
			continue;
		case DW_CFA_def_cfa_expression:
			if (!rd_block(&c, &blk, &blen))
				return -EBADMSG;
			st->cfa_kind = CFI_CFA_EXPR;
			st->cfa_expr = blk;
			st->cfa_expr_len = blen;
			continue;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (!rd_uleb(&c, &reg) || !rd_block(&c, &blk, &blen))
				return -EBADMSG;
			col_set(st, ps, reg,
				op == DW_CFA_expression ? PUW_CFI_EXPR : PUW_CFI_VAL_EXPR, 0, blk,
				blen);
			continue;
		case DW_CFA_GNU_args_size:
			/* Outgoing argument bytes at a call site: matters to landing pads only. */
			if (!rd_uleb(&c, &u))
				return -EBADMSG;
			continue;
		case DW_CFA_AARCH64_negate_ra_state:
			/* On SPARC this is DW_CFA_GNU_window_save: meaningless elsewhere. */
			if (ps->arch != PUW_ARCH_AARCH64)
				return -EBADMSG;
			st->ra_signed = !st->ra_signed;
			continue;
		default:
			return -EBADMSG;
		}

	advance:
		if (__builtin_mul_overflow(delta, cie->code_align, &delta))
			return -EBADMSG;
	advance_raw:
		/* A CIE's initial instructions describe the function entry only. */
		if (is_cie)
			return -EBADMSG;
		if (vm->loc + delta < vm->loc)
			return -EBADMSG;
		newloc = vm->loc + delta;
		if (newloc > vm->loc && vm->loc < vm->end) {
			r = vm->emit(vm->emit_ctx, vm->loc, st);
			if (r)
				return r;
		}
		vm->loc = newloc;
		continue;

	restore:
		/* Back to the rule the CIE's initial instructions left. */
		if (!is_cie && reg < CFI_PARSE_MAX_REG && ps->kept_index[reg] >= 0)
			st->col[ps->kept_index[reg]] = vm->init.col[ps->kept_index[reg]];
		else if (is_cie)
			col_set(st, ps, reg, PUW_CFI_SAME, 0, NULL, 0);
		continue;
	}
	return 0;
}

int cfi_fde_run(struct cfi_vm *vm, const struct cfi_sec *s, const struct cfi_fde *fde)
{
	int r;

	memset(&vm->st, 0, sizeof(vm->st));
	vm->depth = 0;
	vm->loc = fde->begin;
	vm->end = fde->end;
	r = cfi_program_run(vm, s, vm->cie->insns, vm->cie->insns_end, true);
	if (r)
		return r;
	/* remember_state in a CIE carries into no FDE. */
	vm->depth = 0;
	vm->init = vm->st;
	r = cfi_program_run(vm, s, fde->insns, fde->insns_end, false);
	if (r)
		return r;
	if (vm->loc < vm->end)
		return vm->emit(vm->emit_ctx, vm->loc, &vm->st);
	return 0;
}
