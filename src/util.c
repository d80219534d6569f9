/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers. The string interner keeps strings in 64 KiB chunks (never moved, so
 * pointers stay valid) and indexes them with an open-addressing table that doubles.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

uint64_t now_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

#define STRTAB_CHUNK 65536

struct strtab_chunk {
	struct strtab_chunk *next;
	size_t used;
	char data[];
};

struct strtab {
	const char **slots;
	size_t n_slots; /* power of two */
	size_t n_used;
	struct strtab_chunk *chunks;
	size_t bytes;
	size_t max_bytes;
};

struct strtab *strtab_new(size_t max_bytes)
{
	struct strtab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_slots = 1024;
	t->slots = calloc(t->n_slots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->max_bytes = max_bytes;
	t->bytes = t->n_slots * sizeof(*t->slots);
	return t;
}

void strtab_free(struct strtab *t)
{
	if (!t)
		return;
	while (t->chunks) {
		struct strtab_chunk *c = t->chunks;

		t->chunks = c->next;
		free(c);
	}
	free(t->slots);
	free(t);
}

size_t strtab_bytes(const struct strtab *t)
{
	return t->bytes;
}

static int strtab_grow(struct strtab *t)
{
	size_t n = t->n_slots * 2;
	const char **slots;

	if (t->bytes + n * sizeof(*slots) > t->max_bytes)
		return -E2BIG;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_slots; i++) {
		const char *s = t->slots[i];
		size_t j;

		if (!s)
			continue;
		for (j = hash_bytes(HASH_INIT, s, strlen(s)) & (n - 1); slots[j]; j = (j + 1) & (n - 1))
			;
		slots[j] = s;
	}
	t->bytes += n * sizeof(*slots) - t->n_slots * sizeof(*slots);
	free(t->slots);
	t->slots = slots;
	t->n_slots = n;
	return 0;
}

const char *strtab_intern(struct strtab *t, const char *s)
{
	size_t len = strlen(s), j;
	uint64_t h = hash_bytes(HASH_INIT, s, len);
	struct strtab_chunk *c;
	char *copy;

	for (j = h & (t->n_slots - 1); t->slots[j]; j = (j + 1) & (t->n_slots - 1))
		if (strcmp(t->slots[j], s) == 0)
			return t->slots[j];
	if (len >= STRTAB_CHUNK / 4)
		return NULL;
	if ((t->n_used + 1) * 2 > t->n_slots) {
		if (strtab_grow(t) < 0)
			return NULL;
		for (j = h & (t->n_slots - 1); t->slots[j]; j = (j + 1) & (t->n_slots - 1))
			;
	}
	c = t->chunks;
	if (!c || c->used + len + 1 > STRTAB_CHUNK) {
		if (t->bytes + sizeof(*c) + STRTAB_CHUNK > t->max_bytes)
			return NULL;
		c = malloc(sizeof(*c) + STRTAB_CHUNK);
		if (!c)
			return NULL;
		c->used = 0;
		c->next = t->chunks;
		t->chunks = c;
		t->bytes += sizeof(*c) + STRTAB_CHUNK;
	}
	copy = c->data + c->used;
	memcpy(copy, s, len + 1);
	c->used += len + 1;
	t->slots[j] = copy;
	t->n_used++;
	return copy;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return errno == ERANGE ? -ERANGE : -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += n;
		len -= n;
	}
	/* The rename must not expose a file whose data is not on disk yet. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int mkdir_parents(const char *dir, unsigned int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
