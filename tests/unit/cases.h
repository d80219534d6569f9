/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-driven suites: every NAME.json of $top_srcdir/tests/data/SUBDIR, in name order, is one
 * case given to a callback (the directory and NAME, without .json). Include after check.h.
 */
#ifndef PA_TESTS_CASES_H
#define PA_TESTS_CASES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns 1 when the case passes. */
typedef int case_fn(const char *dir, const char *name, void *ctx);

/* Runs every case of tests/data/<subdir>; returns how many there were. */
static int cases_run(const char *subdir, case_fn *fn, void *ctx)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	struct dirent **list;
	int n, cases = 0;

	snprintf(dir, sizeof(dir), "%s/tests/data/%s", top ? top : ".", subdir);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: cannot read\n", dir);
		CHECK(0);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);

		if (len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0) {
			list[i]->d_name[len - 5] = '\0';
			CHECK(fn(dir, list[i]->d_name, ctx));
			cases++;
		}
		free(list[i]);
	}
	free(list);
	printf("%s: %d cases\n", subdir, cases);
	return cases;
}

#endif
