/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parca: ProfileStoreService/WriteRaw, one RawProfileSeries per window with __name__ and
 * service_name in its LabelSet. Two transports, both with the gRPC length-prefixed message
 * (1 flag byte 0 = not compressed, 4 bytes big-endian length, the message):
 *
 *  - gRPC over HTTP/2: cleartext with prior knowledge on http:// (Parca's server speaks
 *    h2c), ALPN on https://. "te: trailers" is mandatory (gRPC C-core servers reset the
 *    stream without it) and sent in lower case. The outcome is grpc-status, which arrives in
 *    the trailers, or in the headers of a trailers-only error response; libcurl hands both to
 *    the header callback, trailers after the body.
 *  - gRPC-Web over HTTP/1.1, for proxies that do not pass HTTP/2: the trailers come as a last
 *    body frame flagged 0x80 holding "grpc-status: N\r\n..." lines.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export-wire.h"
#include "upload.h"

#define WRITERAW_PATH "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"

/* gRPC status codes (grpc/doc/statuscodes.md) worth trying again. */
enum {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_ABORTED = 10,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

struct parca {
	struct upload_target t;
	enum export_api api;
	bool tls;
	uint32_t timeout_s;
};

/* A Label in LabelSet.labels (field 1). */
static void put_label(void *arg, const char *name, const char *value)
{
	wire_put_label(arg, 1, name, value);
}

static int parca_prepare(void *bctx, CURL *h, const struct spool_record *rec,
			 struct upload_request *rq)
{
	struct parca *p = bctx;
	struct wire_buf sample = {0}, set = {0}, series = {0}, req = {0};
	uint8_t *framed;
	int r;

	wire_put_bytes(&sample, 1, rec->profile, rec->len);
	upload_series_labels(rec, &p->t, put_label, &set);
	wire_put_message(&series, 1, &set);
	wire_put_message(&series, 2, &sample);
	wire_put_message(&req, 2, &series);
	r = sample.err ? sample.err : set.err ? set.err : series.err ? series.err : req.err;
	framed = r < 0 ? NULL : malloc(req.len + 5);
	if (framed) {
		framed[0] = 0;
		framed[1] = (uint8_t)(req.len >> 24);
		framed[2] = (uint8_t)(req.len >> 16);
		framed[3] = (uint8_t)(req.len >> 8);
		framed[4] = (uint8_t)req.len;
		memcpy(framed + 5, req.p, req.len);
		rq->body = framed;
		rq->body_len = req.len + 5;
	}
	wire_buf_done(&sample);
	wire_buf_done(&set);
	wire_buf_done(&series);
	wire_buf_done(&req);
	if (!framed)
		return r < 0 ? r : -ENOMEM;
	if (asprintf(&rq->url, "%s" WRITERAW_PATH, p->t.base) < 0) {
		rq->url = NULL;
		return -ENOMEM;
	}
	if (p->api == EXPORT_PARCA_GRPC_WEB) {
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
		if (upload_add_header(rq, "Content-Type: application/grpc-web+proto") < 0 ||
		    upload_add_header(rq, "X-Grpc-Web: 1") < 0)
			return -ENOMEM;
	} else {
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
				 (long)(p->tls ? CURL_HTTP_VERSION_2TLS
					       : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
		/* libcurl before 7.89 breaks the second request on a reused prior-knowledge
		 * connection with "Error in the HTTP2 framing layer" (curl/curl#10634, fixed
		 * by #10643; Debian 12 has 7.88.1): one connection per window there. */
		if (!p->tls && curl_version_info(CURLVERSION_NOW)->version_num < 0x075900)
			curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
		if (upload_add_header(rq, "content-type: application/grpc") < 0 ||
		    upload_add_header(rq, "te: trailers") < 0)
			return -ENOMEM;
	}
	if (upload_add_header(rq, "grpc-timeout: %uS", p->timeout_s) < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	return 0;
}

/* grpc-message is percent-encoded; decoded in place, control bytes replaced. */
static void percent_decode(char *s)
{
	char *out = s;

	for (; *s; s++) {
		unsigned int c;

		if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &c) == 1) {
			*out++ = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* The 0x80 trailer frame of a gRPC-Web response body, as header lines (NUL-terminated). */
static void grpc_web_trailers(const struct upload_response *r, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	while (off + 5 <= r->body_len) {
		uint8_t flag = r->body[off];
		size_t len = (size_t)r->body[off + 1] << 24 | (size_t)r->body[off + 2] << 16 |
			     (size_t)r->body[off + 3] << 8 | r->body[off + 4];

		if (len > r->body_len - off - 5)
			break;
		if (flag & 0x80) {
			if (len >= size)
				len = size - 1;
			memcpy(buf, r->body + off + 5, len);
			buf[len] = '\0';
		}
		off += 5 + len;
	}
}

static enum upload_verdict parca_verdict(void *bctx, const struct upload_response *r, char *msg,
					 size_t msg_size)
{
	struct parca *p = bctx;
	char status[32], gmsg[400] = "", trailers[1024];
	const char *st;
	long code;

	if (r->http_status != 200) {
		upload_http_message(r, msg, msg_size);
		return upload_http_verdict(r->http_status);
	}
	st = upload_header(r, "grpc-status", status, sizeof(status));
	upload_header(r, "grpc-message", gmsg, sizeof(gmsg));
	if (p->api == EXPORT_PARCA_GRPC_WEB) {
		struct upload_response tr = {.headers = trailers};

		grpc_web_trailers(r, trailers, sizeof(trailers));
		if (upload_header(&tr, "grpc-status", status, sizeof(status))) {
			st = status;
			upload_header(&tr, "grpc-message", gmsg, sizeof(gmsg));
		}
	}
	if (!st) {
		snprintf(msg, msg_size, "HTTP 200 without a grpc-status: not a gRPC server?");
		return UPLOAD_RETRY;
	}
	code = strtol(st, NULL, 10);
	if (code == GRPC_OK)
		return UPLOAD_OK;
	percent_decode(gmsg);
	snprintf(msg, msg_size, "grpc-status %ld%s%s", code, gmsg[0] ? ": " : "", gmsg);
	switch (code) {
	case GRPC_CANCELLED:
	case GRPC_UNKNOWN:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_INTERNAL:
	case GRPC_UNAVAILABLE:
		return UPLOAD_RETRY;
	default:
		return UPLOAD_REJECT;
	}
}

static const struct upload_backend parca_backend = {
	.kind = "parca",
	.prepare = parca_prepare,
	.verdict = parca_verdict,
	.free = free,
};

static const struct upload_backend parca_web_backend = {
	.kind = "parca-grpc-web",
	.prepare = parca_prepare,
	.verdict = parca_verdict,
	.free = free,
};

int export_parca_new(const char *url, enum export_api api, const struct export_options *o,
		     struct exporter *ret)
{
	struct parca *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	upload_target_init(&p->t, url, o);
	p->api = api;
	p->tls = strncmp(url, "https://", 8) == 0;
	p->timeout_s = o->timeout_s;
	return export_uploader_new(
		url, api == EXPORT_PARCA_GRPC_WEB ? &parca_web_backend : &parca_backend, p, o, ret);
}
