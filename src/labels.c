/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label sets as sorted arrays (sets are small: binary search and memmove beat a hash), and a
 * pool of interned immutable sets behind an open-addressing table keyed by labelset_hash.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "util.h"

void labelset_init(struct labelset *ls)
{
	*ls = (struct labelset){0};
}

void labelset_done(struct labelset *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].name);
		free(ls->v[i].value);
	}
	free(ls->v);
	*ls = (struct labelset){0};
}

/* Index of name, or of where it would go (*found false). */
static size_t find(const struct labelset *ls, const char *name, bool *found)
{
	size_t lo = 0, hi = ls->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ls->v[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const char *labelset_get(const struct labelset *ls, const char *name)
{
	bool found;
	size_t i = find(ls, name, &found);

	return found ? ls->v[i].value : NULL;
}

void labelset_del(struct labelset *ls, const char *name)
{
	bool found;
	size_t i = find(ls, name, &found);

	if (!found)
		return;
	free(ls->v[i].name);
	free(ls->v[i].value);
	memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(*ls->v));
	ls->n--;
}

int labelset_set(struct labelset *ls, const char *name, const char *value)
{
	bool found;
	size_t i;
	char *v;

	if (!value || !value[0]) {
		labelset_del(ls, name);
		return 0;
	}
	if (strlen(name) >= LABEL_MAX_BYTES || strlen(value) >= LABEL_MAX_BYTES)
		return -E2BIG;
	i = find(ls, name, &found);
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (found) {
		free(ls->v[i].value);
		ls->v[i].value = v;
		return 0;
	}
	if (ls->n >= LABELSET_MAX) {
		free(v);
		return -E2BIG;
	}
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct label *nv = realloc(ls->v, cap * sizeof(*nv));

		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		ls->v = nv;
		ls->cap = cap;
	}
	memmove(&ls->v[i + 1], &ls->v[i], (ls->n - i) * sizeof(*ls->v));
	ls->v[i].name = strdup(name);
	ls->v[i].value = v;
	if (!ls->v[i].name) {
		free(v);
		memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i) * sizeof(*ls->v));
		return -ENOMEM;
	}
	ls->n++;
	return 0;
}

int labelset_copy(struct labelset *dst, const struct labelset *src)
{
	labelset_init(dst);
	for (size_t i = 0; i < src->n; i++) {
		int r = labelset_set(dst, src->v[i].name, src->v[i].value);

		if (r < 0) {
			labelset_done(dst);
			return r;
		}
	}
	return 0;
}

bool labelset_equal(const struct labelset *a, const struct labelset *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	return true;
}

uint64_t labelset_hash(const struct labelset *ls)
{
	uint64_t h = HASH_INIT;

	/* The separators keep {a="bc"} and {ab="c"} apart. */
	for (size_t i = 0; i < ls->n; i++) {
		h = hash_bytes(h, ls->v[i].name, strlen(ls->v[i].name) + 1);
		h = hash_bytes(h, ls->v[i].value, strlen(ls->v[i].value) + 1);
	}
	return h;
}

size_t labelset_format(const struct labelset *ls, char *buf, size_t size)
{
	size_t n = 0;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (n + 1 < size)                                                                  \
			buf[n] = (c);                                                              \
		n++;                                                                               \
	} while (0)
	PUT('{');
	for (size_t i = 0; i < ls->n; i++) {
		if (i) {
			PUT(',');
			PUT(' ');
		}
		for (const char *p = ls->v[i].name; *p; p++)
			PUT(*p);
		PUT('=');
		PUT('"');
		for (const char *p = ls->v[i].value; *p; p++) {
			if (*p == '"' || *p == '\\')
				PUT('\\');
			if (*p == '\n') {
				PUT('\\');
				PUT('n');
				continue;
			}
			PUT(*p);
		}
		PUT('"');
	}
	PUT('}');
#undef PUT
	if (size)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}

bool label_name_valid(const char *name)
{
	if (!name || !name[0])
		return false;
	for (const char *p = name; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';

		if (!alpha && !(p > name && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

struct labelset_pool {
	struct labelset **slots;
	size_t n_slots, n, max;
};

struct labelset_pool *labelset_pool_new(size_t max_sets)
{
	struct labelset_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->n_slots = 16;
	while (p->n_slots < 2 * max_sets)
		p->n_slots *= 2;
	p->slots = calloc(p->n_slots, sizeof(*p->slots));
	if (!p->slots) {
		free(p);
		return NULL;
	}
	p->max = max_sets;
	return p;
}

void labelset_pool_free(struct labelset_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_slots; i++)
		if (p->slots[i]) {
			labelset_done(p->slots[i]);
			free(p->slots[i]);
		}
	free(p->slots);
	free(p);
}

const struct labelset *labelset_pool_intern(struct labelset_pool *p, const struct labelset *ls)
{
	size_t j = labelset_hash(ls) & (p->n_slots - 1);
	struct labelset *n;

	for (; p->slots[j]; j = (j + 1) & (p->n_slots - 1))
		if (labelset_equal(p->slots[j], ls))
			return p->slots[j];
	if (p->n >= p->max)
		return NULL;
	n = malloc(sizeof(*n));
	if (!n || labelset_copy(n, ls) < 0) {
		free(n);
		return NULL;
	}
	p->slots[j] = n;
	p->n++;
	return n;
}

size_t labelset_pool_size(const struct labelset_pool *p)
{
	return p->n;
}
