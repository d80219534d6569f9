/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small shared pieces: clocks, hashing, a bounded string interner, cleanup helpers.
 */
#ifndef PA_UTIL_H
#define PA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NSEC_PER_SEC 1000000000ULL

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

uint64_t now_monotonic_ns(void);
uint64_t now_realtime_ns(void);

/* 64-bit FNV-1a over bytes, continuing from h (start with HASH_INIT). */
#define HASH_INIT 0xcbf29ce484222325ULL
static inline uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}
static inline uint64_t hash_u64(uint64_t h, uint64_t v)
{
	/* One multiply-xorshift round per word: cheap and well mixed for table indexes. */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * Interned strings: each distinct string is stored once and the returned pointer stays valid
 * until strtab_free(). Bounded by max_bytes; when full, strtab_intern() returns NULL.
 * Not thread-safe; but returned pointers may be read from any thread.
 */
struct strtab;
struct strtab *strtab_new(size_t max_bytes);
void strtab_free(struct strtab *t);
const char *strtab_intern(struct strtab *t, const char *s);
size_t strtab_bytes(const struct strtab *t);

/* Parses a non-negative integer in [min, max]; returns 0 or -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Writes len bytes to path atomically (temporary file in the same directory + rename). */
int write_file_atomic(const char *path, const void *data, size_t len);

/* mkdir -p: creates dir and its missing parents with mode. Returns 0 or -errno. */
int mkdir_parents(const char *dir, unsigned int mode);

#endif
