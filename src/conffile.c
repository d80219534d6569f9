/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration file loading. jansson parses (rejecting duplicate keys); a small scanner
 * walks the same text to record the line and column where each key path starts, so type
 * and value errors found on the json_t tree can be reported at their place in the file.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "log.h"
#include "util.h"

#define CONF_MAX_BYTES (4u << 20)
#define PATH_BYTES 512

/* Position index: one entry per object member and array element, in document order. */
struct jpos {
	char path[PATH_BYTES];
	int line, col; /* of the key (members) or of the value (array elements) */
};

struct jpos_index {
	struct jpos *v;
	size_t n, cap;
};

struct scanner {
	const char *s, *end;
	int line, col;
	struct jpos_index *idx;
	int depth;
};

static void sc_adv(struct scanner *sc)
{
	if (sc->s >= sc->end)
		return;
	if (*sc->s == '\n') {
		sc->line++;
		sc->col = 1;
	} else if (((unsigned char)*sc->s & 0xc0) != 0x80) {
		sc->col++; /* columns count characters, as jansson's do */
	}
	sc->s++;
}

static void sc_ws(struct scanner *sc)
{
	while (sc->s < sc->end &&
	       (*sc->s == ' ' || *sc->s == '\t' || *sc->s == '\n' || *sc->s == '\r'))
		sc_adv(sc);
}

static void idx_add(struct scanner *sc, const char *path, int line, int col)
{
	struct jpos_index *x = sc->idx;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct jpos *v = realloc(x->v, cap * sizeof(*v));

		if (!v)
			return;
		x->v = v;
		x->cap = cap;
	}
	snprintf(x->v[x->n].path, PATH_BYTES, "%s", path);
	x->v[x->n].line = line;
	x->v[x->n].col = col;
	x->n++;
}

/* A JSON string into out (escapes decoded; \u kept only for ASCII). false when malformed. */
static bool sc_string(struct scanner *sc, char *out, size_t size)
{
	size_t n = 0;

	if (sc->s >= sc->end || *sc->s != '"')
		return false;
	sc_adv(sc);
	while (sc->s < sc->end && *sc->s != '"') {
		char c = *sc->s;

		if (c == '\\') {
			sc_adv(sc);
			if (sc->s >= sc->end)
				return false;
			c = *sc->s;
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				unsigned v = 0;

				for (int i = 0; i < 4; i++) {
					sc_adv(sc);
					if (sc->s >= sc->end)
						return false;
					v = v * 16 + (unsigned)(*sc->s >= 'a'	? *sc->s - 'a' + 10
								: *sc->s >= 'A' ? *sc->s - 'A' + 10
										: *sc->s - '0');
				}
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			default:
				break; /* \" \\ \/ */
			}
		}
		if (n + 1 < size)
			out[n++] = c;
		sc_adv(sc);
	}
	if (sc->s >= sc->end)
		return false;
	sc_adv(sc);
	out[n] = '\0';
	return true;
}

static bool sc_value(struct scanner *sc, const char *path);

/* Consumes c when it comes next. */
static bool sc_take(struct scanner *sc, char c)
{
	if (sc->s >= sc->end || *sc->s != c)
		return false;
	sc_adv(sc);
	return true;
}

/* After a member or an element: 1 when another follows (','), 0 at close, -1 otherwise. */
static int sc_next(struct scanner *sc, char close)
{
	sc_ws(sc);
	if (sc_take(sc, ','))
		return 1;
	return sc_take(sc, close) ? 0 : -1;
}

static bool sc_object(struct scanner *sc, const char *path)
{
	int r;

	sc_adv(sc); /* { */
	sc_ws(sc);
	if (sc_take(sc, '}'))
		return true;
	do {
		char key[256], sub[PATH_BYTES];
		int line, col;

		sc_ws(sc);
		line = sc->line;
		col = sc->col;
		if (!sc_string(sc, key, sizeof(key)))
			return false;
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
		idx_add(sc, sub, line, col);
		sc_ws(sc);
		if (!sc_take(sc, ':') || !sc_value(sc, sub))
			return false;
	} while ((r = sc_next(sc, '}')) > 0);
	return r == 0;
}

static bool sc_array(struct scanner *sc, const char *path)
{
	size_t i = 0;
	int r;

	sc_adv(sc); /* [ */
	sc_ws(sc);
	if (sc_take(sc, ']'))
		return true;
	do {
		char sub[PATH_BYTES];

		sc_ws(sc);
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i++);
		idx_add(sc, sub, sc->line, sc->col);
		if (!sc_value(sc, sub))
			return false;
	} while ((r = sc_next(sc, ']')) > 0);
	return r == 0;
}

static bool sc_value(struct scanner *sc, const char *path)
{
	bool ok;

	sc_ws(sc);
	if (sc->s >= sc->end || ++sc->depth > 64)
		return false;
	switch (*sc->s) {
	case '{':
		ok = sc_object(sc, path);
		break;
	case '[':
		ok = sc_array(sc, path);
		break;
	case '"': {
		char *buf = malloc(CONF_MAX_BYTES);

		ok = buf && sc_string(sc, buf, CONF_MAX_BYTES);
		free(buf);
		break;
	}
	default:
		/* number or literal: up to a delimiter */
		ok = false;
		while (sc->s < sc->end && !strchr(",]} \t\r\n", *sc->s)) {
			sc_adv(sc);
			ok = true;
		}
		break;
	}
	sc->depth--;
	return ok;
}

static void index_build(const char *text, size_t len, struct jpos_index *idx)
{
	struct scanner sc = {.s = text, .end = text + len, .line = 1, .col = 1, .idx = idx};

	(void)sc_value(&sc, "");
}

static const struct jpos *index_find(const struct jpos_index *idx, const char *path)
{
	for (size_t i = 0; idx && i < idx->n; i++)
		if (strcmp(idx->v[i].path, path) == 0)
			return &idx->v[i];
	return NULL;
}

/* The last key that starts at or before (line, col): what was being read at an error. */
static const struct jpos *index_before(const struct jpos_index *idx, int line, int col)
{
	const struct jpos *best = NULL;

	for (size_t i = 0; i < idx->n; i++)
		if (idx->v[i].line < line || (idx->v[i].line == line && idx->v[i].col <= col))
			best = &idx->v[i];
	return best;
}

#define conf_error(cf, kp_, ...) conf_error_at((cf)->path, (cf)->pos, (kp_), __VA_ARGS__)

static int conf_error_at(const char *file, const struct jpos_index *idx, const char *keypath,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int conf_error_at(const char *file, const struct jpos_index *idx, const char *keypath,
			 const char *fmt, ...)
{
	const struct jpos *p = index_find(idx, keypath);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%d:%d: %s: %s", file, p ? p->line : 1, p ? p->col : 1, keypath, msg);
	return -EINVAL;
}

static const char *kind_name(enum opt_kind k)
{
	return k == OPT_FLAG ? "a boolean" : k == OPT_NUMBER ? "an integer" : "a string";
}

static bool value_fits(const json_t *v, enum opt_kind k)
{
	return k == OPT_FLAG	 ? json_is_boolean(v)
	       : k == OPT_NUMBER ? json_is_integer(v)
				 : json_is_string(v);
}

static int load_targets(struct conffile *cf, const json_t *arr)
{
	size_t i;
	json_t *e;
	char path[64];

	if (!json_is_array(arr))
		return conf_error(cf, "targets", "expected an array of target rules");
	cf->targets = calloc(json_array_size(arr) + 1, sizeof(*cf->targets));
	if (!cf->targets)
		return -ENOMEM;
	json_array_foreach(arr, i, e)
	{
		static const char *const kinds[] = {"cgroup", "executable", "comm"};
		const char *key;
		json_t *v;
		int n = 0;

		snprintf(path, sizeof(path), "targets[%zu]", i);
		if (!json_is_object(e))
			return conf_error(cf, path,
					  "expected an object such as {\"cgroup\": PATH}");
		json_object_foreach(e, key, v)
		{
			size_t k;
			char kp[128];

			snprintf(kp, sizeof(kp), "%s.%s", path, key);
			for (k = 0; k < ARRAY_SIZE(kinds); k++)
				if (strcmp(key, kinds[k]) == 0)
					break;
			if (k == ARRAY_SIZE(kinds))
				return conf_error(cf, kp,
						  "unknown target key (expected cgroup, "
						  "executable or comm)");
			if (!json_is_string(v) || !json_string_value(v)[0])
				return conf_error(cf, kp, "expected a non-empty string");
			if (++n > 1)
				return conf_error(cf, kp,
						  "one key per target rule (rules are "
						  "alternatives: write one object each)");
			if (k == TARGET_CGROUP && json_string_value(v)[0] != '/')
				return conf_error(cf, kp,
						  "expected an absolute cgroup directory such "
						  "as /sys/fs/cgroup/system.slice/x.service");
			cf->targets[cf->n_targets].kind = (enum target_kind)k;
			cf->targets[cf->n_targets].value = strdup(json_string_value(v));
			cf->n_targets++;
		}
		if (n == 0)
			return conf_error(cf, path, "empty target rule");
	}
	return 0;
}

static int load_labels(struct conffile *cf, const json_t *o)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return conf_error(cf, "labels", "expected an object of label names to values");
	json_object_foreach((json_t *)o, key, v)
	{
		char kp[320];

		snprintf(kp, sizeof(kp), "labels.%s", key);
		if (!label_name_valid(key) || (key[0] == '_' && key[1] == '_'))
			return conf_error(cf, kp,
					  "invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*, "
					  "not starting with __)");
		if (!json_is_string(v))
			return conf_error(cf, kp, "expected a string value");
		if (labelset_set(&cf->labels, key, json_string_value(v)) < 0)
			return conf_error(cf, kp, "too many or too long labels");
	}
	return 0;
}

int conffile_load(const char *path, const struct opt_def *defs, size_t n_defs,
		  struct conffile **ret)
{
	struct conffile *cf = calloc(1, sizeof(*cf));
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	if (!cf)
		return -ENOMEM;
	cf->path = strdup(path);
	cf->pos = calloc(1, sizeof(*cf->pos));
	labelset_init(&cf->labels);
	if (!cf->path || !cf->pos) {
		conffile_free(cf);
		return -ENOMEM;
	}
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		conffile_free(cf);
		return log_error_errno(r, "read the configuration file %s: %m", path);
	}
	text = malloc(CONF_MAX_BYTES + 1);
	if (text)
		len = fread(text, 1, CONF_MAX_BYTES + 1, f);
	fclose(f);
	if (!text || len > CONF_MAX_BYTES) {
		free(text);
		conffile_free(cf);
		return log_error_errno(-EFBIG, "configuration file %s: larger than %u bytes", path,
				       CONF_MAX_BYTES);
	}
	index_build(text, len, cf->pos);

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		const struct jpos *at = index_before(cf->pos, jerr.line, jerr.column);

		/*
		 * Name the key being read. A duplicate is reported where its key starts (jansson
		 * points past it); a syntax error where jansson stopped.
		 */
		if (at && strncmp(jerr.text, "duplicate object key", 20) == 0)
			log_error("%s:%d:%d: %s: duplicate object key (a key may appear once)",
				  path, at->line, at->col, at->path);
		else
			log_error("%s:%d:%d: %s: %s", path, jerr.line, jerr.column,
				  at ? at->path : "(top level)", jerr.text);
		free(text);
		conffile_free(cf);
		return -EINVAL;
	}
	free(text);
	cf->root = root;
	if (!json_is_object(root)) {
		log_error("%s:1:1: (top level): expected a JSON object of option names", path);
		conffile_free(cf);
		return -EINVAL;
	}
	json_object_foreach(root, key, v)
	{
		const struct opt_def *d;

		if (strcmp(key, "targets") == 0) {
			r = load_targets(cf, v);
		} else if (strcmp(key, "labels") == 0) {
			r = load_labels(cf, v);
		} else if (strcmp(key, "relabel_configs") == 0) {
			char err[512], epath[128], kp[160];

			r = relabel_rules_from_json(v, &cf->relabel, err, sizeof(err), epath,
						    sizeof(epath));
			if (r == -EINVAL) {
				snprintf(kp, sizeof(kp), "relabel_configs%s", epath);
				/* The field may be absent (a missing target_label): name the rule.
				 */
				if (!index_find(cf->pos, kp))
					snprintf(kp, sizeof(kp), "relabel_configs%.*s",
						 (int)strcspn(epath, "."), epath);
				r = conf_error(cf, kp, "%s", err);
			}
		} else if (!(d = opt_find(defs, n_defs, key)) || d->cli_only) {
			r = conf_error(cf, key,
				       "unknown key (expected a long option name such as "
				       "\"frequency\", or targets, labels, relabel_configs)");
		} else if (json_is_array(v)) {
			size_t i;
			json_t *e;

			if (!d->repeatable)
				r = conf_error(cf, key,
					       "expected %s, not an array (--%s is given once)",
					       kind_name(d->kind), d->name);
			json_array_foreach(v, i, e)
			{
				char kp[320];

				snprintf(kp, sizeof(kp), "%s[%zu]", key, i);
				if (r >= 0 && !value_fits(e, d->kind))
					r = conf_error(cf, kp, "expected %s", kind_name(d->kind));
			}
		} else if (!value_fits(v, d->kind)) {
			r = conf_error(cf, key, "expected %s%s", kind_name(d->kind),
				       d->repeatable ? " or an array of them" : "");
		}
		if (r < 0) {
			conffile_free(cf);
			return r;
		}
	}
	*ret = cf;
	return 0;
}

static int apply_value(const struct conffile *cf, const struct opt_def *d, const json_t *v,
		       const char *kp, void *ctx)
{
	char num[32];
	int r;

	if (d->kind == OPT_FLAG) {
		if (!json_is_true(v))
			return 0;
		r = d->set(ctx, NULL);
	} else if (d->kind == OPT_NUMBER) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		r = d->set(ctx, num);
	} else {
		r = d->set(ctx, json_string_value(v));
	}
	if (r < 0)
		return conf_error(cf, kp, "invalid value (see the message above)");
	return r;
}

int conffile_apply_options(const struct conffile *cf, const struct opt_def *defs, size_t n_defs,
			   const struct opt_parse *cli, void *ctx)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)cf->root, key, v)
	{
		const struct opt_def *d = opt_find(defs, n_defs, key);
		int r = 0;

		if (!d || d->cli_only || opt_given(cli, d))
			continue;
		if (json_is_array(v)) {
			size_t i;
			json_t *e;

			json_array_foreach(v, i, e)
			{
				char kp[320];

				snprintf(kp, sizeof(kp), "%s[%zu]", key, i);
				r = apply_value(cf, d, e, kp, ctx);
				if (r != 0)
					break;
			}
		} else {
			r = apply_value(cf, d, v, key, ctx);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

void conffile_free(struct conffile *cf)
{
	if (!cf)
		return;
	free(cf->path);
	if (cf->pos)
		free(cf->pos->v);
	free(cf->pos);
	json_decref(cf->root);
	labelset_done(&cf->labels);
	relabel_rules_free(cf->relabel);
	for (size_t i = 0; i < cf->n_targets; i++)
		free(cf->targets[i].value);
	free(cf->targets);
	free(cf);
}
