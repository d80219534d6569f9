/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debug file provider backed by debuginfod servers (libdebuginfod): given the build-id of a
 * binary that carries no symbol table, it answers at once with the path of the debug file in
 * libdebuginfod's cache, "pending" (the fetch was queued or is running) or "not found".
 *
 * Fetches run on a dedicated worker thread, one at a time, each bounded by a timeout, so the
 * caller (the flush thread) never waits on the network and samples are never held back: a
 * frame that could not be named in one window is named in a later window once the file has
 * arrived. Answers are remembered: found paths, and misses (not on any server, server
 * unreachable, timeout) for retry_s seconds (the negative cache). Bounded: at most
 * DEBUGINFOD_MAX_ENTRIES build-ids remembered and DEBUGINFOD_MAX_QUEUE fetches queued.
 *
 * Thread-safe: debuginfod_provider_find() and _get_stats() may be called from any thread.
 */
#ifndef PA_DEBUGINFOD_H
#define PA_DEBUGINFOD_H

#include <stddef.h>
#include <stdint.h>

#define DEBUGINFOD_MAX_ENTRIES 8192
#define DEBUGINFOD_MAX_QUEUE 256

struct debuginfod_provider;

struct debuginfod_stats {
	uint64_t requests; /* fetches started */
	uint64_t fetched;  /* debug files obtained (downloaded or from the local cache) */
	uint64_t misses;   /* fetches that ended without a file, for any reason */
	uint64_t errors;   /* of those, the ones that were not a plain "not found" */
	uint64_t dropped;  /* not queued: queue or table full */
	uint64_t pending;  /* queued or running now */
};

/*
 * urls: space-separated server URLs, as DEBUGINFOD_URLS. timeout_s bounds one fetch (0 = 30),
 * retry_s how long a miss is remembered (0 = 300). Returns 0 or -errno (-EINVAL for an empty
 * urls).
 */
int debuginfod_provider_new(const char *urls, unsigned timeout_s, unsigned retry_s,
			    struct debuginfod_provider **ret);
void debuginfod_provider_free(struct debuginfod_provider *p); /* accepts NULL; stops the worker */

/*
 * A debuginfo_provider_fn (debuginfo.h): ctx is the provider, build_id lowercase hex.
 * Returns 1 with the debug file's path in ret_path, -EAGAIN while it is being fetched,
 * -ENOENT when no server has it (or the fetch failed; asked again after retry_s).
 */
int debuginfod_provider_find(void *ctx, const char *build_id, char *ret_path, size_t size);

void debuginfod_provider_get_stats(struct debuginfod_provider *p, struct debuginfod_stats *ret);

#endif
