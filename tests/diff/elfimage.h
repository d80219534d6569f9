/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ELF images for the replay tools: one binary's file contents mapped read-only, with what
 * the oracles need from it — the PT_LOAD segments (to serve "target memory" reads at
 * addresses in mapped files and to compute a mapping's load bias, independently of
 * src/elfcfi.c), .eh_frame_hdr (libunwind's FDE index), the entry point, and the function
 * symbols and GNU build-id (via src/symbolize.c's cache, the daemon's own symbolizer).
 * puw's CFI is loaded by src/elfcfi.c, the daemon's loader, not from here.
 *
 * The vDSO has no file: elf_image_vdso() copies this process's vDSO into a memfd so it can be
 * handled like any other binary (every process of one kernel maps the same vDSO image; the
 * build-id tells when a snapshot came from another kernel).
 *
 * Every offset taken from the file is bounds-checked against the file size. Test code: not
 * thread-safe, returns -errno, never logs.
 */
#ifndef PA_TESTS_ELFIMAGE_H
#define PA_TESTS_ELFIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puw.h"

struct symcache;
struct sym_binary;

struct elf_image_load {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;
	uint32_t flags; /* PF_X | PF_W | PF_R */
};

struct elf_image_sym {
	uint64_t addr, size;
	const char *name; /* in elf_image.debug_names */
};

struct elf_image {
	char *path; /* as opened ("/proc/self/fd/N" for the vDSO) */
	char *name; /* for display: the path a snapshot gave, "[vdso]" */
	int fd;
	const uint8_t *data; /* the whole file, read-only */
	size_t size;
	enum puw_arch arch; /* _PUW_ARCH_MAX: a machine puw does not support */
	uint16_t type;	    /* ET_EXEC / ET_DYN */
	bool has_interp;    /* PT_INTERP: a main executable (with type, or PIE) */
	uint64_t entry;	    /* e_entry, an ELF virtual address */
	struct elf_image_load *loads;
	size_t n_loads;

	/* .eh_frame_hdr: bytes inside data and ELF virtual address; size 0 when absent. */
	const uint8_t *eh_frame_hdr;
	size_t eh_frame_hdr_size;
	uint64_t eh_frame_hdr_addr;

	struct sym_binary *sym; /* names and build-id; NULL when the symbolizer rejected it */
	const char *build_id;	/* hex, "" when none; borrowed from sym */
	/*
	 * Function symbols of the separate debug file (/usr/lib/debug/.build-id/xx/rest.debug)
	 * when there is one: a stripped libc keeps start_thread, clone3 and
	 * __libc_start_call_main only there. By ELF virtual address, sorted; 0 when none.
	 */
	struct elf_image_sym *debug_syms;
	size_t n_debug_syms;
	char *debug_names;
};

/* Opens and parses path. Returns 0 and an owned image, or -errno (-ENOEXEC: not usable ELF). */
int elf_image_open(struct symcache *syms, const char *path, struct elf_image **ret);
/* This process's vDSO, as an image named "[vdso]". -ENOENT when there is none. */
int elf_image_vdso(struct symcache *syms, struct elf_image **ret);
void elf_image_free(struct elf_image *img); /* accepts NULL */

/*
 * Load bias of a mapping of img at runtime address start with file offset pgoff: runtime
 * address - ELF virtual address. -ENOENT when no PT_LOAD segment holds pgoff.
 */
int elf_image_bias(const struct elf_image *img, uint64_t start, uint64_t pgoff, uint64_t *ret_bias);

/*
 * The file bytes backing ELF virtual address vaddr: a pointer into the image and how many
 * bytes follow it inside the same segment's file contents; NULL when vaddr is not
 * file-backed (outside every PT_LOAD, or in its .bss part).
 */
const uint8_t *elf_image_at(const struct elf_image *img, uint64_t vaddr, size_t *ret_avail);

/*
 * Name of the function holding ELF virtual address vaddr (from the debug file first), NULL
 * when none; *ret_off the offset into it. Borrowed from img.
 */
const char *elf_image_symbol(const struct elf_image *img, uint64_t vaddr, uint64_t *ret_off);

/* The file offset of ELF virtual address vaddr, or UINT64_MAX when not file-backed. */
uint64_t elf_image_file_offset(const struct elf_image *img, uint64_t vaddr);

#endif
