/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays a corpus through a fuzz target's LLVMFuzzerTestOneInput() without libFuzzer: the
 * unit test that runs the committed corpora (unwind/fuzz/corpus-*) on every build, with
 * whatever compiler and sanitizers the build uses, so that the fuzz entry points and the
 * regression inputs they found keep working.
 *
 * Usage: replay-<target> [FILE|DIR]...; without arguments, the target's committed corpus,
 * $top_srcdir/FUZZ_CORPUS (the test harness exports top_srcdir). A target's invariant
 * violation aborts, which fails the test. Exits 99 when a corpus cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-common.h"

#ifndef FUZZ_CORPUS
#error "FUZZ_CORPUS: the corpus directory, relative to the source tree"
#endif

/* Defined by the targets that need start-up work. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Inputs larger than this are not corpus entries (the committed ones are a few KiB). */
#define MAX_INPUT_BYTES (16u << 20)

static int replay_file(const char *path, unsigned *count)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf = NULL;
	struct stat st;
	size_t n = 0;
	int r = 0;

	if (!f || fstat(fileno(f), &st) < 0) {
		r = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (st.st_size > MAX_INPUT_BYTES) {
		r = -EFBIG;
		fprintf(stderr, "%s: larger than %u bytes\n", path, MAX_INPUT_BYTES);
		goto out;
	}
	/* The exact size, as libFuzzer passes it: a read past the end stays visible to ASan. */
	if (st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
		n = fread(buf, 1, (size_t)st.st_size, f);
	}
	LLVMFuzzerTestOneInput(buf, n);
	(*count)++;
out:
	free(buf);
	if (f)
		fclose(f);
	return r;
}

static int replay_path(const char *path, unsigned *count)
{
	struct dirent **names;
	struct stat st;
	int n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, count);
	/* Sorted: the same order on every machine. */
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];

		if (names[i]->d_name[0] != '.' && r == 0) {
			snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
			r = replay_path(sub, count);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("top_srcdir");
	unsigned count = 0;
	char def[4096];

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay_path(argv[i], &count) < 0)
				return 99;
	} else {
		snprintf(def, sizeof(def), "%s/%s", srcdir ? srcdir : FUZZ_SRCDIR, FUZZ_CORPUS);
		if (replay_path(def, &count) < 0)
			return 99;
	}
	printf("%s: %u inputs replayed\n", argv[0], count);
	/* An empty corpus means a broken checkout, not a pass. */
	return count ? 0 : 99;
}
