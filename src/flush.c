/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flush thread. Per window: resolve every location to a function name (symcache for user
 * binaries, read through /proc/PID/root so containers resolve; kallsyms for the kernel),
 * then emit mappings, functions, locations and samples into a pprof builder, gzip, export.
 *
 * A mapping gets has_functions only when every one of its locations was named, so a
 * backend or `go tool pprof` can still symbolize the rest from the build-id and address.
 *
 * The run-wide summary (hottest functions, distinct processes) is kept in bounded tables
 * owned by this thread and read under the lock once the thread is done.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "flush.h"
#include "log.h"
#include "pprof.h"
#include "puw.h"
#include "symbolize.h"
#include "util.h"

#define HOT_SLOTS 65536u    /* distinct leaf functions remembered for the summary */
#define PID_SLOTS 262144u   /* distinct pids counted for the summary */
#define FAILED_SLOTS 16384u /* distinct unreadable files counted for the summary */
#define SYMCACHE_BYTES (256u << 20)
#define NAMES_BYTES (32u << 20)

struct hot_entry {
	const char *name; /* interned in names */
	uint64_t samples;
};

struct flusher {
	struct flush_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct profile_window *pending; /* submitted, not yet taken by the thread */
	struct profile_window *spare;   /* flushed and empty */
	bool busy, stop, started;
	uint64_t seq;

	struct symcache *syms;
	struct ksyms *ksyms;
	struct pprof_builder *pb;
	struct strtab *names;
	struct hot_entry *hot;
	uint32_t n_hot;
	uint32_t *pids;
	const char **failed; /* interned paths of files that could not be read, by pointer */
	struct flush_summary sum;
	struct flush_metrics published; /* under lock: sum and cache figures after a window */
	char marker_names[_PUW_STOP_MAX][40]; /* "[unwind: <stop reason>]" */
};

/* Per-window working state, rebuilt for every window. */
struct resolved {
	struct sym_binary **bins; /* per window mapping, NULL when unreadable or pseudo */
	bool *owned;              /* bins[i] holds a reference of its own (not a shared slot) */
	const char **names;       /* per location, NULL when unresolved */
	bool *all_named;          /* per window mapping */
};

static void hot_add(struct flusher *f, const char *name, uint64_t samples)
{
	uint64_t j;
	const char *s;

	s = strtab_intern(f->names, name);
	if (!s)
		return;
	for (j = hash_u64(HASH_INIT, (uintptr_t)s) & (HOT_SLOTS - 1); f->hot[j].name;
	     j = (j + 1) & (HOT_SLOTS - 1))
		if (f->hot[j].name == s) {
			f->hot[j].samples += samples;
			return;
		}
	if (f->n_hot + 1 >= HOT_SLOTS / 2)
		return;
	f->hot[j] = (struct hot_entry){ .name = s, .samples = samples };
	f->n_hot++;
}

static void pid_add(struct flusher *f, uint32_t pid)
{
	uint64_t j;

	for (j = hash_u64(0, pid) & (PID_SLOTS - 1); f->pids[j]; j = (j + 1) & (PID_SLOTS - 1))
		if (f->pids[j] == pid + 1)
			return;
	if (f->sum.processes + 1 >= PID_SLOTS / 2)
		return;
	f->pids[j] = pid + 1;
	f->sum.processes++;
}

/* Counts a file that could not be read for symbols, once per path over the run. */
static void failed_add(struct flusher *f, const char *path)
{
	uint64_t j;

	for (j = hash_u64(HASH_INIT, (uintptr_t)path) & (FAILED_SLOTS - 1); f->failed[j];
	     j = (j + 1) & (FAILED_SLOTS - 1))
		if (f->failed[j] == path)
			return;
	if (f->sum.binaries_failed + 1 >= FAILED_SLOTS / 2)
		return;
	f->failed[j] = path;
	f->sum.binaries_failed++;
}

static bool is_file_path(const char *path)
{
	return path && path[0] == '/';
}

/* Opens the binary behind a mapping: through the process's root first (containers). */
static struct sym_binary *open_binary(struct flusher *f, const struct profile_mapping *m)
{
	char path[PATH_MAX];
	struct sym_binary *b = NULL;

	if (!is_file_path(m->path))
		return NULL;
	if (snprintf(path, sizeof(path), "/proc/%u/root%s", m->pid, m->path) < (int)sizeof(path) &&
	    symcache_get(f->syms, path, &b) == 0)
		return b;
	/* The process is gone (or we cannot enter its root): the host path is the best guess. */
	if (symcache_get(f->syms, m->path, &b) == 0)
		return b;
	failed_add(f, m->path);
	return NULL;
}

static void resolved_free(struct resolved *r, uint32_t n_mappings)
{
	for (uint32_t i = 0; r->bins && r->owned && i < n_mappings; i++)
		if (r->owned[i])
			sym_binary_unref(r->bins[i]);
	free(r->bins);
	free(r->owned);
	free(r->names);
	free(r->all_named);
}

static int resolve(struct flusher *f, const struct profile_window *w, struct resolved *r)
{
	uint32_t *first;
	uint64_t n_slots;

	r->bins = calloc(w->n_mappings + 1, sizeof(*r->bins));
	r->names = calloc(w->n_locations + 1, sizeof(*r->names));
	r->all_named = calloc(w->n_mappings + 1, sizeof(*r->all_named));
	r->owned = calloc(w->n_mappings + 1, sizeof(*r->owned));
	if (!r->bins || !r->names || !r->all_named || !r->owned)
		return -ENOMEM;

	/* Mappings of one file in many processes: open it once per window. */
	n_slots = 16;
	while (n_slots < 2 * (uint64_t)w->n_mappings)
		n_slots *= 2;
	first = calloc(n_slots, sizeof(*first));
	if (!first)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->n_mappings; i++) {
		const struct profile_mapping *m = &w->mappings[i];
		uint64_t h = hash_u64(hash_u64(hash_u64(HASH_INIT, (uintptr_t)m->path), m->ino),
				      ((uint64_t)m->maj << 32) | m->min);
		uint64_t j = h & (n_slots - 1);

		for (; first[j]; j = (j + 1) & (n_slots - 1)) {
			const struct profile_mapping *o = &w->mappings[first[j] - 1];

			if (o->path == m->path && o->ino == m->ino && o->maj == m->maj &&
			    o->min == m->min)
				break;
		}
		if (first[j]) {
			r->bins[i] = r->bins[first[j] - 1];
		} else {
			first[j] = i + 1;
			r->bins[i] = open_binary(f, m);
			r->owned[i] = r->bins[i] != NULL;
		}
		r->all_named[i] = r->bins[i] != NULL;
	}
	free(first);
	for (uint32_t i = 0; i < w->n_locations; i++) {
		const struct profile_location *l = &w->locations[i];

		if (l->map == PROFILE_MAP_KERNEL) {
			r->names[i] = f->ksyms ? ksyms_lookup(f->ksyms, l->addr, NULL) : NULL;
		} else if (l->map == PROFILE_MAP_MARKER) {
			r->names[i] = l->addr < _PUW_STOP_MAX ? f->marker_names[l->addr] : NULL;
		} else if (l->map < w->n_mappings && r->bins[l->map]) {
			const struct profile_mapping *m = &w->mappings[l->map];

			r->names[i] = sym_binary_lookup(r->bins[l->map], l->addr - m->start + m->pgoff,
							NULL);
		}
		if (!r->names[i] && l->map < w->n_mappings)
			r->all_named[l->map] = false;
	}
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int encode(struct flusher *f, const struct profile_window *w, const struct resolved *r,
		  uint8_t **ret_buf, size_t *ret_len)
{
	struct pprof_builder *pb = f->pb;
	uint64_t kernel_id = 0, kmin = UINT64_MAX, kmax = 0;
	uint64_t *loc_ids = NULL;
	char comment[128];
	int r2;

	pprof_builder_reset(pb);
	if ((r2 = pprof_builder_add_sample_type(pb, "samples", "count")) < 0 ||
	    (r2 = pprof_builder_add_sample_type(pb, "cpu", "nanoseconds")) < 0 ||
	    (r2 = pprof_builder_set_period(pb, "cpu", "nanoseconds",
					   (int64_t)(NSEC_PER_SEC / f->cfg.frequency_hz))) < 0 ||
	    (r2 = pprof_builder_set_default_sample_type(pb, "cpu")) < 0)
		return r2;
	pprof_builder_set_time(pb, (int64_t)w->start_real_ns,
			       (int64_t)(w->end_mono_ns - w->start_mono_ns));
	snprintf(comment, sizeof(comment), "perfagent %s: %s at %u Hz", PACKAGE_VERSION,
		 f->cfg.event_name, f->cfg.frequency_hz);
	(void)pprof_builder_add_comment(pb, comment);

	/* Mappings: ids 1..n_mappings in window order, then the kernel. */
	for (uint32_t i = 0; i < w->n_mappings; i++) {
		const struct profile_mapping *m = &w->mappings[i];
		struct pprof_mapping pm = {
			.memory_start = m->start,
			.memory_limit = m->end,
			.file_offset = m->pgoff,
			.filename = m->path,
			.build_id = r->bins[i] ? sym_binary_build_id(r->bins[i]) : NULL,
			.has_functions = r->all_named[i],
		};
		int64_t id = pprof_builder_add_mapping(pb, &pm);

		if (id < 0)
			return (int)id;
	}
	for (uint32_t i = 0; i < w->n_locations; i++)
		if (w->locations[i].map == PROFILE_MAP_KERNEL) {
			if (w->locations[i].addr < kmin)
				kmin = w->locations[i].addr;
			if (w->locations[i].addr > kmax)
				kmax = w->locations[i].addr;
		}
	if (kmax) {
		struct pprof_mapping km = {
			.memory_start = kmin,
			.memory_limit = kmax + 1,
			.filename = "[kernel.kallsyms]",
			.has_functions = f->ksyms != NULL,
		};
		int64_t id = pprof_builder_add_mapping(pb, &km);

		if (id < 0)
			return (int)id;
		kernel_id = (uint64_t)id;
	}

	loc_ids = malloc((w->n_locations + 1) * sizeof(*loc_ids));
	if (!loc_ids)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->n_locations; i++) {
		const struct profile_location *l = &w->locations[i];
		struct pprof_line line = { 0 };
		uint64_t map_id = l->map == PROFILE_MAP_KERNEL ? kernel_id
				  : l->map < w->n_mappings ? l->map + 1
							   : 0; /* unknown, or a marker */
		int64_t id;

		if (r->names[i]) {
			int64_t fid = pprof_builder_add_function(pb, r->names[i], r->names[i], NULL);

			if (fid < 0) {
				free(loc_ids);
				return (int)fid;
			}
			line.function_id = (uint64_t)fid;
		}
		id = pprof_builder_add_location(pb, map_id, l->addr, &line, r->names[i] ? 1 : 0);
		if (id < 0) {
			free(loc_ids);
			return (int)id;
		}
		loc_ids[i] = (uint64_t)id;
	}

	for (uint32_t i = 0; i < w->n_stacks; i++) {
		const struct profile_stack *s = &w->stacks[i];
		const struct profile_series *se = &w->series[s->series];
		uint64_t ids[640];
		int64_t values[2] = { (int64_t)s->count, (int64_t)s->cpu_ns };
		char pid[16], tid[16];
		struct pprof_label labels[5] = {
			{ .key = "pid", .str = pid },
			{ .key = "tid", .str = tid },
			{ .key = "comm", .str = se->comm },
			{ .key = "thread_name", .str = se->thread_name },
			{ .key = "executable", .str = se->exe },
		};
		uint32_t n = s->n_frames < ARRAY_SIZE(ids) ? s->n_frames : ARRAY_SIZE(ids);

		snprintf(pid, sizeof(pid), "%u", se->pid);
		snprintf(tid, sizeof(tid), "%u", se->tid);
		for (uint32_t k = 0; k < n; k++)
			ids[k] = loc_ids[w->frames[s->frames + k]];
		r2 = pprof_builder_add_sample(pb, ids, n, values, 2, labels, se->exe ? 5 : 4);
		if (r2 < 0) {
			free(loc_ids);
			return r2;
		}

		/* Summary: the leaf function, or the leaf's binary when it has no symbol. */
		if (n > 0) {
			uint32_t leaf = w->frames[s->frames];
			const struct profile_location *l = &w->locations[leaf];
			char unk[PATH_MAX + 16];
			const char *name = r->names[leaf];

			if (!name) {
				snprintf(unk, sizeof(unk), "[%s]",
					 l->map < w->n_mappings
						 ? basename_of(w->mappings[l->map].path)
						 : l->map == PROFILE_MAP_KERNEL ? "kernel" : "unknown");
				name = unk;
			}
			hot_add(f, name, s->count);
		}
		pid_add(f, se->pid);
	}
	free(loc_ids);
	return pprof_builder_encode(pb, true, ret_buf, ret_len);
}

static int hot_cmp(const void *a, const void *b)
{
	const struct flush_hot *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples < y->samples ? 1 : -1;
	return strcmp(x->function, y->function);
}

static size_t hottest_locked(struct flusher *f, struct flush_hot *ret, size_t max)
{
	struct flush_hot *all;
	size_t n = 0;

	if (max == 0 || f->n_hot == 0)
		return 0;
	all = malloc(f->n_hot * sizeof(*all));
	if (!all)
		return 0;
	for (uint32_t j = 0; j < HOT_SLOTS; j++)
		if (f->hot[j].name)
			all[n++] = (struct flush_hot){ f->hot[j].name, f->hot[j].samples };
	qsort(all, n, sizeof(*all), hot_cmp);
	if (n > max)
		n = max;
	memcpy(ret, all, n * sizeof(*all));
	free(all);
	return n;
}

static void flush_window(struct flusher *f, struct profile_window *w)
{
	struct resolved res = { 0 };
	struct export_meta meta;
	uint8_t *buf = NULL;
	size_t len = 0;
	char where[PATH_MAX] = "";
	int r;

	f->seq++;
	f->sum.windows++;
	f->sum.samples += w->samples;
	if (w->samples == 0 && w->dropped == 0)
		return; /* nothing sampled: no empty file */

	r = resolve(f, w, &res);
	if (r >= 0)
		r = encode(f, w, &res, &buf, &len);
	resolved_free(&res, w->n_mappings);
	if (r < 0) {
		log_error_errno(r, "encode the profile of window %" PRIu64 ": %m", f->seq);
		f->sum.send_errors++;
		return;
	}
	meta = (struct export_meta){
		.start_real_ns = w->start_real_ns,
		.duration_ns = w->end_mono_ns - w->start_mono_ns,
		.seq = f->seq,
	};
	r = f->cfg.exporter.ops->send(f->cfg.exporter.ctx, buf, len, &meta, where, sizeof(where));
	free(buf);
	if (r < 0) {
		f->sum.send_errors++;
		return;
	}
	f->sum.files++;
	f->sum.bytes += len;
	log_info("window %" PRIu64 ": %" PRIu64 " samples (%" PRIu64 " dropped), %u stacks, "
		 "%u mappings -> %s (%zu KiB)",
		 f->seq, w->samples, w->dropped, w->n_stacks, w->n_mappings, where, len / 1024);
}

static void *flush_thread(void *arg)
{
	struct flusher *f = arg;
	int r;

	r = ksyms_load(f->cfg.kallsyms_path ? f->cfg.kallsyms_path : "/proc/kallsyms", &f->ksyms);
	pthread_mutex_lock(&f->lock);
	f->sum.kernel_symbols = r;
	pthread_mutex_unlock(&f->lock);
	if (r == -EPERM)
		log_warn("kernel symbols are hidden (kernel.kptr_restrict): kernel frames keep only "
			 "their addresses; run as root or grant CAP_SYSLOG");
	else if (r < 0)
		log_warn_errno(r, "read kernel symbols: %m; kernel frames keep only their addresses");

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct profile_window *w;

		while (!f->pending && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!f->pending)
			break;
		w = f->pending;
		f->pending = NULL;
		f->busy = true;
		pthread_mutex_unlock(&f->lock);

		flush_window(f, w);
		profile_window_reset(w, 0, 0);

		pthread_mutex_lock(&f->lock);
		f->published.sum = f->sum;
		symcache_get_stats(f->syms, &f->published.syms);
		f->spare = w;
		f->busy = false;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int flusher_new(const struct flush_config *c, struct profile_window *spare, struct flusher **ret)
{
	struct flusher *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->cfg = *c;
	f->spare = spare;
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		snprintf(f->marker_names[i], sizeof(f->marker_names[i]), "[unwind: %s]",
			 puw_stop_name(i));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->published.symcache_limit_bytes = c->symcache_bytes ? c->symcache_bytes : SYMCACHE_BYTES;
	f->syms = symcache_new((size_t)f->published.symcache_limit_bytes);
	f->pb = pprof_builder_new(0);
	f->names = strtab_new(NAMES_BYTES);
	f->hot = calloc(HOT_SLOTS, sizeof(*f->hot));
	f->pids = calloc(PID_SLOTS, sizeof(*f->pids));
	f->failed = calloc(FAILED_SLOTS, sizeof(*f->failed));
	if (!f->syms || !f->pb || !f->names || !f->hot || !f->pids || !f->failed) {
		flusher_free(f);
		return -ENOMEM;
	}
	r = pthread_create(&f->thread, NULL, flush_thread, f);
	if (r != 0) {
		flusher_free(f);
		return -r;
	}
	f->started = true;
	*ret = f;
	return 0;
}

struct profile_window *flusher_submit(struct flusher *f, struct profile_window *full)
{
	struct profile_window *w;

	pthread_mutex_lock(&f->lock);
	while (f->pending || f->busy || !f->spare)
		pthread_cond_wait(&f->cond, &f->lock);
	w = f->spare;
	f->spare = NULL;
	f->pending = full;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return w;
}

void flusher_finish(struct flusher *f)
{
	if (!f->started)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	f->started = false;
}

void flusher_free(struct flusher *f)
{
	if (!f)
		return;
	flusher_finish(f);
	profile_window_free(f->spare);
	profile_window_free(f->pending);
	if (f->cfg.exporter.ops)
		f->cfg.exporter.ops->free(f->cfg.exporter.ctx);
	symcache_free(f->syms);
	ksyms_free(f->ksyms);
	pprof_builder_free(f->pb);
	strtab_free(f->names);
	free(f->hot);
	free(f->pids);
	free(f->failed);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

void flusher_get_summary(struct flusher *f, struct flush_summary *ret)
{
	pthread_mutex_lock(&f->lock);
	*ret = f->sum;
	pthread_mutex_unlock(&f->lock);
}

void flusher_get_metrics(struct flusher *f, struct flush_metrics *ret)
{
	pthread_mutex_lock(&f->lock);
	*ret = f->published;
	pthread_mutex_unlock(&f->lock);
}

size_t flusher_hottest(struct flusher *f, struct flush_hot *ret, size_t max)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = hottest_locked(f, ret, max);
	pthread_mutex_unlock(&f->lock);
	return n;
}
