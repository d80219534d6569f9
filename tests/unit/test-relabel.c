/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Relabel conformance, table-driven: every tests/data/relabel/valid/NAME.json holds rules,
 * an input label set and the expected output (null: dropped); every invalid/NAME.json holds
 * rules and the exact error (or its prefix, for messages that quote PCRE2) with the path of
 * the offending element.
 */
#include "config.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cases.h"
#include "labels.h"
#include "relabel.h"

static json_t *load_case(const char *dir, const char *name, char *path, size_t size,
			 json_error_t *je)
{
	snprintf(path, size, "%s/%s.json", dir, name);
	return json_load_file(path, 0, je);
}

static void set_from_json(struct labelset *ls, const json_t *o)
{
	const char *k;
	json_t *v;

	labelset_init(ls);
	json_object_foreach((json_t *)o, k, v) {
		labelset_set(ls, k, json_string_value(v));
	}
}

static int run_valid(const char *dir, const char *name, void *ctx)
{
	char path[8192];
	json_error_t je;
	json_t *c = load_case(dir, name, path, sizeof(path), &je);
	struct relabel_rules *rules = NULL;
	struct labelset in, want;
	char err[512], epath[64], got_s[4096], want_s[4096];
	int r, ok = 1;

	if (!c) {
		fprintf(stderr, "%s: %s\n", path, je.text);
		return 0;
	}
	r = relabel_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err), epath,
				    sizeof(epath));
	if (r < 0) {
		fprintf(stderr, "valid/%s: rules rejected: %s: %s\n", name, epath, err);
		json_decref(c);
		return 0;
	}
	set_from_json(&in, json_object_get(c, "input"));
	r = relabel_apply(rules, &in);
	if (json_is_null(json_object_get(c, "output"))) {
		if (r != 0) {
			labelset_format(&in, got_s, sizeof(got_s));
			fprintf(stderr, "valid/%s: expected dropped, got %s\n", name, got_s);
			ok = 0;
		}
	} else {
		set_from_json(&want, json_object_get(c, "output"));
		if (r != 1 || !labelset_equal(&in, &want)) {
			labelset_format(&in, got_s, sizeof(got_s));
			labelset_format(&want, want_s, sizeof(want_s));
			fprintf(stderr, "valid/%s: got %s%s, want %s\n", name,
				r == 0 ? "(dropped) " : "", got_s, want_s);
			ok = 0;
		}
		labelset_done(&want);
	}
	labelset_done(&in);
	relabel_rules_free(rules);
	json_decref(c);
	return ok;
}

static int run_invalid(const char *dir, const char *name, void *ctx)
{
	char path[8192];
	json_error_t je;
	json_t *c = load_case(dir, name, path, sizeof(path), &je);
	struct relabel_rules *rules = NULL;
	char err[512] = "", epath[64] = "";
	const char *want, *prefix, *want_path;
	int r, ok = 1;

	if (!c)
		return 0;
	r = relabel_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err), epath,
				    sizeof(epath));
	want = json_string_value(json_object_get(c, "error"));
	prefix = json_string_value(json_object_get(c, "error_prefix"));
	want_path = json_string_value(json_object_get(c, "error_path"));
	if (r != -22) {
		fprintf(stderr, "invalid/%s: accepted (r=%d)\n", name, r);
		relabel_rules_free(rules);
		ok = 0;
	} else if ((want && strcmp(err, want) != 0) ||
		   (prefix && strncmp(err, prefix, strlen(prefix)) != 0) ||
		   (want_path && strcmp(epath, want_path) != 0)) {
		fprintf(stderr, "invalid/%s: got \"%s\" at %s, want \"%s\" at %s\n", name, err,
			epath, want ? want : prefix, want_path ? want_path : "?");
		ok = 0;
	}
	json_decref(c);
	return ok;
}

int main(void)
{
	CHECK(cases_run("relabel/valid", run_valid, NULL) >= 40);
	CHECK(cases_run("relabel/invalid", run_invalid, NULL) >= 15);
	return check_finish("test-relabel");
}
