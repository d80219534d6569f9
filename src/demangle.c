/* SPDX-License-Identifier: Apache-2.0 */
/*
 * demangle: libiberty's cplus_demangle() with DMGL_AUTO, which recognizes the Itanium C++
 * ABI, Rust's legacy scheme (an Itanium-shaped name ending in a "17h<16 hex>E" hash, which
 * the demangler drops) and Rust v0 ("_R" prefix, handled by libiberty since 2021, binutils
 * 2.36). Simplified mode asks for no parameter list (no DMGL_PARAMS, which also drops the
 * return type) and then removes template and generic argument lists itself, taking care of
 * the operators whose names contain angle brackets.
 *
 * The memo is an open-addressing table (linear probing, load <= 1/2) of (name, result)
 * string pairs; results equal to the name are stored as NULL and answered with the name.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBIBERTY_DEMANGLE_H
#include <libiberty/demangle.h>
#else
#include <demangle.h>
#endif
/* libiberty.h brings its own ARRAY_SIZE, the same as util.h's. */
#undef ARRAY_SIZE

#include "demangle.h"
#include "util.h"

#define DEMANGLER_DEFAULT_MAX_BYTES ((size_t)16 << 20)
/* Longer names are generated code no reader needs demangled; the demangler's work grows fast. */
#define DEMANGLE_MAX_NAME 8192

int demangle_mode_from_string(const char *s, enum demangle_mode *ret)
{
	if (strcmp(s, "full") == 0)
		*ret = DEMANGLE_FULL;
	else if (strcmp(s, "simplified") == 0)
		*ret = DEMANGLE_SIMPLIFIED;
	else if (strcmp(s, "none") == 0)
		*ret = DEMANGLE_NONE;
	else
		return -EINVAL;
	return 0;
}

const char *demangle_mode_name(enum demangle_mode m)
{
	switch (m) {
	case DEMANGLE_FULL:
		return "full";
	case DEMANGLE_SIMPLIFIED:
		return "simplified";
	case DEMANGLE_NONE:
		return "none";
	}
	return "?";
}

static bool looks_mangled(const char *s)
{
	/* "_Z" Itanium (Rust legacy too), "_R" Rust v0; one extra underscore on some targets. */
	if (s[0] == '_' && s[1] == '_')
		s++;
	return s[0] == '_' && (s[1] == 'Z' || s[1] == 'R');
}

/* Is the '<' at s[i] part of an operator name ("operator<", "operator<<=", "operator<=>")? */
static bool operator_bracket(const char *s, size_t i)
{
	static const char op[] = "operator";
	size_t n = sizeof(op) - 1;

	while (i > 0 && (s[i - 1] == '<' || s[i - 1] == '>' || s[i - 1] == '-'))
		i--;
	return i >= n && memcmp(s + i - n, op, n) == 0;
}

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '>' || c == ']' || c == '$';
}

/* Index of the '>' closing the '<' at s[i], or 0 when unbalanced ("->" is not a bracket). */
static size_t closing_bracket(const char *s, size_t i)
{
	size_t depth = 0;

	for (size_t j = i; s[j]; j++) {
		if (s[j] == '<')
			depth++;
		else if (s[j] == '>' && s[j - 1] != '-' && --depth == 0)
			return j;
	}
	return 0;
}

/*
 * Removes argument lists in angle brackets in place: "ns::vec<int>::push" -> "ns::vec::push",
 * Rust's turbofish "f::<u32>" -> "f". A bracket opening a path segment (Rust's qualified path
 * "<T as Trait>::f") is kept: without it the name would be meaningless.
 */
static void strip_template_args(char *s)
{
	size_t r = 0, w = 0;

	while (s[r]) {
		if (s[r] == '<' && w > 0 && !operator_bracket(s, w)) {
			bool turbofish = w >= 3 && s[w - 1] == ':' && s[w - 2] == ':' &&
					 ident_char(s[w - 3]);
			size_t end;

			if ((ident_char(s[w - 1]) || turbofish) && (end = closing_bracket(s, r))) {
				if (turbofish)
					w -= 2;
				r = end + 1;
				continue;
			}
		}
		s[w++] = s[r++];
	}
	s[w] = '\0';
}

char *demangle_name(const char *name, enum demangle_mode mode)
{
	char *out;
	int opts;

	if (mode == DEMANGLE_NONE || !name || !looks_mangled(name) ||
	    strlen(name) > DEMANGLE_MAX_NAME)
		return NULL;
	opts = DMGL_AUTO | DMGL_ANSI;
	if (mode == DEMANGLE_FULL)
		opts |= DMGL_PARAMS;
	out = cplus_demangle(name, opts);
	if (out && mode == DEMANGLE_SIMPLIFIED)
		strip_template_args(out);
	if (out && (!*out || strcmp(out, name) == 0)) {
		free(out);
		out = NULL;
	}
	return out;
}

/* ---- memo ---- */

struct memo_entry {
	char *name;
	char *result; /* NULL: same as name */
	uint64_t hash;
};

struct demangler {
	enum demangle_mode mode;
	size_t max_bytes;
	size_t bytes;
	struct memo_entry *slots;
	size_t n_slots; /* power of two */
	size_t n;
};

struct demangler *demangler_new(enum demangle_mode mode, size_t max_bytes)
{
	struct demangler *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->mode = mode;
	d->max_bytes = max_bytes ? max_bytes : DEMANGLER_DEFAULT_MAX_BYTES;
	d->n_slots = 1024;
	d->slots = calloc(d->n_slots, sizeof(*d->slots));
	if (!d->slots) {
		free(d);
		return NULL;
	}
	return d;
}

static void memo_clear(struct demangler *d)
{
	for (size_t i = 0; i < d->n_slots; i++) {
		free(d->slots[i].name);
		free(d->slots[i].result);
	}
	memset(d->slots, 0, d->n_slots * sizeof(*d->slots));
	d->n = 0;
	d->bytes = 0;
}

void demangler_free(struct demangler *d)
{
	if (!d)
		return;
	memo_clear(d);
	free(d->slots);
	free(d);
}

void demangler_trim(struct demangler *d)
{
	if (d && d->bytes > d->max_bytes)
		memo_clear(d);
}

static int memo_grow(struct demangler *d)
{
	size_t n = d->n_slots * 2;
	struct memo_entry *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_slots; i++) {
		size_t j;

		if (!d->slots[i].name)
			continue;
		for (j = d->slots[i].hash & (n - 1); s[j].name; j = (j + 1) & (n - 1))
			;
		s[j] = d->slots[i];
	}
	free(d->slots);
	d->slots = s;
	d->n_slots = n;
	return 0;
}

const char *demangler_get(struct demangler *d, const char *name)
{
	uint64_t h;
	size_t j;
	char *key, *res;

	if (!d || !name || d->mode == DEMANGLE_NONE || !looks_mangled(name))
		return name;
	h = hash_bytes(HASH_INIT, name, strlen(name));
	for (j = h & (d->n_slots - 1); d->slots[j].name; j = (j + 1) & (d->n_slots - 1))
		if (d->slots[j].hash == h && strcmp(d->slots[j].name, name) == 0)
			return d->slots[j].result ? d->slots[j].result : name;

	res = demangle_name(name, d->mode);
	/* Over budget, or a full table that cannot grow: answer without remembering. */
	if (d->bytes > d->max_bytes || ((d->n + 1) * 2 > d->n_slots && memo_grow(d) < 0)) {
		free(res);
		return name; /* a result that could not be kept would dangle */
	}
	key = strdup(name);
	if (!key) {
		free(res);
		return name;
	}
	for (j = h & (d->n_slots - 1); d->slots[j].name; j = (j + 1) & (d->n_slots - 1))
		;
	d->slots[j] = (struct memo_entry){ .name = key, .result = res, .hash = h };
	d->n++;
	d->bytes += sizeof(struct memo_entry) * 2 + strlen(key) + 1 + (res ? strlen(res) + 1 : 0);
	return res ? res : key;
}
