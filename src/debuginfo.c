/* SPDX-License-Identifier: Apache-2.0 */
/*
 * debuginfo: candidate paths for a binary's separate debug file (see debuginfo.h).
 *
 * Candidates are probed with access(R_OK) and, for .gnu_debuglink ones, by reading the whole
 * candidate to compare CRC-32s (zlib's crc32 is the same IEEE polynomial GNU's linker and
 * objcopy use). That read is the only expensive step, and it happens once per binary: the
 * symbol and CFI caches remember what they built.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "debuginfo.h"
#include "util.h"

#define CRC_CHUNK_BYTES (1u << 20)

static bool nonempty(const char *s)
{
	return s && *s;
}

/* A readable regular file: directories and FIFOs at a candidate path do not count. */
static bool usable(const char *path)
{
	struct stat st;

	return access(path, R_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int fmt(char *buf, size_t size, const char *f1, const char *f2, const char *f3,
	       const char *f4, const char *f5)
{
	int n = snprintf(buf, size, "%s%s%s%s%s", f1, f2, f3, f4, f5);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int debuginfo_file_crc32(const char *path, uint32_t *ret_crc)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ unsigned char *buf = NULL;
	uLong crc = crc32(0, Z_NULL, 0);
	off_t off = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = malloc(CRC_CHUNK_BYTES);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, CRC_CHUNK_BYTES, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	*ret_crc = (uint32_t)crc;
	return 0;
}

/* A debuglink candidate counts when it is readable and its CRC-32 is the recorded one. */
static bool debuglink_ok(const char *path, uint32_t want)
{
	uint32_t crc;

	return usable(path) && debuginfo_file_crc32(path, &crc) == 0 && crc == want;
}

static int by_build_id(const struct debuginfo_config *c, const struct debuginfo_query *q,
		       char *buf, size_t size)
{
	const char *id = q->build_id, *root = q->root ? q->root : "";
	char head[3], rest[160];
	int r;

	/* Shorter ids are not hashes: looking them up could only find the wrong file. */
	if (!nonempty(id) || strlen(id) < 4 || strlen(id) >= sizeof(rest) + 2)
		return 0;
	memcpy(head, id, 2);
	head[2] = '\0';
	snprintf(rest, sizeof(rest), "%s.debug", id + 2);

	r = fmt(buf, size, root, "/usr/lib/debug/.build-id/", head, "/", rest);
	if (r < 0)
		return r;
	if (usable(buf))
		return 1;
	for (size_t i = 0; c && i < c->n_dirs; i++) {
		r = fmt(buf, size, c->dirs[i], "/.build-id/", head, "/", rest);
		if (r < 0)
			return r;
		if (usable(buf))
			return 1;
	}
	return 0;
}

static int by_debuglink(const struct debuginfo_config *c, const struct debuginfo_query *q,
			char *buf, size_t size)
{
	const char *root = q->root ? q->root : "", *inner, *slash;
	char dir[4096], inner_dir[4096];
	size_t rootlen = strlen(root);
	int r;

	if (!nonempty(q->debuglink) || strchr(q->debuglink, '/') || !q->path)
		return 0;
	/* The binary's directory as the caller reaches it, and as its own root sees it. */
	slash = strrchr(q->path, '/');
	if (!slash)
		return 0;
	if ((size_t)(slash - q->path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, q->path, (size_t)(slash - q->path));
	dir[slash - q->path] = '\0';
	inner = rootlen && strncmp(dir, root, rootlen) == 0 ? dir + rootlen : dir;
	snprintf(inner_dir, sizeof(inner_dir), "%s", inner);

	r = fmt(buf, size, dir, "/", q->debuglink, "", "");
	/* Next to the binary, unless that is the binary itself (a link naming its own file). */
	if (r == 0 && strcmp(buf, q->path) != 0 && debuglink_ok(buf, q->debuglink_crc))
		return 1;
	if (r == 0)
		r = fmt(buf, size, dir, "/.debug/", q->debuglink, "", "");
	if (r == 0 && debuglink_ok(buf, q->debuglink_crc))
		return 1;
	if (r == 0 && inner_dir[0] == '/')
		r = fmt(buf, size, root, "/usr/lib/debug", inner_dir, "/", q->debuglink);
	if (r == 0 && inner_dir[0] == '/' && debuglink_ok(buf, q->debuglink_crc))
		return 1;
	for (size_t i = 0; r == 0 && c && i < c->n_dirs && inner_dir[0] == '/'; i++) {
		r = fmt(buf, size, c->dirs[i], inner_dir, "/", q->debuglink, "");
		if (r == 0 && debuglink_ok(buf, q->debuglink_crc))
			return 1;
		/* A flat directory of debug files is what people point --debuginfo-dir at too. */
		if (r == 0)
			r = fmt(buf, size, c->dirs[i], "/", q->debuglink, "", "");
		if (r == 0 && debuglink_ok(buf, q->debuglink_crc))
			return 1;
	}
	return r < 0 ? r : 0;
}

int debuginfo_find(const struct debuginfo_config *c, const struct debuginfo_query *q, char *buf,
		   size_t size, enum debuginfo_how *ret_how)
{
	int r;

	if (!q || !buf || size == 0)
		return -EINVAL;
	r = by_build_id(c, q, buf, size);
	if (r > 0 && ret_how)
		*ret_how = DEBUGINFO_BY_BUILD_ID;
	if (r != 0)
		return r;
	r = by_debuglink(c, q, buf, size);
	if (r > 0 && ret_how)
		*ret_how = DEBUGINFO_BY_DEBUGLINK;
	if (r != 0)
		return r;
	if (c && c->provider && nonempty(q->build_id)) {
		r = c->provider(c->provider_ctx, q->build_id, buf, size);
		if (r > 0 && (memchr(buf, '\0', size) == NULL || !usable(buf)))
			r = 0;
		if (r > 0 && ret_how)
			*ret_how = DEBUGINFO_BY_PROVIDER;
		return r;
	}
	return 0;
}

const char *debuginfo_how_name(enum debuginfo_how how)
{
	switch (how) {
	case DEBUGINFO_BY_BUILD_ID:
		return "build-id";
	case DEBUGINFO_BY_DEBUGLINK:
		return "debuglink";
	case DEBUGINFO_BY_PROVIDER:
		return "provider";
	}
	return "?";
}
