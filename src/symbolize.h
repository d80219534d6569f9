/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symbolization: function names for addresses in ELF binaries and in the kernel.
 *
 * A symcache holds one entry per binary, keyed by GNU build-id (binaries without one are
 * keyed by device, inode, size and mtime), so a library mapped by a thousand processes is
 * read once. An entry holds the sorted function symbols of .symtab, or of .dynsym when
 * .symtab is missing, and the PT_LOAD segments needed to turn a file offset into an ELF
 * virtual address. The cache is bounded in bytes; unreferenced entries are evicted least
 * recently used first.
 *
 * Files are always opened by the path the caller gives; for a process in another mount
 * namespace that is /proc/PID/root/<path> (the caller's job). Corrupt or unreadable ELF
 * files are an error for that binary only (-ENOEXEC, -ENOENT, ...), counted by the cache.
 *
 * Not thread-safe: one owner thread (the flush thread). Library-like: never logs.
 */
#ifndef PA_SYMBOLIZE_H
#define PA_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symcache;
struct sym_binary;

struct symcache_stats {
	uint64_t binaries_loaded;
	uint64_t binaries_failed; /* unreadable or corrupt ELF */
	uint64_t hits;
	uint64_t evictions;
	size_t bytes; /* memory held by entries now */
};

/* max_bytes bounds the memory of all entries (0 = 256 MiB). NULL on allocation failure. */
struct symcache *symcache_new(size_t max_bytes);
void symcache_free(struct symcache *c); /* accepts NULL; entries must all be released */

/*
 * Returns a referenced entry for the ELF file at path in *ret. The reference is owned by the
 * caller and released with sym_binary_unref(). Returns 0, or -errno (the file could not be
 * opened, or is not a valid ELF file: -ENOEXEC).
 */
int symcache_get(struct symcache *c, const char *path, struct sym_binary **ret);
void sym_binary_unref(struct sym_binary *b); /* accepts NULL */
/* One more reference on an entry the caller holds a reference on. Returns b. */
struct sym_binary *sym_binary_ref(struct sym_binary *b);
void symcache_get_stats(const struct symcache *c, struct symcache_stats *ret);

/*
 * Debug file provider, asked for binaries without a .symtab: given the hex build-id, writes
 * the path of a separate debug file into ret_path and returns 0, or returns -EAGAIN while the
 * file is being fetched (the binary is then built from .dynsym and rebuilt at a later
 * symcache_get() once the provider has an answer), or another -errno when there is none.
 * Called on the cache's owner thread; must not block.
 */
typedef int (*sym_debug_provider_fn)(void *ctx, const char *build_id, char *ret_path,
				     size_t size);
void symcache_set_debug_provider(struct symcache *c, sym_debug_provider_fn fn, void *ctx);

/* True when b was built without the debug file its provider is still fetching. */
bool sym_binary_debug_pending(const struct sym_binary *b);

/* Hex of the GNU build-id, or "" when the binary has none. Borrowed from b. */
const char *sym_binary_build_id(const struct sym_binary *b);

/*
 * Name of the function covering the given offset into the file (runtime address - mapping
 * start + mapping file offset). Returns the name, borrowed from b, and the offset into the
 * function in *ret_offset (may be NULL); NULL when no symbol covers it.
 */
const char *sym_binary_lookup(const struct sym_binary *b, uint64_t file_offset,
			      uint64_t *ret_offset);

/* Kernel symbols from /proc/kallsyms (or a file in its format, for tests). */
struct ksyms;
/* Returns 0, or -errno; -EPERM when every address reads as 0 (kernel.kptr_restrict). */
int ksyms_load(const char *path, struct ksyms **ret);
void ksyms_free(struct ksyms *k); /* accepts NULL */
/* Name of the kernel function covering addr (module symbols too), NULL when none. */
const char *ksyms_lookup(const struct ksyms *k, uint64_t addr, uint64_t *ret_offset);

#endif
