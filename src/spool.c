/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk spool of undelivered windows. File format (then compressed whole with zstd):
 *
 *   "PASPOOL1"  8 bytes magic
 *   u64 start_real_ns, u64 duration_ns, u64 seq, u64 profile length, u64 labels length
 *                                                                      (little-endian)
 *   37 bytes id (NUL-terminated UUID)
 *   labels ("name\0value\0" pairs, the window's series labels)
 *   profile bytes (the gzipped pprof as the flush thread made it)
 *
 * The index (names and sizes, sorted) lives in memory; the directory is scanned once at
 * open. Names are "<start ns, 20 digits>-<seq, 6+ digits>.zst", so sorting them by name is
 * sorting by window start.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "spool.h"
#include "util.h"

#define SPOOL_MAGIC "PASPOOL1"
#define SPOOL_ID_OFF (8 + 5 * 8)
#define SPOOL_HEADER (SPOOL_ID_OFF + SPOOL_ID_SIZE)
#define SPOOL_MAX_LABELS 65536
#define SPOOL_MAX_FILES 1000000u
#define SPOOL_MAX_PROFILE (256u << 20)
#define SPOOL_NAME_SIZE 48
#define SPOOL_ZSTD_LEVEL 3

struct spool_file {
	char name[SPOOL_NAME_SIZE];
	uint64_t bytes;
};

struct spool {
	char dir[PATH_MAX];
	uint64_t max_bytes, bytes;
	struct spool_file *files; /* sorted by name: files[head] is the oldest */
	size_t head, n, cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_file *)a)->name, ((const struct spool_file *)b)->name);
}

static bool is_spool_name(const char *name)
{
	size_t len = strlen(name);

	return len > 4 && len < SPOOL_NAME_SIZE && strcmp(name + len - 4, ".zst") == 0 &&
	       name[0] >= '0' && name[0] <= '9';
}

static int files_reserve(struct spool *s)
{
	struct spool_file *nf;
	size_t cap;

	if (s->head > 0 && s->head + s->n == s->cap) {
		memmove(s->files, s->files + s->head, s->n * sizeof(*s->files));
		s->head = 0;
	}
	if (s->head + s->n < s->cap)
		return 0;
	if (s->n >= SPOOL_MAX_FILES)
		return -ENOSPC;
	cap = s->cap ? s->cap * 2 : 64;
	nf = realloc(s->files, cap * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	s->files = nf;
	s->cap = cap;
	return 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret)
{
	struct spool *s;
	struct dirent *de;
	DIR *d;
	int r;

	r = mkdir_parents(dir, 0700);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->max_bytes = max_bytes;
	d = opendir(dir);
	if (!d) {
		r = -errno;
		free(s);
		return r;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!is_spool_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		r = files_reserve(s);
		if (r < 0)
			break;
		snprintf(s->files[s->n].name, SPOOL_NAME_SIZE, "%s", de->d_name);
		s->files[s->n].bytes = (uint64_t)st.st_size;
		s->bytes += (uint64_t)st.st_size;
		s->n++;
	}
	closedir(d);
	qsort(s->files, s->n, sizeof(*s->files), name_cmp);
	*ret = s;
	return 0;
}

void spool_free(struct spool *s)
{
	if (!s)
		return;
	free(s->files);
	free(s);
}

size_t spool_count(const struct spool *s)
{
	return s->n;
}

uint64_t spool_bytes(const struct spool *s)
{
	return s->bytes;
}

const char *spool_dir(const struct spool *s)
{
	return s->dir;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void remove_oldest(struct spool *s)
{
	char path[PATH_MAX + SPOOL_NAME_SIZE];

	if (s->n == 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", s->dir, s->files[s->head].name);
	(void)unlink(path);
	s->bytes -= s->files[s->head].bytes;
	s->head++;
	s->n--;
	if (s->n == 0)
		s->head = 0;
}

void spool_remove_oldest(struct spool *s)
{
	remove_oldest(s);
}

int spool_put(struct spool *s, const struct spool_record *rec, uint64_t *ret_dropped)
{
	_cleanup_free_ uint8_t *raw = NULL, *z = NULL;
	size_t raw_len = SPOOL_HEADER + rec->labels_len + rec->len,
	       zcap = ZSTD_compressBound(raw_len), zlen;
	char name[SPOOL_NAME_SIZE], path[PATH_MAX + SPOOL_NAME_SIZE];
	struct spool_file *f;
	uint64_t dropped = 0;
	size_t i;
	int r;

	*ret_dropped = 0;
	raw = malloc(raw_len);
	z = malloc(zcap);
	if (!raw || !z)
		return -ENOMEM;
	memcpy(raw, SPOOL_MAGIC, 8);
	put_u64(raw + 8, rec->meta.start_real_ns);
	put_u64(raw + 16, rec->meta.duration_ns);
	put_u64(raw + 24, rec->meta.seq);
	put_u64(raw + 32, rec->len);
	put_u64(raw + 40, rec->labels_len);
	memset(raw + SPOOL_ID_OFF, 0, SPOOL_ID_SIZE);
	memcpy(raw + SPOOL_ID_OFF, rec->id, strnlen(rec->id, SPOOL_ID_SIZE - 1));
	if (rec->labels_len)
		memcpy(raw + SPOOL_HEADER, rec->labels, rec->labels_len);
	memcpy(raw + SPOOL_HEADER + rec->labels_len, rec->profile, rec->len);
	zlen = ZSTD_compress(z, zcap, raw, raw_len, SPOOL_ZSTD_LEVEL);
	if (ZSTD_isError(zlen))
		return -EIO;
	if (zlen > s->max_bytes)
		return -EFBIG;
	while (s->n && s->bytes + zlen > s->max_bytes) {
		remove_oldest(s);
		dropped++;
	}
	*ret_dropped = dropped;
	snprintf(name, sizeof(name), "%020" PRIu64 "-%06" PRIu64 ".zst", rec->meta.start_real_ns,
		 rec->meta.seq);
	if (snprintf(path, sizeof(path), "%s/%s", s->dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = files_reserve(s);
	if (r < 0)
		return r;
	r = write_file_atomic(path, z, zlen);
	if (r < 0)
		return r;
	/* Usually the newest: insert from the end to keep the index sorted. */
	for (i = s->n; i > 0 && strcmp(s->files[s->head + i - 1].name, name) > 0; i--)
		;
	f = s->files + s->head + i;
	if (i < s->n && strcmp(f->name, name) == 0) {
		s->bytes -= f->bytes; /* the same window again: replaced */
	} else {
		memmove(f + 1, f, (s->n - i) * sizeof(*f));
		s->n++;
	}
	snprintf(f->name, SPOOL_NAME_SIZE, "%s", name);
	f->bytes = zlen;
	s->bytes += zlen;
	return 0;
}

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t off = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || (uint64_t)st.st_size > SPOOL_MAX_PROFILE)
		return -EBADMSG;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			free(buf);
			return n < 0 ? -errno : -EBADMSG;
		}
		off += (size_t)n;
	}
	*ret = buf;
	*ret_len = off;
	return 0;
}

int spool_read_oldest(struct spool *s, struct spool_record *ret)
{
	_cleanup_free_ uint8_t *z = NULL, *raw = NULL;
	char path[PATH_MAX + SPOOL_NAME_SIZE];
	unsigned long long raw_len;
	size_t zlen = 0, got;
	uint64_t plen, llen;
	int r;

	if (s->n == 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%s", s->dir, s->files[s->head].name);
	r = read_all(path, &z, &zlen);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	raw_len = ZSTD_getFrameContentSize(z, zlen);
	if (raw_len == ZSTD_CONTENTSIZE_ERROR || raw_len == ZSTD_CONTENTSIZE_UNKNOWN ||
	    raw_len < SPOOL_HEADER || raw_len > SPOOL_MAX_PROFILE)
		return -EBADMSG;
	raw = malloc(raw_len);
	if (!raw)
		return -ENOMEM;
	got = ZSTD_decompress(raw, raw_len, z, zlen);
	if (ZSTD_isError(got) || got != raw_len || memcmp(raw, SPOOL_MAGIC, 8) != 0)
		return -EBADMSG;
	plen = get_u64(raw + 32);
	llen = get_u64(raw + 40);
	if (llen > SPOOL_MAX_LABELS || plen != raw_len - SPOOL_HEADER - llen ||
	    raw[SPOOL_ID_OFF + SPOOL_ID_SIZE - 1] != '\0' ||
	    (llen && raw[SPOOL_HEADER + llen - 1] != '\0'))
		return -EBADMSG;
	*ret = (struct spool_record){
		.meta = {.start_real_ns = get_u64(raw + 8),
			 .duration_ns = get_u64(raw + 16),
			 .seq = get_u64(raw + 24)},
		.len = plen,
	};
	memcpy(ret->id, raw + SPOOL_ID_OFF, SPOOL_ID_SIZE);
	ret->profile = malloc(plen ? plen : 1);
	ret->labels = llen ? malloc(llen) : NULL;
	if (!ret->profile || (llen && !ret->labels)) {
		free(ret->profile);
		free(ret->labels);
		return -ENOMEM;
	}
	ret->labels_len = llen;
	if (llen)
		memcpy(ret->labels, raw + SPOOL_HEADER, llen);
	memcpy(ret->profile, raw + SPOOL_HEADER + llen, plen);
	return 0;
}
