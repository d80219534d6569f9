/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration file (--config FILE): one JSON object whose keys are the long option
 * names of the option table (options.h), plus three sections:
 *
 *   "targets":         [{"cgroup": PATH} | {"executable": REGEX} | {"comm": REGEX}, ...]
 *   "labels":          {"name": "value", ...}          (the same as --label name=value)
 *   "relabel_configs": [Prometheus/Parca relabel rules, YAML keys unchanged]
 *
 * Loading has no side effect: conffile_load() reads and validates the whole file into a
 * fresh struct conffile (so a reload on SIGHUP can build the new configuration beside the
 * old one and swap), then conffile_apply_options() runs the option setters for the keys the
 * command line did not give.
 *
 * Every error names the file, line, column and key: "agent.json:4:16: frequency: expected
 * an integer". jansson's values carry no positions, so a second pass over the text (a small
 * scanner that only records where each key and value starts) maps key paths such as
 * "relabel_configs[1].regex" to positions.
 *
 * The file is named "conffile" because config.h is autoconf's.
 */
#ifndef PA_CONFFILE_H
#define PA_CONFFILE_H

#include <stddef.h>

#include "labels.h"
#include "options.h"
#include "relabel.h"

enum target_kind {
	TARGET_CGROUP,	   /* a cgroup directory: a perf cgroup event per CPU */
	TARGET_EXECUTABLE, /* regex on the executable's file name, decided per process */
	TARGET_COMM,	   /* regex on the process name, decided per process */
};

struct target_rule {
	enum target_kind kind;
	char *value;
};

struct conffile {
	char *path;
	void *root; /* json_t */
	struct jpos_index *pos;
	struct labelset labels;
	struct relabel_rules *relabel; /* NULL when the file has none */
	struct target_rule *targets;
	size_t n_targets;
};

/* Reads and validates path. Returns 0 or -errno after logging "FILE:LINE:COL: KEY: why". */
int conffile_load(const char *path, const struct opt_def *defs, size_t n_defs,
		  struct conffile **ret);
/* Applies the option keys that cli does not give. 0, 1 (stop, success) or -EINVAL (logged). */
int conffile_apply_options(const struct conffile *cf, const struct opt_def *defs, size_t n_defs,
			   const struct opt_parse *cli, void *ctx);
void conffile_free(struct conffile *cf); /* accepts NULL */

#endif
