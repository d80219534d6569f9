/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JIT perf maps. A parsed map is a sorted array of ranges and one name arena, like the ELF
 * tables of symbolize.c: a lookup is a binary search. Lines are parsed in file order with a
 * sequence number; after sorting by (start, sequence) only the last line for a start is kept,
 * and a range is cut short where a later range starts, so the newest code wins where ranges
 * overlap (the runtime reused the memory).
 *
 * The cache is a small open hash by pid. Each entry remembers the file's identity (device,
 * inode) and size when it was read: a grown file is read again, a different file (pid reuse,
 * runtime restarted) replaces the map. Processes without a map cost one stat per round.
 * Names handed out stay valid until the next round: maps are replaced and evicted only when
 * a process is first looked up in a round (before any of its names are handed out) or at
 * the start of a round.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jitmap.h"
#include "util.h"

#define JITMAPS_DEFAULT_MAX_BYTES ((size_t)128 << 20)
#define JITMAPS_SLOTS 1024u /* power of two; at most half used */
#define JITMAP_MAX_LINE 8192

struct jit_range {
	uint64_t start;
	uint64_t end;
	uint32_t name; /* offset into the arena */
	uint32_t seq;  /* line number, while building */
};

struct jitmap {
	struct jit_range *ranges; /* sorted by start, non-overlapping */
	size_t n;
	char *arena;
	size_t bytes;
};

struct jit_entry {
	uint32_t pid; /* 0 = empty slot */
	uint32_t nspid;
	uint64_t dev, ino, size;
	uint64_t round;	    /* last round the file was checked */
	uint64_t last_used; /* round of the last lookup, for eviction */
	struct jitmap *map; /* NULL: no map (yet) */
	int fd;		    /* the map file, kept open to read it again after the process exits */
};

struct jitmaps {
	char proc_dir[64];
	size_t max_bytes;
	uint64_t round;
	uint32_t n_entries;
	struct jit_entry slots[JITMAPS_SLOTS];
	struct jitmaps_stats stats;
};

static int parse_hex(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; isxdigit((unsigned char)*s); s++, digits++) {
		if (digits >= 16)
			return -ERANGE;
		v = v << 4 | (uint64_t)(isdigit((unsigned char)*s)
						? *s - '0'
						: (tolower((unsigned char)*s) - 'a' + 10));
	}
	if (digits == 0)
		return -EINVAL;
	*p = s;
	*ret = v;
	return 0;
}

static int range_cmp(const void *pa, const void *pb)
{
	const struct jit_range *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct jit_builder {
	struct jit_range *r;
	size_t n, cap;
	char *arena;
	size_t len, cap_arena;
};

static int builder_add(struct jit_builder *b, uint64_t start, uint64_t size, const char *name,
		       size_t name_len)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 1024;
		struct jit_range *r = realloc(b->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		b->r = r;
		b->cap = cap;
	}
	if (b->cap_arena - b->len < name_len + 1) {
		size_t cap = b->cap_arena ? b->cap_arena : 65536;
		char *a;

		while (cap - b->len < name_len + 1)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -EFBIG;
		a = realloc(b->arena, cap);
		if (!a)
			return -ENOMEM;
		b->arena = a;
		b->cap_arena = cap;
	}
	b->r[b->n] = (struct jit_range){
		.start = start,
		.end = start + size,
		.name = (uint32_t)b->len,
		.seq = (uint32_t)b->n,
	};
	b->n++;
	memcpy(b->arena + b->len, name, name_len);
	b->len += name_len;
	b->arena[b->len++] = '\0';
	return 0;
}

/* "START SIZE NAME": returns 1 when added, 0 for a line in another shape, or -errno. */
static int parse_line(struct jit_builder *b, char *line, size_t len)
{
	const char *p = line;
	uint64_t start, size;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (parse_hex(&p, &start) < 0 || *p != ' ')
		return 0;
	p++;
	if (parse_hex(&p, &size) < 0 || *p != ' ' || size == 0 || start > UINT64_MAX - size)
		return 0;
	p++;
	if (*p == '\0')
		return 0;
	return builder_add(b, start, size, p, strlen(p)) < 0 ? -ENOMEM : 1;
}

static int jitmap_finish(struct jit_builder *b, struct jitmap *m)
{
	size_t n = 0;

	qsort(b->r, b->n, sizeof(*b->r), range_cmp);
	/* One range per start: the last line written for it. */
	for (size_t i = 0; i < b->n; i++) {
		if (n > 0 && b->r[n - 1].start == b->r[i].start) {
			b->r[n - 1] = b->r[i];
			continue;
		}
		b->r[n++] = b->r[i];
	}
	/*
	 * Overlaps: a range ends where the next one starts. (Which of two overlapping ranges is
	 * current cannot be told from a start-sorted array alone; the next start is the best
	 * cut, and runtimes only overlap ranges when they reuse freed code memory.)
	 */
	for (size_t i = 0; i + 1 < n; i++)
		if (b->r[i].end > b->r[i + 1].start)
			b->r[i].end = b->r[i + 1].start;
	m->ranges = b->r;
	m->n = n;
	m->arena = b->arena;
	m->bytes = sizeof(*m) + b->cap * sizeof(*b->r) + b->cap_arena;
	b->r = NULL;
	b->arena = NULL;
	return 0;
}

/* Reads the whole file from its start; fd stays open (the stream reads a duplicate). */
static int jitmap_load_fd(int fd, struct jitmap **ret, bool *ret_truncated)
{
	struct jit_builder b = {0};
	struct jitmap *m = NULL;
	size_t cap = 0, total = 0;
	char *line = NULL;
	ssize_t len;
	FILE *f;
	int r = 0, dfd;

	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	/* A duplicate shares the file offset: rewind, the file is read again when it grows. */
	if (lseek(dfd, 0, SEEK_SET) < 0 || !(f = fdopen(dfd, "re"))) {
		r = -errno;
		close(dfd);
		return r;
	}
	*ret_truncated = false;
	while ((len = getline(&line, &cap, f)) >= 0) {
		total += (size_t)len;
		if (total > JITMAP_MAX_FILE_BYTES) {
			*ret_truncated = true;
			break;
		}
		/* A line being written (no newline yet) is read again when the file grows. */
		if (len == 0 || line[len - 1] != '\n' || len > JITMAP_MAX_LINE)
			continue;
		r = parse_line(&b, line, (size_t)len);
		if (r < 0)
			goto out;
	}
	r = 0;
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	jitmap_finish(&b, m);
	*ret = m;
out:
	free(line);
	free(b.r);
	free(b.arena);
	fclose(f);
	return r;
}

int jitmap_load(const char *path, struct jitmap **ret)
{
	bool truncated;
	int fd;

	if (!path || !ret)
		return -EINVAL;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = jitmap_load_fd(fd, ret, &truncated);
	close(fd);
	return r;
}

void jitmap_free(struct jitmap *m)
{
	if (!m)
		return;
	free(m->ranges);
	free(m->arena);
	free(m);
}

size_t jitmap_symbols(const struct jitmap *m)
{
	return m ? m->n : 0;
}

const char *jitmap_lookup(const struct jitmap *m, uint64_t addr, uint64_t *ret_offset)
{
	size_t lo = 0, hi;

	if (!m)
		return NULL;
	hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->ranges[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= m->ranges[lo - 1].end)
		return NULL;
	if (ret_offset)
		*ret_offset = addr - m->ranges[lo - 1].start;
	return m->arena + m->ranges[lo - 1].name;
}

/* ---- per-process cache ---- */

struct jitmaps *jitmaps_new(const char *proc_dir, size_t max_bytes)
{
	struct jitmaps *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->proc_dir, sizeof(c->proc_dir), "%s", proc_dir ? proc_dir : "/proc");
	c->max_bytes = max_bytes ? max_bytes : JITMAPS_DEFAULT_MAX_BYTES;
	c->round = 1;
	return c;
}

static void entry_drop_map(struct jitmaps *c, struct jit_entry *e)
{
	if (!e->map)
		return;
	c->stats.bytes -= e->map->bytes;
	c->stats.symbols -= e->map->n;
	jitmap_free(e->map);
	e->map = NULL;
}

void jitmaps_free(struct jitmaps *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < JITMAPS_SLOTS; i++) {
		jitmap_free(c->slots[i].map);
		if (c->slots[i].pid && c->slots[i].fd >= 0)
			close(c->slots[i].fd);
	}
	free(c);
}

/* Removes slot i of the open hash, moving later entries of its cluster back (no tombstones). */
static void slot_remove(struct jitmaps *c, uint32_t i)
{
	uint32_t j = i;

	entry_drop_map(c, &c->slots[i]);
	if (c->slots[i].fd >= 0)
		close(c->slots[i].fd);
	c->slots[i].fd = -1;
	c->slots[i].pid = 0;
	c->n_entries--;
	for (;;) {
		uint32_t home;

		j = (j + 1) & (JITMAPS_SLOTS - 1);
		if (!c->slots[j].pid)
			return;
		home = (uint32_t)hash_u64(0, c->slots[j].pid) & (JITMAPS_SLOTS - 1);
		/* Move j back to i when its home is not inside (i, j]. */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			c->slots[i] = c->slots[j];
			c->slots[j].pid = 0;
			c->slots[j].map = NULL;
			c->slots[j].fd = -1;
			i = j;
		}
	}
}

/* Evicts the least recently used entry; returns false when there is none. */
static bool evict_one(struct jitmaps *c, bool only_with_map)
{
	uint32_t victim = UINT32_MAX;

	for (uint32_t i = 0; i < JITMAPS_SLOTS; i++) {
		const struct jit_entry *e = &c->slots[i];

		/* Names from this round's lookups are in use until the next round. */
		if (!e->pid || (only_with_map && !e->map) || e->last_used == c->round)
			continue;
		if (victim == UINT32_MAX || e->last_used < c->slots[victim].last_used)
			victim = i;
	}
	if (victim == UINT32_MAX)
		return false;
	slot_remove(c, victim);
	c->stats.evictions++;
	return true;
}

void jitmaps_begin_round(struct jitmaps *c)
{
	c->round++;
	while (c->stats.bytes > c->max_bytes && evict_one(c, true))
		;
}

/* The pid of the process in its own (innermost) pid namespace: last field of NSpid. */
static uint32_t read_nspid(const struct jitmaps *c, uint32_t pid)
{
	char path[96], line[256];
	uint32_t nspid = 0;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%u/status", c->proc_dir, pid) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p, *end;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		for (p = line + 6;; p = end) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			nspid = (uint32_t)v;
		}
		break;
	}
	fclose(f);
	/* Kernels before 4.1 have no NSpid: the process is then in our namespace. */
	return nspid ? nspid : pid;
}

/*
 * Checks the process's perf map once per round: reads it when new, grown or replaced. The
 * file stays open, so that once the process is gone (its /proc/PID/root with it) the lines
 * it wrote last are still read.
 */
static void entry_refresh(struct jitmaps *c, struct jit_entry *e)
{
	char path[PATH_MAX];
	struct jitmap *m = NULL;
	bool truncated = false;
	struct stat st;
	int fd = -1;

	e->round = c->round;
	/* Read every round: the pid may have been reused by a process in another namespace. */
	e->nspid = read_nspid(c, e->pid);
	if (e->nspid && snprintf(path, sizeof(path), "%s/%u/root/tmp/perf-%u.map", c->proc_dir,
				 e->pid, e->nspid) < (int)sizeof(path))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && e->fd >= 0 && e->dev == (uint64_t)st.st_dev &&
	    e->ino == (uint64_t)st.st_ino) {
		close(fd); /* the file we hold */
		fd = -1;
	}
	if (fd >= 0) {
		/* A new file (first sight, or pid reuse): it replaces what we had. */
		if (e->fd >= 0)
			close(e->fd);
		e->fd = fd;
		e->size = UINT64_MAX;
	} else if (e->fd < 0 || fstat(e->fd, &st) < 0) {
		return; /* no map, or the process is gone: keep what we have */
	}
	if (e->map && e->dev == (uint64_t)st.st_dev && e->ino == (uint64_t)st.st_ino &&
	    e->size == (uint64_t)st.st_size)
		return;
	if (jitmap_load_fd(e->fd, &m, &truncated) < 0)
		return;
	c->stats.maps_read++;
	if (truncated)
		c->stats.truncated++;
	entry_drop_map(c, e);
	e->map = m;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = (uint64_t)st.st_size;
	c->stats.bytes += m->bytes;
	c->stats.symbols += m->n;
}

static struct jit_entry *entry_get(struct jitmaps *c, uint32_t pid)
{
	uint32_t i;

	if (pid == 0)
		return NULL;
	for (;;) {
		for (i = (uint32_t)hash_u64(0, pid) & (JITMAPS_SLOTS - 1); c->slots[i].pid;
		     i = (i + 1) & (JITMAPS_SLOTS - 1))
			if (c->slots[i].pid == pid)
				return &c->slots[i];
		if (c->n_entries < JITMAPS_SLOTS / 2)
			break;
		/* Full: forget the least recently used process (maps of this round stay). */
		if (!evict_one(c, false))
			return NULL;
	}
	c->slots[i] = (struct jit_entry){.pid = pid, .fd = -1};
	c->n_entries++;
	return &c->slots[i];
}

const char *jitmaps_lookup(struct jitmaps *c, uint32_t pid, uint64_t addr)
{
	struct jit_entry *e;
	const char *name;

	if (!c)
		return NULL;
	c->stats.lookups++;
	e = entry_get(c, pid);
	if (!e)
		return NULL;
	if (e->round != c->round)
		entry_refresh(c, e);
	e->last_used = c->round;
	name = jitmap_lookup(e->map, addr, NULL);
	if (name)
		c->stats.resolved++;
	return name;
}

void jitmaps_get_stats(const struct jitmaps *c, struct jitmaps_stats *ret)
{
	*ret = c->stats;
}
