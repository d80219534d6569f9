/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential check of compiled CFI against libdw, the oracle: for real binaries of this
 * machine (this test, libc, libstdc++, libgcc_s, python3, xz when present), at the first
 * and the last address of every row libdw reports, the CFA rule, the return-address rule
 * and the rule of every register the table keeps must say the same thing. Every mismatch
 * is counted and the first ones printed. Skips (77) when libdw cannot read the files.
 */
#include "config.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "elfcfi.h"
#include "puw.h"

static unsigned long compared, mismatches, printed;
static enum puw_arch info_arch;

static void mismatch(const char *file, uint64_t addr, const char *what, const char *detail)
{
	mismatches++;
	if (printed++ < 30)
		fprintf(stderr, "%s: 0x%" PRIx64 ": %s: %s\n", file, addr, what, detail);
}

/* libdw's register rule, in our terms. Returns false when it is not one we represent. */
static bool libdw_rule(Dwarf_Frame *frame, int reg, enum puw_cfi_rule *ret_rule, int64_t *ret_val)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;

	if (dwarf_frame_register(frame, reg, mem, &ops, &nops) != 0)
		return false;
	if (nops == 0) {
		*ret_rule = ops ? PUW_CFI_UNDEFINED : PUW_CFI_SAME;
		*ret_val = 0;
		return true;
	}
	/* offset(N): call_frame_cfa; plus_uconst N | consts N; plus (libdw's shapes). */
	if (ops[0].atom == DW_OP_call_frame_cfa) {
		int64_t off = 0;
		size_t i = 1;
		bool value = nops > 1 && ops[nops - 1].atom == DW_OP_stack_value;
		size_t n = value ? nops - 1 : nops;

		if (n == 1) {
			off = 0;
		} else if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
			off = (int64_t)ops[1].number;
		} else if (n == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) {
			off = (int64_t)ops[1].number;
		} else {
			(void)i;
			return false;
		}
		*ret_rule = value ? PUW_CFI_VAL_OFFSET : PUW_CFI_OFFSET;
		*ret_val = off;
		return true;
	}
	/* register(R): bregx R 0; stack_value (or regx R). */
	if (nops == 2 && ops[0].atom == DW_OP_bregx && ops[0].number2 == 0 &&
	    ops[1].atom == DW_OP_stack_value) {
		*ret_rule = PUW_CFI_REGISTER;
		*ret_val = (int64_t)ops[0].number;
		return true;
	}
	if (nops == 1 && ops[0].atom == DW_OP_regx) {
		*ret_rule = PUW_CFI_REGISTER;
		*ret_val = (int64_t)ops[0].number;
		return true;
	}
	/* Anything else is an expression. */
	*ret_rule = ops[nops - 1].atom == DW_OP_stack_value ? PUW_CFI_VAL_EXPR : PUW_CFI_EXPR;
	*ret_val = 0;
	return true;
}

static void compare_at(const char *file, Dwarf_CFI *dcfi, const struct puw_cfi *cfi, uint64_t addr,
		       uint64_t kept)
{
	Dwarf_Frame *frame = NULL;
	struct puw_cfi_row row;
	Dwarf_Op *ops;
	size_t nops;
	char buf[256];
	int r = puw_cfi_find_row(cfi, addr, &row);

	if (dwarf_cfi_addrframe(dcfi, addr, &frame) != 0) {
		if (r == 0)
			mismatch(file, addr, "coverage", "puw has a row, libdw none");
		return;
	}
	compared++;
	if (r != 0) {
		mismatch(file, addr, "coverage", "libdw has a row, puw none");
		goto out;
	}
	/* The trampoline row replaces glibc's expressions by the kernel's layout. */
	if (row.cfa == PUW_CFI_CFA_SIGFRAME)
		goto out;
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) {
		mismatch(file, addr, "cfa", "libdw cannot compute it");
		goto out;
	}
	if (nops == 1 && ops[0].atom == DW_OP_bregx) {
		if (row.cfa != PUW_CFI_CFA_REG || row.cfa_reg != ops[0].number ||
		    row.cfa_offset != (int64_t)ops[0].number2) {
			snprintf(buf, sizeof(buf),
				 "libdw reg %" PRIu64 "%+" PRId64 ", puw kind %d reg %u%+" PRId64,
				 (uint64_t)ops[0].number, (int64_t)ops[0].number2, row.cfa,
				 row.cfa_reg, row.cfa_offset);
			mismatch(file, addr, "cfa", buf);
		}
	} else if (row.cfa == PUW_CFI_CFA_REG) {
		mismatch(file, addr, "cfa", "libdw an expression, puw register + offset");
	} else if (row.cfa == PUW_CFI_CFA_DEREF) {
		if (nops != 2 || ops[1].atom != DW_OP_deref ||
		    !((ops[0].atom == DW_OP_bregx && ops[0].number == row.cfa_reg &&
		       (int64_t)ops[0].number2 == row.cfa_offset) ||
		      (ops[0].atom == DW_OP_breg0 + row.cfa_reg &&
		       (int64_t)ops[0].number == row.cfa_offset)))
			mismatch(file, addr, "cfa", "deref form differs");
	}

	for (unsigned reg = 0; reg < PUW_REGS_MAX; reg++) {
		enum puw_cfi_rule rule;
		int64_t val;

		if (!(kept & (UINT64_C(1) << reg)))
			continue;
		if (!libdw_rule(frame, (int)reg, &rule, &val)) {
			snprintf(buf, sizeof(buf), "reg %u: libdw rule not understood", reg);
			mismatch(file, addr, "reg", buf);
			continue;
		}
		/*
		 * libdw's x86-64 ABI defaults (elfutils backends/x86_64_cfi.c) mark DWARF
		 * register 0 (rax) "same value" where rbx (3) was meant, so rbx comes out
		 * "undefined" where no FDE mentions it; the psABI makes it callee-saved.
		 */
		if (info_arch == PUW_ARCH_X86_64 && reg == 3 && rule == PUW_CFI_UNDEFINED &&
		    row.regs[reg].rule == PUW_CFI_SAME)
			continue;
		/* An expression is compared by kind only. */
		if (row.regs[reg].rule != rule ||
		    ((rule == PUW_CFI_OFFSET || rule == PUW_CFI_VAL_OFFSET ||
		      rule == PUW_CFI_REGISTER) &&
		     row.regs[reg].value != val)) {
			snprintf(buf, sizeof(buf),
				 "reg %u: libdw rule %d value %" PRId64
				 ", puw rule %d value %" PRId64,
				 reg, rule, val, row.regs[reg].rule, row.regs[reg].value);
			mismatch(file, addr, "reg", buf);
		}
	}
	{
		bool signalp = false;

		dwarf_frame_info(frame, NULL, NULL, &signalp);
		if (signalp != row.signal_frame)
			mismatch(file, addr, "signal", "signal-frame flag differs");
	}
out:
	free(frame);
}

static void compare_file(const char *path)
{
	struct puw_cfi *cfi = NULL;
	struct elfcfi_info info;
	struct puw_cfi_row row;
	Dwarf_CFI *dcfi;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	uint64_t text_lo = UINT64_MAX, text_hi = 0, kept;
	unsigned long before = mismatches, cmp_before = compared;
	int fd;

	if (elfcfi_load(path, NULL, &cfi, &info) != 0)
		return;
	info_arch = info.arch;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	dcfi = elf ? dwarf_getcfi_elf(elf) : NULL;
	if (!dcfi)
		goto out;
	/* Executable sections: where rows are. */
	if (elf_getshdrstrndx(elf, &shstrndx) == 0)
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_EXECINSTR) && sh.sh_size) {
				if (sh.sh_addr < text_lo)
					text_lo = sh.sh_addr;
				if (sh.sh_addr + sh.sh_size > text_hi)
					text_hi = sh.sh_addr + sh.sh_size;
			}
		}
	kept = 0;
	/* Which registers the table keeps: ask any row. */
	for (uint64_t a = text_lo; a < text_hi && !kept; a += 16)
		if (puw_cfi_find_row(cfi, a, &row) == 0)
			kept = row.kept;

	for (uint64_t a = text_lo; a < text_hi;) {
		Dwarf_Frame *frame = NULL;
		Dwarf_Addr start, end;

		if (dwarf_cfi_addrframe(dcfi, a, &frame) != 0) {
			if (puw_cfi_find_row(cfi, a, &row) == 0)
				compare_at(path, dcfi, cfi, a, kept);
			a++;
			continue;
		}
		if (dwarf_frame_info(frame, &start, &end, NULL) < 0 || end <= a) {
			free(frame);
			a++;
			continue;
		}
		free(frame);
		compare_at(path, dcfi, cfi, a, kept);
		if (end - 1 > a)
			compare_at(path, dcfi, cfi, end - 1, kept);
		a = end;
	}
	printf("%s: %lu addresses compared, %lu mismatches\n", path, compared - cmp_before,
	       mismatches - before);
out:
	if (dcfi)
		dwarf_cfi_end(dcfi);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	puw_cfi_free(cfi);
}

int main(int argc, char **argv)
{
	static const char *const defaults[] = {
		"/proc/self/exe",
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/lib/x86_64-linux-gnu/libgcc_s.so.1",
		"/usr/bin/python3",
		"/usr/bin/xz",
		"/lib/aarch64-linux-gnu/libc.so.6",
		"/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
	};

	elf_version(EV_CURRENT);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			compare_file(argv[i]);
	} else {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			if (access(defaults[i], R_OK) == 0)
				compare_file(defaults[i]);
	}
	if (compared == 0) {
		printf("test-cfi-libdw: nothing compared\n");
		return 77;
	}
	CHECK_EQ_U64(mismatches, 0);
	printf("test-cfi-libdw: %lu addresses compared, %lu mismatches\n", compared, mismatches);
	return check_finish("test-cfi-libdw");
}
