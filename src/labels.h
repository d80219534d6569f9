/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label sets: small arrays of (name, value) string pairs kept sorted by name, as Prometheus
 * keeps them. A set owns copies of its strings. Used by discovery (the __meta_* labels of a
 * process), relabeling (labelset_set/del while the rules run) and series (an interned,
 * immutable set per distinct series).
 *
 * Bounded: at most LABELSET_MAX labels, names and values at most LABEL_MAX_BYTES; anything
 * beyond is refused with -E2BIG. Not thread-safe; immutable sets may be read from any thread.
 */
#ifndef PA_LABELS_H
#define PA_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LABELSET_MAX 256
#define LABEL_MAX_BYTES 4096

struct label {
	char *name;
	char *value;
};

struct labelset {
	struct label *v; /* sorted by name, names unique, values non-empty */
	size_t n, cap;
};

void labelset_init(struct labelset *ls);
void labelset_done(struct labelset *ls);
/* Sets name to value (an empty value deletes the label, as in Prometheus). 0 or -errno. */
int labelset_set(struct labelset *ls, const char *name, const char *value);
void labelset_del(struct labelset *ls, const char *name);
/* The value, or NULL when the label is absent. Borrowed until the set changes. */
const char *labelset_get(const struct labelset *ls, const char *name);
int labelset_copy(struct labelset *dst, const struct labelset *src);
bool labelset_equal(const struct labelset *a, const struct labelset *b);
uint64_t labelset_hash(const struct labelset *ls);
/* {a="x", b="y"} with Go-style escapes; returns the length it needed (like snprintf). */
size_t labelset_format(const struct labelset *ls, char *buf, size_t size);
/* Prometheus' legacy label name rule: [a-zA-Z_][a-zA-Z0-9_]*. */
bool label_name_valid(const char *name);

/*
 * Interned label sets: each distinct set is stored once and never changes; the pointers
 * stay valid until labelset_pool_free(). Bounded by max_sets: past it, _intern returns NULL.
 */
struct labelset_pool;
struct labelset_pool *labelset_pool_new(size_t max_sets);
void labelset_pool_free(struct labelset_pool *p);
const struct labelset *labelset_pool_intern(struct labelset_pool *p, const struct labelset *ls);
size_t labelset_pool_size(const struct labelset_pool *p);

#endif
