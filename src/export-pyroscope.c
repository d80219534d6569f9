/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Grafana Pyroscope (and Grafana Alloy's pyroscope.receive_http). Two APIs:
 *
 *  - Push (default): Connect unary POST /push.v1.PusherService/Push with a binary
 *    push.v1.PushRequest (application/proto, no envelope: Connect unary calls have none),
 *    which is what Alloy's pyroscope.write sends. One series per window with __name__ and
 *    service_name; the pprof's own string sample labels (pid, comm...) become series
 *    labels on the server. Errors come back as JSON {"code", "message"} with the HTTP status
 *    of the Connect code (resource_exhausted 429, unavailable 503...).
 *  - Ingest (legacy servers): POST /ingest?name=SERVICE&from=&until=&format=pprof with the
 *    pprof as the raw body; from/until in nanoseconds (19 digits select the unit).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export-wire.h"
#include "upload.h"

struct pyroscope {
	struct upload_target t;
	enum export_api api;
	long timeout_ms;
};

/* A types.v1.LabelPair in RawProfileSeries.labels (field 1). */
static void put_pair(void *arg, const char *name, const char *value)
{
	wire_put_label(arg, 1, name, value);
}

static int push_prepare(void *bctx, CURL *h, const struct spool_record *rec,
			struct upload_request *rq)
{
	struct pyroscope *p = bctx;
	struct wire_buf sample = {0}, series = {0}, req = {0};
	int r;

	wire_put_bytes(&sample, 1, rec->profile, rec->len);
	wire_put_string(&sample, 2, rec->id);
	upload_series_labels(rec, &p->t, put_pair, &series);
	wire_put_message(&series, 2, &sample);
	wire_put_message(&req, 1, &series);
	r = sample.err ? sample.err : series.err ? series.err : req.err;
	wire_buf_done(&sample);
	wire_buf_done(&series);
	if (r < 0) {
		wire_buf_done(&req);
		return r;
	}
	rq->body = req.p;
	rq->body_len = req.len;
	if (asprintf(&rq->url, "%s/push.v1.PusherService/Push", p->t.base) < 0) {
		rq->url = NULL;
		return -ENOMEM;
	}
	if (upload_add_header(rq, "Content-Type: application/proto") < 0 ||
	    upload_add_header(rq, "Connect-Protocol-Version: 1") < 0 ||
	    upload_add_header(rq, "Connect-Timeout-Ms: %ld", p->timeout_ms) < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	return 0;
}

static int ingest_prepare(void *bctx, CURL *h, const struct spool_record *rec,
			  struct upload_request *rq)
{
	struct pyroscope *p = bctx;
	char *name = curl_easy_escape(h, p->t.service, 0);
	int n;

	if (!name)
		return -ENOMEM;
	n = asprintf(&rq->url,
		     "%s/ingest?name=%s&from=%" PRIu64 "&until=%" PRIu64
		     "&format=pprof&spyName=perfagent",
		     p->t.base, name, rec->meta.start_real_ns,
		     rec->meta.start_real_ns + rec->meta.duration_ns);
	curl_free(name);
	if (n < 0) {
		rq->url = NULL;
		return -ENOMEM;
	}
	if (upload_add_header(rq, "Content-Type: application/octet-stream") < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rec->profile);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rec->len);
	return 0;
}

static int pyroscope_prepare(void *bctx, CURL *h, const struct spool_record *rec,
			     struct upload_request *rq)
{
	struct pyroscope *p = bctx;

	return p->api == EXPORT_PYROSCOPE_INGEST ? ingest_prepare(bctx, h, rec, rq)
						 : push_prepare(bctx, h, rec, rq);
}

static enum upload_verdict pyroscope_verdict(void *bctx, const struct upload_response *r, char *msg,
					     size_t msg_size)
{
	enum upload_verdict v = upload_http_verdict(r->http_status);
	json_t *j;

	if (v == UPLOAD_OK)
		return v;
	/* Connect errors: {"code":"invalid_argument","message":"..."}. */
	j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
	if (j && json_is_string(json_object_get(j, "code"))) {
		const char *m = json_string_value(json_object_get(j, "message"));

		snprintf(msg, msg_size, "HTTP %ld, %s: %s", r->http_status,
			 json_string_value(json_object_get(j, "code")), m ? m : "");
	} else {
		upload_http_message(r, msg, msg_size);
	}
	json_decref(j);
	return v;
}

static const struct upload_backend pyroscope_backend = {
	.kind = "pyroscope",
	.prepare = pyroscope_prepare,
	.verdict = pyroscope_verdict,
	.free = free,
};

static const struct upload_backend pyroscope_ingest_backend = {
	.kind = "pyroscope-ingest",
	.prepare = pyroscope_prepare,
	.verdict = pyroscope_verdict,
	.free = free,
};

int export_pyroscope_new(const char *url, enum export_api api, const struct export_options *o,
			 struct exporter *ret)
{
	struct pyroscope *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	upload_target_init(&p->t, url, o);
	p->api = api;
	p->timeout_ms = (long)o->timeout_s * 1000;
	return export_uploader_new(url,
				   api == EXPORT_PYROSCOPE_INGEST ? &pyroscope_ingest_backend
								  : &pyroscope_backend,
				   p, o, ret);
}
