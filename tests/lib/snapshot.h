/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unwind snapshots: one sample's registers, copied stack and mappings, saved so that an
 * unwind can be replayed offline — by puw and by the oracles (libunwind, libdw) — and
 * compared. Written by the capture tool (real samples through the daemon's own sampler) and
 * by the self-unwind fixtures (x86-64 natively, arm64 under qemu-user), which add the chain
 * they expect (from backtrace()/_Unwind_Backtrace at the same point).
 *
 * File format (all integers little-endian), one snapshot per file or several concatenated:
 *   "PUWSNAP1"                       magic, 8 bytes
 *   u32 arch (enum puw_arch)         u32 flags (SNAPSHOT_F_*)
 *   u64 regs_valid                   u64 regs[PUW_REGS_MAX] (DWARF numbering)
 *   u64 stack_start                  u64 stack_size, then stack_size bytes, padded to 8
 *   u32 n_modules, then per module:
 *       u64 start, u64 end, u64 pgoff
 *       u16 path_len, path bytes (no NUL)   the file as seen from the capturing host
 *       u16 build_id_len, build_id hex bytes (may be 0)
 *       padded to 8
 *   u32 n_expected, u32 pad, then n_expected u64 PCs (innermost first; 0 entries = none)
 *   u32 pid, u32 tid                 u64 time_ns (informational)
 * "Padded to 8": zero bytes up to the next multiple of 8 counted from the snapshot's magic
 * (so the first module starts 4 bytes off; readers reject non-zero padding).
 *
 * Library-like: returns -errno, never logs.
 */
#ifndef PA_TESTS_SNAPSHOT_H
#define PA_TESTS_SNAPSHOT_H

#include <stdint.h>
#include <stdio.h>

#include "puw.h"

#define SNAPSHOT_MAGIC "PUWSNAP1"
#define SNAPSHOT_MAX_MODULES 4096
#define SNAPSHOT_MAX_EXPECTED 1024

enum {
	SNAPSHOT_F_EXPECTED_IS_RA = 1, /* expected[1..] are return addresses (not ra - 1) */
};

struct snapshot_module {
	uint64_t start, end, pgoff;
	char *path;
	char *build_id;
};

struct snapshot {
	enum puw_arch arch;
	uint32_t flags;
	struct puw_regs regs;
	uint64_t stack_start;
	uint64_t stack_size;
	uint8_t *stack;
	uint32_t n_modules;
	struct snapshot_module *modules;
	uint32_t n_expected;
	uint64_t *expected;
	uint32_t pid, tid;
	uint64_t time_ns;
};

/* Appends one snapshot to f. Returns 0 or -errno. */
int snapshot_write(FILE *f, const struct snapshot *s);
/* Reads the next snapshot from f into *ret (owned by the caller: snapshot_done()).
 * Returns 1 when one was read, 0 at end of file, -EBADMSG on a malformed file. */
int snapshot_read(FILE *f, struct snapshot *ret);
void snapshot_done(struct snapshot *s);

#endif
