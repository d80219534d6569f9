/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sampler: one perf sampling event per CPU (whole machine), per (cgroup, CPU) for
 * --cgroup (selection in the kernel) or per (thread, CPU) of the targets, each CPU's events
 * sharing one mmap ring; draining the rings in timestamp order;
 * keeping the process table current from the side-band records; and, for every sample,
 * deciding its process's targets and series once (the label hook), then unwinding the
 * user stack and adding the stack to the current window.
 *
 * This is the hot path: after start-up, processing a sample does not allocate, log or make
 * a system call (a process first seen in a sample is read from /proc once, and its labels
 * decided once — again only after an exec or a cgroup move, a bounded number of times).
 *
 * Single-threaded: the main loop owns it. Errors opening events are logged with what to
 * change (privileges, sysctls) before they are returned.
 */
#ifndef PA_SAMPLER_H
#define PA_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"
#include "puw.h"

struct record_sample;
struct proc;

/*
 * Called for every sample, in timestamp order, before it is unwound; rs and p (NULL when the
 * process is not tracked) are valid only during the call. For tools that record samples
 * (the snapshot capture of the test suite); the daemon leaves it NULL.
 */
typedef void sampler_sample_fn(void *ctx, const struct record_sample *rs, const struct proc *p);

/*
 * Targets and labels of a process, asked once per process and again after an exec or when
 * its samples show a new cgroup (cgroup_path: relative to the cgroup2 root, NULL when
 * unknown). Returns 1 to keep its samples with *ret_series (an interned label set), 0 to
 * drop them before they are unwound. Runs on the sampler thread; may read /proc.
 */
typedef int sampler_label_fn(void *ctx, uint32_t pid, const char *cgroup_path,
			     const struct labelset **ret_series);

struct sampler_config {
	const struct debuginfo_config *debuginfo; /* extra debug file places; borrowed, may be NULL */
	uint32_t frequency_hz;
	uint32_t stack_size;   /* bytes of user stack copied per sample; 8-aligned */
	uint64_t ring_bytes;   /* data area per CPU; 0 = sized from frequency and stack size */
	bool want_cycles;      /* hardware cycles where they exist, else cpu-clock */
	enum puw_mode unwind_mode;
	bool unwind_markers;   /* end truncated stacks with a "[unwind: <reason>]" frame */
	const uint32_t *pids;  /* profile these processes; NULL = the whole machine */
	size_t n_pids;
	pid_t cmd_pid;         /* a stopped child to profile from its exec on (0 = none) */
	size_t cfi_max_bytes;  /* CFI store budget; 0 = the default (256 MiB) */
	sampler_sample_fn *on_sample; /* NULL: none */
	void *on_sample_ctx;
	/* Kernel-side selection: one perf cgroup event per CPU per directory (descendants
	 * included); only their tasks are ever sampled. Not with pids or cmd_pid. */
	const char *const *cgroups;
	size_t n_cgroups;
	bool exact_cgroup;     /* PERF_SAMPLE_CGROUP where the kernel has it (Linux 5.7) */
	sampler_label_fn *label_fn; /* NULL: every sample kept, series NULL */
	void *label_ctx;
	/* The series of samples no process can be named for (table full, pid 0). */
	const struct labelset *default_series;
	bool drop_foreign;     /* drop samples of tasks outside our PID namespace (pid 0) */
};

struct sampler_stats {
	uint64_t samples;
	uint64_t lost;          /* records the kernel dropped (PERF_RECORD_LOST) */
	uint64_t throttled;     /* PERF_RECORD_THROTTLE */
	uint64_t bad_records;   /* records that failed to parse */
	uint64_t kernel_only;   /* samples without user registers (kernel threads) */
	uint64_t no_process;    /* samples of a process we could not track */
	uint64_t dropped;       /* samples over a window cap */
	uint64_t filtered;      /* samples of processes the targets or relabel rules drop */
	uint64_t foreign;       /* samples of tasks outside our PID namespace (sidecar) */
	uint64_t overflow;      /* samples put in the overflow series (cardinality guard) */
	uint64_t label_evals;   /* label decisions made (processes, execs, cgroup moves) */
	uint64_t cgroup_records; /* PERF_RECORD_CGROUP: cgroups created while sampling */
	uint64_t label_moves_ignored; /* samples in a new cgroup past the per-process limit of
				       * re-decisions (kept with the last decision) */
	uint64_t user_frames;
	uint64_t stop[_PUW_STOP_MAX];
	uint64_t rounds;
	struct puw_stats unwind;   /* frames by method: CFI, frame pointers, FP fallback */
	uint64_t cfi_binaries;     /* binaries with compiled CFI in the store now */
	uint64_t cfi_loaded, cfi_failed, cfi_refused, cfi_bytes;
	uint64_t cfi_evicted;      /* tables dropped to stay within the budget */
	uint64_t cfi_limit_bytes;  /* the budget */
};

/* Truncated unwinds of one binary: where user stacks stopped short of the outermost frame. */
struct sampler_binary_stops {
	const char *path;
	uint64_t total;           /* stops other than PUW_STOP_END */
	uint64_t stop[_PUW_STOP_MAX];
};

struct sampler;

/* Data bytes of one CPU's ring for c (--ring-size, or sized from frequency and stack size). */
uint64_t sampler_ring_bytes(const struct sampler_config *c);

/* Opens every event and ring (disabled). Logs and returns -errno on failure. */
int sampler_open(const struct sampler_config *c, struct sampler **ret);
void sampler_free(struct sampler *s); /* accepts NULL */

/* Adds the ring fds to epfd (EPOLLIN: the watermark was crossed). */
int sampler_watch(struct sampler *s, int epfd);
/* Reads /proc for the targets' current state. Call after sampler_open, before enabling. */
int sampler_bootstrap(struct sampler *s);
int sampler_enable(struct sampler *s);
int sampler_disable(struct sampler *s);

/*
 * One drain round over all rings into w. With final, drains until the rings are empty
 * regardless of time (after sampler_disable). With w NULL, samples only go to on_sample
 * (no unwinding, no aggregation). Returns the number of records processed.
 */
int sampler_drain(struct sampler *s, struct profile_window *w, bool final);

/* True when every --pid target is gone (always false for the whole machine). */
bool sampler_targets_gone(struct sampler *s);

void sampler_get_stats(const struct sampler *s, struct sampler_stats *ret);
/* The binaries where most unwinds stopped early, most first; returns how many. */
size_t sampler_binary_stops(const struct sampler *s, struct sampler_binary_stops *ret,
			    size_t max);
/* Name of the event in use: "cpu-clock" or "cycles". */
const char *sampler_event_name(const struct sampler *s);
uint64_t sampler_procs_seen(const struct sampler *s);
int sampler_n_cpus(const struct sampler *s);
/* Whether samples carry their exact cgroup (PERF_SAMPLE_CGROUP). */
/*
 * Replaces the label hook (a reloaded configuration): every process's decision is made again
 * at its next sample. The previous hook's context must outlive the windows that hold its
 * series (the one filling and the one being flushed). Sampler thread only.
 */
void sampler_set_labeler(struct sampler *s, sampler_label_fn *fn, void *ctx,
			 const struct labelset *default_series);
bool sampler_exact_cgroup(const struct sampler *s);

#endif
