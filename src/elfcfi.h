/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elfcfi: the daemon's side of CFI. Reads an ELF file's unwind sections (.eh_frame, found
 * through PT_GNU_EH_FRAME when section headers are stripped; .debug_frame of the file or
 * of its separate debug file, decompressed when SHF_COMPRESSED) and compiles them with
 * puw_cfi_compile(); reads the PT_LOAD segments that turn a mapping into a bias, the GNU
 * build-id and .gnu_debuglink, and computes where a separate debug file may be.
 *
 * Files are opened by the path given (for another mount namespace the caller passes
 * /proc/PID/root/...). Corrupt or truncated files fail with -ENOEXEC, never crash: every
 * section and segment is checked against the file size before it is read. Never logs; no
 * state: callable from any thread (libelf's elf_version() is set once, thread-safely).
 */
#ifndef PA_ELFCFI_H
#define PA_ELFCFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puw.h"

#define ELFCFI_MAX_LOADS 16
#define ELFCFI_BUILD_ID_MAX 64

struct elfcfi_segment {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;
	uint64_t align;
	uint32_t flags; /* PF_R | PF_W | PF_X */
};

struct elfcfi_info {
	enum puw_arch arch;
	unsigned n_loads;
	struct elfcfi_segment loads[ELFCFI_MAX_LOADS]; /* PT_LOAD, in file order */
	uint8_t build_id[ELFCFI_BUILD_ID_MAX];
	size_t build_id_size; /* 0: no build-id */
	char debuglink[256];  /* .gnu_debuglink file name, "" when none */
	uint32_t debuglink_crc;
	bool has_eh_frame;    /* .eh_frame or PT_GNU_EH_FRAME with contents */
	bool has_debug_frame; /* .debug_frame with contents */
};

/*
 * Headers of the ELF file at path: architecture, PT_LOADs, build-id, debuglink. Returns 0,
 * -ENOEXEC (not a valid ELF file, or truncated), -EOPNOTSUPP (not 64-bit x86-64 or arm64),
 * or the errno of open().
 */
int elfcfi_read_info(const char *path, struct elfcfi_info *ret);

/*
 * Compiles the CFI of the ELF file at path: its .eh_frame, plus the .debug_frame of
 * debug_path when given (a separate debug file: build-id or debuglink, see below) or else
 * of path itself. The signal trampoline (__restore_rt, __kernel_rt_sigreturn) is taken from
 * the symbol tables of either file when present.
 *
 * Returns 0 with an owned table in *ret_cfi (puw_cfi_free()) and, when ret_info is not
 * NULL, the headers of path in *ret_info; -ENOENT when neither file has usable CFI,
 * -ENOEXEC for a corrupt file, -EOPNOTSUPP, -ENOMEM, or the errno of open(). A debug file
 * that cannot be read, is corrupt, is for another machine or has another build-id is
 * ignored: its .debug_frame is optional.
 */
int elfcfi_load(const char *path, const char *debug_path, struct puw_cfi **ret_cfi,
		struct elfcfi_info *ret_info);

/*
 * Bias (runtime address - ELF virtual address) of a file mapping that starts at map_start
 * with file offset map_offset: found from the PT_LOAD that holds map_offset. Returns 0, or
 * -ENOENT when no PT_LOAD maps that offset.
 */
int elfcfi_bias(const struct elfcfi_info *info, uint64_t map_start, uint64_t map_offset,
		uint64_t *ret_bias);

/*
 * "<root>/usr/lib/debug/.build-id/xx/rest.debug" for info's build-id (root may be NULL or
 * "", or e.g. "/proc/PID/root"). Returns 0, -ENOENT without a build-id, -ENAMETOOLONG.
 */
int elfcfi_build_id_path(const struct elfcfi_info *info, const char *root, char *buf, size_t size);

/*
 * The i-th place (i = 0, 1, 2) GDB looks for the .gnu_debuglink file of the binary at
 * path: its directory, its directory's .debug/, and /usr/lib/debug/ + its directory.
 * Returns 0, -ENOENT when there is no debuglink or no i-th place, -ENAMETOOLONG.
 */
int elfcfi_debuglink_path(const struct elfcfi_info *info, const char *path, unsigned i, char *buf,
			  size_t size);

/* CRC-32 as .gnu_debuglink uses it (the zlib/IEEE polynomial), continuing from crc. */
uint32_t elfcfi_crc32(uint32_t crc, const void *p, size_t n);

#endif
