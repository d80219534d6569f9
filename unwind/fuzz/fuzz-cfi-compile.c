/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: puw_cfi_compile() on hostile .eh_frame/.debug_frame bytes, then every lookup
 * a table answers. Compiling is what a profiler does to every binary it meets, including
 * corrupt and adversarial ones, so it must never crash, leak, loop or read outside the
 * sections; a table it returns must be internally consistent, because the unwinder trusts it
 * on the sample path without further checks.
 *
 * Input (little-endian; missing bytes are zero):
 *
 *   u8  ctl        bit 0: arch (0 x86-64, 1 arm64); bit 1: no .eh_frame; bit 2: no
 *                  .debug_frame; bit 3: a signal trampoline range
 *   u64 eh_frame_addr, u64 text_addr, u64 data_addr, u64 sigreturn_addr
 *   u16 sigreturn_size
 *   u32 eh_frame_size  the first this many of the remaining bytes are .eh_frame
 *   ...                .eh_frame bytes, then .debug_frame bytes (the rest)
 *
 * Checks, beyond the sanitizers: results are those documented, *ret is written only on
 * success, the sections are not referenced after return (they are freed before the table is
 * read), the packed table's own invariants (rows ascending, neighbours distinct, the page
 * index exact, a terminating "no CFI" row), and that puw_cfi_find_row() agrees with the rows
 * at every row boundary and answers -ENOENT outside.
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
#define CTL_NO_EH 0x02
#define CTL_NO_DEBUG 0x04
#define CTL_SIGRETURN 0x08

/*
 * Rows whose lookups are checked one by one; in larger tables, as many spread evenly (the
 * fuzzer's speed is worth more than checking every row of every input).
 */
#define MAX_CHECKED_ROWS 512

static void check_row(const struct puw_cfi *cfi, const struct puw_cfi_row *row, uint64_t addr)
{
	unsigned ra = cfi->arch == PUW_ARCH_X86_64 ? 16 : 30;

	FUZZ_CHECK(row->start <= addr && addr < row->end);
	FUZZ_CHECK(row->start >= cfi->base && row->end <= cfi->base + cfi->span);
	FUZZ_CHECK((unsigned)row->cfa <= PUW_CFI_CFA_SIGFRAME);
	FUZZ_CHECK(row->ra_column == ra);
	if (row->cfa == PUW_CFI_CFA_EXPR) {
		FUZZ_CHECK(row->cfa_expr != NULL && row->cfa_expr_size > 0);
		FUZZ_CHECK(cfi_expr_valid(row->cfa_expr, row->cfa_expr_size));
	}
	if (row->cfa == PUW_CFI_CFA_REG || row->cfa == PUW_CFI_CFA_DEREF)
		FUZZ_CHECK(row->cfa_reg <= UINT8_MAX);
	for (unsigned reg = 0; reg < PUW_REGS_MAX; reg++) {
		const struct puw_cfi_reg *r = &row->regs[reg];

		if (!(row->kept & (UINT64_C(1) << reg))) {
			FUZZ_CHECK(r->rule == PUW_CFI_SAME);
			continue;
		}
		FUZZ_CHECK((unsigned)r->rule <= PUW_CFI_VAL_EXPR);
		if (r->rule == PUW_CFI_EXPR || r->rule == PUW_CFI_VAL_EXPR) {
			FUZZ_CHECK(r->expr != NULL && r->expr_size > 0);
			FUZZ_CHECK(cfi_expr_valid(r->expr, r->expr_size));
		}
		if (r->rule == PUW_CFI_REGISTER)
			FUZZ_CHECK(r->value >= 0 && r->value < PUW_REGS_MAX);
	}
	/* The return address column is the one the step reads: x86-64 16, arm64 x30. */
	FUZZ_CHECK(row->kept & (UINT64_C(1) << ra));
	if (row->cfa == PUW_CFI_CFA_SIGFRAME)
		FUZZ_CHECK(row->signal_frame);
	if (cfi->arch == PUW_ARCH_X86_64)
		FUZZ_CHECK(!row->ra_signed);
}

/* page[p]: the last row starting at or below p << page_shift. */
static void check_page(const struct puw_cfi *cfi, uint32_t p)
{
	uint64_t at = (uint64_t)p << cfi->page_shift;
	uint32_t r = cfi->page[p];

	FUZZ_CHECK(r < cfi->n_rows && cfi_row_pc(cfi, r) <= at);
	FUZZ_CHECK(r + 1 == cfi->n_rows || cfi_row_pc(cfi, r + 1) > at);
}

/* The packed layout (cfi.h) and what puw_cfi_find_row() answers from it. */
static void check_table(const struct puw_cfi *cfi, const uint64_t *probes, size_t n_probes)
{
	struct puw_cfi_stats st;
	struct puw_cfi_row row;
	uint32_t n = cfi->n_rows, stride;

	puw_cfi_get_stats(cfi, &st);
	FUZZ_CHECK(n >= 2);
	FUZZ_CHECK(st.rows == n - 1);
	FUZZ_CHECK(st.text_bytes == cfi->span && cfi->span > 0);
	FUZZ_CHECK(st.bytes > 0 && st.rules + 1 == cfi->n_rules);
	FUZZ_CHECK(st.exprs_bytes == cfi->exprs_size);
	FUZZ_CHECK(cfi->id != 0);
	FUZZ_CHECK(cfi->base + cfi->span > cfi->base);

	/* Rows: from 0 to the span, ascending, neighbours distinct, the last one "no CFI". */
	FUZZ_CHECK(cfi_row_pc(cfi, 0) == 0 && cfi_row_pc(cfi, n - 1) == cfi->span);
	FUZZ_CHECK(cfi_row_rule(cfi, n - 1) == 0);
	for (uint32_t i = 0; i + 1 < n; i++) {
		FUZZ_CHECK(cfi_row_pc(cfi, i) < cfi_row_pc(cfi, i + 1));
		FUZZ_CHECK(cfi_row_rule(cfi, i) != cfi_row_rule(cfi, i + 1));
		FUZZ_CHECK(cfi_row_rule(cfi, i) < cfi->n_rules);
	}
	/* Rule 0 is the all-zero "no CFI" rule; every other one has a CFA. */
	FUZZ_CHECK(cfi_rule_at(cfi, 0)->cfa_kind == CFI_CFA_NONE);
	for (uint32_t i = 1; i < cfi->n_rules; i++)
		FUZZ_CHECK(cfi_rule_at(cfi, i)->cfa_kind >= CFI_CFA_REG &&
			   cfi_rule_at(cfi, i)->cfa_kind <= CFI_CFA_SIGFRAME);
	/* The page index narrows every lookup: it must be exact. */
	stride = cfi->n_pages / MAX_CHECKED_ROWS + 1;
	FUZZ_CHECK(cfi->page_shift < 32);
	FUZZ_CHECK(cfi->n_pages == (cfi->span >> cfi->page_shift) + 1);
	for (uint64_t p = 0; p <= cfi->n_pages; p += stride)
		check_page(cfi, (uint32_t)p);
	check_page(cfi, cfi->n_pages);

	/* Lookups at row boundaries agree with the rows. */
	stride = n / MAX_CHECKED_ROWS + 1;
	for (uint32_t i = 0; i + 1 < n; i += stride) {
		uint64_t start = cfi->base + cfi_row_pc(cfi, i),
			 end = cfi->base + cfi_row_pc(cfi, i + 1);
		int r = puw_cfi_find_row(cfi, start, &row);

		if (cfi_row_rule(cfi, i) == 0) {
			FUZZ_CHECK(r == -ENOENT);
			continue;
		}
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(row.start == start && row.end == end);
		check_row(cfi, &row, start);
		FUZZ_CHECK(puw_cfi_find_row(cfi, end - 1, &row) == 0);
		FUZZ_CHECK(row.start == start && row.end == end);
		check_row(cfi, &row, end - 1);
	}
	/* Outside the span: nothing, whatever the address. */
	if (cfi->base > 0)
		FUZZ_CHECK(puw_cfi_find_row(cfi, cfi->base - 1, &row) == -ENOENT);
	FUZZ_CHECK(puw_cfi_find_row(cfi, cfi->base + cfi->span, &row) == -ENOENT);
	FUZZ_CHECK(puw_cfi_find_row(cfi, UINT64_MAX, &row) == -ENOENT ||
		   cfi->base + cfi->span == UINT64_MAX);
	for (size_t i = 0; i < n_probes; i++) {
		int r = puw_cfi_find_row(cfi, probes[i], &row);

		FUZZ_CHECK(r == 0 || r == -ENOENT);
		if (r == 0)
			check_row(cfi, &row, probes[i]);
		else
			FUZZ_CHECK(probes[i] < cfi->base || probes[i] - cfi->base >= cfi->span ||
				   cfi_lookup(cfi, probes[i]) == NULL);
	}
	FUZZ_CHECK(puw_cfi_find_row(cfi, cfi->base, NULL) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct puw_cfi_sections s = {0};
	struct puw_cfi *cfi = (struct puw_cfi *)&s; /* a sentinel: must survive failures */
	const uint8_t *eh, *dbg;
	uint8_t *eh_copy, *dbg_copy;
	size_t eh_size, dbg_size;
	uint64_t probes[8];
	uint8_t ctl;
	int r;

	ctl = (uint8_t)fuzz_take(&in, 1);
	s.arch = ctl & CTL_ARCH ? PUW_ARCH_AARCH64 : PUW_ARCH_X86_64;
	s.eh_frame_addr = fuzz_take(&in, 8);
	s.text_addr = fuzz_take(&in, 8);
	s.data_addr = fuzz_take(&in, 8);
	s.sigreturn_addr = fuzz_take(&in, 8);
	s.sigreturn_size = fuzz_take(&in, 2);
	if (!(ctl & CTL_SIGRETURN))
		s.sigreturn_size = 0;
	eh = fuzz_take_bytes(&in, (size_t)fuzz_take(&in, 4), &eh_size);
	dbg = fuzz_take_bytes(&in, in.n, &dbg_size);
	if (ctl & CTL_NO_EH)
		eh_size = 0;
	if (ctl & CTL_NO_DEBUG)
		dbg_size = 0;

	/* Each section alone in its allocation: a read past its end is an ASan report. */
	eh_copy = fuzz_dup(eh, eh_size);
	dbg_copy = fuzz_dup(dbg, dbg_size);
	s.eh_frame = eh_copy;
	s.eh_frame_size = eh_size;
	s.debug_frame = dbg_copy;
	s.debug_frame_size = dbg_size;

	r = puw_cfi_compile(&s, &cfi);
	/* The table must not borrow from the sections: gone before it is read. */
	free(eh_copy);
	free(dbg_copy);

	FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -ENOMEM || r == -EFBIG);
	if (r != 0) {
		FUZZ_CHECK(cfi == (struct puw_cfi *)&s);
		/* Only a null section pointer with a size is invalid, and the inputs have none. */
		FUZZ_CHECK(r != -EINVAL);
		return 0;
	}
	FUZZ_CHECK(cfi != NULL && cfi != (struct puw_cfi *)&s);
	FUZZ_CHECK(cfi->arch == s.arch);

	probes[0] = s.eh_frame_addr;
	probes[1] = s.text_addr;
	probes[2] = s.data_addr;
	probes[3] = s.sigreturn_addr;
	probes[4] = s.sigreturn_addr - 1;
	probes[5] = s.sigreturn_addr + s.sigreturn_size;
	probes[6] = cfi->base + cfi->span / 2;
	probes[7] = 0;
	check_table(cfi, probes, sizeof(probes) / sizeof(probes[0]));

	/*
	 * A signal trampoline the caller named wins over the FDEs that start with it or after it
	 * (the lead: x86-64 1 byte, arm64 4): when it starts the table, its rows are the kernel's
	 * frame rule.
	 */
	if (s.sigreturn_size) {
		uint64_t lead = s.arch == PUW_ARCH_X86_64 ? 1 : 4;
		struct puw_cfi_row row;

		if (s.sigreturn_addr > lead && s.sigreturn_addr - lead == cfi->base &&
		    s.sigreturn_addr + s.sigreturn_size > s.sigreturn_addr) {
			FUZZ_CHECK(puw_cfi_find_row(cfi, s.sigreturn_addr, &row) == 0);
			FUZZ_CHECK(row.cfa == PUW_CFI_CFA_SIGFRAME && row.signal_frame);
		}
	}

	puw_cfi_free(cfi);
	puw_cfi_free(NULL);
	return 0;
}
