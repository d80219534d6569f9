/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file exporter: one gzip pprof file per window. A reader never sees a partial file:
 * each is written to a temporary name in the same directory, synced and renamed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "export.h"
#include "log.h"
#include "util.h"

struct file_exporter {
	char dir[PATH_MAX];
};

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
	if (snprintf(path, sizeof(path), "%s/perfagent-%s-%06" PRIu64 ".pb.gz", fe->dir, stamp,
		     m->seq) >= (int)sizeof(path))
		return log_error_errno(-ENAMETOOLONG, "output path in %s: %m", fe->dir);
	r = write_file_atomic(path, profile, len);
	if (r < 0)
		return log_error_errno(r, "write %s: %m", path);
	snprintf(ret_where, where_size, "%s", path);
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

int export_file_new(const char *dir, struct exporter *ret)
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
	*ret = (struct exporter){ .ops = &file_ops, .ctx = fe };
	return 0;
}
