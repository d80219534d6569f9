/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One aggregation window: stack -> (samples, cpu ns), per thread key (pid, tid, cpu, names,
 * executable: the pprof sample labels), each thread key belonging to one series (an
 * interned label set: one pprof per series per window). The sampler thread adds samples; at
 * the end of the window the whole window is handed to the flush thread, which reads it and
 * resets it (two windows alternate).
 *
 * Series are capped per window (max_series, the cardinality guard): a sample of a new
 * series past the cap goes to the overflow series (labels NULL) and is counted.
 *
 * Everything a window refers to is copied or interned into it, so the flush thread never
 * touches the process table: mappings are copied (with the pid whose /proc/PID/root reaches
 * the file), paths are interned strings that live as long as the process table.
 *
 * All arrays are allocated once at their caps (calloc: pages are only backed once used) and
 * reused; adding a sample never allocates. When a cap is hit the sample is dropped and
 * counted (the cardinality guard).
 */
#ifndef PA_PROFILE_H
#define PA_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "labels.h"

#define PROFILE_MAP_NONE UINT32_MAX         /* address outside every known mapping */
#define PROFILE_MAP_KERNEL (UINT32_MAX - 1) /* kernel address */
#define PROFILE_MAP_MARKER (UINT32_MAX - 2) /* not an address: addr is an enum puw_stop */

struct profile_limits {
	uint32_t max_series;  /* label sets per window, plus one overflow series */
	uint32_t max_threads; /* (series, pid, tid, cpu, names) keys per window */
	uint32_t max_mappings;
	uint32_t max_locations;
	uint32_t max_stacks;
	uint32_t max_frames; /* sum of frames over all distinct stacks */
};

struct profile_mapping {
	uint32_t pid;
	uint64_t start, end, pgoff;
	uint64_t ino;
	uint32_t maj, min;
	uint64_t mapped_real_ns; /* when the file was mapped (CLOCK_REALTIME), 0 = unknown */
	const char *path;
};

struct profile_location {
	uint32_t map;  /* index into mappings, or PROFILE_MAP_* */
	uint64_t addr; /* leaf: the sampled PC; callers: return address - 1 (inside the call) */
};

struct profile_series {
	const struct labelset *labels; /* interned, outlives the window; NULL = overflow */
};

struct profile_thread {
	uint32_t series;
	uint32_t pid, tid, cpu;
	char comm[16];
	char thread_name[16];
	const char *exe; /* may be NULL */
};

struct profile_stack {
	uint32_t thread;
	uint32_t n_frames;
	uint32_t frames; /* offset into the frame array: location indexes, leaf first */
	uint64_t count;
	uint64_t cpu_ns;
};

struct profile_window {
	uint64_t start_mono_ns, end_mono_ns;
	uint64_t start_real_ns;
	uint64_t samples, dropped;
	uint64_t overflow_samples; /* samples that went to the overflow series */

	struct profile_limits lim;
	struct profile_series *series;
	struct profile_thread *threads;
	struct profile_mapping *mappings;
	struct profile_location *locations;
	struct profile_stack *stacks;
	uint32_t *frames;
	uint32_t n_series, n_threads, n_mappings, n_locations, n_stacks, n_frames;

	/* open-addressing indexes: slot holds entry index + 1, 0 = empty */
	uint32_t *series_slots, *thread_slots, *mapping_slots, *location_slots, *stack_slots;
	uint32_t series_mask, thread_mask, mapping_mask, location_mask, stack_mask;
};

void profile_limits_default(struct profile_limits *ret);
struct profile_window *profile_window_new(const struct profile_limits *lim);
void profile_window_free(struct profile_window *w);
/* Empties the window for reuse; touches only the slots that were used. */
void profile_window_reset(struct profile_window *w, uint64_t start_mono_ns, uint64_t start_real_ns);

/* Each returns an index >= 0, or -ENOSPC when the cap is hit. */
/* The series of labels; past max_series, the overflow series (*ret_overflow set). */
int64_t profile_window_series(struct profile_window *w, const struct labelset *labels,
			      bool *ret_overflow);
int64_t profile_window_thread(struct profile_window *w, const struct profile_thread *t);
int64_t profile_window_mapping(struct profile_window *w, const struct profile_mapping *m);
int64_t profile_window_location(struct profile_window *w, uint32_t map, uint64_t addr);
/* Adds one sample of the given stack (location indexes, leaf first). */
int profile_window_add(struct profile_window *w, uint32_t thread, const uint32_t *locs,
		       uint32_t n_locs, uint64_t cpu_ns);

#endif
