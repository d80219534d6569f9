/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flush thread: takes a finished window from the sampler, symbolizes it, encodes it as
 * pprof and hands it to the exporter, then gives the emptied window back. Everything slow
 * (reading ELF files and kallsyms, compression, disk) happens here, never on the thread that
 * drains the rings.
 *
 * Two windows alternate: flusher_submit() hands over the full one and returns the empty
 * one; it waits only when the previous window is still being flushed. The sampler uses
 * flusher_try_submit(), which never waits: while a slow flush (a large debug file being
 * read) is under way, the current window just stays open longer.
 */
#ifndef PA_FLUSH_H
#define PA_FLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debuginfod.h"
#include "debuginfo.h"
#include "demangle.h"
#include "export.h"
#include "labels.h"
#include "profile.h"
#include "symbolize.h"

enum flush_symbolize {
	FLUSH_SYMBOLIZE_LOCAL, /* names, source lines and inlined frames found on this host */
	FLUSH_SYMBOLIZE_NONE,  /* no names: build-ids, file offsets and addresses for a backend */
};

#define FLUSH_MAX_EXPORTERS 8

struct flush_config {
	uint32_t frequency_hz;
	const char *event_name;
	struct exporter exporters[FLUSH_MAX_EXPORTERS]; /* ownership taken */
	size_t n_exporters;
	const char *kallsyms_path; /* NULL = /proc/kallsyms */
	const char *debuginfod_urls; /* NULL or "": no debuginfod */
	unsigned debuginfod_timeout_s; /* 0 = the provider's default */
	/* Labels of the overflow series besides series_overflow="true" (node, static
	 * labels); copied; NULL = none. */
	const struct labelset *overflow_labels;
	enum flush_symbolize symbolize;
	enum demangle_mode demangle;
	size_t symbol_cache_bytes;         /* 0 = 256 MiB */
	struct debuginfo_config debuginfo; /* borrowed for the flusher's lifetime */
	/* symbol cache budget: symbol_cache_bytes (0 = the default, 256 MiB) */
};

struct flush_hot {
	const char *function; /* borrowed from the flusher */
	uint64_t samples;
};

struct flush_summary {
	uint64_t windows;
	uint64_t files;       /* windows every exporter accepted */
	uint64_t send_errors; /* windows some exporter could not take */
	uint64_t samples;
	uint64_t bytes;
	uint64_t processes; /* distinct pids over the run */
	uint64_t binaries_failed; /* distinct files unreadable or corrupt, skipped */
	int kernel_symbols;      /* 0 loaded, or -errno */
	uint64_t binaries_mismatched; /* distinct files replaced on disk since they were mapped */
	uint64_t jit_maps_read;       /* perf-PID.map files (re)read */
	uint64_t jit_resolved;        /* locations named by a JIT map */
	bool debuginfod;              /* a debuginfod provider is in use */
	struct debuginfod_stats dbg;
	uint64_t overflow_samples; /* samples in the overflow series (cardinality guard) */
	uint32_t max_series;     /* most series in one window */
	uint64_t locations;          /* user locations emitted over the run */
	uint64_t locations_named;    /* ... of which symbolized */
	uint64_t inline_frames;      /* extra Lines for inlined functions */
	struct symcache_stats symbols; /* the symbol cache, as of the last window */
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
/*
 * Like flusher_submit() but never waits: returns the empty window, or NULL (full stays the
 * caller's) while the previous window is still being flushed.
 */
struct profile_window *flusher_try_submit(struct flusher *f, struct profile_window *full);
/* Waits until every submitted window is flushed, stops the thread, then lets each exporter
 * deliver (or spool) what it still holds. */
void flusher_finish(struct flusher *f);
void flusher_free(struct flusher *f); /* accepts NULL; frees the windows it holds */

void flusher_get_summary(struct flusher *f, struct flush_summary *ret);
/* Any thread: the snapshot of the last finished window (a copy under the flusher's lock). */
void flusher_get_metrics(struct flusher *f, struct flush_metrics *ret);
/* The hottest leaf functions over the whole run, most samples first; returns how many. */
size_t flusher_hottest(struct flusher *f, struct flush_hot *ret, size_t max);
/* Counters of exporter i (its target into *ret_target, borrowed); false past the last. */
bool flusher_export_stats(struct flusher *f, size_t i, const char **ret_target,
			  struct export_stats *ret);

#endif
