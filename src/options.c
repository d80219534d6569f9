/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The option table behind getopt_long: long options get values above 255 (their index in
 * the table plus 256), short letters map back through the table.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

int opt_parse_argv(const struct opt_def *defs, size_t n_defs, int argc, char **argv,
		   struct opt_parse *ret)
{
	struct option *longopts = calloc(n_defs + 1, sizeof(*longopts));
	char shorts[256] = "+";
	size_t ns = 1;
	int c, r = 0;

	*ret = (struct opt_parse){.v = calloc((size_t)argc + 1, sizeof(*ret->v))};
	if (!longopts || !ret->v) {
		free(longopts);
		free(ret->v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_defs; i++) {
		longopts[i] = (struct option){
			.name = defs[i].name,
			.has_arg = defs[i].kind == OPT_FLAG ? no_argument : required_argument,
			.val = (int)i + 256,
		};
		if (defs[i].short_name && ns + 3 < sizeof(shorts)) {
			shorts[ns++] = (char)defs[i].short_name;
			if (defs[i].kind != OPT_FLAG)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) >= 0) {
		const struct opt_def *d = NULL;

		if (c >= 256) {
			d = &defs[c - 256];
		} else {
			for (size_t i = 0; i < n_defs && !d; i++)
				if (defs[i].short_name == c)
					d = &defs[i];
		}
		if (!d) {
			fprintf(stderr, "Try 'perfagent --help'.\n");
			r = -EINVAL;
			break;
		}
		ret->v[ret->n++] = (struct opt_occurrence){
			.def = d,
			.value = d->kind == OPT_FLAG ? NULL : optarg,
		};
	}
	free(longopts);
	ret->first_arg = optind;
	if (r < 0)
		opt_parse_done(ret);
	return r;
}

void opt_parse_done(struct opt_parse *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

bool opt_given(const struct opt_parse *p, const struct opt_def *def)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (p->v[i].def == def)
			return true;
	return false;
}

const char *opt_value(const struct opt_parse *p, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].def->name, name) == 0)
			v = p->v[i].value;
	return v;
}

int opt_apply(const struct opt_parse *p, void *ctx)
{
	for (size_t i = 0; i < p->n; i++) {
		int r = p->v[i].def->set(ctx, p->v[i].value);

		if (r != 0)
			return r;
	}
	return 0;
}

const struct opt_def *opt_find(const struct opt_def *defs, size_t n_defs, const char *name)
{
	for (size_t i = 0; i < n_defs; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}
