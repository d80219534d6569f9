/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of perf ring records (linux/perf_event.h) for the one attribute layout the
 * sampler opens: sample_type = IP|TID|TIME|CPU|PERIOD|CALLCHAIN|REGS_USER|STACK_USER with
 * sample_id_all, so every side-band record ends in the trailer {pid, tid, time, cpu, res}.
 *
 * Every parser checks each field against the record's header.size: a truncated or lying
 * record gives -EBADMSG, never a read past its end. Results point into the record
 * (borrowed for as long as the record bytes stay put). Library-like: never logs.
 */
#ifndef PA_RECORD_H
#define PA_RECORD_H

#include <linux/perf_event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the attribute asked for, which decides where every field sits. */
struct record_layout {
	uint64_t sample_type;
	uint64_t regs_user_mask;
	bool sample_id_all;
};

struct record_id {
	uint32_t pid, tid;
	uint64_t time;
	uint32_t cpu;
};

struct record_sample {
	struct record_id id;
	uint64_t ip;
	uint64_t period;
	const uint64_t *callchain; /* with PERF_CONTEXT_* markers; kernel part only for us */
	uint64_t callchain_nr;
	uint64_t regs_abi;         /* PERF_SAMPLE_REGS_ABI_NONE: no user registers */
	const uint64_t *regs;      /* one value per bit of regs_user_mask, ascending */
	unsigned regs_nr;
	const uint8_t *stack;      /* the copied user stack, starting at the sampled SP */
	uint64_t stack_size;       /* valid bytes (dyn_size) */
	uint64_t cgroup;           /* PERF_SAMPLE_CGROUP: the cgroup v2 id, else 0 */
};

struct record_mmap2 {
	struct record_id id;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino;
	uint32_t prot, flags;
	bool has_build_id; /* PERF_RECORD_MISC_MMAP_BUILD_ID: maj/min/ino are not present */
	const char *filename; /* NUL-terminated inside the record */
};

struct record_comm {
	struct record_id id;
	uint32_t pid, tid;
	bool exec;
	const char *comm;
};

struct record_task { /* PERF_RECORD_FORK and PERF_RECORD_EXIT */
	struct record_id id;
	uint32_t pid, ppid, tid, ptid;
	uint64_t time;
};

struct record_cgroup { /* PERF_RECORD_CGROUP (Linux 5.7): a cgroup's id and path */
	struct record_id id;
	uint64_t cgroup;
	const char *path; /* relative to the cgroup2 root, e.g. "/system.slice/x.service" */
};

struct record_lost {
	struct record_id id;
	uint64_t lost;
};

/* Timestamp and ids of any record: the sample's own fields or the sample_id trailer. */
int record_parse_id(const struct record_layout *l, const struct perf_event_header *h,
		    struct record_id *ret);
int record_parse_sample(const struct record_layout *l, const struct perf_event_header *h,
			struct record_sample *ret);
int record_parse_mmap2(const struct record_layout *l, const struct perf_event_header *h,
		       struct record_mmap2 *ret);
int record_parse_comm(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_comm *ret);
int record_parse_task(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_task *ret);
int record_parse_cgroup(const struct record_layout *l, const struct perf_event_header *h,
			struct record_cgroup *ret);
int record_parse_lost(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_lost *ret);

#endif
