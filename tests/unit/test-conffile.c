/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration file, table-driven (tests/data/config/): every valid/NAME.json is loaded
 * against a small option table and the setters' calls, then the sections, must read as
 * valid/NAME.out; every invalid/NAME.json must be refused with the message in
 * invalid/NAME.err (file:line:column: key: why). The case "cli-overrides" gives
 * --frequency and --cgroup on the command line: the file's keys for them are skipped.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cases.h"
#include "conffile.h"
#include "log.h"
#include "util.h"

static char applied[8192];

static void record(const char *name, const char *v)
{
	size_t n = strlen(applied);

	snprintf(applied + n, sizeof(applied) - n, v ? "%s=%s\n" : "%s\n", name, v);
}

static int set_frequency(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 1, 100000, &x) < 0) {
		log_error("--frequency %s: expected 1 to 100000", v);
		return -EINVAL;
	}
	record("frequency", v);
	return 0;
}

static int set_cgroup(void *ctx, const char *v)
{
	if (v[0] != '/') {
		log_error("--cgroup %s: expected an absolute path", v);
		return -EINVAL;
	}
	record("cgroup", v);
	return 0;
}

#define SETTER(fn, name)                                                                           \
	static int fn(void *ctx, const char *v)                                                    \
	{                                                                                          \
		record(name, v);                                                                   \
		return 0;                                                                          \
	}
SETTER(set_interval, "interval")
SETTER(set_output_dir, "output-dir")
SETTER(set_markers, "unwind-markers")
SETTER(set_check, "check-perf")
SETTER(set_label, "label")
SETTER(set_help, "help")

static const struct opt_def defs[] = {
	{"frequency", 'F', OPT_NUMBER, false, false, set_frequency, "HZ"},
	{"interval", 'i', OPT_NUMBER, false, false, set_interval, "S"},
	{"output-dir", 'o', OPT_STRING, false, false, set_output_dir, "DIR"},
	{"unwind-markers", 0, OPT_FLAG, false, false, set_markers, NULL},
	{"check-perf", 0, OPT_FLAG, false, false, set_check, NULL},
	{"cgroup", 0, OPT_STRING, true, false, set_cgroup, "DIR"},
	{"label", 0, OPT_STRING, true, false, set_label, "K=V"},
	{"help", 'h', OPT_FLAG, false, true, set_help, NULL},
};

static void read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Loads and applies path with stderr captured into err; returns the result. */
static int load(const char *name, const char *path, char *err, size_t err_size,
		struct conffile **ret)
{
	char a0[] = "t", a1[] = "--frequency", a2[] = "50", a3[] = "--cgroup", a4[] = "/cli";
	char *argv_cli[] = {a0, a1, a2, a3, a4, NULL};
	char *argv_none[] = {a0, NULL};
	bool cli = strcmp(name, "cli-overrides") == 0;
	struct opt_parse p;
	FILE *tmp = tmpfile();
	int saved = dup(2), r;

	fflush(stderr);
	dup2(fileno(tmp), 2);
	r = opt_parse_argv(defs, ARRAY_SIZE(defs), cli ? 5 : 1, cli ? argv_cli : argv_none, &p);
	if (r >= 0)
		r = conffile_load(path, defs, ARRAY_SIZE(defs), ret);
	if (r >= 0) {
		r = conffile_apply_options(*ret, defs, ARRAY_SIZE(defs), &p, NULL);
		if (r < 0) {
			conffile_free(*ret);
			*ret = NULL;
		}
	}
	opt_parse_done(&p);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	err[fread(err, 1, err_size - 1, tmp)] = '\0';
	fclose(tmp);
	return r;
}

static const char *const kinds[] = {"cgroup", "executable", "comm"};

static int run(const char *dir, const char *name, bool valid)
{
	char path[8192], want_path[8192], want[8192], err[8192];
	struct conffile *cf = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	snprintf(want_path, sizeof(want_path), "%s/%s.%s", dir, name, valid ? "out" : "err");
	read_text(want_path, want, sizeof(want));
	applied[0] = '\0';
	r = load(name, path, err, sizeof(err), &cf);
	if (!valid) {
		want[strcspn(want, "\n")] = '\0';
		if (r != -EINVAL || !strstr(err, want)) {
			fprintf(stderr, "invalid/%s: r=%d, got:\n%s  want: %s\n", name, r, err,
				want);
			conffile_free(cf);
			return 0;
		}
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "valid/%s: refused: %s", name, err);
		return 0;
	}
	for (size_t i = 0; i < cf->n_targets; i++) {
		size_t n = strlen(applied);

		snprintf(applied + n, sizeof(applied) - n, "target %s=%s\n",
			 kinds[cf->targets[i].kind], cf->targets[i].value);
	}
	for (size_t i = 0; i < cf->labels.n; i++) {
		size_t n = strlen(applied);

		snprintf(applied + n, sizeof(applied) - n, "label %s=%s\n", cf->labels.v[i].name,
			 cf->labels.v[i].value);
	}
	if (cf->relabel) {
		size_t n = strlen(applied);

		snprintf(applied + n, sizeof(applied) - n, "relabel rules=%zu\n",
			 relabel_rules_count(cf->relabel));
	}
	conffile_free(cf);
	if (strcmp(applied, want) != 0) {
		fprintf(stderr, "valid/%s: got:\n%s--- want:\n%s---\n", name, applied, want);
		return 0;
	}
	return 1;
}

static int run_valid(const char *dir, const char *name, void *ctx)
{
	return run(dir, name, true);
}

static int run_invalid(const char *dir, const char *name, void *ctx)
{
	return run(dir, name, false);
}

int main(void)
{
	CHECK(cases_run("config/valid", run_valid, NULL) >= 6);
	CHECK(cases_run("config/invalid", run_invalid, NULL) >= 20);
	return check_finish("test-conffile");
}
