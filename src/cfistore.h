/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfistore: the compiled CFI of every binary the sampled processes map, for the unwinder.
 *
 * One entry per file (device, inode, path), referenced by every process mapping of it. The
 * first reference queues the entry for a background loader thread, which reads the ELF file
 * (through /proc/PID/root so containers resolve), finds a separate debug file the way the
 * symbolizer does (debuginfo.h: build-id, --debuginfo-dir, CRC-checked .gnu_debuglink,
 * provider), whose .debug_frame covers code .eh_frame does not, and compiles its CFI with puw_cfi_compile(). Compiled tables are shared by
 * build-id, so identical binaries in different containers cost one table. The vDSO's table
 * comes from the agent's own vDSO image: it is the same for every process on one kernel.
 *
 * The sampler thread never waits for the loader: until an entry is ready its frames unwind
 * by frame pointers (PUW_MODE_AUTO's fallback). Looking up an entry's table is a single
 * acquire load; nothing on the sample path allocates, locks or makes a system call.
 *
 * Bounded: at most max_binaries entries and max_bytes of compiled tables. Unreferenced
 * entries are evicted least recently released first; when every entry is in use, new
 * binaries are not loaded (counted) and unwind by frame pointers.
 *
 * Threads: every function here is for the sampler thread (the single owner), except that the
 * loader thread runs inside. cfistore_get_stats() may be called from the owner.
 */
#ifndef PA_CFISTORE_H
#define PA_CFISTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debuginfo.h"
#include "puw.h"

struct cfistore;
struct cfi_binary;

struct cfistore_stats {
	uint64_t binaries;      /* entries now */
	uint64_t loaded;        /* tables compiled */
	uint64_t shared;        /* entries served by another entry's table (same build-id) */
	uint64_t failed;        /* no usable CFI, unreadable or corrupt files */
	uint64_t refused;       /* not loaded: over the byte or entry budget */
	uint64_t evicted;
	uint64_t with_debug_file; /* loaded with a separate debug file */
	uint64_t bytes;         /* compiled tables held now */
};

/* NULL on allocation failure. Starts the loader thread. */
struct cfistore *cfistore_new(enum puw_arch arch, size_t max_bytes, uint32_t max_binaries);
/*
 * Where separate debug files (for their .debug_frame) are looked for besides the system's
 * places: extra directories and a provider (see debuginfo.h). c is borrowed for the store's
 * lifetime; set it before the first cfistore_ref().
 */
void cfistore_set_debuginfo(struct cfistore *s, const struct debuginfo_config *c);
void cfistore_free(struct cfistore *s); /* accepts NULL; stops the loader */

/*
 * Takes a reference on the entry for a file mapped by process pid, creating it and queueing
 * its load on first sight. path is interned (compared by pointer). Returns NULL for pseudo
 * files without CFI ("[anon]", "memfd:...") or when the table is full.
 */
struct cfi_binary *cfistore_ref(struct cfistore *s, uint32_t pid, const char *path,
				uint32_t maj, uint32_t min, uint64_t ino);
void cfistore_unref(struct cfistore *s, struct cfi_binary *b); /* accepts NULL */

/*
 * The compiled table of b and the bias of one of its mappings, when loaded. Returns false
 * while the entry is queued or loading, or when it has no CFI.
 */
bool cfi_binary_table(const struct cfi_binary *b, uint64_t map_start, uint64_t map_pgoff,
		      const struct puw_cfi **ret_cfi, uint64_t *ret_bias);

/*
 * Waits until every queued load has finished, at most timeout_ms. Returns 0, or -ETIMEDOUT.
 * For start-up only: before sampling starts, nothing waits to be drained.
 */
int cfistore_wait_idle(struct cfistore *s, unsigned timeout_ms);

void cfistore_get_stats(struct cfistore *s, struct cfistore_stats *ret);

#endif
