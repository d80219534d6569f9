/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof-sample OUT.pb.gz [OUT.pb]: writes a small but realistic CPU profile with the pprof
 * encoder, gzipped (and raw when a second path is given), for pprof-decoders.sh to feed to
 * independent decoders. Every value here is asserted by that script: keep them in sync.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pprof.h"

#define PERIOD_NS 52631578 /* 19 Hz */
#define EXE "/usr/bin/perfagent-demo"
#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* Each helper turns a negative result into a message and a failure exit. */
static int64_t ok(int64_t r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "pprof-sample: %s: %s\n", what, strerror((int)-r));
		exit(1);
	}
	return r;
}

static void add_sample(struct pprof_builder *b, const uint64_t *locs, size_t n_locs, int64_t count,
		       const char *tid, const char *comm, int cpu)
{
	int64_t values[2] = {count, count * PERIOD_NS};
	struct pprof_label labels[] = {
		{.key = "pid", .str = "4242"},
		{.key = "tid", .str = tid},
		{.key = "comm", .str = comm},
		{.key = "thread_name", .str = comm},
		{.key = "executable", .str = EXE},
		/* A numeric label with a unit, so that a zero would not be dropped either. */
		{.key = "cpu", .num = cpu, .num_unit = "cpu"},
	};

	ok(pprof_builder_add_sample(b, locs, n_locs, values, 2, labels, N(labels)), "add sample");
}

int main(int argc, char **argv)
{
	struct pprof_builder *b;
	struct pprof_mapping exe = {
		.memory_start = 0x555555554000,
		.memory_limit = 0x555555600000,
		.file_offset = 0,
		.filename = EXE,
		.build_id = "4f3c2a1b0e9d8c7b6a5948372615f4e3d2c1b0a9",
		.has_functions = true,
		.has_filenames = true,
		.has_line_numbers = true,
		.has_inline_frames = true,
	};
	/* Not symbolized by the agent: has_functions stays false so pprof may symbolize it. */
	struct pprof_mapping libc = {
		.memory_start = 0x7ffff7d80000,
		.memory_limit = 0x7ffff7f15000,
		.file_offset = 0x28000,
		.filename = LIBC,
		.build_id = "c289da5071a3399de893d2af81d6a30c62646e1e",
	};
	struct pprof_mapping kernel = {
		.memory_start = 0xffffffff81000000,
		.memory_limit = 0xffffffff83000000,
		.filename = "[kernel.kallsyms]",
		.has_functions = true,
	};
	int64_t m_exe, m_libc, m_kernel, f_main, f_compute, f_leaf, f_sys, f_entry;
	uint64_t l_leaf, l_compute, l_main, l_libc, l_inl, l_sys, l_entry;
	struct pprof_line ln[2];
	struct timespec now;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pprof-sample OUT.pb.gz [OUT.pb]\n");
		return 2;
	}
	b = pprof_builder_new(0);
	if (!b)
		ok(-ENOMEM, "pprof_builder_new");

	ok(pprof_builder_add_sample_type(b, "samples", "count"), "sample type");
	ok(pprof_builder_add_sample_type(b, "cpu", "nanoseconds"), "sample type");
	ok(pprof_builder_set_period(b, "cpu", "nanoseconds", PERIOD_NS), "period");
	ok(pprof_builder_set_default_sample_type(b, "cpu"), "default sample type");
	clock_gettime(CLOCK_REALTIME, &now);
	pprof_builder_set_time(b, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, 10000000000LL);
	ok(pprof_builder_add_comment(b, "perfagent pprof-sample"), "comment");

	m_exe = ok(pprof_builder_add_mapping(b, &exe), "mapping");
	m_libc = ok(pprof_builder_add_mapping(b, &libc), "mapping");
	m_kernel = ok(pprof_builder_add_mapping(b, &kernel), "mapping");

	f_main = ok(pprof_builder_add_function(b, "main", NULL, "demo.c"), "function");
	f_compute = ok(pprof_builder_add_function(b, "compute", NULL, "demo.c"), "function");
	f_leaf = ok(pprof_builder_add_function(b, "leaf_work", NULL, "demo.c"), "function");
	f_sys = ok(pprof_builder_add_function(b, "do_syscall_64", NULL, NULL), "function");
	f_entry = ok(pprof_builder_add_function(b, "entry_SYSCALL_64_after_hwframe", NULL, NULL),
		     "function");

	ln[0] = (struct pprof_line){(uint64_t)f_leaf, 12};
	l_leaf = ok(pprof_builder_add_location(b, m_exe, 0x555555555200, ln, 1), "location");
	ln[0] = (struct pprof_line){(uint64_t)f_compute, 30};
	l_compute = ok(pprof_builder_add_location(b, m_exe, 0x555555555300, ln, 1), "location");
	ln[0] = (struct pprof_line){(uint64_t)f_main, 45};
	l_main = ok(pprof_builder_add_location(b, m_exe, 0x555555555400, ln, 1), "location");
	l_libc = ok(pprof_builder_add_location(b, m_libc, 0x7ffff7da9d90, NULL, 0), "location");
	/* leaf_work inlined into compute: innermost first. */
	ln[0] = (struct pprof_line){(uint64_t)f_leaf, 14};
	ln[1] = (struct pprof_line){(uint64_t)f_compute, 31};
	l_inl = ok(pprof_builder_add_location(b, m_exe, 0x555555555280, ln, 2), "location");
	ln[0] = (struct pprof_line){(uint64_t)f_sys, 0};
	l_sys = ok(pprof_builder_add_location(b, m_kernel, 0xffffffff81e00010, ln, 1), "location");
	ln[0] = (struct pprof_line){(uint64_t)f_entry, 0};
	l_entry =
		ok(pprof_builder_add_location(b, m_kernel, 0xffffffff82000090, ln, 1), "location");

	{
		uint64_t s1[] = {l_leaf, l_compute, l_main, l_libc};
		uint64_t s2[] = {l_inl, l_main, l_libc};
		uint64_t s3[] = {l_sys, l_entry, l_compute, l_main, l_libc};

		add_sample(b, s1, N(s1), 7, "4242", "perfagent-demo", 0);
		add_sample(b, s2, N(s2), 3, "4243", "worker-1", 1);
		add_sample(b, s3, N(s3), 2, "4243", "worker-1", 3);
	}

	ok(pprof_builder_encode(b, true, &buf, &len), "encode");
	ok(write_file(argv[1], buf, len), argv[1]);
	free(buf);
	if (argc == 3) {
		ok(pprof_builder_encode(b, false, &buf, &len), "encode");
		ok(write_file(argv[2], buf, len), argv[2]);
		free(buf);
	}
	pprof_builder_free(b);
	return 0;
}
