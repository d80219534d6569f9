/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exporters: where finished profiles go. Each backend is one file behind this small ops
 * table, so the flush thread does not know which one it talks to:
 *
 *   export-file.c       one .pb.gz per window in a directory
 *   export-pyroscope.c  Grafana Pyroscope / Alloy: Connect Push, or legacy /ingest
 *   export-parca.c      Parca ProfileStoreService/WriteRaw: gRPC over HTTP/2, or gRPC-Web
 *   export-datadog.c    Datadog agent or intake: multipart event.json + profile.pprof
 *
 * The network backends share upload.c: send() only queues a copy of the profile for the
 * exporter's upload thread (it never blocks the flush thread on the network); delivery,
 * retries and the on-disk spool happen there.
 */
#ifndef PA_EXPORT_H
#define PA_EXPORT_H

#include <stdbool.h>
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

/* What happened to the windows handed to one exporter. */
struct export_stats {
	uint64_t sent;     /* delivered (first try or later) */
	uint64_t retried;  /* attempts that failed and will be tried again */
	uint64_t spooled;  /* windows written to the on-disk spool */
	uint64_t replayed; /* windows delivered from the spool */
	uint64_t dropped;  /* windows given up: spool full, or unreadable spool files */
	uint64_t rejected; /* windows the backend refused for good (4xx other than 408/429) */
	uint64_t bytes;    /* profile bytes delivered */
	uint64_t pending;  /* windows still in the spool at the end */
	uint64_t spool_bytes; /* bytes in the on-disk spool now */
};

struct exporter_ops {
	const char *name;
	/*
	 * Delivers one gzipped pprof profile, or queues it for delivery (the bytes are copied).
	 * Returns 0 or -errno (logged by the exporter). ret_where says where it went.
	 */
	int (*send)(void *ctx, const uint8_t *profile, size_t len, const struct export_meta *m,
		    char *ret_where, size_t where_size);
	/* Optional: last chance to deliver what is queued; what cannot go at once is spooled. */
	void (*finish)(void *ctx);
	/* Optional: counters so far. */
	void (*get_stats)(void *ctx, struct export_stats *ret);
	void (*free)(void *ctx);
};

struct exporter {
	const struct exporter_ops *ops;
	void *ctx;
	char target[256]; /* "kind=url" for the summary, credentials removed */
};

/*
 * Options shared by the network exporters. Secrets are only ever named by file: the files
 * are read by the upload thread (the token again whenever the file changes) and their
 * contents never reach a log line.
 */
#define EXPORT_MAX_HEADERS 16
struct export_options {
	const char *service_name;       /* NULL: the profiled command's name, or "perfagent" */
	const char *bearer_token_file;
	const char *basic_user;
	const char *basic_password_file;
	const char *api_key_file;       /* Datadog agentless: DD-API-KEY */
	const char *tenant;             /* X-Scope-OrgID */
	const char *headers[EXPORT_MAX_HEADERS]; /* "Name: value" */
	size_t n_headers;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	bool tls_insecure;
	uint32_t timeout_s;             /* whole request */
	uint32_t connect_timeout_s;
	uint32_t concurrency;           /* requests in flight per exporter */
	uint32_t retry_max_s;           /* backoff cap */
	const char *spool_dir;          /* NULL: $STATE_DIRECTORY/spool or ./spool */
	uint64_t spool_max_bytes;       /* per exporter */
	const char *datadog_tags;       /* extra "k:v,k:v" for tags_profiler */
	uint64_t file_max_bytes;        /* file exporter retention, 0 = no cap */
	uint64_t file_max_age_s;        /* file exporter retention, 0 = no cap */
};

void export_options_default(struct export_options *o);

/*
 * "KIND=DEST": file=DIR, pyroscope=URL, pyroscope-ingest=URL, parca=URL, parca-grpc-web=URL,
 * datadog=URL. Returns 0 or -errno (logged, saying what is accepted).
 */
int export_new_from_spec(const char *spec, const struct export_options *o,
			 struct exporter *ret);
void exporter_done(struct exporter *e); /* accepts a zeroed one */

/*
 * Files: one "perfagent-<UTC start>-<seq>-<8 hex of labels_hash>.pb.gz" per series per
 * window in dir, written atomically. The directory is created if missing. After each window, the oldest of these files go while
 * they exceed o->file_max_bytes in total or are older than o->file_max_age_s. Returns 0 or
 * -errno (logged).
 */
int export_file_new(const char *dir, const struct export_options *o, struct exporter *ret);

enum export_api {
	EXPORT_PYROSCOPE_PUSH,
	EXPORT_PYROSCOPE_INGEST,
	EXPORT_PARCA_GRPC,
	EXPORT_PARCA_GRPC_WEB,
	EXPORT_DATADOG,
};
int export_pyroscope_new(const char *url, enum export_api api, const struct export_options *o,
			 struct exporter *ret);
int export_parca_new(const char *url, enum export_api api, const struct export_options *o,
		     struct exporter *ret);
int export_datadog_new(const char *url, const struct export_options *o, struct exporter *ret);

#endif
