/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Labeler. Per-process target rules are compiled into one-rule relabel lists ("keep when the
 * executable name matches"), so they share the relabel engine's anchored regexes; a process
 * is a target when any rule keeps it. A cgroup rule evaluated per process (when it is mixed
 * with process rules and cannot be a kernel event) matches when the process's cgroup path,
 * or one of its ancestors, is the tail of the rule's directory.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labeler.h"
#include "log.h"

struct labeler {
	struct labeler_config cfg;
	struct target_rule *targets;	     /* a copy of the array; strings borrowed */
	struct relabel_rules **target_rules; /* per target; NULL for cgroup rules */
	struct labelset_pool *pool;
	struct labeler_stats stats;
};

static int target_rule_compile(const struct target_rule *t, struct relabel_rules **ret)
{
	char err[512], epath[64];
	json_t *arr;
	int r;

	arr = json_pack("[{s:[s], s:s, s:s}]", "source_labels",
			t->kind == TARGET_EXECUTABLE ? "__meta_process_executable_name"
						     : "__meta_process_comm",
			"regex", t->value, "action", "keep");
	if (!arr)
		return -ENOMEM;
	r = relabel_rules_from_json(arr, ret, err, sizeof(err), epath, sizeof(epath));
	json_decref(arr);
	if (r == -EINVAL)
		log_error("target %s \"%s\": %s",
			  t->kind == TARGET_EXECUTABLE ? "executable" : "comm", t->value, err);
	return r;
}

int labeler_new(const struct labeler_config *c, struct labeler **ret)
{
	struct labeler *l = calloc(1, sizeof(*l));
	int r = 0;

	if (!l)
		return -ENOMEM;
	l->cfg = *c;
	l->pool = labelset_pool_new(c->max_series_sets ? c->max_series_sets : 65536);
	l->target_rules = calloc(c->n_targets + 1, sizeof(*l->target_rules));
	l->targets = calloc(c->n_targets + 1, sizeof(*l->targets));
	if (!l->pool || !l->target_rules || !l->targets) {
		labeler_free(l);
		return -ENOMEM;
	}
	if (c->n_targets)
		memcpy(l->targets, c->targets, c->n_targets * sizeof(*l->targets));
	l->cfg.targets = l->targets;
	for (size_t i = 0; i < c->n_targets && r >= 0; i++)
		if (c->targets[i].kind != TARGET_CGROUP)
			r = target_rule_compile(&c->targets[i], &l->target_rules[i]);
	if (r < 0) {
		labeler_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void labeler_free(struct labeler *l)
{
	if (!l)
		return;
	for (size_t i = 0; l->target_rules && i < l->cfg.n_targets; i++)
		relabel_rules_free(l->target_rules[i]);
	free(l->target_rules);
	free(l->targets);
	labelset_pool_free(l->pool);
	free(l);
}

/* "/sys/fs/cgroup/a/b" selects a process in "/a/b/c": an ancestor of its path ends the rule. */
static bool cgroup_rule_matches(const char *rule, const char *cg)
{
	size_t rl = strlen(rule);
	char anc[4096];

	if (!cg || !cg[0])
		return false;
	snprintf(anc, sizeof(anc), "%s", cg);
	for (;;) {
		size_t al = strlen(anc);

		if (al > 1 && al <= rl && strcmp(rule + rl - al, anc) == 0)
			return true;
		char *slash = strrchr(anc, '/');

		if (!slash || slash == anc)
			return false;
		*slash = '\0';
	}
}

static bool is_target(struct labeler *l, const struct labelset *ls)
{
	if (l->cfg.n_targets == 0)
		return true;
	for (size_t i = 0; i < l->cfg.n_targets; i++) {
		const struct target_rule *t = &l->cfg.targets[i];

		if (t->kind == TARGET_CGROUP) {
			if (cgroup_rule_matches(t->value,
						labelset_get(ls, "__meta_process_cgroup")))
				return true;
		} else {
			struct labelset tmp;

			if (labelset_copy(&tmp, ls) < 0)
				continue;
			if (relabel_apply(l->target_rules[i], &tmp) == 1) {
				labelset_done(&tmp);
				return true;
			}
			labelset_done(&tmp);
		}
	}
	return false;
}

/* Runs the pipeline; *ret_keep 1/0; ret_series holds the final labels. */
static int evaluate(struct labeler *l, uint32_t pid, const char *cgroup_path, struct labelset *work,
		    int *ret_keep)
{
	char path[64], comm[64] = "";
	FILE *f;
	int r;

	l->stats.evaluations++;
	discover_process(&l->cfg.discover, pid, cgroup_path, work);
	snprintf(path, sizeof(path), "%s/%u/comm",
		 l->cfg.discover.proc_dir ? l->cfg.discover.proc_dir : "/proc", pid);
	if ((f = fopen(path, "re"))) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		labelset_set(work, "__meta_process_comm", comm);
	}
	if (!is_target(l, work)) {
		l->stats.not_targets++;
		*ret_keep = 0;
		return 0;
	}
	r = relabel_apply(l->cfg.relabel, work);
	if (r < 0)
		return r;
	if (r == 0) {
		l->stats.relabel_dropped++;
		*ret_keep = 0;
		return 0;
	}
	*ret_keep = 1;
	return 0;
}

static void finish_series(struct labeler *l, struct labelset *ls)
{
	/* Parca deletes every __meta_* label once the rules have run. */
	for (size_t i = 0; i < ls->n;) {
		if (strncmp(ls->v[i].name, "__meta_", 7) == 0) {
			char name[LABEL_MAX_BYTES];

			snprintf(name, sizeof(name), "%s", ls->v[i].name);
			labelset_del(ls, name);
		} else {
			i++;
		}
	}
	for (size_t i = 0; l->cfg.static_labels && i < l->cfg.static_labels->n; i++)
		labelset_set(ls, l->cfg.static_labels->v[i].name, l->cfg.static_labels->v[i].value);
}

int labeler_eval(void *ctx, uint32_t pid, const char *cgroup_path,
		 const struct labelset **ret_series)
{
	struct labeler *l = ctx;
	struct labelset work;
	int keep = 1, r;

	labelset_init(&work);
	r = evaluate(l, pid, cgroup_path, &work, &keep);
	if (r < 0 || !keep) {
		labelset_done(&work);
		return r < 0 ? 1 : 0; /* an internal failure keeps the samples (unlabeled) */
	}
	finish_series(l, &work);
	*ret_series = labelset_pool_intern(l->pool, &work);
	l->stats.series_sets = labelset_pool_size(l->pool);
	labelset_done(&work);
	return 1;
}

int labeler_eval_verbose(struct labeler *l, uint32_t pid, struct labelset *ret_discovered,
			 struct labelset *ret_series, int *ret_keep)
{
	int r;

	labelset_init(ret_series);
	discover_process(&l->cfg.discover, pid, NULL, ret_discovered);
	r = evaluate(l, pid, NULL, ret_series, ret_keep);
	if (r >= 0 && *ret_keep)
		finish_series(l, ret_series);
	return r;
}

const struct labelset *labeler_default_series(struct labeler *l)
{
	const struct labelset *r;
	struct labelset ls;

	labelset_init(&ls);
	if (l->cfg.discover.node)
		labelset_set(&ls, "node", l->cfg.discover.node);
	finish_series(l, &ls);
	r = labelset_pool_intern(l->pool, &ls);
	labelset_done(&ls);
	return r;
}

void labeler_get_stats(const struct labeler *l, struct labeler_stats *ret)
{
	*ret = l->stats;
}
