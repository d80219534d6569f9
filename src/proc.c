/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process table. Processes and threads live in chained hash tables keyed by pid and tid;
 * each process keeps its executable mappings in a sorted array so a PC is found by binary
 * search. A new mapping replaces whatever it overlaps, as mmap(MAP_FIXED) does in the
 * kernel (munmap produces no record, so an unmapped range stays until something replaces
 * it or the process execs or exits).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"
#include "proc.h"
#include "util.h"

#define PROC_BUCKETS 4096       /* power of two */
#define THREAD_BUCKETS 16384    /* power of two */
#define MAX_MAPS_PER_PROC 16384 /* far above real processes; bounds a pathological one */
#define PATHS_MAX_BYTES (64u << 20)

struct thread_name {
	uint32_t tid;
	char comm[16];
	struct thread_name *hash_next;
};

struct proc_table {
	struct proc *procs[PROC_BUCKETS];
	struct thread_name *threads[THREAD_BUCKETS];
	uint32_t max_procs, max_threads;
	struct strtab *paths;
	struct proc_table_stats stats;
	const struct proc_binary_ops *bin_ops;
	void *bin_ctx;
};

struct proc_table *proc_table_new(uint32_t max_procs, uint32_t max_threads)
{
	struct proc_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->paths = strtab_new(PATHS_MAX_BYTES);
	if (!t->paths) {
		free(t);
		return NULL;
	}
	t->max_procs = max_procs;
	t->max_threads = max_threads;
	return t;
}

void proc_table_set_binary_ops(struct proc_table *t, const struct proc_binary_ops *ops,
			       void *ctx)
{
	t->bin_ops = ops;
	t->bin_ctx = ctx;
}

static void mapping_hold(struct proc_table *t, struct proc_mapping *m, uint32_t pid, bool first)
{
	if (!t->bin_ops)
		return;
	/* A copy (fork, split) holds the same handle again; a new mapping looks its file up. */
	if (first)
		m->bin = t->bin_ops->ref(t->bin_ctx, pid, m->path, m->maj, m->min, m->ino);
	else if (m->bin)
		m->bin = t->bin_ops->ref(t->bin_ctx, pid, m->path, m->maj, m->min, m->ino);
}

static void mapping_release(struct proc_table *t, struct proc_mapping *m)
{
	if (t->bin_ops && m->bin)
		t->bin_ops->unref(t->bin_ctx, m->bin);
	m->bin = NULL;
}

static void maps_clear(struct proc_table *t, struct proc *p)
{
	for (uint32_t i = 0; i < p->n_maps; i++)
		mapping_release(t, &p->maps[i]);
	p->n_maps = 0;
}

static void proc_free(struct proc_table *t, struct proc *p)
{
	if (!p)
		return;
	maps_clear(t, p);
	free(p->maps);
	free(p);
}

void proc_table_free(struct proc_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < PROC_BUCKETS; i++)
		while (t->procs[i]) {
			struct proc *p = t->procs[i];

			t->procs[i] = p->hash_next;
			proc_free(t, p);
		}
	for (size_t i = 0; i < THREAD_BUCKETS; i++)
		while (t->threads[i]) {
			struct thread_name *th = t->threads[i];

			t->threads[i] = th->hash_next;
			free(th);
		}
	strtab_free(t->paths);
	free(t);
}

void proc_table_get_stats(const struct proc_table *t, struct proc_table_stats *ret)
{
	*ret = t->stats;
}

static struct proc **proc_slot(struct proc_table *t, uint32_t pid)
{
	struct proc **pp = &t->procs[hash_u64(0, pid) & (PROC_BUCKETS - 1)];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->hash_next;
	return pp;
}

struct proc *proc_table_lookup(struct proc_table *t, uint32_t pid)
{
	return *proc_slot(t, pid);
}

static void proc_remove(struct proc_table *t, uint32_t pid)
{
	struct proc **pp = proc_slot(t, pid);
	struct proc *p = *pp;

	if (!p)
		return;
	*pp = p->hash_next;
	proc_free(t, p);
	t->stats.procs--;
}

/* A fresh entry for pid, replacing any old one (pid reuse). NULL when the table is full. */
static struct proc *proc_create(struct proc_table *t, uint32_t pid)
{
	struct proc *p;

	proc_remove(t, pid);
	if (t->stats.procs >= t->max_procs) {
		t->stats.procs_dropped++;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->hash_next = t->procs[hash_u64(0, pid) & (PROC_BUCKETS - 1)];
	t->procs[hash_u64(0, pid) & (PROC_BUCKETS - 1)] = p;
	t->stats.procs++;
	t->stats.procs_seen++;
	return p;
}

static struct thread_name **thread_slot(const struct proc_table *t, uint32_t tid)
{
	struct thread_name *const *pp = &t->threads[hash_u64(0, tid) & (THREAD_BUCKETS - 1)];

	while (*pp && (*pp)->tid != tid)
		pp = &(*pp)->hash_next;
	return (struct thread_name **)pp;
}

const char *proc_table_thread_name(const struct proc_table *t, uint32_t tid)
{
	struct thread_name *th = *thread_slot(t, tid);

	return th ? th->comm : NULL;
}

static void thread_set_name(struct proc_table *t, uint32_t tid, const char *comm)
{
	struct thread_name **pp = thread_slot(t, tid), *th = *pp;

	if (!th) {
		if (t->stats.threads >= t->max_threads)
			return;
		th = calloc(1, sizeof(*th));
		if (!th)
			return;
		th->tid = tid;
		*pp = th;
		t->stats.threads++;
	}
	snprintf(th->comm, sizeof(th->comm), "%s", comm);
}

static void thread_remove(struct proc_table *t, uint32_t tid)
{
	struct thread_name **pp = thread_slot(t, tid), *th = *pp;

	if (!th)
		return;
	*pp = th->hash_next;
	free(th);
	t->stats.threads--;
}

const struct proc_mapping *proc_find_mapping(const struct proc *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->n_maps;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct proc_mapping *m = &p->maps[mid];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

static int maps_reserve(struct proc *p, uint32_t n)
{
	struct proc_mapping *maps;
	uint32_t cap;

	if (n <= p->cap_maps)
		return 0;
	if (n > MAX_MAPS_PER_PROC)
		return -E2BIG;
	cap = p->cap_maps ? p->cap_maps * 2 : 16;
	while (cap < n)
		cap *= 2;
	maps = realloc(p->maps, cap * sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	p->maps = maps;
	p->cap_maps = cap;
	return 0;
}

/* Inserts m, cutting away whatever part of existing mappings it overlaps. */
static int proc_add_mapping(struct proc_table *t, struct proc *p, const struct proc_mapping *m)
{
	uint32_t i, j, n_keep = 0;
	struct proc_mapping left = { 0 }, right = { 0 };
	bool has_left = false, has_right = false;

	/* i: first mapping ending after m starts; j: first mapping starting at or after m ends. */
	for (i = 0; i < p->n_maps && p->maps[i].end <= m->start; i++)
		;
	for (j = i; j < p->n_maps && p->maps[j].start < m->end; j++)
		;
	if (i < j && p->maps[i].start < m->start) {
		left = p->maps[i];
		left.end = m->start;
		has_left = true;
	}
	if (i < j && p->maps[j - 1].end > m->end) {
		right = p->maps[j - 1];
		right.pgoff += m->end - right.start;
		right.start = m->end;
		has_right = true;
	}
	n_keep = 1 + has_left + has_right;
	if (p->n_maps - (j - i) + n_keep > p->cap_maps &&
	    maps_reserve(p, p->n_maps - (j - i) + n_keep) < 0) {
		t->stats.maps_dropped++;
		return -E2BIG;
	}
	/* The pieces left of a replaced mapping keep its file: hold it again for each. */
	if (has_left)
		mapping_hold(t, &left, p->pid, false);
	if (has_right)
		mapping_hold(t, &right, p->pid, false);
	for (uint32_t k = i; k < j; k++)
		mapping_release(t, &p->maps[k]);
	memmove(&p->maps[i + n_keep], &p->maps[j], (p->n_maps - j) * sizeof(*p->maps));
	p->n_maps = p->n_maps - (j - i) + n_keep;
	if (has_left)
		p->maps[i++] = left;
	p->maps[i] = *m;
	mapping_hold(t, &p->maps[i++], p->pid, true);
	if (has_right)
		p->maps[i] = right;
	return 0;
}

static const char *intern_path(struct proc_table *t, const char *path)
{
	const char *s = strtab_intern(t->paths, path);

	return s ? s : "[unknown]";
}

void proc_table_mmap(struct proc_table *t, uint32_t pid, uint64_t start, uint64_t len,
		     uint64_t pgoff, uint32_t maj, uint32_t min, uint64_t ino, uint32_t prot,
		     const char *filename, uint64_t time_ns)
{
	struct proc *p = proc_table_lookup(t, pid);
	struct proc_mapping m;

	if (!(prot & PROT_EXEC) || len == 0)
		return;
	if (!p)
		p = proc_create(t, pid);
	if (!p)
		return;
	m = (struct proc_mapping){
		.start = start,
		.end = start + len,
		.pgoff = pgoff,
		.ino = ino,
		.maj = maj,
		.min = min,
		.mapped_mono_ns = time_ns,
		.path = intern_path(t, filename),
	};
	(void)proc_add_mapping(t, p, &m);
	/* binfmt_elf maps the program before its interpreter: the first file after exec. */
	if (p->exe_pending && filename[0] == '/') {
		p->exe = m.path;
		p->exe_pending = false;
	}
}

void proc_table_comm(struct proc_table *t, uint32_t pid, uint32_t tid, const char *comm,
		     bool exec)
{
	struct proc *p = proc_table_lookup(t, pid);

	thread_set_name(t, tid, comm);
	if (exec) {
		/* The old image is gone: its mappings and executable with it. */
		if (!p)
			p = proc_create(t, pid);
		if (!p)
			return;
		maps_clear(t, p);
		p->exe = NULL;
		p->exe_pending = true;
		p->label_state = PROC_LABELS_UNKNOWN; /* a new program: decide again */
		p->label_moves = 0;
	}
	if (p && (pid == tid || exec))
		snprintf(p->comm, sizeof(p->comm), "%s", comm);
}

void proc_table_fork(struct proc_table *t, uint32_t pid, uint32_t ppid, uint32_t tid,
		     uint32_t ptid)
{
	const char *parent_thread = proc_table_thread_name(t, ptid);
	struct proc *parent, *p;

	if (parent_thread) {
		char name[16];

		snprintf(name, sizeof(name), "%s", parent_thread);
		thread_set_name(t, tid, name);
	}
	if (pid == ppid)
		return; /* a new thread in an existing process */

	/* A new process: fork copies the parent's address space and name. */
	p = proc_create(t, pid);
	if (!p)
		return;
	parent = proc_table_lookup(t, ppid);
	if (!parent)
		return;
	memcpy(p->comm, parent->comm, sizeof(p->comm));
	p->exe = parent->exe;
	p->exe_pending = parent->exe_pending;
	if (parent->n_maps && maps_reserve(p, parent->n_maps) == 0) {
		memcpy(p->maps, parent->maps, parent->n_maps * sizeof(*p->maps));
		p->n_maps = parent->n_maps;
		for (uint32_t i = 0; i < p->n_maps; i++)
			mapping_hold(t, &p->maps[i], pid, false);
	}
}

void proc_table_exit(struct proc_table *t, uint32_t pid, uint32_t tid)
{
	thread_remove(t, tid);
	if (pid == tid)
		proc_remove(t, pid);
}

/* /proc reading: at start-up and for a pid first met in a sample. */

struct scan_ctx {
	struct proc_table *t;
	struct proc *p;
};

static int scan_mapping(void *userdata, const struct maps_entry *e)
{
	struct scan_ctx *c = userdata;
	struct proc_mapping m;

	if (!(e->prot & MAPS_PROT_EXEC))
		return 0;
	m = (struct proc_mapping){
		.start = e->start,
		.end = e->end,
		.pgoff = e->offset,
		.ino = e->inode,
		.maj = e->dev_major,
		.min = e->dev_minor,
		/*
		 * When it was mapped is unknown, but not after now: a file at the path written
		 * later is not this one. A file already deleted was mapped before whatever is
		 * at its path now: 1 (boot) rejects every file written since.
		 */
		.mapped_mono_ns = e->deleted ? 1 : now_monotonic_ns(),
		.path = intern_path(c->t, e->path[0] ? e->path : "[anon]"),
	};
	(void)proc_add_mapping(c->t, c->p, &m);
	return 0;
}

static int read_small_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (int)n;
}

static void scan_threads(struct proc_table *t, uint32_t pid)
{
	char path[64], comm[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		uint64_t tid;

		if (parse_u64(de->d_name, 1, UINT32_MAX, &tid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%u/task/%u/comm", pid, (uint32_t)tid);
		if (read_small_file(path, comm, sizeof(comm)) >= 0)
			thread_set_name(t, (uint32_t)tid, comm);
	}
	closedir(d);
}

int proc_table_scan(struct proc_table *t, uint32_t pid)
{
	char path[64], buf[PATH_MAX];
	struct scan_ctx c = { .t = t };
	ssize_t n;
	int r;

	c.p = proc_create(t, pid);
	if (!c.p)
		return -ENOSPC;
	c.p->from_proc = true;
	t->stats.proc_reads++;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	r = read_small_file(path, buf, sizeof(buf));
	if (r < 0)
		return r; /* gone, or a kernel we cannot read: keep the empty entry */
	/* comm is at most 15 characters (TASK_COMM_LEN); keep what fits. */
	memcpy(c.p->comm, buf, sizeof(c.p->comm) - 1);
	c.p->comm[sizeof(c.p->comm) - 1] = '\0';

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		/* A replaced binary reads as "path (deleted)"; its mapping path has no suffix. */
		if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
			buf[n - 10] = '\0';
		c.p->exe = intern_path(t, buf);
	}
	r = maps_read((int)pid, NULL, scan_mapping, &c);
	scan_threads(t, pid);
	return r < 0 ? r : 0;
}

int proc_table_scan_all(struct proc_table *t)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t pid;

		if (parse_u64(de->d_name, 1, UINT32_MAX, &pid) < 0)
			continue;
		if (proc_table_scan(t, (uint32_t)pid) >= 0)
			n++;
	}
	closedir(d);
	return n;
}

struct proc *proc_table_lookup_or_scan(struct proc_table *t, uint32_t pid)
{
	struct proc *p = proc_table_lookup(t, pid);

	if (p || pid == 0)
		return p;
	(void)proc_table_scan(t, pid);
	return proc_table_lookup(t, pid);
}
