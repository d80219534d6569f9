/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flush thread: takes a finished window from the sampler, symbolizes it, encodes it as
 * pprof and hands it to the exporter, then gives the emptied window back. Everything slow
 * (reading ELF files and kallsyms, compression, disk) happens here, never on the thread that
 * drains the rings.
 *
 * Two windows alternate: flusher_submit() hands over the full one and returns the empty
 * one; it waits only when the previous window is still being flushed.
 */
#ifndef PA_FLUSH_H
#define PA_FLUSH_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "profile.h"
#include "symbolize.h"

struct flush_config {
	uint32_t frequency_hz;
	const char *event_name;
	struct exporter exporter; /* ownership taken */
	const char *kallsyms_path; /* NULL = /proc/kallsyms */
	size_t symcache_bytes;     /* symbol cache budget; 0 = the default (256 MiB) */
};

struct flush_hot {
	const char *function; /* borrowed from the flusher */
	uint64_t samples;
};

struct flush_summary {
	uint64_t windows;
	uint64_t files;
	uint64_t send_errors;
	uint64_t samples;
	uint64_t bytes;
	uint64_t processes; /* distinct pids over the run */
	uint64_t binaries_failed; /* distinct files unreadable or corrupt, skipped */
	int kernel_symbols;      /* 0 loaded, or -errno */
};

/* What the flush thread has done so far, refreshed after every window (self-metrics). */
struct flush_metrics {
	struct flush_summary sum;
	struct symcache_stats syms;
	uint64_t symcache_limit_bytes;
	uint64_t spool_bytes; /* profiles waiting on disk (0 while no exporter spools) */
};

struct flusher;

/* spare: the window the sampler will get back first (ownership taken). */
int flusher_new(const struct flush_config *c, struct profile_window *spare, struct flusher **ret);
/* Hands over full (ownership taken) and returns an empty window to fill next. */
struct profile_window *flusher_submit(struct flusher *f, struct profile_window *full);
/* Waits until every submitted window is flushed, then stops the thread. */
void flusher_finish(struct flusher *f);
void flusher_free(struct flusher *f); /* accepts NULL; frees the windows it holds */

void flusher_get_summary(struct flusher *f, struct flush_summary *ret);
/* Any thread: the snapshot of the last finished window (a copy under the flusher's lock). */
void flusher_get_metrics(struct flusher *f, struct flush_metrics *ret);
/* The hottest leaf functions over the whole run, most samples first; returns how many. */
size_t flusher_hottest(struct flusher *f, struct flush_hot *ret, size_t max);

#endif
