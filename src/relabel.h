/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Relabeling with Prometheus semantics (prometheus/model/relabel): an ordered list of rules
 * rewrites a label set or drops it. Actions replace, keep, drop, keepequal, dropequal,
 * hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase; fields source_labels,
 * separator (default ";"), regex (default "(.*)", fully anchored; PCRE2 stands in for RE2),
 * target_label, replacement (default "$1"; $1, ${1}, $name, ${name}, $$ as in Go's
 * Regexp.Expand), modulus (hashmod: md5 of the joined values, last 8 bytes big-endian).
 *
 * Rules are parsed from the JSON form of a Parca/Prometheus relabel_configs list (the YAML
 * keys, unchanged). Parsing errors name the offending element as a path relative to the
 * list ("[2].regex") so the caller can turn it into a line and column.
 *
 * Immutable once built; relabel_apply may run on any thread with its own label set (PCRE2
 * match data is allocated per call: rules run once per process, not per sample).
 */
#ifndef PA_RELABEL_H
#define PA_RELABEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "labels.h"

struct relabel_rules;

/*
 * Builds rules from a JSON array. On error returns -EINVAL and writes a message to err and
 * the element's path (e.g. "[0].action") to err_path. *ret is owned by the caller.
 */
int relabel_rules_from_json(const json_t *arr, struct relabel_rules **ret, char *err,
			    size_t err_size, char *err_path, size_t err_path_size);
void relabel_rules_free(struct relabel_rules *r); /* accepts NULL */
size_t relabel_rules_count(const struct relabel_rules *r);

/* Runs every rule on ls in order. Returns 1 when the set is kept, 0 when dropped, -errno. */
int relabel_apply(const struct relabel_rules *r, struct labelset *ls);

#endif
