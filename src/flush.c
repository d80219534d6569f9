/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flush thread. Per window: resolve every location to a function name (symcache for user
 * binaries, read through /proc/PID/root so containers resolve; kallsyms for the kernel),
 * then, per series, emit the mappings, functions and locations its samples use and the
 * samples into a pprof builder, gzip, export with the series' labels.
 *
 * A location gets one Line per function its code stands for, innermost inlined function
 * first, each with its source line when DWARF gave one; function names are demangled per
 * --demangle, the name as found in the binary kept as system_name. A mapping gets
 * has_functions only when every one of its locations was named, and has_filenames,
 * has_line_numbers and has_inline_frames only when, in addition, its binary's DWARF was
 * consulted for every location (code DWARF does not describe, such as crt's _start, keeps
 * line 0), so a backend or `go tool pprof` can still symbolize the rest from the build-id
 * and address. With FLUSH_SYMBOLIZE_NONE no location is named and
 * the build-ids are all that is read from the binaries.
 *
 * Which file a mapping's symbols come from: the file may have been deleted or replaced on
 * disk since it was mapped, and the process may have exited. While the process lives,
 * /proc/PID/map_files/START-END is the very file it mapped (deleted or not); otherwise its
 * path through /proc/PID/root, then on the host. Whatever is opened must have the inode the
 * mapping was made from (MMAP2's ino) and, opened by path, no mtime after the mapping's
 * time, else it is a different build now at that path: the mapping stays unnamed (counted
 * as mismatched) rather than named wrongly. A file opened
 * once stays pinned (referenced) while windows keep showing it, so samples taken after the
 * process exited or the file was replaced still resolve. Code without a file ([anon],
 * memfd) and addresses no symbol covers are looked up in the process's JIT perf map; the
 * [vdso] in the agent's own vDSO image.
 *
 * The run-wide summary (hottest functions, distinct processes) is kept in bounded tables
 * owned by this thread and read under the lock once the thread is done.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

#include "flush.h"
#include "jitmap.h"
#include "log.h"
#include "demangle.h"
#include "pprof.h"
#include "puw.h"
#include "symbolize.h"
#include "util.h"
#include "vdso.h"

#define HOT_SLOTS 65536u    /* distinct leaf functions remembered for the summary */
#define PID_SLOTS 262144u   /* distinct pids counted for the summary */
#define FAILED_SLOTS 16384u /* distinct unreadable files counted for the summary */
#define NAMES_BYTES (32u << 20)
#define PIN_SLOTS 8192u   /* files kept open (as symbol tables) across windows */
#define PIN_WINDOWS 6     /* ... while seen in one of this many last windows */
#define JITMAPS_BYTES (128u << 20)
/* Clock granularity of inode times (a jiffy on some filesystems) and clock skew. */
#define MTIME_SLACK_NS (20 * 1000000ull)

struct pin {
	const char *path; /* interned by the process table; NULL = empty slot */
	uint64_t ino;
	uint32_t maj, min;
	uint64_t last_seq;
	struct sym_binary *bin; /* a reference */
};
#define DEMANGLE_BYTES (16u << 20)
/* Lines per location at most: the function and the functions inlined into it. */
#define MAX_LINES 32

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
	struct demangler *demangler;
	struct ksyms *ksyms;
	struct pprof_builder *pb;
	struct strtab *names;
	struct hot_entry *hot;
	uint32_t n_hot;
	uint32_t *pids;
	const char **failed; /* interned paths of files that could not be read, by pointer */
	const char **mismatched; /* interned paths of files replaced since they were mapped */
	struct pin *pins;
	uint32_t n_pins;
	size_t pinned_bytes; /* symbol memory the pins hold: at most half the cache's budget */
	struct jitmaps *jit;
	struct debuginfod_provider *dbg;
	int vdso_fd;
	struct flush_summary sum;
	struct flush_metrics published; /* under lock: sum and cache figures after a window */
	char marker_names[_PUW_STOP_MAX][40]; /* "[unwind: <stop reason>]" */
	struct labelset overflow_labels; /* node, static labels, series_overflow="true" */
};

/* Per-window working state, rebuilt for every window. */
struct resolved {
	struct sym_binary **bins; /* per window mapping, NULL when unreadable or pseudo */
	bool *owned;              /* bins[i] holds a reference of its own (not a shared slot) */
	const char **names;       /* per location: the innermost name, NULL when unresolved */
	uint32_t *first;          /* per location: index of its first frame in frames */
	uint8_t *n_frames;        /* per location: frames, innermost first */
	struct sym_frame *frames; /* borrowed from bins (held) or ksyms or the flusher */
	size_t n_pool, cap_pool;
	bool *all_named;          /* per window mapping */
	bool *all_lines;          /* per window mapping: symbolized with DWARF (lines, inlines) */
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

/* Counts a file whose inode is no longer the mapped one, once per path over the run. */
static void mismatched_add(struct flusher *f, const char *path)
{
	uint64_t j;

	for (j = hash_u64(HASH_INIT, (uintptr_t)path) & (FAILED_SLOTS - 1); f->mismatched[j];
	     j = (j + 1) & (FAILED_SLOTS - 1))
		if (f->mismatched[j] == path)
			return;
	if (f->sum.binaries_mismatched + 1 >= FAILED_SLOTS / 2)
		return;
	f->mismatched[j] = path;
	f->sum.binaries_mismatched++;
}

/* perf names anonymous memory "//anon": a path, but of no file. */
static bool is_file_path(const char *path)
{
	return path && path[0] == '/' && path[1] != '/';
}

static uint64_t pin_hash(const struct profile_mapping *m)
{
	return hash_u64(hash_u64(hash_u64(HASH_INIT, (uintptr_t)m->path), m->ino),
			((uint64_t)m->maj << 32) | m->min);
}

static struct pin *pin_slot(struct flusher *f, const struct profile_mapping *m)
{
	uint64_t j;

	for (j = pin_hash(m) & (PIN_SLOTS - 1); f->pins[j].path; j = (j + 1) & (PIN_SLOTS - 1)) {
		const struct pin *p = &f->pins[j];

		if (p->path == m->path && p->ino == m->ino && p->maj == m->maj && p->min == m->min)
			break;
	}
	return &f->pins[j];
}

static void pin_add(struct flusher *f, const struct profile_mapping *m, struct sym_binary *b)
{
	struct pin *p;

	size_t budget = f->cfg.symbol_cache_bytes ? f->cfg.symbol_cache_bytes
						   : ((size_t)256 << 20); /* symcache's default */

	/* Pinned entries cannot be evicted: keep them to a share of the cache's budget. */
	if (f->n_pins + 1 >= PIN_SLOTS / 2 || f->pinned_bytes + sym_binary_bytes(b) > budget / 2)
		return;
	p = pin_slot(f, m);
	if (p->path)
		return;
	f->pinned_bytes += sym_binary_bytes(b);
	*p = (struct pin){ .path = m->path, .ino = m->ino, .maj = m->maj, .min = m->min,
			   .last_seq = f->seq, .bin = sym_binary_ref(b) };
	f->n_pins++;
}

/* Releases the pins no window has shown for PIN_WINDOWS windows (rebuilds the table). */
static void pins_expire(struct flusher *f)
{
	struct pin *old;
	uint32_t n = 0;

	for (uint32_t j = 0; j < PIN_SLOTS; j++)
		if (f->pins[j].path && f->seq - f->pins[j].last_seq >= PIN_WINDOWS)
			n++;
	if (n == 0)
		return;
	old = malloc(PIN_SLOTS * sizeof(*old));
	if (!old)
		return;
	memcpy(old, f->pins, PIN_SLOTS * sizeof(*old));
	memset(f->pins, 0, PIN_SLOTS * sizeof(*old));
	f->n_pins = 0;
	for (uint32_t j = 0; j < PIN_SLOTS; j++) {
		struct pin *p;

		if (!old[j].path)
			continue;
		if (f->seq - old[j].last_seq >= PIN_WINDOWS) {
			f->pinned_bytes -= sym_binary_bytes(old[j].bin);
			sym_binary_unref(old[j].bin);
			continue;
		}
		p = pin_slot(f, &(struct profile_mapping){ .path = old[j].path, .ino = old[j].ino,
							   .maj = old[j].maj, .min = old[j].min });
		*p = old[j];
		f->n_pins++;
	}
	free(old);
}

/*
 * Opens path and checks that it is the file the mapping was made from: the same inode as the
 * MMAP2 record (0 when unknown, e.g. a mapping read from /proc without one) and, opened by
 * path, not written since the mapping was made. Returns the fd,
 * -ESTALE for another file now at that path, or -errno.
 */
static int open_mapped_file(const char *path, const struct profile_mapping *m, bool by_path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOEXEC;
	}
	if (m->ino && (uint64_t)st.st_ino != m->ino) {
		close(fd);
		return -ESTALE;
	}
	/*
	 * A file written after the mapping was made is not the mapped one even with the same
	 * inode number: filesystems reuse the number of a deleted file at once. mtime, not
	 * ctime: chmod, chown and hard links change ctime, not the contents. (A replacement that
	 * keeps an older mtime, cp -p or a package, on a reused inode of a process that exited
	 * before its first window was flushed, is not caught.) Not for map_files: that is the
	 * mapped file itself.
	 */
	if (by_path && m->mapped_real_ns &&
	    (uint64_t)st.st_mtim.tv_sec * NSEC_PER_SEC + (uint64_t)st.st_mtim.tv_nsec >
		    m->mapped_real_ns + MTIME_SLACK_NS) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* The symbols of the file open as fd (closed here), named name; NULL when unreadable. */
static struct sym_binary *load_fd(struct flusher *f, int fd, const char *name)
{
	struct sym_binary *b = NULL;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (symcache_get_named(f->syms, path, name, &b) < 0)
		b = NULL;
	close(fd);
	return b;
}

/*
 * The mapped file, found in the order given at the top of this file and checked to be the
 * mapped inode. NULL when none could be read; *stale tells whether one had another inode.
 */
static struct sym_binary *load_mapped_file(struct flusher *f, const struct profile_mapping *m,
					   bool *stale)
{
	char path[PATH_MAX], name[PATH_MAX];
	int fd;

	/* Debug files are looked for next to the binary as its process sees it. */
	if (snprintf(name, sizeof(name), "/proc/%u/root%s", m->pid, m->path) >= (int)sizeof(name) ||
	    access(name, F_OK) < 0)
		snprintf(name, sizeof(name), "%s", m->path);
	/* map_files names the VMA by its exact range; a mapping cut by a later one has none. */
	snprintf(path, sizeof(path), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, m->pid, m->start,
		 m->end);
	fd = open_mapped_file(path, m, false);
	if (fd < 0) {
		*stale |= fd == -ESTALE;
		if (snprintf(path, sizeof(path), "/proc/%u/root%s", m->pid, m->path) <
		    (int)sizeof(path))
			fd = open_mapped_file(path, m, true);
	}
	if (fd < 0) {
		*stale |= fd == -ESTALE;
		/* The process is gone (or we cannot enter its root): try the host path. */
		fd = open_mapped_file(m->path, m, true);
		*stale |= fd == -ESTALE;
	}
	return fd >= 0 ? load_fd(f, fd, name) : NULL;
}

/* Opens the binary behind a mapping: pinned, the vDSO, or load_mapped_file(). */
static struct sym_binary *open_binary(struct flusher *f, const struct profile_mapping *m)
{
	struct sym_binary *b = NULL;
	bool stale = false;
	struct pin *pin;

	if (strcmp(m->path, "[vdso]") == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", f->vdso_fd);
		return f->vdso_fd >= 0 && symcache_get(f->syms, path, &b) == 0 ? b : NULL;
	}
	if (!is_file_path(m->path))
		return NULL;
	pin = pin_slot(f, m);
	if (pin->path) {
		pin->last_seq = f->seq;
		/* Its debug file was still on its way: the cache may build it better now. */
		if (sym_binary_debug_pending(pin->bin) && (b = load_mapped_file(f, m, &stale))) {
			f->pinned_bytes += sym_binary_bytes(b) - sym_binary_bytes(pin->bin);
			sym_binary_unref(pin->bin);
			pin->bin = sym_binary_ref(b);
			return b;
		}
		return sym_binary_ref(pin->bin);
	}
	b = load_mapped_file(f, m, &stale);
	if (b) {
		pin_add(f, m, b);
		return b;
	}
	log_debug("pid %u %s [%" PRIx64 "-%" PRIx64 ") ino %" PRIu64 ": %s", m->pid, m->path,
		  m->start, m->end, m->ino,
		  stale ? "replaced on disk since it was mapped" : "cannot be read");
	if (stale)
		mismatched_add(f, m->path);
	else
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
	free(r->first);
	free(r->n_frames);
	free(r->frames);
	free(r->all_named);
	free(r->all_lines);
}

/* Appends frames for location i. */
static int resolved_add_frames(struct resolved *r, uint32_t i, const struct sym_frame *fr,
			       size_t n)
{
	if (r->cap_pool - r->n_pool < n) {
		size_t cap = r->cap_pool ? r->cap_pool : 1024;
		struct sym_frame *p;

		while (cap - r->n_pool < n)
			cap *= 2;
		p = realloc(r->frames, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->frames = p;
		r->cap_pool = cap;
	}
	r->first[i] = (uint32_t)r->n_pool;
	r->n_frames[i] = (uint8_t)n;
	memcpy(r->frames + r->n_pool, fr, n * sizeof(*fr));
	r->n_pool += n;
	r->names[i] = n ? fr[0].name : NULL;
	return 0;
}

static int resolve(struct flusher *f, const struct profile_window *w, struct resolved *r)
{
	bool none = f->cfg.symbolize == FLUSH_SYMBOLIZE_NONE;
	uint32_t *first;
	uint64_t n_slots;

	r->bins = calloc(w->n_mappings + 1, sizeof(*r->bins));
	r->names = calloc(w->n_locations + 1, sizeof(*r->names));
	r->all_named = calloc(w->n_mappings + 1, sizeof(*r->all_named));
	r->owned = calloc(w->n_mappings + 1, sizeof(*r->owned));
	r->all_lines = calloc(w->n_mappings + 1, sizeof(*r->all_lines));
	r->first = calloc(w->n_locations + 1, sizeof(*r->first));
	r->n_frames = calloc(w->n_locations + 1, sizeof(*r->n_frames));
	if (!r->bins || !r->names || !r->all_named || !r->owned || !r->all_lines || !r->first ||
	    !r->n_frames)
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
		r->all_named[i] = !none;
		r->all_lines[i] = r->bins[i] != NULL && !none && sym_binary_has_dwarf(r->bins[i]);
	}
	free(first);
	for (uint32_t i = 0; i < w->n_locations; i++) {
		const struct profile_location *l = &w->locations[i];
		struct sym_frame fr[MAX_LINES];
		size_t n = 0;
		int rr;

		if (none) {
			n = 0; /* the backend names everything, kernel frames included */
		} else if (l->map == PROFILE_MAP_KERNEL) {
			fr[0] = (struct sym_frame){
				.name = f->ksyms ? ksyms_lookup(f->ksyms, l->addr, NULL) : NULL,
			};
			n = fr[0].name != NULL;
		} else if (l->map == PROFILE_MAP_MARKER) {
			fr[0] = (struct sym_frame){
				.name = l->addr < _PUW_STOP_MAX ? f->marker_names[l->addr] : NULL,
			};
			n = fr[0].name != NULL;
		} else if (l->map < w->n_mappings && r->bins[l->map]) {
			const struct profile_mapping *m = &w->mappings[l->map];

			n = sym_binary_frames(r->bins[l->map], l->addr - m->start + m->pgoff, fr,
					      MAX_LINES);
		}
		/* JIT code lives in anonymous (or memfd) mappings the runtime lists in its map. */
		if (!n && !none && l->map < w->n_mappings && f->jit) {
			fr[0] = (struct sym_frame){
				.name = jitmaps_lookup(f->jit, w->mappings[l->map].pid, l->addr),
			};
			n = fr[0].name != NULL;
			f->sum.jit_resolved += n;
		}
		rr = resolved_add_frames(r, i, fr, n);
		if (rr < 0)
			return rr;
		if (l->map < w->n_mappings) {
			f->sum.locations++;
			if (n)
				f->sum.locations_named++;
			if (n > 1)
				f->sum.inline_frames += n - 1;
			if (!n)
				r->all_named[l->map] = false;
		}
	}
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Adds window location li (and its mapping, the first time) to the profile being built. */
static int add_location(struct flusher *f, const struct profile_window *w,
			const struct resolved *r, uint32_t li, uint64_t kernel_id,
			uint64_t *map_ids, uint64_t *loc_ids)
{
	const struct profile_location *l = &w->locations[li];
	struct pprof_line lines[MAX_LINES];
	size_t n = r->n_frames[li];
	uint64_t map_id = 0; /* unknown, or a marker */
	int64_t id;

	if (l->map == PROFILE_MAP_KERNEL) {
		map_id = kernel_id;
	} else if (l->map < w->n_mappings) {
		if (!map_ids[l->map]) {
			const struct profile_mapping *m = &w->mappings[l->map];
			struct pprof_mapping pm = {
				.memory_start = m->start,
				.memory_limit = m->end,
				.file_offset = m->pgoff,
				.filename = m->path,
				.build_id = r->bins[l->map] ? sym_binary_build_id(r->bins[l->map])
							    : NULL,
				.has_functions = r->all_named[l->map],
				.has_filenames = r->all_named[l->map] && r->all_lines[l->map],
				.has_line_numbers = r->all_named[l->map] && r->all_lines[l->map],
				.has_inline_frames = r->all_named[l->map] && r->all_lines[l->map],
			};

			id = pprof_builder_add_mapping(f->pb, &pm);
			if (id < 0)
				return (int)id;
			map_ids[l->map] = (uint64_t)id;
		}
		map_id = map_ids[l->map];
	}
	for (size_t k = 0; k < n; k++) {
		const struct sym_frame *fr = &r->frames[r->first[li] + k];
		const char *name = l->map < w->n_mappings ? demangler_get(f->demangler, fr->name)
							  : fr->name;
		int64_t fid = pprof_builder_add_function(f->pb, name, fr->name, fr->file);

		if (fid < 0)
			return (int)fid;
		lines[k] = (struct pprof_line){ .function_id = (uint64_t)fid, .line = fr->line };
	}
	id = pprof_builder_add_location(f->pb, map_id, l->addr, lines, n);
	if (id < 0)
		return (int)id;
	loc_ids[li] = (uint64_t)id;
	return 0;
}

/*
 * Encodes the samples of one series. Mappings and locations are added when a stack of the
 * series first uses them (map_ids/loc_ids: 0 = not yet added), so each profile only carries
 * what its own samples reference.
 */
static int encode(struct flusher *f, const struct profile_window *w, const struct resolved *r,
		  uint32_t series, const struct labelset *labels, uint64_t *map_ids,
		  uint64_t *loc_ids, uint8_t **ret_buf, size_t *ret_len)
{
	struct pprof_builder *pb = f->pb;
	uint64_t kernel_id = 0, kmin = UINT64_MAX, kmax = 0;
	char comment[LABEL_MAX_BYTES + 64];
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

	for (size_t i = 0; labels && i < labels->n; i++) {
		/* The series' labels, for readers of the file (backends get them per upload). */
		snprintf(comment, sizeof(comment), "label %s=%s", labels->v[i].name,
			 labels->v[i].value);
		(void)pprof_builder_add_comment(pb, comment);
	}
	memset(map_ids, 0, (w->n_mappings + 1) * sizeof(*map_ids));
	memset(loc_ids, 0, (w->n_locations + 1) * sizeof(*loc_ids));

	/* The kernel mapping spans the kernel addresses this series' stacks hold. */
	for (uint32_t i = 0; i < w->n_stacks; i++) {
		const struct profile_stack *s = &w->stacks[i];

		if (w->threads[s->thread].series != series)
			continue;
		for (uint32_t k = 0; k < s->n_frames; k++) {
			const struct profile_location *l = &w->locations[w->frames[s->frames + k]];

			if (l->map != PROFILE_MAP_KERNEL)
				continue;
			if (l->addr < kmin)
				kmin = l->addr;
			if (l->addr > kmax)
				kmax = l->addr;
		}
	}
	if (kmax) {
		struct pprof_mapping km = {
			.memory_start = kmin,
			.memory_limit = kmax + 1,
			.filename = "[kernel.kallsyms]",
			.has_functions = f->ksyms != NULL && f->cfg.symbolize != FLUSH_SYMBOLIZE_NONE,
		};
		int64_t id = pprof_builder_add_mapping(pb, &km);

		if (id < 0)
			return (int)id;
		kernel_id = (uint64_t)id;
	}

	for (uint32_t i = 0; i < w->n_stacks; i++) {
		const struct profile_stack *s = &w->stacks[i];
		const struct profile_thread *se = &w->threads[s->thread];
		uint64_t ids[640];
		int64_t values[2] = { (int64_t)s->count, (int64_t)s->cpu_ns };
		char pid[16], tid[16], cpu[16];
		struct pprof_label slabels[6] = {
			{ .key = "pid", .str = pid },
			{ .key = "tid", .str = tid },
			{ .key = "cpu", .str = cpu },
			{ .key = "comm", .str = se->comm },
			{ .key = "thread_name", .str = se->thread_name },
			{ .key = "executable", .str = se->exe },
		};
		uint32_t n = s->n_frames < ARRAY_SIZE(ids) ? s->n_frames : ARRAY_SIZE(ids);

		if (se->series != series)
			continue;
		snprintf(pid, sizeof(pid), "%u", se->pid);
		snprintf(tid, sizeof(tid), "%u", se->tid);
		snprintf(cpu, sizeof(cpu), "%u", se->cpu);
		for (uint32_t k = 0; k < n; k++) {
			uint32_t li = w->frames[s->frames + k];

			if (!loc_ids[li]) {
				r2 = add_location(f, w, r, li, kernel_id, map_ids, loc_ids);
				if (r2 < 0)
					return r2;
			}
			ids[k] = loc_ids[li];
		}
		r2 = pprof_builder_add_sample(pb, ids, n, values, 2, slabels, se->exe ? 6 : 5);
		if (r2 < 0)
			return r2;

		/* Summary: the leaf function, or the leaf's binary when it has no symbol. */
		if (n > 0) {
			uint32_t leaf = w->frames[s->frames];
			const struct profile_location *l = &w->locations[leaf];
			char unk[PATH_MAX + 16];
			const char *name = r->names[leaf];

			if (name && l->map < w->n_mappings)
				name = demangler_get(f->demangler, name);

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
	uint64_t *map_ids = NULL, *loc_ids = NULL;
	int r;

	f->seq++;
	f->sum.windows++;
	f->sum.samples += w->samples;
	f->sum.overflow_samples += w->overflow_samples;
	if (w->samples == 0 && w->dropped == 0)
		return; /* nothing sampled: no empty file */
	if (w->n_series > f->sum.max_series)
		f->sum.max_series = w->n_series;

	pins_expire(f);
	jitmaps_begin_round(f->jit);
	r = resolve(f, w, &res);
	map_ids = malloc((w->n_mappings + 1) * sizeof(*map_ids));
	loc_ids = malloc((w->n_locations + 1) * sizeof(*loc_ids));
	if (r >= 0 && (!map_ids || !loc_ids))
		r = -ENOMEM;
	if (r < 0) {
		log_error_errno(r, "symbolize window %" PRIu64 ": %m", f->seq);
		f->sum.send_errors++;
	}
	/* One profile per series: the exporter gets each with its label set. */
	for (uint32_t i = 0; r >= 0 && i < w->n_series; i++) {
		const struct labelset *labels = w->series[i].labels ? w->series[i].labels
								     : &f->overflow_labels;
		struct export_meta meta;
		uint8_t *buf = NULL;
		size_t len = 0;
		char where[PATH_MAX] = "";
		int e;

		e = encode(f, w, &res, i, labels, map_ids, loc_ids, &buf, &len);
		if (e < 0) {
			log_error_errno(e, "encode the profile of window %" PRIu64 ": %m", f->seq);
			f->sum.send_errors++;
			continue;
		}
		meta = (struct export_meta){
			.start_real_ns = w->start_real_ns,
			.duration_ns = w->end_mono_ns - w->start_mono_ns,
			.seq = f->seq,
			.labels = labels,
			.labels_hash = labelset_hash(labels),
		};
		e = 0;
		for (size_t x = 0; x < f->cfg.n_exporters; x++) {
			const struct exporter *ex = &f->cfg.exporters[x];
			char to[PATH_MAX];

			if (ex->ops->send(ex->ctx, buf, len, &meta, to, sizeof(to)) < 0)
				e = -EIO;
			else if (!where[0])
				memcpy(where, to, sizeof(where));
		}
		free(buf);
		if (e < 0) {
			f->sum.send_errors++;
			continue;
		}
		f->sum.files++;
		f->sum.bytes += len;
		if (w->n_series <= 3)
			log_info("window %" PRIu64 ": %" PRIu64 " samples (%" PRIu64 " dropped), "
				 "%u stacks, %u mappings -> %s (%zu KiB)",
				 f->seq, w->samples, w->dropped, w->n_stacks, w->n_mappings, where,
				 len / 1024);
	}
	if (w->n_series > 3)
		log_info("window %" PRIu64 ": %" PRIu64 " samples (%" PRIu64 " dropped) in %u "
			 "series, %u stacks, %u mappings", f->seq, w->samples, w->dropped,
			 w->n_series, w->n_stacks, w->n_mappings);
	if (w->overflow_samples)
		log_warn("window %" PRIu64 ": %" PRIu64 " samples of series past --max-series %u "
			 "went to the series_overflow series", f->seq, w->overflow_samples,
			 w->lim.max_series);
	free(map_ids);
	free(loc_ids);
	resolved_free(&res, w->n_mappings);
	{
		struct jitmaps_stats js;

		jitmaps_get_stats(f->jit, &js);
		f->sum.jit_maps_read = js.maps_read;
	}
	/* No demangled name is held any more: the memo may start over if it grew too big. */
	demangler_trim(f->demangler);
	pthread_mutex_lock(&f->lock);
	symcache_get_stats(f->syms, &f->sum.symbols);
	pthread_mutex_unlock(&f->lock);
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
		uint64_t spool_total;

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
		spool_total = 0;
		for (size_t i = 0; i < f->cfg.n_exporters; i++) {
			const struct exporter *e = &f->cfg.exporters[i];
			struct export_stats es = { 0 };

			if (e->ops->get_stats) {
				e->ops->get_stats(e->ctx, &es);
				spool_total += es.spool_bytes;
			}
		}

		pthread_mutex_lock(&f->lock);
		f->published.sum = f->sum;
		f->published.spool_bytes = spool_total;
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
	f->vdso_fd = -1;
	f->cfg = *c;
	f->spare = spare;
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		snprintf(f->marker_names[i], sizeof(f->marker_names[i]), "[unwind: %s]",
			 puw_stop_name(i));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	labelset_init(&f->overflow_labels);
	for (size_t i = 0; c->overflow_labels && i < c->overflow_labels->n; i++)
		(void)labelset_set(&f->overflow_labels, c->overflow_labels->v[i].name,
				   c->overflow_labels->v[i].value);
	(void)labelset_set(&f->overflow_labels, "series_overflow", "true");
	{
		struct symcache_config sc = {
			.max_bytes = c->symbol_cache_bytes,
			.build_ids_only = c->symbolize == FLUSH_SYMBOLIZE_NONE,
			.dwarf = c->symbolize == FLUSH_SYMBOLIZE_LOCAL,
			.debuginfo = c->debuginfo,
		};

		f->syms = symcache_new_config(&sc);
	}
	f->demangler = demangler_new(c->demangle, DEMANGLE_BYTES);
	f->published.symcache_limit_bytes = c->symbol_cache_bytes ? c->symbol_cache_bytes
								 : ((size_t)256 << 20);
	f->pb = pprof_builder_new(0);
	f->names = strtab_new(NAMES_BYTES);
	f->hot = calloc(HOT_SLOTS, sizeof(*f->hot));
	f->pids = calloc(PID_SLOTS, sizeof(*f->pids));
	f->failed = calloc(FAILED_SLOTS, sizeof(*f->failed));
	f->mismatched = calloc(FAILED_SLOTS, sizeof(*f->mismatched));
	f->pins = calloc(PIN_SLOTS, sizeof(*f->pins));
	f->jit = jitmaps_new(NULL, JITMAPS_BYTES);
	f->vdso_fd = vdso_image_memfd();
	if (!f->syms || !f->demangler || !f->pb || !f->names || !f->hot || !f->pids || !f->failed ||
	    !f->mismatched || !f->pins || !f->jit) {
		flusher_free(f);
		return -ENOMEM;
	}
	if (c->debuginfod_urls && c->debuginfod_urls[0]) {
		r = debuginfod_provider_new(c->debuginfod_urls, c->debuginfod_timeout_s, 0, &f->dbg);
		if (r < 0) {
			flusher_free(f);
			return log_error_errno(r, "start the debuginfod client for %s: %m",
					       c->debuginfod_urls);
		}
		symcache_set_debug_provider(f->syms, debuginfod_provider_find, f->dbg);
		f->sum.debuginfod = true;
		log_info("debuginfod: debug files missing on this host are fetched from %s",
			 c->debuginfod_urls);
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

/* Hands full over and takes the spare; f->lock held, the flusher idle with a spare. */
static struct profile_window *swap_locked(struct flusher *f, struct profile_window *full)
{
	struct profile_window *w = f->spare;

	f->spare = NULL;
	f->pending = full;
	pthread_cond_broadcast(&f->cond);
	return w;
}

static bool idle_locked(const struct flusher *f)
{
	return !f->pending && !f->busy && f->spare;
}

struct profile_window *flusher_submit(struct flusher *f, struct profile_window *full)
{
	struct profile_window *w;

	pthread_mutex_lock(&f->lock);
	while (!idle_locked(f))
		pthread_cond_wait(&f->cond, &f->lock);
	w = swap_locked(f, full);
	pthread_mutex_unlock(&f->lock);
	return w;
}

struct profile_window *flusher_try_submit(struct flusher *f, struct profile_window *full)
{
	struct profile_window *w = NULL;

	pthread_mutex_lock(&f->lock);
	if (idle_locked(f))
		w = swap_locked(f, full);
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
	for (size_t i = 0; i < f->cfg.n_exporters; i++)
		if (f->cfg.exporters[i].ops->finish)
			f->cfg.exporters[i].ops->finish(f->cfg.exporters[i].ctx);
}

void flusher_free(struct flusher *f)
{
	if (!f)
		return;
	flusher_finish(f);
	profile_window_free(f->spare);
	profile_window_free(f->pending);
	for (size_t i = 0; i < f->cfg.n_exporters; i++)
		exporter_done(&f->cfg.exporters[i]);
	for (uint32_t j = 0; f->pins && j < PIN_SLOTS; j++)
		if (f->pins[j].path)
			sym_binary_unref(f->pins[j].bin);
	free(f->pins);
	symcache_free(f->syms);
	/* After the cache: the provider's worker may still be in a fetch, which it abandons. */
	debuginfod_provider_free(f->dbg);
	jitmaps_free(f->jit);
	if (f->vdso_fd >= 0)
		close(f->vdso_fd);
	demangler_free(f->demangler);
	ksyms_free(f->ksyms);
	pprof_builder_free(f->pb);
	strtab_free(f->names);
	free(f->hot);
	free(f->pids);
	free(f->failed);
	free(f->mismatched);
	labelset_done(&f->overflow_labels);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

void flusher_get_summary(struct flusher *f, struct flush_summary *ret)
{
	pthread_mutex_lock(&f->lock);
	*ret = f->sum;
	pthread_mutex_unlock(&f->lock);
	if (f->dbg)
		debuginfod_provider_get_stats(f->dbg, &ret->dbg);
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

bool flusher_export_stats(struct flusher *f, size_t i, const char **ret_target,
			  struct export_stats *ret)
{
	const struct exporter *e;

	if (i >= f->cfg.n_exporters)
		return false;
	e = &f->cfg.exporters[i];
	*ret_target = e->target;
	*ret = (struct export_stats){ 0 };
	if (e->ops->get_stats)
		e->ops->get_stats(e->ctx, ret);
	return true;
}
