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

#include "debuginfo.h"

struct symcache;
struct sym_binary;

/* Where an entry's function names came from (the first source, in lookup order, with any). */
enum sym_source {
	SYM_SOURCE_NONE, /* nothing but possibly _start; or build-ids only */
	SYM_SOURCE_SYMTAB,
	SYM_SOURCE_DEBUG_BUILD_ID,
	SYM_SOURCE_DEBUGLINK,
	SYM_SOURCE_DEBUG_PROVIDER,
	SYM_SOURCE_MINIDEBUGINFO,
	SYM_SOURCE_DYNSYM,
	SYM_SOURCE_GOPCLNTAB,
	_SYM_SOURCE_MAX,
};

const char *sym_source_name(enum sym_source s);

struct symcache_config {
	size_t max_bytes;    /* bounds the memory of all entries (0 = 256 MiB) */
	bool build_ids_only; /* read build-ids and segments, no names (backend symbolization) */
	bool dwarf;          /* open DWARF for source lines and inlined frames */
	struct debuginfo_config debuginfo; /* borrowed for the cache's lifetime */
};

#define SYMCACHE_SLOWEST 5

struct symcache_load {
	char path[256]; /* the file as opened, truncated */
	uint64_t ns;    /* time to build the entry */
	size_t bytes;
	enum sym_source source;
	bool dwarf;
};

struct symcache_stats {
	uint64_t binaries_loaded;
	uint64_t binaries_failed; /* unreadable or corrupt ELF */
	uint64_t hits;
	uint64_t misses; /* lookups that had to read a file (loaded + failed) */
	uint64_t evictions;
	size_t bytes;     /* memory held by entries now */
	size_t max_bytes; /* the budget */
	size_t peak_bytes;
	uint64_t load_ns; /* total time spent building entries */
	uint64_t by_source[_SYM_SOURCE_MAX]; /* entries built, by where their names came from */
	uint64_t with_dwarf;
	struct symcache_load slowest[SYMCACHE_SLOWEST]; /* slowest loads, slowest first */
	unsigned n_slowest;
};

/* c may be NULL for the defaults. NULL on allocation failure. */
struct symcache *symcache_new_config(const struct symcache_config *c);
/* The defaults, with max_bytes as given: names, no DWARF, no extra debug directories. */
struct symcache *symcache_new(size_t max_bytes);
void symcache_free(struct symcache *c); /* accepts NULL; entries must all be released */

/*
 * Returns a referenced entry for the ELF file at path in *ret. The reference is owned by the
 * caller and released with sym_binary_unref(). Returns 0, or -errno (the file could not be
 * opened, or is not a valid ELF file: -ENOEXEC).
 */
int symcache_get(struct symcache *c, const char *path, struct sym_binary **ret);
/*
 * The same for a file opened as path (e.g. /proc/self/fd/N, /proc/PID/map_files/...) whose
 * name is name: the binary's path as its process sees it, under /proc/PID/root when the
 * process is alive. Separate debug files are looked for from name (.gnu_debuglink next to
 * it, the debug directories under its root), and load statistics report it.
 */
int symcache_get_named(struct symcache *c, const char *path, const char *name,
		       struct sym_binary **ret);
void sym_binary_unref(struct sym_binary *b); /* accepts NULL */
/* The memory b's tables take (what it counts against the cache's budget). */
size_t sym_binary_bytes(const struct sym_binary *b);
/* One more reference on an entry the caller holds a reference on. Returns b. */
struct sym_binary *sym_binary_ref(struct sym_binary *b);
void symcache_get_stats(const struct symcache *c, struct symcache_stats *ret);

/*
 * Sets the debug file provider of the cache's debuginfo configuration (debuginfo.h), asked
 * after the local places. A binary built while it answered -EAGAIN is built from what else
 * there is and rebuilt at a later symcache_get() once the provider has an answer. Called on
 * the cache's owner thread.
 */
void symcache_set_debug_provider(struct symcache *c, debuginfo_provider_fn fn, void *ctx);

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

/* Where b's names came from. */
enum sym_source sym_binary_source(const struct sym_binary *b);
/* Whether b has DWARF open (lines and inlined frames can be answered). */
bool sym_binary_has_dwarf(const struct sym_binary *b);

struct sym_frame {
	const char *name; /* as in the file (mangled); borrowed from b */
	const char *file; /* source file, NULL when unknown */
	uint32_t line;    /* 0 when unknown */
};

/*
 * The frames the code at file_offset stands for, innermost first: inlined functions (from
 * DWARF) and then the function that holds the code, whose name is the symbol table's when it
 * has one. Returns how many were written to ret (at most max): 0 when nothing names it.
 * Borrowed strings stay valid while b is referenced.
 */
size_t sym_binary_frames(const struct sym_binary *b, uint64_t file_offset, struct sym_frame *ret,
			 size_t max);

/* Kernel symbols from /proc/kallsyms (or a file in its format, for tests). */
struct ksyms;
/* Returns 0, or -errno; -EPERM when every address reads as 0 (kernel.kptr_restrict). */
int ksyms_load(const char *path, struct ksyms **ret);
void ksyms_free(struct ksyms *k); /* accepts NULL */
/* Name of the kernel function covering addr (module symbols too), NULL when none. */
const char *ksyms_lookup(const struct ksyms *k, uint64_t addr, uint64_t *ret_offset);

#endif
