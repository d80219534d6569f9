/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Datadog: the profiling intake format, as libdatadog sends it. A multipart/form-data POST
 * with two parts: "event" (file event.json, application/json: attachments, tags_profiler,
 * start/end in RFC 3339 with nanoseconds, family "native", version "4") and "profile.pprof"
 * (the gzipped pprof: the intake tells gzip from zstd by the magic bytes).
 *
 * To the local agent (http://localhost:8126/profiling/v1/input, the path added when the URL
 * has none), which adds the API key itself; or agentless to https://intake.profile.<site>/
 * api/v2/profile with a DD-API-KEY header read from --api-key-file.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "upload.h"
#include "util.h"

#define AGENT_PATH "/profiling/v1/input"

struct datadog {
	char url[2048];
	char tags[1024]; /* tags_profiler without profile_seq */
};

static void rfc3339_ns(uint64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / NSEC_PER_SEC);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09" PRIu64 "Z", base, (uint64_t)(ns % NSEC_PER_SEC));
}

static int datadog_prepare(void *bctx, CURL *h, const struct spool_record *rec,
			   struct upload_request *rq)
{
	struct datadog *d = bctx;
	char start[48], end[48], tags[1200];
	curl_mimepart *part;
	json_t *ev;
	char *json;

	rfc3339_ns(rec->meta.start_real_ns, start, sizeof(start));
	rfc3339_ns(rec->meta.start_real_ns + rec->meta.duration_ns, end, sizeof(end));
	snprintf(tags, sizeof(tags), "%s,profile_seq:%" PRIu64, d->tags, rec->meta.seq);
	ev = json_pack("{s:[s], s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:{}, s:{}}", "attachments",
		       "profile.pprof", "tags_profiler", tags, "start", start, "end", end, "family",
		       "native", "version", "4", "endpoint_counts", "process_tags", "internal",
		       "info");
	json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!json)
		return -ENOMEM;

	rq->mime = curl_mime_init(h);
	part = rq->mime ? curl_mime_addpart(rq->mime) : NULL;
	if (!part) {
		free(json);
		return -ENOMEM;
	}
	curl_mime_name(part, "event");
	curl_mime_filename(part, "event.json");
	curl_mime_type(part, "application/json");
	curl_mime_data(part, json, CURL_ZERO_TERMINATED); /* copied */
	free(json);
	part = curl_mime_addpart(rq->mime);
	if (!part)
		return -ENOMEM;
	curl_mime_name(part, "profile.pprof");
	curl_mime_filename(part, "profile.pprof");
	curl_mime_type(part, "application/octet-stream");
	curl_mime_data(part, (const char *)rec->profile, rec->len);
	if (upload_add_header(rq, "DD-EVP-ORIGIN: perfagent") < 0 ||
	    upload_add_header(rq, "DD-EVP-ORIGIN-VERSION: " PACKAGE_VERSION) < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, d->url);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, rq->mime);
	return 0;
}

static enum upload_verdict datadog_verdict(void *bctx, const struct upload_response *r, char *msg,
					   size_t msg_size)
{
	size_t n;

	upload_http_message(r, msg, msg_size);
	n = strlen(msg);
	if (r->http_status == 403 && n + 1 < msg_size)
		snprintf(msg + n, msg_size - n, " (the API key was refused)");
	return upload_http_verdict(r->http_status);
}

static const struct upload_backend datadog_backend = {
	.kind = "datadog",
	.prepare = datadog_prepare,
	.verdict = datadog_verdict,
	.free = free,
	.secret_header = "DD-API-KEY",
};

int export_datadog_new(const char *url, const struct export_options *o, struct exporter *ret)
{
	struct datadog *d = calloc(1, sizeof(*d));
	const char *path = strstr(url, "://");
	struct utsname un;
	int n;

	if (!d)
		return -ENOMEM;
	path = path ? path + 3 + strcspn(path + 3, "/") : url + strlen(url);
	if (*path == '\0' || strcmp(path, "/") == 0)
		n = snprintf(d->url, sizeof(d->url), "%.*s" AGENT_PATH, (int)(path - url), url);
	else
		n = snprintf(d->url, sizeof(d->url), "%s", url);
	if (n >= (int)sizeof(d->url)) {
		free(d);
		return -ENAMETOOLONG;
	}
	if (uname(&un) < 0)
		snprintf(un.machine, sizeof(un.machine), "unknown");
	snprintf(d->tags, sizeof(d->tags),
		 "service:%s,language:native,profiler_version:" PACKAGE_VERSION
		 ",runtime_platform:%s-unknown-linux-gnu%s%s",
		 o->service_name ? o->service_name : "perfagent", un.machine,
		 o->datadog_tags ? "," : "", o->datadog_tags ? o->datadog_tags : "");
	return export_uploader_new(url, &datadog_backend, d, o, ret);
}
