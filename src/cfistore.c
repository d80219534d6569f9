/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfistore. Ownership and threads:
 *
 *  - The entry table (hash chains, reference counts, the LRU list of unreferenced entries)
 *    belongs to the sampler thread alone.
 *  - An entry's load result (info, table, state) is written by the loader thread and then
 *    published by a release store of state; the sampler reads state with acquire first.
 *    An entry is only freed by the sampler, and only in a final state (ready or failed), so
 *    the loader never sees a freed entry: queued and loading entries are never evicted.
 *  - Compiled tables are shared by build-id through a small table under a mutex, with an
 *    atomic reference count: the loader adds references, the sampler drops them on eviction.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfistore.h"
#include "elfcfi.h"
#include "util.h"
#include "vdso.h"

#define BUCKETS 4096 /* power of two */
#define SHARED_MAX 8192

enum entry_state {
	ENTRY_QUEUED,
	ENTRY_LOADING,
	ENTRY_READY,
	ENTRY_FAILED,
};

struct shared_table {
	uint8_t build_id[ELFCFI_BUILD_ID_MAX];
	size_t build_id_size;
	struct puw_cfi *cfi;
	size_t bytes;
	int refs; /* atomic */
};

struct cfi_binary {
	/* sampler-owned */
	uint32_t pid; /* a process that maps it: its /proc/PID/root reaches the file */
	const char *path;
	uint32_t maj, min;
	uint64_t ino;
	uint32_t refs;
	struct cfi_binary *hash_next;
	struct cfi_binary *lru_prev, *lru_next; /* on the LRU list while refs == 0 */
	bool on_lru;

	/* written by the loader, published by state */
	int state; /* enum entry_state, atomic */
	struct elfcfi_info info;
	struct shared_table *table;
};

struct cfistore {
	enum puw_arch arch;
	size_t max_bytes;
	uint32_t max_binaries;

	struct cfi_binary *buckets[BUCKETS];
	struct cfi_binary *lru_head, *lru_tail;
	uint32_t n_binaries;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* queue, shared tables, stats written by the loader */
	pthread_cond_t cond;
	pthread_cond_t idle_cond;
	struct cfi_binary **queue;
	uint32_t q_head, q_len; /* ring of max_binaries slots */
	bool loading, stop;
	struct shared_table *shared[SHARED_MAX];
	uint32_t n_shared;
	size_t bytes; /* atomic */
	struct cfistore_stats stats;

	int vdso_fd; /* memfd holding a copy of our own vDSO image, -1 when none */
	const struct debuginfo_config *debuginfo; /* NULL: the system's places only */
};

static uint64_t key_hash(const char *path, uint32_t maj, uint32_t min, uint64_t ino)
{
	return hash_u64(hash_u64(hash_u64(HASH_INIT, (uintptr_t)path), ino),
			((uint64_t)maj << 32) | min);
}

/* ---- loader thread ---- */

static struct shared_table *shared_find_locked(struct cfistore *s, const struct elfcfi_info *info)
{
	if (info->build_id_size == 0)
		return NULL;
	for (uint32_t i = 0; i < s->n_shared; i++)
		if (s->shared[i]->build_id_size == info->build_id_size &&
		    memcmp(s->shared[i]->build_id, info->build_id, info->build_id_size) == 0)
			return s->shared[i];
	return NULL;
}

static void shared_drop(struct cfistore *s, struct shared_table *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->n_shared; i++)
		if (s->shared[i] == t) {
			s->shared[i] = s->shared[--s->n_shared];
			break;
		}
	pthread_mutex_unlock(&s->lock);
	__atomic_sub_fetch(&s->bytes, t->bytes, __ATOMIC_RELAXED);
	puw_cfi_free(t->cfi);
	free(t);
}

/* The file behind an entry, as the loader can open it. */
static void entry_path(const struct cfistore *s, const struct cfi_binary *b, char *buf,
		       size_t size, bool rooted)
{
	if (strcmp(b->path, "[vdso]") == 0)
		snprintf(buf, size, "/proc/self/fd/%d", s->vdso_fd);
	else if (rooted)
		snprintf(buf, size, "/proc/%u/root%s", b->pid, b->path);
	else
		snprintf(buf, size, "%s", b->path);
}

/* A separate debug file for the binary at path (rooted), if one exists. */
static bool find_debug_file(const struct cfistore *s, const struct elfcfi_info *info,
			    const char *path, const char *root, char *buf, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	char hex[2 * ELFCFI_BUILD_ID_MAX + 1];
	struct debuginfo_query q = {
		.path = path,
		.root = root,
		.build_id = hex,
		.debuglink = info->debuglink,
		.debuglink_crc = info->debuglink_crc,
	};

	for (size_t i = 0; i < info->build_id_size; i++) {
		hex[2 * i] = digits[info->build_id[i] >> 4];
		hex[2 * i + 1] = digits[info->build_id[i] & 15];
	}
	hex[2 * info->build_id_size] = '\0';
	return debuginfo_find(s->debuginfo, &q, buf, size, NULL) > 0;
}

/*
 * Reads the ELF info of path when it is the file that was mapped (same inode as the mapping
 * record): a binary deleted and replaced on disk must not lend its CFI to the old build.
 */
static int read_info_checked(const struct cfi_binary *b, const char *path,
			     struct elfcfi_info *info)
{
	struct stat st;

	if (b->ino && (stat(path, &st) < 0 || (uint64_t)st.st_ino != b->ino))
		return -ESTALE;
	return elfcfi_read_info(path, info);
}

static int load_entry(struct cfistore *s, struct cfi_binary *b)
{
	char path[PATH_MAX], root[64], dbg[PATH_MAX];
	struct elfcfi_info info;
	struct shared_table *t;
	struct puw_cfi *cfi = NULL;
	struct puw_cfi_stats st;
	bool is_vdso = strcmp(b->path, "[vdso]") == 0, have_dbg;
	int r;

	if (is_vdso && s->vdso_fd < 0)
		return -ENOENT;
	entry_path(s, b, path, sizeof(path), true);
	r = is_vdso ? elfcfi_read_info(path, &info) : read_info_checked(b, path, &info);
	if (r < 0 && !is_vdso) {
		/* The process is gone or its root is not ours to enter: try the host's file. */
		entry_path(s, b, path, sizeof(path), false);
		r = read_info_checked(b, path, &info);
	}
	if (r < 0)
		return r;
	if ((int)info.arch != (int)s->arch)
		return -EOPNOTSUPP;

	pthread_mutex_lock(&s->lock);
	t = shared_find_locked(s, &info);
	if (t) {
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
		s->stats.shared++;
	}
	pthread_mutex_unlock(&s->lock);
	if (t) {
		b->info = info;
		b->table = t;
		return 0;
	}

	if (__atomic_load_n(&s->bytes, __ATOMIC_RELAXED) >= s->max_bytes)
		return -ENOBUFS;
	snprintf(root, sizeof(root), "/proc/%u/root", b->pid);
	have_dbg = !is_vdso && find_debug_file(s, &info, path,
					       strncmp(path, "/proc/", 6) == 0 ? root : "", dbg,
					       sizeof(dbg));
	r = elfcfi_load(path, have_dbg ? dbg : NULL, &cfi, &info);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t) {
		puw_cfi_free(cfi);
		return -ENOMEM;
	}
	puw_cfi_get_stats(cfi, &st);
	memcpy(t->build_id, info.build_id, info.build_id_size);
	t->build_id_size = info.build_id_size;
	t->cfi = cfi;
	t->bytes = st.bytes;
	t->refs = 1;
	__atomic_add_fetch(&s->bytes, st.bytes, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->lock);
	if (t->build_id_size && s->n_shared < SHARED_MAX)
		s->shared[s->n_shared++] = t;
	s->stats.loaded++;
	if (have_dbg)
		s->stats.with_debug_file++;
	pthread_mutex_unlock(&s->lock);
	b->info = info;
	b->table = t;
	return 0;
}

static void *loader_thread(void *arg)
{
	struct cfistore *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct cfi_binary *b;
		int r;

		while (!s->q_len && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop)
			break;
		b = s->queue[s->q_head];
		s->q_head = (s->q_head + 1) % s->max_binaries;
		s->q_len--;
		s->loading = true;
		pthread_mutex_unlock(&s->lock);

		__atomic_store_n(&b->state, ENTRY_LOADING, __ATOMIC_RELAXED);
		r = load_entry(s, b);

		pthread_mutex_lock(&s->lock);
		if (r == -ENOBUFS)
			s->stats.refused++;
		else if (r < 0)
			s->stats.failed++;
		__atomic_store_n(&b->state, r < 0 ? ENTRY_FAILED : ENTRY_READY, __ATOMIC_RELEASE);
		s->loading = false;
		if (!s->q_len)
			pthread_cond_broadcast(&s->idle_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- sampler side ---- */

struct cfistore *cfistore_new(enum puw_arch arch, size_t max_bytes, uint32_t max_binaries)
{
	struct cfistore *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->arch = arch;
	s->max_bytes = max_bytes;
	s->max_binaries = max_binaries ? max_binaries : 1;
	s->queue = calloc(s->max_binaries, sizeof(*s->queue));
	if (!s->queue) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->idle_cond, NULL);
	/* The vDSO of the host's architecture only: a cross-arch store has none. */
	s->vdso_fd = arch == puw_arch_host() ? vdso_image_memfd() : -ENOENT;
	if (pthread_create(&s->thread, NULL, loader_thread, s) != 0) {
		cfistore_free(s);
		return NULL;
	}
	s->started = true;
	return s;
}

void cfistore_set_debuginfo(struct cfistore *s, const struct debuginfo_config *c)
{
	s->debuginfo = c;
}

static void entry_free(struct cfistore *s, struct cfi_binary *b)
{
	shared_drop(s, b->table);
	free(b);
}

void cfistore_free(struct cfistore *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < BUCKETS; i++)
		while (s->buckets[i]) {
			struct cfi_binary *b = s->buckets[i];

			s->buckets[i] = b->hash_next;
			entry_free(s, b);
		}
	if (s->vdso_fd >= 0)
		close(s->vdso_fd);
	free(s->queue);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->idle_cond);
	free(s);
}

static void lru_remove(struct cfistore *s, struct cfi_binary *b)
{
	if (!b->on_lru)
		return;
	if (b->lru_prev)
		b->lru_prev->lru_next = b->lru_next;
	else
		s->lru_head = b->lru_next;
	if (b->lru_next)
		b->lru_next->lru_prev = b->lru_prev;
	else
		s->lru_tail = b->lru_prev;
	b->lru_prev = b->lru_next = NULL;
	b->on_lru = false;
}

static void lru_append(struct cfistore *s, struct cfi_binary *b)
{
	b->lru_prev = s->lru_tail;
	b->lru_next = NULL;
	if (s->lru_tail)
		s->lru_tail->lru_next = b;
	else
		s->lru_head = b;
	s->lru_tail = b;
	b->on_lru = true;
}

/* Frees the least recently released entry that the loader is done with. */
static bool evict_one(struct cfistore *s)
{
	for (struct cfi_binary *b = s->lru_head; b; b = b->lru_next) {
		int state = __atomic_load_n(&b->state, __ATOMIC_ACQUIRE);
		struct cfi_binary **pp;

		if (state != ENTRY_READY && state != ENTRY_FAILED)
			continue;
		lru_remove(s, b);
		pp = &s->buckets[key_hash(b->path, b->maj, b->min, b->ino) & (BUCKETS - 1)];
		while (*pp != b)
			pp = &(*pp)->hash_next;
		*pp = b->hash_next;
		s->n_binaries--;
		entry_free(s, b);
		pthread_mutex_lock(&s->lock);
		s->stats.evicted++;
		pthread_mutex_unlock(&s->lock);
		return true;
	}
	return false;
}

static bool has_cfi_file(const char *path)
{
	return path[0] == '/' || strcmp(path, "[vdso]") == 0;
}

struct cfi_binary *cfistore_ref(struct cfistore *s, uint32_t pid, const char *path,
				uint32_t maj, uint32_t min, uint64_t ino)
{
	uint64_t h = key_hash(path, maj, min, ino);
	struct cfi_binary *b;

	if (!has_cfi_file(path))
		return NULL;
	for (b = s->buckets[h & (BUCKETS - 1)]; b; b = b->hash_next)
		if (b->path == path && b->ino == ino && b->maj == maj && b->min == min) {
			if (b->refs++ == 0)
				lru_remove(s, b);
			return b;
		}

	/* Make room: the entry cap, and the byte budget the loader refuses to exceed. */
	while (s->n_binaries >= s->max_binaries ||
	       __atomic_load_n(&s->bytes, __ATOMIC_RELAXED) >= s->max_bytes)
		if (!evict_one(s))
			break;
	if (s->n_binaries >= s->max_binaries) {
		pthread_mutex_lock(&s->lock);
		s->stats.refused++;
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->pid = pid;
	b->path = path;
	b->maj = maj;
	b->min = min;
	b->ino = ino;
	b->refs = 1;
	b->state = ENTRY_QUEUED;
	b->hash_next = s->buckets[h & (BUCKETS - 1)];
	s->buckets[h & (BUCKETS - 1)] = b;
	s->n_binaries++;

	pthread_mutex_lock(&s->lock);
	/* The queue has a slot per entry, so it cannot overflow while entries are capped. */
	s->queue[(s->q_head + s->q_len) % s->max_binaries] = b;
	s->q_len++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return b;
}

void cfistore_unref(struct cfistore *s, struct cfi_binary *b)
{
	if (!b || b->refs == 0)
		return;
	if (--b->refs == 0)
		lru_append(s, b);
}

bool cfi_binary_table(const struct cfi_binary *b, uint64_t map_start, uint64_t map_pgoff,
		      const struct puw_cfi **ret_cfi, uint64_t *ret_bias)
{
	uint64_t bias;

	if (__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) != ENTRY_READY)
		return false;
	if (elfcfi_bias(&b->info, map_start, map_pgoff, &bias) < 0)
		return false;
	*ret_cfi = b->table->cfi;
	*ret_bias = bias;
	return true;
}

int cfistore_wait_idle(struct cfistore *s, unsigned timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while ((s->q_len || s->loading) && r == 0)
		r = pthread_cond_timedwait(&s->idle_cond, &s->lock, &deadline);
	pthread_mutex_unlock(&s->lock);
	return r == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void cfistore_get_stats(struct cfistore *s, struct cfistore_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->stats;
	pthread_mutex_unlock(&s->lock);
	ret->binaries = s->n_binaries;
	ret->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
}
