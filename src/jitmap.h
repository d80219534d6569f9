/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JIT symbol maps: the /tmp/perf-PID.map files that runtimes write for code they generate
 * (Node --perf-basic-prof, JVM perf-map agents, .NET DOTNET_PerfMapEnabled=1, Python 3.12
 * -X perf). Each line is "START SIZE NAME" with START and SIZE in hex (with or without 0x);
 * the file only grows, and a later line for the same range supersedes an earlier one (code
 * moved or recompiled).
 *
 * A jitmaps cache holds one parsed map per process, found through the process's own root and
 * its pid in its own pid namespace (/proc/PID/root/tmp/perf-<NSpid>.map), so a containerized
 * runtime is resolved too. A map is read again when the file has grown (checked at most once
 * per jitmaps_begin_round(), i.e. once per window). The file is kept open, so it is read
 * again after the process exits and its last samples still resolve. Bounded: at most
 * max_bytes of parsed maps (least recently used processes evicted first), one open file per
 * process remembered (at most 512), and JITMAP_MAX_FILE_BYTES read per file.
 *
 * Not thread-safe: one owner thread (the flush thread). Library-like: never logs.
 */
#ifndef PA_JITMAP_H
#define PA_JITMAP_H

#include <stddef.h>
#include <stdint.h>

#define JITMAP_MAX_FILE_BYTES ((size_t)64 << 20)

struct jitmap;
struct jitmaps;

struct jitmaps_stats {
	uint64_t maps_read; /* files (re)read */
	uint64_t symbols;   /* symbols held now */
	uint64_t lookups;   /* addresses looked up */
	uint64_t resolved;  /* ... that a map named */
	uint64_t truncated; /* files larger than JITMAP_MAX_FILE_BYTES, read in part */
	uint64_t evictions;
	size_t bytes; /* memory held now */
};

/* Parses a perf map file. Returns 0 or -errno (-ENOENT when there is no such file). */
int jitmap_load(const char *path, struct jitmap **ret);
void jitmap_free(struct jitmap *m); /* accepts NULL */
/* Name covering addr, borrowed from m; NULL when none. */
const char *jitmap_lookup(const struct jitmap *m, uint64_t addr, uint64_t *ret_offset);
size_t jitmap_symbols(const struct jitmap *m);

/*
 * proc_dir: where the per-pid directories are, NULL for "/proc" (tests point it elsewhere).
 * max_bytes 0 = 128 MiB. NULL on allocation failure.
 */
struct jitmaps *jitmaps_new(const char *proc_dir, size_t max_bytes);
void jitmaps_free(struct jitmaps *c); /* accepts NULL */
/* Starts a round (a window): each process's file is checked for growth once per round. */
void jitmaps_begin_round(struct jitmaps *c);
/* Name of the JIT code at addr in process pid, borrowed until the next begin_round. */
const char *jitmaps_lookup(struct jitmaps *c, uint32_t pid, uint64_t addr);
void jitmaps_get_stats(const struct jitmaps *c, struct jitmaps_stats *ret);

#endif
