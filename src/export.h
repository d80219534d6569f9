/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exporters: where finished profiles go. Each backend is one file behind this small ops
 * table (export-file.c today; HTTP backends later), so the flush thread does not know
 * which one it talks to.
 */
#ifndef PA_EXPORT_H
#define PA_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "labels.h"

struct export_meta {
	uint64_t start_real_ns; /* window start, ns since the epoch */
	uint64_t duration_ns;
	uint64_t seq;           /* window number, from 1 */
	/* The series: one profile per label set per window. Borrowed for the call; never
	 * NULL (the overflow series is {series_overflow="true"}). labels_hash identifies it
	 * (e.g. in file names). */
	const struct labelset *labels;
	uint64_t labels_hash;
};

struct exporter_ops {
	const char *name;
	/* Delivers one gzipped pprof profile. Returns 0 or -errno (logged by the exporter). */
	int (*send)(void *ctx, const uint8_t *profile, size_t len, const struct export_meta *m,
		    char *ret_where, size_t where_size);
	void (*free)(void *ctx);
};

struct exporter {
	const struct exporter_ops *ops;
	void *ctx;
};

/*
 * Files: one "perfagent-<UTC start>-<seq>-<8 hex of labels_hash>.pb.gz" per series per
 * window in dir, written atomically. The
 * directory is created if missing. Returns 0 or -errno (logged).
 */
int export_file_new(const char *dir, struct exporter *ret);

#endif
