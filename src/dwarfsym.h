/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dwarfsym: source lines and inlined-function chains from DWARF (.debug_info, .debug_line)
 * through libdw, for one ELF file (the binary itself or its separate debug file).
 *
 * A lookup answers, for one ELF virtual address, the frames that address stands for, innermost
 * first: the function inlined deepest, with the file and line of the address; then each
 * function it was inlined into, with the file and line of the call site (DW_AT_call_file,
 * DW_AT_call_line), ending with the real (out-of-line) function. Names are the linkage name
 * (mangled, for the demangler) when the DIE has one, else DW_AT_name.
 *
 * The file is read with pread (ELF_C_READ), never mapped, like every untrusted file here;
 * libdw then holds the debug sections in memory, which is what dwarfsym_bytes() reports so
 * the symbol cache can count it. Strings returned are borrowed from the dwarfsym.
 * Not thread-safe; never logs.
 */
#ifndef PA_DWARFSYM_H
#define PA_DWARFSYM_H

#include <stddef.h>
#include <stdint.h>

struct dwarfsym;

struct dwarfsym_frame {
	const char *name; /* NULL when the DIE has none */
	const char *file; /* NULL when unknown */
	uint32_t line;    /* 0 when unknown */
};

/*
 * Opens the DWARF of the ELF file at path. max_bytes refuses files whose debug sections are
 * larger (-EFBIG). Returns 0, -ENOENT when the file has no .debug_info, -ENOEXEC when libdw
 * rejects it, or the errno of open().
 */
int dwarfsym_open(const char *path, size_t max_bytes, struct dwarfsym **ret);
void dwarfsym_free(struct dwarfsym *d); /* accepts NULL */
size_t dwarfsym_bytes(const struct dwarfsym *d);

/*
 * Frames for the ELF virtual address vaddr into ret (at most max), innermost first. Returns
 * how many (0 when no compile unit covers vaddr).
 */
size_t dwarfsym_lookup(struct dwarfsym *d, uint64_t vaddr, struct dwarfsym_frame *ret,
		       size_t max);

#endif
