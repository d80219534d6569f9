/* SPDX-License-Identifier: Apache-2.0 */
/*
 * debuginfod provider. One table of build-ids (open hash, never shrinks, bounded) records
 * each id's state: queued, fetching, found (with the cached file's path) or missed (with the
 * time after which it may be asked again). A FIFO of queued ids feeds the worker thread,
 * which calls debuginfod_find_debuginfo() without holding the lock; libdebuginfod keeps the
 * downloaded files in its own cache ($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client)
 * and reads the server list from DEBUGINFOD_URLS at every query.
 *
 * The timeout is enforced through the progress callback, which libdebuginfod calls while a
 * transfer runs (about once a second): a non-zero answer aborts the query. Stopping the
 * provider uses the same path, so free() never waits longer than one callback period.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/debuginfod.h>

#include "debuginfod.h"
#include "util.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_RETRY_S 300
#define TABLE_SLOTS (2 * DEBUGINFOD_MAX_ENTRIES) /* power of two, at most half used */
#define BUILD_ID_HEX_MAX 129

enum dbg_state {
	DBG_EMPTY,
	DBG_QUEUED,
	DBG_FETCHING,
	DBG_FOUND,
	DBG_MISSED,
};

struct dbg_entry {
	enum dbg_state state;
	char id[BUILD_ID_HEX_MAX];
	char *path;	      /* DBG_FOUND */
	uint64_t retry_at_ns; /* DBG_MISSED: asked again from then on */
};

struct debuginfod_provider {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	uint64_t timeout_ns, retry_ns;
	uint64_t deadline_ns; /* of the running fetch; read by the progress callback */
	struct dbg_entry *slots;
	uint32_t n_entries;
	uint32_t queue[DEBUGINFOD_MAX_QUEUE]; /* slot indexes, FIFO */
	uint32_t q_head, q_len;
	struct debuginfod_stats stats;
};

static uint64_t id_hash(const char *id)
{
	return hash_bytes(HASH_INIT, id, strlen(id));
}

/* The slot of id, or the empty slot where it would go. */
static uint32_t slot_of(const struct debuginfod_provider *p, const char *id)
{
	uint32_t i = (uint32_t)id_hash(id) & (TABLE_SLOTS - 1);

	while (p->slots[i].state != DBG_EMPTY && strcmp(p->slots[i].id, id) != 0)
		i = (i + 1) & (TABLE_SLOTS - 1);
	return i;
}

static bool queue_push(struct debuginfod_provider *p, uint32_t slot)
{
	if (p->q_len == DEBUGINFOD_MAX_QUEUE)
		return false;
	p->queue[(p->q_head + p->q_len++) % DEBUGINFOD_MAX_QUEUE] = slot;
	return true;
}

int debuginfod_provider_find(void *ctx, const char *build_id, char *ret_path, size_t size)
{
	struct debuginfod_provider *p = ctx;
	struct dbg_entry *e;
	uint32_t i;
	int r;

	if (!p || !build_id || !build_id[0] || strlen(build_id) >= BUILD_ID_HEX_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	i = slot_of(p, build_id);
	e = &p->slots[i];
	switch (e->state) {
	case DBG_FOUND:
		if (strlen(e->path) >= size) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(ret_path, e->path, strlen(e->path) + 1);
		r = 1;
		break;
	case DBG_QUEUED:
	case DBG_FETCHING:
		r = -EAGAIN;
		break;
	case DBG_MISSED:
		if (now_monotonic_ns() < e->retry_at_ns) {
			r = -ENOENT;
			break;
		}
		if (!queue_push(p, i)) {
			p->stats.dropped++;
			r = -ENOENT;
			break;
		}
		e->state = DBG_QUEUED;
		p->stats.pending++;
		pthread_cond_signal(&p->cond);
		r = -EAGAIN;
		break;
	case DBG_EMPTY:
	default:
		if (p->n_entries >= DEBUGINFOD_MAX_ENTRIES || !queue_push(p, i)) {
			p->stats.dropped++;
			r = -ENOENT;
			break;
		}
		snprintf(e->id, sizeof(e->id), "%s", build_id);
		e->state = DBG_QUEUED;
		p->n_entries++;
		p->stats.pending++;
		pthread_cond_signal(&p->cond);
		r = -EAGAIN;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

void debuginfod_provider_get_stats(struct debuginfod_provider *p, struct debuginfod_stats *ret)
{
	pthread_mutex_lock(&p->lock);
	*ret = p->stats;
	pthread_mutex_unlock(&p->lock);
}

/* Called by libdebuginfod while a transfer runs: non-zero aborts it. */
static int fetch_progress(debuginfod_client *client, long done, long total)
{
	struct debuginfod_provider *p = debuginfod_get_user_data(client);
	bool abort_now;

	(void)done;
	(void)total;
	pthread_mutex_lock(&p->lock);
	abort_now = p->stop || now_monotonic_ns() > p->deadline_ns;
	pthread_mutex_unlock(&p->lock);
	return abort_now;
}

static void *worker(void *arg)
{
	struct debuginfod_provider *p = arg;
	debuginfod_client *client = debuginfod_begin();

	if (client) {
		debuginfod_set_user_data(client, p);
		debuginfod_set_progressfn(client, fetch_progress);
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		char id[BUILD_ID_HEX_MAX], *path = NULL;
		uint32_t slot;
		int fd;

		while (!p->stop && p->q_len == 0)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		slot = p->queue[p->q_head];
		p->q_head = (p->q_head + 1) % DEBUGINFOD_MAX_QUEUE;
		p->q_len--;
		p->slots[slot].state = DBG_FETCHING;
		memcpy(id, p->slots[slot].id, sizeof(id));
		p->deadline_ns = now_monotonic_ns() + p->timeout_ns;
		p->stats.requests++;
		pthread_mutex_unlock(&p->lock);

		/* build_id_len 0: the id is given as a hex string. Returns an fd or -errno. */
		fd = client ? debuginfod_find_debuginfo(client, (const unsigned char *)id, 0, &path)
			    : -ENOMEM;
		if (fd >= 0)
			close(fd);

		pthread_mutex_lock(&p->lock);
		p->stats.pending--;
		if (fd >= 0 && path) {
			p->slots[slot].state = DBG_FOUND;
			p->slots[slot].path = path;
			p->stats.fetched++;
		} else {
			free(path);
			p->slots[slot].state = DBG_MISSED;
			p->slots[slot].retry_at_ns = now_monotonic_ns() + p->retry_ns;
			p->stats.misses++;
			if (fd != -ENOENT)
				p->stats.errors++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (client)
		debuginfod_end(client);
	return NULL;
}

int debuginfod_provider_new(const char *urls, unsigned timeout_s, unsigned retry_s,
			    struct debuginfod_provider **ret)
{
	struct debuginfod_provider *p;
	int r;

	if (!urls || !urls[strspn(urls, " \t")])
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->slots = calloc(TABLE_SLOTS, sizeof(*p->slots));
	if (!p->slots) {
		free(p);
		return -ENOMEM;
	}
	p->timeout_ns = (uint64_t)(timeout_s ? timeout_s : DEFAULT_TIMEOUT_S) * NSEC_PER_SEC;
	p->retry_ns = (uint64_t)(retry_s ? retry_s : DEFAULT_RETRY_S) * NSEC_PER_SEC;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	r = pthread_create(&p->thread, NULL, worker, p);
	if (r != 0) {
		debuginfod_provider_free(p);
		return -r;
	}
	p->started = true;
	*ret = p;
	return 0;
}

void debuginfod_provider_free(struct debuginfod_provider *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	for (uint32_t i = 0; p->slots && i < TABLE_SLOTS; i++)
		free(p->slots[i].path);
	free(p->slots);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
