/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JIT perf maps: the line format (hex with and without 0x, names with spaces, malformed and
 * unfinished lines skipped), later lines superseding earlier ones, overlaps cut at the next
 * start; and the per-process cache over a fake /proc written here: the map is found under
 * the process's root by its namespace pid (NSpid's last field), read again when it grows,
 * also after the process is gone (through the file held open), and replaced when another
 * file appears (pid reuse).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "jitmap.h"

static char tmp[PATH_MAX];

static int write_text(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static void test_parse(void)
{
	char path[PATH_MAX + 16];
	struct jitmap *m = NULL;
	uint64_t off = 0;

	snprintf(path, sizeof(path), "%s/perf-1.map", tmp);
	CHECK(write_text(path, "w",
			 "1000 100 first\n"
			 "0x2000 0x80 LazyCompile:*hot /app/x.js:10:3\n"
			 "3000 zz bad size\n"
			 "nonsense\n"
			 "4000 0 empty\n"
			 "1000 40 first-recompiled\n"
			 "2040 100 overlapping\n"
			 "5000 10 unfinished") == 0);
	CHECK(jitmap_load(path, &m) == 0);
	CHECK_EQ_U64(jitmap_symbols(m), 3);
	CHECK_STREQ(jitmap_lookup(m, 0x1000, &off), "first-recompiled");
	CHECK_EQ_U64(off, 0);
	CHECK(jitmap_lookup(m, 0x1040, NULL) == NULL); /* the newer range is shorter */
	CHECK_STREQ(jitmap_lookup(m, 0x203f, &off), "LazyCompile:*hot /app/x.js:10:3");
	CHECK_EQ_U64(off, 0x3f);
	CHECK_STREQ(jitmap_lookup(m, 0x2040, NULL), "overlapping");
	CHECK_STREQ(jitmap_lookup(m, 0x213f, NULL), "overlapping");
	CHECK(jitmap_lookup(m, 0x2140, NULL) == NULL);
	CHECK(jitmap_lookup(m, 0x5000, NULL) == NULL); /* no newline yet */
	CHECK(jitmap_lookup(m, 0xfff, NULL) == NULL);
	jitmap_free(m);
	CHECK(jitmap_load("/nonexistent/perf-1.map", &m) == -ENOENT);
}

static void test_cache(void)
{
	char dir[PATH_MAX + 64], path[PATH_MAX + 64];
	struct jitmaps *c;
	struct jitmaps_stats st;

	/* pid 4242 on the host is pid 7 in its namespace; its root is a directory here. */
	snprintf(dir, sizeof(dir), "%s/4242", tmp);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/4242/root", tmp);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/4242/root/tmp", tmp);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/4242/status", tmp);
	CHECK(write_text(path, "w", "Name:\tnode\nPid:\t4242\nNSpid:\t4242\t7\n") == 0);
	snprintf(path, sizeof(path), "%s/4242/root/tmp/perf-7.map", tmp);
	CHECK(write_text(path, "w", "10000 100 jsA\n") == 0);

	c = jitmaps_new(tmp, 0);
	CHECK(c != NULL);
	if (!c)
		return;
	jitmaps_begin_round(c);
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x10010), "jsA");
	CHECK(jitmaps_lookup(c, 4242, 0x20000) == NULL);
	CHECK(jitmaps_lookup(c, 999, 0x10010) == NULL); /* no such process */

	/* Grows: not seen until the next round, then read again. */
	CHECK(write_text(path, "a", "20000 100 jsB\n") == 0);
	CHECK(jitmaps_lookup(c, 4242, 0x20000) == NULL);
	jitmaps_begin_round(c);
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x20000), "jsB");
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x10000), "jsA");

	/* The process is gone (no status, no way to its root) after writing one more line: the
	 * file held open is read again. */
	CHECK(write_text(path, "a", "28000 100 jsLast\n") == 0);
	snprintf(path, sizeof(path), "%s/4242/status", tmp);
	CHECK(unlink(path) == 0);
	jitmaps_begin_round(c);
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x20000), "jsB");
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x28000), "jsLast");

	/* The pid is reused by a process in our namespace with another map. */
	CHECK(write_text(path, "w", "Name:\tjava\nNSpid:\t4242\n") == 0);
	snprintf(path, sizeof(path), "%s/4242/root/tmp/perf-4242.map", tmp);
	CHECK(write_text(path, "w", "30000 10 javaC\n") == 0);
	jitmaps_begin_round(c);
	CHECK_STREQ(jitmaps_lookup(c, 4242, 0x30000), "javaC");
	CHECK(jitmaps_lookup(c, 4242, 0x20000) == NULL);

	jitmaps_get_stats(c, &st);
	CHECK_EQ_U64(st.maps_read, 4);
	CHECK_EQ_U64(st.symbols, 1);
	CHECK(st.bytes > 0);
	jitmaps_free(c);
}

int main(void)
{
	char cmd[PATH_MAX + 16];
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/test-jitmap.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 99;
	}
	test_parse();
	test_cache();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return check_finish("test-jitmap");
}
