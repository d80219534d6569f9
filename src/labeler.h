/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The labeler decides, for one process, whether it is a target and which series its samples
 * go to: discovery labels (discover.h) -> per-process target rules -> relabel_configs ->
 * __meta_* labels removed -> static labels (--label, "labels") added -> an interned series.
 *
 * It is the sampler's label hook (sampler_label_fn): called once per process and again after
 * an exec or a cgroup move, never per sample. Series are interned in a bounded pool that
 * lives as long as the labeler (windows point into it); past the pool's cap every new series
 * is the overflow series.
 *
 * Single-threaded (the sampler thread).
 */
#ifndef PA_LABELER_H
#define PA_LABELER_H

#include <stdint.h>

#include "conffile.h"
#include "discover.h"
#include "labels.h"
#include "relabel.h"

struct labeler_config {
	struct discover_config discover;
	const struct labelset *static_labels; /* borrowed; may be NULL */
	const struct relabel_rules *relabel;  /* borrowed; may be NULL */
	const struct target_rule *targets;    /* per-process rules; borrowed */
	size_t n_targets;
	size_t max_series_sets; /* distinct series over the run */
};

struct labeler_stats {
	uint64_t evaluations;
	uint64_t not_targets; /* decisions to drop: no target rule matched */
	uint64_t relabel_dropped;
	uint64_t series_sets;
};

struct labeler;

/* Returns 0 or -errno (-EINVAL after logging a bad target regex). */
int labeler_new(const struct labeler_config *c, struct labeler **ret);
void labeler_free(struct labeler *l); /* accepts NULL */

/* The sampler hook: 1 keep (series in *ret_series, NULL = overflow), 0 drop. */
int labeler_eval(void *ctx, uint32_t pid, const char *cgroup_path,
		 const struct labelset **ret_series);
/* The labels a process would get, before __meta_* removal (for --print-labels). */
int labeler_eval_verbose(struct labeler *l, uint32_t pid, struct labelset *ret_discovered,
			 struct labelset *ret_series, int *ret_keep);
void labeler_get_stats(const struct labeler *l, struct labeler_stats *ret);
/* The series of samples without a process: node and the static labels. NULL when full. */
const struct labelset *labeler_default_series(struct labeler *l);

#endif
