/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delivery engine of the network exporters: one thread per exporter running libcurl's
 * multi interface, so a slow, hung or absent backend costs the flush thread nothing (and the
 * sampler even less: it never waits for the flush thread on account of the network).
 *
 * Order of delivery is the order of windows. A window whose request fails for a reason that
 * may pass (connection refused, timeout, HTTP 408/429/5xx, the backend's own "try later")
 * goes to the on-disk spool, and so does every window after it until the spool is empty
 * again; the spool is replayed oldest first, one request at a time, with exponential backoff
 * and jitter between failures, or as long as the server's Retry-After asks. Other refusals
 * are permanent: counted, logged with the server's message, not retried.
 *
 * A backend file supplies two functions: how to turn a window into a request, and what the
 * response means. Everything else (auth, TLS, headers, timeouts, spool, counters) is here.
 */
#ifndef PA_UPLOAD_H
#define PA_UPLOAD_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "spool.h"

enum upload_verdict {
	UPLOAD_OK,
	UPLOAD_RETRY,  /* may pass: spool and try again later */
	UPLOAD_REJECT, /* permanent: counted, not retried */
};

/* What came back, for the backend's verdict. Borrowed for the duration of the call. */
struct upload_response {
	long http_status;
	const char *headers; /* "name: value\r\n" lines, trailers included, NUL-terminated */
	const uint8_t *body; /* the first UPLOAD_BODY_MAX bytes */
	size_t body_len;
};
#define UPLOAD_BODY_MAX 65536

/* Resources of one request, released by the engine after the transfer. */
struct upload_request {
	struct curl_slist *headers; /* the engine's common headers; the backend appends */
	uint8_t *body;		    /* malloc'ed */
	size_t body_len;
	curl_mime *mime;
	char *url; /* malloc'ed */
};

struct upload_backend {
	const char *kind;
	/* Sets URL, method, body and backend headers of h for rec. Returns 0 or -errno. */
	int (*prepare)(void *bctx, CURL *h, const struct spool_record *rec,
		       struct upload_request *rq);
	/* The transfer completed at the HTTP level: success, retry, or permanent refusal; a
	 * short reason into msg (no secrets: the engine does not pass any). */
	enum upload_verdict (*verdict)(void *bctx, const struct upload_response *r, char *msg,
				       size_t msg_size);
	void (*free)(void *bctx);
	/* Header carrying the API key of --api-key-file (read and re-read by the engine), e.g.
	 * "DD-API-KEY"; NULL when the backend takes none. */
	const char *secret_header;
};

struct uploader;

/*
 * Starts the upload thread for url. backend and bctx are taken (bctx freed with
 * backend->free, also on failure). The spool directory is <spool_dir>/<kind>-<hash of url>;
 * windows already there are replayed first. Returns 0 or -errno (logged).
 */
int uploader_new(const char *url, const struct upload_backend *backend, void *bctx,
		 const struct export_options *o, struct uploader **ret);
/* Queues a copy of the window (never blocks on the network). Returns 0 or -errno. */
int uploader_enqueue(struct uploader *u, const uint8_t *profile, size_t len,
		     const struct export_meta *m);
/* Sends what is queued if it goes at once, spools the rest, stops the thread. */
void uploader_finish(struct uploader *u);
void uploader_get_stats(struct uploader *u, struct export_stats *ret);
void uploader_free(struct uploader *u); /* accepts NULL; finishes first */

/* An exporter (ops table of export.h) delivering through a new uploader: see uploader_new().
 * Fills ret->ops/ctx; the caller sets ret->target. */
int export_uploader_new(const char *url, const struct upload_backend *backend, void *bctx,
			const struct export_options *o, struct exporter *ret);

/* Helpers for backends. */

/* What every backend addresses: the URL without trailing slashes, and the service name. */
struct upload_target {
	char base[2048];
	char service[256];
};
void upload_target_init(struct upload_target *t, const char *url, const struct export_options *o);
/*
 * The labels of a window's series, each passed to fn: __name__ ("process_cpu" unless the
 * window's labels say otherwise), service_name (the window's, else t->service), then the
 * window's other labels in their order.
 */
#define UPLOAD_PROFILE_NAME "process_cpu"
typedef void upload_label_fn(void *arg, const char *name, const char *value);
void upload_series_labels(const struct spool_record *rec, const struct upload_target *t,
			  upload_label_fn *fn, void *arg);
/* "HTTP <status>: <body as text>" for a log line. */
void upload_http_message(const struct upload_response *r, char *msg, size_t size);
enum upload_verdict upload_http_verdict(long http_status);
/* Value of header name (case-insensitive) in r->headers, the last one if repeated (trailers
 * come after headers). Copies into buf; returns buf or NULL. */
const char *upload_header(const struct upload_response *r, const char *name, char *buf,
			  size_t size);
/* The body as printable text for a log line (control bytes replaced, cut at size). */
void upload_body_text(const struct upload_response *r, char *buf, size_t size);
/* Appends "Name: value"; returns 0 or -ENOMEM. */
int upload_add_header(struct upload_request *rq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "scheme://host[:port]/path" without credentials or query, for logs and the summary. */
void upload_redact_url(const char *url, char *buf, size_t size);

#endif
