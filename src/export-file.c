/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file exporter: one gzip pprof file per series per window. A reader never sees a partial file:
 * each is written to a temporary name in the same directory, synced and renamed.
 *
 * Retention: after each window the directory's own files (perfagent-*.pb.gz; nothing else is
 * touched) are listed, and the oldest removed while the total exceeds the byte cap or while
 * they are older than the age cap. Names sort by window start, so the listing is the order.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "export.h"
#include "log.h"
#include "util.h"

#define RETENTION_MAX_FILES 1000000

struct file_exporter {
	char dir[PATH_MAX];
	uint64_t max_bytes, max_age_s;
	uint64_t removed;
};

struct kept_file {
	char name[64];
	uint64_t bytes;
	time_t mtime;
};

static int kept_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kept_file *)a)->name, ((const struct kept_file *)b)->name);
}

static bool is_profile_name(const char *n)
{
	size_t len = strlen(n);

	return strncmp(n, "perfagent-", 10) == 0 && len > 6 && len < 64 &&
	       strcmp(n + len - 6, ".pb.gz") == 0;
}

/* Applies the caps; the newest file (the one just written) always stays. */
static void file_retention(struct file_exporter *fe)
{
	struct kept_file *files = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d = opendir(fe->dir);

	if (!d)
		return;
	while ((de = readdir(d)) && n < RETENTION_MAX_FILES) {
		struct stat st;

		if (!is_profile_name(de->d_name) || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct kept_file *nf = realloc(files, (cap = cap ? cap * 2 : 256) * sizeof(*nf));

			if (!nf)
				break;
			files = nf;
		}
		snprintf(files[n].name, sizeof(files[n].name), "%s", de->d_name);
		files[n].bytes = (uint64_t)st.st_size;
		files[n].mtime = st.st_mtime;
		total += files[n].bytes;
		n++;
	}
	qsort(files, n, sizeof(*files), kept_cmp);
	for (size_t i = 0; i + 1 < n; i++) {
		bool too_big = fe->max_bytes && total > fe->max_bytes;
		bool too_old = fe->max_age_s && now - files[i].mtime > (time_t)fe->max_age_s;

		if (!too_big && !too_old)
			break;
		if (unlinkat(dirfd(d), files[i].name, 0) == 0) {
			fe->removed++;
			log_debug("file exporter: removed %s/%s (%s)", fe->dir, files[i].name,
				  too_big ? "--output-max-bytes" : "--output-max-age");
		}
		total -= files[i].bytes;
	}
	closedir(d);
	free(files);
}

static int file_send(void *ctx, const uint8_t *profile, size_t len, const struct export_meta *m,
		     char *ret_where, size_t where_size)
{
	struct file_exporter *fe = ctx;
	char path[PATH_MAX], stamp[32];
	time_t t = (time_t)(m->start_real_ns / NSEC_PER_SEC);
	struct tm tm;
	int r;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (snprintf(path, sizeof(path), "%s/perfagent-%s-%06" PRIu64 "-%08" PRIx64 ".pb.gz",
		     fe->dir, stamp, m->seq, m->labels_hash & 0xffffffffu) >= (int)sizeof(path))
		return log_error_errno(-ENAMETOOLONG, "output path in %s: %m", fe->dir);
	r = write_file_atomic(path, profile, len);
	if (r < 0)
		return log_error_errno(r, "write %s: %m", path);
	snprintf(ret_where, where_size, "%s", path);
	if (fe->max_bytes || fe->max_age_s)
		file_retention(fe);
	return 0;
}

static void file_free(void *ctx)
{
	free(ctx);
}

static const struct exporter_ops file_ops = {
	.name = "file",
	.send = file_send,
	.free = file_free,
};

int export_file_new(const char *dir, const struct export_options *o, struct exporter *ret)
{
	struct file_exporter *fe;
	struct stat st;
	int r;

	r = mkdir_parents(dir, 0755);
	if (r < 0)
		return log_error_errno(r, "create output directory %s: %m", dir);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return log_error_errno(-ENOTDIR, "output directory %s: %m", dir);
	if (access(dir, W_OK) < 0)
		return log_error_errno(-errno, "output directory %s is not writable: %m", dir);
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	snprintf(fe->dir, sizeof(fe->dir), "%s", dir);
	fe->max_bytes = o->file_max_bytes;
	fe->max_age_s = o->file_max_age_s;
	*ret = (struct exporter){ .ops = &file_ops, .ctx = fe };
	return 0;
}
