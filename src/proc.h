/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process table: for every process we know of, its name, main executable and
 * executable mappings; for every thread, its name.
 *
 * It is fed from the perf record stream (MMAP2, COMM incl. exec, FORK, EXIT), which the
 * sampler hands over in timestamp order, so at the moment a sample is processed the table
 * shows the process exactly as it was when the sample was taken. It is bootstrapped from
 * /proc at start, and a process first seen in a sample is read from /proc once.
 *
 * Only executable mappings are kept (those are what PCs fall in and what the kernel reports
 * without mmap_data). Paths are interned once for all processes. Bounded: at most
 * max_procs processes and max_threads thread names; past that, new ones are counted and not
 * tracked. Records only allocate when they add a process, a thread or a mapping; lookups
 * never allocate.
 *
 * Single-threaded: owned by the sampler thread. Paths returned stay valid for the table's life.
 */
#ifndef PA_PROC_H
#define PA_PROC_H

#include <stdbool.h>
#include <stdint.h>

struct proc_mapping {
	uint64_t start, end; /* [start, end) */
	uint64_t pgoff;      /* file offset of start */
	uint64_t ino;
	uint32_t maj, min;
	uint64_t mapped_mono_ns; /* MMAP2 record time; for one read from /proc, the read's time */
	const char *path; /* interned; pseudo names like "[vdso]" kept as is */
	void *bin;        /* the binary's handle from proc_binary_ops.ref, may be NULL */
};

struct proc {
	uint32_t pid;
	char comm[16];
	const char *exe; /* interned path of the main executable, NULL when unknown */
	bool exe_pending; /* exec'd: the next file-backed executable mapping is the executable */
	bool from_proc;   /* read from /proc (bootstrap or first sample) rather than the stream */
	/* Targets and labels, decided by the sampler's label hook; exec resets them. */
	uint8_t label_state;      /* PROC_LABELS_UNKNOWN, _KEEP, _DROP */
	const void *series;       /* the hook's series for this process (interned) */
	uint64_t label_cgroup;    /* the cgroup id the decision was made for (0 = unknown) */
	uint8_t label_moves;      /* decisions redone for a cgroup change since the exec */
	uint32_t label_gen;       /* the sampler's labeler generation the decision is from */
	struct proc_mapping *maps; /* sorted by start, non-overlapping */
	uint32_t n_maps, cap_maps;
	struct proc *hash_next;
};

enum { PROC_LABELS_UNKNOWN, PROC_LABELS_KEEP, PROC_LABELS_DROP };

struct proc_table_stats {
	uint64_t procs;          /* tracked now */
	uint64_t procs_seen;     /* ever tracked */
	uint64_t procs_dropped;  /* not tracked: table full */
	uint64_t threads;
	uint64_t maps_dropped;   /* mappings not tracked: per-process cap */
	uint64_t proc_reads;     /* processes read from /proc */
};

struct proc_table;

/*
 * Optional per-file handles: every mapping holds a reference on the handle of its file,
 * taken when the mapping appears (also when fork copies it or a split duplicates it) and
 * dropped when it goes (replaced, exec, exit). The unwinder's CFI store lives behind this.
 */
struct proc_binary_ops {
	void *(*ref)(void *ctx, uint32_t pid, const char *path, uint32_t maj, uint32_t min,
		     uint64_t ino);
	void (*unref)(void *ctx, void *bin);
};

struct proc_table *proc_table_new(uint32_t max_procs, uint32_t max_threads);
void proc_table_set_binary_ops(struct proc_table *t, const struct proc_binary_ops *ops,
			       void *ctx);
void proc_table_free(struct proc_table *t);
void proc_table_get_stats(const struct proc_table *t, struct proc_table_stats *ret);

/* Reads /proc/<pid> (name, executable, mappings, thread names). Returns 0 or -errno. */
int proc_table_scan(struct proc_table *t, uint32_t pid);
/* Reads every process in /proc. Returns the number read. */
int proc_table_scan_all(struct proc_table *t);

struct proc *proc_table_lookup(struct proc_table *t, uint32_t pid);
/* Like lookup; a pid not in the table is read from /proc once (it may be gone: then an
 * empty entry is made so the next sample does not try again). */
struct proc *proc_table_lookup_or_scan(struct proc_table *t, uint32_t pid);
/* The thread's name, or NULL when unknown. */
const char *proc_table_thread_name(const struct proc_table *t, uint32_t tid);

const struct proc_mapping *proc_find_mapping(const struct proc *p, uint64_t addr);

/* The stream. Arguments are the record fields (time: CLOCK_MONOTONIC ns). */
void proc_table_mmap(struct proc_table *t, uint32_t pid, uint64_t start, uint64_t len,
		     uint64_t pgoff, uint32_t maj, uint32_t min, uint64_t ino, uint32_t prot,
		     const char *filename, uint64_t time_ns);
void proc_table_comm(struct proc_table *t, uint32_t pid, uint32_t tid, const char *comm,
		     bool exec);
void proc_table_fork(struct proc_table *t, uint32_t pid, uint32_t ppid, uint32_t tid,
		     uint32_t ptid);
void proc_table_exit(struct proc_table *t, uint32_t pid, uint32_t tid);

#endif
