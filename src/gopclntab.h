/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gopclntab: function names of a Go binary from its .gopclntab section, which the Go runtime
 * needs for its own tracebacks and therefore survives `go build -ldflags=-s -w` (no .symtab,
 * no DWARF).
 *
 * Formats: Go 1.16/1.17 (magic 0xfffffffa) and Go 1.18 and later (0xfffffff0, 0xfffffff1 from
 * Go 1.20), little-endian, 4- or 8-byte pointers. Layout (Go's runtime/symtab.go, pcHeader):
 * a header of magic, two zero bytes, the instruction quantum, the pointer size, then
 * pointer-sized words nfunc, nfiles, [textStart, 1.18+], funcnameOffset, cuOffset,
 * filetabOffset, pctabOffset, pclnOffset. At pclnOffset, the functab: nfunc + 1 pairs
 * (entry, funcoff) sorted by entry, the last entry being the end of the text; 1.18+ stores
 * them as uint32 offsets from textStart, 1.16 as pointers. Each funcoff locates, from the
 * functab's start, a _func whose second field is the name's offset into the funcnametab.
 *
 * The section is untrusted input: every offset is bounds-checked; a malformed table ends the
 * walk with -ENOEXEC. Never logs; no state.
 */
#ifndef PA_GOPCLNTAB_H
#define PA_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

/* One function: [start, end) in ELF virtual addresses; name is not NUL-terminated. Returns
 * >= 0 to go on, < 0 to stop the walk with that error. */
typedef int (*gopclntab_func_fn)(void *ctx, uint64_t start, uint64_t end, const char *name,
				 size_t name_len);

/*
 * Walks the functions of the pclntab in data. text_vaddr is the address of .text, used when
 * the header's textStart is 0 (a position-independent binary whose header is relocated at
 * run time). Returns the number of functions reported, -ENOENT when data is not a pclntab
 * in a supported format, -ENOEXEC when it is malformed, or fn's error.
 */
int gopclntab_walk(const uint8_t *data, size_t size, uint64_t text_vaddr, gopclntab_func_fn fn,
		   void *ctx);

#endif
