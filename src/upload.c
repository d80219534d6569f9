/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upload thread of one network exporter. State, all owned by the thread except the inbox
 * and the counters (under the lock):
 *
 *   inbox     windows handed over by the flush thread, taken on every loop turn
 *   queue     windows in memory, in order, not yet started
 *   spool     windows on disk (see spool.h)
 *   transfers requests in flight (at most "concurrency", and exactly one while replaying)
 *
 * Invariant keeping the order: while the spool holds anything, the memory queue is empty
 * and new windows go to the spool behind it; the spool is replayed one window at a time,
 * and only once nothing else is in flight. When the queue grows beyond QUEUE_MAX (a slow
 * backend), it is moved to the spool as a whole.
 *
 * Secrets (bearer token, basic-auth password, API key) are read from files here, right
 * before a request, and go only into request headers: never into a log line. libcurl's
 * verbose mode is never enabled.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "upload.h"
#include "util.h"

#define QUEUE_MAX 16 /* windows in memory before they go to the spool */
/* Windows handed over and not yet taken: never reached unless the thread is stuck; beyond it
 * windows are dropped (and counted). */
#define INBOX_MAX 256
#define HEADERS_MAX 8192
#define FINISH_GRACE_S 3 /* "at once" when stopping */
#define RETRY_BASE_MS 1000
#define RETRY_AFTER_MAX_S 3600
#define POLL_MS 200
#define SECRET_MAX 4096

struct item {
	struct spool_record rec;
	struct item *next;
};

struct transfer {
	CURL *h;
	struct upload_request rq;
	struct spool_record rec;
	bool from_spool, in_use;
	char hdrs[HEADERS_MAX];
	size_t hdrs_len;
	uint8_t *body;
	size_t body_len;
	char errbuf[CURL_ERROR_SIZE];
};

struct secret {
	const char *path;
	char value[SECRET_MAX];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool loaded, warned;
};

struct uploader {
	char url[2048];
	char shown[512]; /* kind + redacted url, for log lines */
	const struct upload_backend *be;
	void *bctx;
	struct export_options o;
	struct curl_slist *common; /* tenant and extra headers (no secrets) */
	struct secret token, password, api_key;

	pthread_t thread;
	pthread_mutex_t lock;
	struct item *inbox, **inbox_tail;
	size_t n_inbox;
	bool stop, started;
	uint64_t stop_deadline_ns;
	struct export_stats st;

	CURLM *multi;
	struct spool *spool;
	struct item *queue, **queue_tail;
	size_t n_queue;
	struct transfer *tr;
	uint32_t n_inflight;
	uint64_t next_attempt_ns;
	uint32_t failures;
	long last_reject_status;
	unsigned int seed;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_global_rc;

static void curl_init_once(void)
{
	curl_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- helpers for backends ---- */

enum upload_verdict upload_http_verdict(long s)
{
	if (s >= 200 && s < 300)
		return UPLOAD_OK;
	if (s == 408 || s == 429 || s >= 500 || s == 0)
		return UPLOAD_RETRY;
	return UPLOAD_REJECT;
}

const char *upload_header(const struct upload_response *r, const char *name, char *buf, size_t size)
{
	size_t nlen = strlen(name);
	const char *found = NULL, *p = r->headers;
	size_t flen = 0;

	while (p && *p) {
		const char *eol = strstr(p, "\r\n"), *v;

		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			found = v;
			flen = (size_t)(eol - v);
			while (flen && (found[flen - 1] == ' ' || found[flen - 1] == '\t'))
				flen--;
		}
		p = *eol ? eol + 2 : eol;
	}
	if (!found || size == 0)
		return NULL;
	if (flen >= size)
		flen = size - 1;
	memcpy(buf, found, flen);
	buf[flen] = '\0';
	return buf;
}

void upload_target_init(struct upload_target *t, const char *url, const struct export_options *o)
{
	size_t n;

	snprintf(t->base, sizeof(t->base), "%s", url);
	n = strlen(t->base);
	while (n && t->base[n - 1] == '/')
		t->base[--n] = '\0';
	snprintf(t->service, sizeof(t->service), "%s",
		 o->service_name ? o->service_name : "perfagent");
}

/* Value of label name among rec's "name\0value\0" pairs, or NULL. */
static const char *record_label(const struct spool_record *rec, const char *name)
{
	const char *p = rec->labels, *end = rec->labels + rec->labels_len;

	while (p && p < end) {
		const char *v = p + strlen(p) + 1;

		if (v >= end)
			break;
		if (strcmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

void upload_series_labels(const struct spool_record *rec, const struct upload_target *t,
			  upload_label_fn *fn, void *arg)
{
	const char *p = rec->labels, *end = rec->labels + rec->labels_len, *v;

	v = record_label(rec, "__name__");
	fn(arg, "__name__", v ? v : UPLOAD_PROFILE_NAME);
	v = record_label(rec, "service_name");
	fn(arg, "service_name", v ? v : t->service);
	while (p && p < end) {
		v = p + strlen(p) + 1;
		if (v >= end)
			break;
		if (strcmp(p, "__name__") != 0 && strcmp(p, "service_name") != 0)
			fn(arg, p, v);
		p = v + strlen(v) + 1;
	}
}

void upload_http_message(const struct upload_response *r, char *msg, size_t size)
{
	char text[300];

	upload_body_text(r, text, sizeof(text));
	snprintf(msg, size, "HTTP %ld%s%s", r->http_status, text[0] ? ": " : "", text);
}

void upload_body_text(const struct upload_response *r, char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < r->body_len && n + 1 < size; i++) {
		uint8_t c = r->body[i];

		buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}

int upload_add_header(struct upload_request *rq, const char *fmt, ...)
{
	char line[SECRET_MAX + 256];
	struct curl_slist *l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	l = curl_slist_append(rq->headers, line);
	explicit_bzero(line, sizeof(line));
	if (!l)
		return -ENOMEM;
	rq->headers = l;
	return 0;
}

void upload_redact_url(const char *url, char *buf, size_t size)
{
	const char *scheme_end = strstr(url, "://"), *host = url, *at, *end;
	size_t n = 0;

	if (scheme_end) {
		n = (size_t)(scheme_end - url) + 3;
		host = scheme_end + 3;
	}
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at)
		host = at + 1; /* user:password@ never shown */
	end = host + strcspn(host, "?#");
	snprintf(buf, size, "%.*s%.*s", (int)n, url, (int)(end - host), host);
}

/* ---- secrets ---- */

/* Re-reads path when it changed since the last read. Returns the value or NULL. */
static const char *secret_get(struct uploader *u, struct secret *s, const char *what)
{
	struct stat st;
	char buf[SECRET_MAX];
	ssize_t n;
	int fd;

	if (!s->path)
		return NULL;
	if (stat(s->path, &st) < 0) {
		if (!s->warned)
			log_error_errno(-errno,
					"%s: %s file %s: %m — requests go without it until "
					"it can be read",
					u->shown, what, s->path);
		s->warned = true;
		return s->loaded ? s->value : NULL;
	}
	if (s->loaded && st.st_dev == s->dev && st.st_ino == s->ino && st.st_size == s->size &&
	    st.st_mtim.tv_sec == s->mtime.tv_sec && st.st_mtim.tv_nsec == s->mtime.tv_nsec)
		return s->value;
	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		if (!s->warned)
			log_error_errno(-errno, "%s: read %s file %s: %m", u->shown, what, s->path);
		s->warned = true;
		return s->loaded ? s->value : NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\n', (size_t)n) || memchr(buf, '\r', (size_t)n)) {
		if (!s->warned)
			log_error("%s: %s file %s holds more than one line: not used", u->shown,
				  what, s->path);
		s->warned = true;
		explicit_bzero(buf, sizeof(buf));
		return s->loaded ? s->value : NULL;
	}
	if (s->loaded)
		log_info("%s: %s file %s changed, using the new one", u->shown, what, s->path);
	memcpy(s->value, buf, (size_t)n + 1);
	explicit_bzero(buf, sizeof(buf));
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->loaded = true;
	s->warned = false;
	return s->value;
}

/* ---- transfers ---- */

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;

	if (t->hdrs_len + len < sizeof(t->hdrs)) {
		memcpy(t->hdrs + t->hdrs_len, data, len);
		t->hdrs_len += len;
		t->hdrs[t->hdrs_len] = '\0';
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n, room = UPLOAD_BODY_MAX - t->body_len;

	if (!t->body)
		t->body = malloc(UPLOAD_BODY_MAX);
	if (t->body && room) {
		if (len < room)
			room = len;
		memcpy(t->body + t->body_len, data, room);
		t->body_len += room;
	}
	return len;
}

static void record_free(struct spool_record *rec)
{
	free(rec->profile);
	free(rec->labels);
	rec->profile = NULL;
	rec->labels = NULL;
}

static void request_done(struct upload_request *rq)
{
	curl_slist_free_all(rq->headers);
	curl_mime_free(rq->mime);
	free(rq->body);
	free(rq->url);
	*rq = (struct upload_request){0};
}

static void transfer_release(struct uploader *u, struct transfer *t)
{
	if (t->h) {
		curl_multi_remove_handle(u->multi, t->h);
		curl_easy_cleanup(t->h);
	}
	request_done(&t->rq);
	record_free(&t->rec);
	free(t->body);
	*t = (struct transfer){0};
	u->n_inflight--;
}

static void stats_add(struct uploader *u, uint64_t *field, uint64_t v)
{
	pthread_mutex_lock(&u->lock);
	*field += v;
	pthread_mutex_unlock(&u->lock);
}

static int common_setup(struct uploader *u, struct transfer *t)
{
	const struct export_options *o = &u->o;
	const char *tok, *pw, *key;
	CURL *h = t->h;

	curl_easy_setopt(h, CURLOPT_PRIVATE, t);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)o->timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "perfagent/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (o->tls_ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->tls_ca_file);
	if (o->tls_cert_file)
		curl_easy_setopt(h, CURLOPT_SSLCERT, o->tls_cert_file);
	if (o->tls_key_file)
		curl_easy_setopt(h, CURLOPT_SSLKEY, o->tls_key_file);
	if (o->tls_insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	for (struct curl_slist *l = u->common; l; l = l->next)
		if (upload_add_header(&t->rq, "%s", l->data) < 0)
			return -ENOMEM;
	/* A large body must not wait a second for a "100 Continue" that may never come. */
	if (upload_add_header(&t->rq, "Expect:") < 0)
		return -ENOMEM;
	tok = secret_get(u, &u->token, "bearer token");
	if (tok && upload_add_header(&t->rq, "Authorization: Bearer %s", tok) < 0)
		return -ENOMEM;
	key = secret_get(u, &u->api_key, "API key");
	if (key && u->be->secret_header &&
	    upload_add_header(&t->rq, "%s: %s", u->be->secret_header, key) < 0)
		return -ENOMEM;
	if (o->basic_user) {
		pw = secret_get(u, &u->password, "basic-auth password");
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, o->basic_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, pw ? pw : "");
	}
	return 0;
}

/* Starts a request for rec (ownership of rec->profile taken). */
static int transfer_start(struct uploader *u, struct spool_record *rec, bool from_spool)
{
	struct transfer *t = NULL;
	CURLMcode mc;
	int r;

	for (uint32_t i = 0; i < u->o.concurrency; i++)
		if (!u->tr[i].in_use) {
			t = &u->tr[i];
			break;
		}
	if (!t) {
		record_free(rec);
		return -EBUSY;
	}
	*t = (struct transfer){.in_use = true, .from_spool = from_spool, .rec = *rec};
	rec->profile = NULL;
	rec->labels = NULL;
	u->n_inflight++;
	t->h = curl_easy_init();
	if (!t->h) {
		transfer_release(u, t);
		return -ENOMEM;
	}
	r = common_setup(u, t);
	if (r >= 0)
		r = u->be->prepare(u->bctx, t->h, &t->rec, &t->rq);
	if (r < 0) {
		transfer_release(u, t);
		return r;
	}
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->rq.headers);
	mc = curl_multi_add_handle(u->multi, t->h);
	if (mc != CURLM_OK) {
		log_error("%s: start a request: %s", u->shown, curl_multi_strerror(mc));
		curl_easy_cleanup(t->h);
		t->h = NULL;
		transfer_release(u, t);
		return -EIO;
	}
	log_debug("%s: sending window %" PRIu64 "%s (%zu bytes)", u->shown, t->rec.meta.seq,
		  from_spool ? " from the spool" : "", t->rec.len);
	return 0;
}

/* ---- spool side ---- */

static void spool_record_put(struct uploader *u, struct spool_record *rec)
{
	uint64_t dropped = 0;
	int r;

	r = spool_put(u->spool, rec, &dropped);
	if (dropped) {
		stats_add(u, &u->st.dropped, dropped);
		log_warn("%s: spool %s full (%" PRIu64 " bytes cap): dropped the %" PRIu64
			 " oldest window(s) — raise --spool-max-bytes or fix the backend",
			 u->shown, spool_dir(u->spool), u->o.spool_max_bytes, dropped);
	}
	if (r < 0) {
		stats_add(u, &u->st.dropped, 1);
		log_error_errno(r, "%s: spool window %" PRIu64 " in %s: %m — window dropped",
				u->shown, rec->meta.seq, spool_dir(u->spool));
	} else {
		stats_add(u, &u->st.spooled, 1);
		log_debug("%s: window %" PRIu64 " spooled (%zu windows waiting)", u->shown,
			  rec->meta.seq, spool_count(u->spool));
	}
	record_free(rec);
}

/* Moves the whole memory queue to the spool (keeps the order invariant). */
static void queue_to_spool(struct uploader *u)
{
	while (u->queue) {
		struct item *it = u->queue;

		u->queue = it->next;
		spool_record_put(u, &it->rec);
		free(it);
	}
	u->queue_tail = &u->queue;
	u->n_queue = 0;
}

static void take_inbox(struct uploader *u, bool *ret_stop, uint64_t *ret_deadline)
{
	struct item *in;

	pthread_mutex_lock(&u->lock);
	in = u->inbox;
	u->inbox = NULL;
	u->inbox_tail = &u->inbox;
	u->n_inbox = 0;
	*ret_stop = u->stop;
	*ret_deadline = u->stop_deadline_ns;
	pthread_mutex_unlock(&u->lock);

	while (in) {
		struct item *next = in->next;

		in->next = NULL;
		*u->queue_tail = in;
		u->queue_tail = &in->next;
		u->n_queue++;
		in = next;
	}
	if (u->n_queue && (spool_count(u->spool) || u->n_queue > QUEUE_MAX))
		queue_to_spool(u);
}

static uint64_t backoff_ns(struct uploader *u, long retry_after_s)
{
	uint64_t ms, cap_ms = (uint64_t)u->o.retry_max_s * 1000;

	if (retry_after_s > 0) {
		if (retry_after_s > RETRY_AFTER_MAX_S)
			retry_after_s = RETRY_AFTER_MAX_S;
		return (uint64_t)retry_after_s * NSEC_PER_SEC;
	}
	ms = RETRY_BASE_MS;
	for (uint32_t i = 1; i < u->failures && ms < cap_ms; i++)
		ms *= 2;
	if (ms > cap_ms)
		ms = cap_ms;
	/* Jitter: somewhere in [ms/2, ms], so that agents restarted together spread out. */
	ms = ms / 2 + (uint64_t)rand_r(&u->seed) % (ms / 2 + 1);
	return ms * 1000000ULL;
}

/* Retry-After: delta-seconds or an HTTP date. Returns seconds, or 0. */
static long parse_retry_after(const struct upload_response *r)
{
	char v[128];
	char *end;
	long s;
	time_t t;

	if (!upload_header(r, "retry-after", v, sizeof(v)))
		return 0;
	s = strtol(v, &end, 10);
	if (end != v && *end == '\0')
		return s > 0 ? s : 0;
	t = curl_getdate(v, NULL);
	if (t > 0 && t > time(NULL))
		return (long)(t - time(NULL));
	return 0;
}

static void transfer_finished(struct uploader *u, struct transfer *t, CURLcode cc)
{
	struct upload_response resp = {0};
	enum upload_verdict v;
	char msg[512] = "";
	long retry_after = 0;

	if (cc != CURLE_OK) {
		v = UPLOAD_RETRY;
		snprintf(msg, sizeof(msg), "%s%s%s", curl_easy_strerror(cc),
			 t->errbuf[0] ? ": " : "", t->errbuf);
	} else {
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &resp.http_status);
		resp.headers = t->hdrs;
		resp.body = t->body;
		resp.body_len = t->body_len;
		v = u->be->verdict(u->bctx, &resp, msg, sizeof(msg));
		retry_after = parse_retry_after(&resp);
	}

	switch (v) {
	case UPLOAD_OK:
		pthread_mutex_lock(&u->lock);
		u->st.sent++;
		u->st.bytes += t->rec.len;
		if (t->from_spool)
			u->st.replayed++;
		pthread_mutex_unlock(&u->lock);
		if (u->failures)
			log_info("%s: the backend answers again%s", u->shown,
				 spool_count(u->spool) > (t->from_spool ? 1 : 0)
					 ? "; replaying the spooled windows"
					 : "");
		u->failures = 0;
		u->next_attempt_ns = 0;
		if (t->from_spool)
			spool_remove_oldest(u->spool);
		log_debug("%s: window %" PRIu64 " delivered%s", u->shown, t->rec.meta.seq,
			  t->from_spool ? " from the spool" : "");
		break;
	case UPLOAD_RETRY: {
		uint64_t delay;

		stats_add(u, &u->st.retried, 1);
		u->failures++;
		delay = backoff_ns(u, retry_after);
		u->next_attempt_ns = now_monotonic_ns() + delay;
		if (u->failures == 1)
			log_warn("%s: window %" PRIu64
				 " not delivered (%s); keeping windows in the "
				 "spool and retrying in %.1f s",
				 u->shown, t->rec.meta.seq, msg, (double)delay / 1e9);
		else
			log_debug("%s: window %" PRIu64 " not delivered (%s, failure %u); retrying "
				  "in %.1f s",
				  u->shown, t->rec.meta.seq, msg, u->failures, (double)delay / 1e9);
		if (!t->from_spool) {
			spool_record_put(u, &t->rec);
			queue_to_spool(u);
		}
		break;
	}
	case UPLOAD_REJECT:
		stats_add(u, &u->st.rejected, 1);
		if (resp.http_status != u->last_reject_status)
			log_error("%s: window %" PRIu64 " refused for good (%s); not retried — "
				  "check the exporter settings (further refusals of this kind are "
				  "only counted)",
				  u->shown, t->rec.meta.seq, msg);
		else
			log_debug("%s: window %" PRIu64 " refused (%s)", u->shown, t->rec.meta.seq,
				  msg);
		u->last_reject_status = resp.http_status;
		u->failures = 0;
		u->next_attempt_ns = 0;
		if (t->from_spool)
			spool_remove_oldest(u->spool);
		break;
	}
	transfer_release(u, t);
}

static void dispatch(struct uploader *u)
{
	uint64_t now = now_monotonic_ns();

	if (now < u->next_attempt_ns)
		return;
	while (spool_count(u->spool)) {
		struct spool_record rec;
		int r;

		/* Replay: oldest first, alone. */
		if (u->n_inflight)
			return;
		r = spool_read_oldest(u->spool, &rec);
		if (r == -EBADMSG) {
			log_warn("%s: damaged window in the spool %s: removed", u->shown,
				 spool_dir(u->spool));
			spool_remove_oldest(u->spool);
			stats_add(u, &u->st.dropped, 1);
			continue;
		}
		if (r < 0) {
			log_error_errno(r, "%s: read the spool %s: %m", u->shown,
					spool_dir(u->spool));
			u->failures++;
			u->next_attempt_ns = now + backoff_ns(u, 0);
			return;
		}
		if (transfer_start(u, &rec, true) < 0)
			u->next_attempt_ns = now + backoff_ns(u, 0);
		return;
	}
	while (u->queue && u->n_inflight < u->o.concurrency) {
		struct item *it = u->queue;

		u->queue = it->next;
		if (!u->queue)
			u->queue_tail = &u->queue;
		u->n_queue--;
		if (transfer_start(u, &it->rec, false) < 0)
			stats_add(u, &u->st.dropped, 1);
		free(it);
	}
}

static void collect(struct uploader *u)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(u->multi, &left))) {
		struct transfer *t = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t)
			transfer_finished(u, t, m->data.result);
	}
}

static void *upload_thread(void *arg)
{
	struct uploader *u = arg;
	bool stopping = false;
	uint64_t deadline = 0;

	for (;;) {
		uint64_t now, wake;
		int running, timeout_ms;

		take_inbox(u, &stopping, &deadline);
		now = now_monotonic_ns();
		/* Stopping: what goes at once goes (the spool too, while the backend answers
		 * and the grace lasts); the rest stays in the spool. */
		if (stopping && (now >= deadline ||
				 (!u->queue && !u->n_inflight &&
				  (!spool_count(u->spool) || u->next_attempt_ns >= deadline))))
			break;
		dispatch(u);
		curl_multi_perform(u->multi, &running);
		collect(u);
		/* The spool is this thread's: others read its size from the stats. */
		pthread_mutex_lock(&u->lock);
		u->st.spool_bytes = u->spool ? spool_bytes(u->spool) : 0;
		pthread_mutex_unlock(&u->lock);

		now = now_monotonic_ns();
		wake = now + POLL_MS * 1000000ULL;
		if (u->next_attempt_ns > now && u->next_attempt_ns < wake)
			wake = u->next_attempt_ns;
		if (stopping && deadline < wake)
			wake = deadline > now ? deadline : now;
		timeout_ms = (int)((wake - now + 999999) / 1000000);
		curl_multi_poll(u->multi, NULL, 0, timeout_ms, NULL);
	}

	/* Whatever could not go at once waits in the spool for the next start. */
	for (uint32_t i = 0; i < u->o.concurrency; i++) {
		struct transfer *t = &u->tr[i];

		if (!t->in_use)
			continue;
		if (!t->from_spool) {
			spool_record_put(u, &t->rec);
			log_info("%s: window %" PRIu64 " not delivered before exit: spooled",
				 u->shown, t->rec.meta.seq);
		}
		transfer_release(u, t);
	}
	if (u->queue)
		log_info("%s: %zu window(s) not delivered before exit: spooled", u->shown,
			 u->n_queue);
	queue_to_spool(u);
	pthread_mutex_lock(&u->lock);
	u->st.pending = spool_count(u->spool);
	u->st.spool_bytes = spool_bytes(u->spool);
	pthread_mutex_unlock(&u->lock);
	if (spool_count(u->spool))
		log_info("%s: %zu window(s) wait in %s for the next start", u->shown,
			 spool_count(u->spool), spool_dir(u->spool));
	return NULL;
}

/* ---- lifecycle ---- */

static int spool_path_for(const char *kind, const char *url, const struct export_options *o,
			  char *buf, size_t size)
{
	const char *state = getenv("STATE_DIRECTORY"); /* systemd StateDirectory= */
	char base[PATH_MAX];
	uint64_t h = hash_bytes(HASH_INIT, url, strlen(url));

	if (o->spool_dir)
		snprintf(base, sizeof(base), "%s", o->spool_dir);
	else if (state && state[0] == '/')
		snprintf(base, sizeof(base), "%.*s/spool", (int)strcspn(state, ":"), state);
	else
		snprintf(base, sizeof(base), "spool");
	if (snprintf(buf, size, "%s/%s-%016" PRIx64, base, kind, h) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int uploader_new(const char *url, const struct upload_backend *be, void *bctx,
		 const struct export_options *o, struct uploader **ret)
{
	char dir[PATH_MAX], shown[400];
	struct uploader *u;
	int r;

	pthread_once(&curl_once, curl_init_once);
	upload_redact_url(url, shown, sizeof(shown));
	if (curl_global_rc != CURLE_OK) {
		be->free(bctx);
		return log_error_errno(-EIO, "%s %s: initialize libcurl: %s", be->kind, shown,
				       curl_easy_strerror(curl_global_rc));
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		be->free(bctx);
		return -ENOMEM;
	}
	u->be = be;
	u->bctx = bctx;
	u->o = *o;
	if (u->o.concurrency == 0)
		u->o.concurrency = 1;
	snprintf(u->url, sizeof(u->url), "%s", url);
	snprintf(u->shown, sizeof(u->shown), "%s %s", be->kind, shown);
	u->token.path = o->bearer_token_file;
	u->password.path = o->basic_password_file;
	u->api_key.path = be->secret_header ? o->api_key_file : NULL;
	u->inbox_tail = &u->inbox;
	u->queue_tail = &u->queue;
	u->seed = (unsigned int)(now_realtime_ns() ^ (uintptr_t)u);
	pthread_mutex_init(&u->lock, NULL);

	if (o->tenant) {
		char line[512];

		snprintf(line, sizeof(line), "X-Scope-OrgID: %s", o->tenant);
		u->common = curl_slist_append(u->common, line);
	}
	for (size_t i = 0; i < o->n_headers; i++)
		u->common = curl_slist_append(u->common, o->headers[i]);
	u->tr = calloc(u->o.concurrency, sizeof(*u->tr));
	u->multi = curl_multi_init();
	if (!u->tr || !u->multi) {
		r = -ENOMEM;
		goto fail;
	}
	curl_multi_setopt(u->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)u->o.concurrency);

	r = spool_path_for(be->kind, url, o, dir, sizeof(dir));
	if (r >= 0)
		r = spool_open(dir, o->spool_max_bytes, &u->spool);
	if (r < 0) {
		log_error_errno(r,
				"%s: open the spool directory %s: %m — choose a writable "
				"--spool-dir",
				u->shown, dir);
		goto fail;
	}
	if (spool_count(u->spool))
		log_info("%s: %zu window(s) from an earlier run in %s: replaying them first",
			 u->shown, spool_count(u->spool), dir);
	if (o->tls_insecure)
		log_warn("%s: TLS certificate verification is OFF (--tls-insecure-skip-verify): "
			 "anyone on the path can read and alter what is sent",
			 u->shown);
	r = -pthread_create(&u->thread, NULL, upload_thread, u);
	if (r < 0) {
		log_error_errno(r, "%s: start the upload thread: %m", u->shown);
		goto fail;
	}
	u->started = true;
	*ret = u;
	return 0;
fail:
	uploader_free(u);
	return r;
}

int uploader_enqueue(struct uploader *u, const uint8_t *profile, size_t len,
		     const struct export_meta *m)
{
	struct item *it = calloc(1, sizeof(*it));
	uint8_t rnd[16];

	if (!it)
		return -ENOMEM;
	it->rec.meta = *m;
	/* The label set belongs to the window, which is reused: the record keeps a copy. */
	it->rec.meta.labels = NULL;
	if (m->labels && m->labels->n) {
		size_t n = 0;

		for (size_t i = 0; i < m->labels->n; i++)
			n += strlen(m->labels->v[i].name) + strlen(m->labels->v[i].value) + 2;
		it->rec.labels = malloc(n);
		if (!it->rec.labels) {
			free(it);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->labels->n; i++) {
			size_t a = strlen(m->labels->v[i].name) + 1, b = strlen(m->labels->v[i].value) + 1;

			memcpy(it->rec.labels + it->rec.labels_len, m->labels->v[i].name, a);
			memcpy(it->rec.labels + it->rec.labels_len + a, m->labels->v[i].value, b);
			it->rec.labels_len += a + b;
		}
	}
	it->rec.len = len;
	it->rec.profile = malloc(len ? len : 1);
	if (!it->rec.profile) {
		free(it->rec.labels);
		free(it);
		return -ENOMEM;
	}
	memcpy(it->rec.profile, profile, len);
	/* A random (version 4) UUID per window, kept in the spool: a replay is recognizable. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (uint8_t)(hash_u64(now_realtime_ns(), i + m->seq) >> 24);
	rnd[6] = (uint8_t)((rnd[6] & 0x0f) | 0x40);
	rnd[8] = (uint8_t)((rnd[8] & 0x3f) | 0x80);
	snprintf(it->rec.id, sizeof(it->rec.id),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10],
		 rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);

	pthread_mutex_lock(&u->lock);
	if (u->n_inbox >= INBOX_MAX || u->stop) {
		u->st.dropped++;
		pthread_mutex_unlock(&u->lock);
		record_free(&it->rec);
		free(it);
		return log_error_errno(
			-ENOBUFS, "%s: upload thread not keeping up: window %" PRIu64 " dropped",
			u->shown, m->seq);
	}
	*u->inbox_tail = it;
	u->inbox_tail = &it->next;
	u->n_inbox++;
	pthread_mutex_unlock(&u->lock);
	curl_multi_wakeup(u->multi);
	return 0;
}

void uploader_finish(struct uploader *u)
{
	if (!u || !u->started)
		return;
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	u->stop_deadline_ns = now_monotonic_ns() + FINISH_GRACE_S * NSEC_PER_SEC;
	pthread_mutex_unlock(&u->lock);
	curl_multi_wakeup(u->multi);
	pthread_join(u->thread, NULL);
	u->started = false;
}

void uploader_get_stats(struct uploader *u, struct export_stats *ret)
{
	pthread_mutex_lock(&u->lock);
	*ret = u->st;
	if (u->started && u->spool)
		ret->pending = 0; /* known once the thread is done */
	pthread_mutex_unlock(&u->lock);
}

void uploader_free(struct uploader *u)
{
	if (!u)
		return;
	uploader_finish(u);
	while (u->inbox) {
		struct item *it = u->inbox;

		u->inbox = it->next;
		record_free(&it->rec);
		free(it);
	}
	while (u->queue) {
		struct item *it = u->queue;

		u->queue = it->next;
		record_free(&it->rec);
		free(it);
	}
	if (u->tr)
		for (uint32_t i = 0; i < u->o.concurrency; i++)
			if (u->tr[i].in_use)
				transfer_release(u, &u->tr[i]);
	free(u->tr);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	curl_slist_free_all(u->common);
	spool_free(u->spool);
	u->be->free(u->bctx);
	explicit_bzero(&u->token, sizeof(u->token));
	explicit_bzero(&u->password, sizeof(u->password));
	explicit_bzero(&u->api_key, sizeof(u->api_key));
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* ---- the exporter ops table over an uploader ---- */

static int uploader_send(void *ctx, const uint8_t *profile, size_t len, const struct export_meta *m,
			 char *ret_where, size_t where_size)
{
	struct uploader *u = ctx;
	int r = uploader_enqueue(u, profile, len, m);

	if (r >= 0)
		snprintf(ret_where, where_size, "%s (queued)", u->shown);
	return r;
}

static void uploader_finish_op(void *ctx)
{
	uploader_finish(ctx);
}

static void uploader_stats_op(void *ctx, struct export_stats *ret)
{
	uploader_get_stats(ctx, ret);
}

static void uploader_free_op(void *ctx)
{
	uploader_free(ctx);
}

static const struct exporter_ops uploader_ops = {
	.name = "upload",
	.send = uploader_send,
	.finish = uploader_finish_op,
	.get_stats = uploader_stats_op,
	.free = uploader_free_op,
};

int export_uploader_new(const char *url, const struct upload_backend *backend, void *bctx,
			const struct export_options *o, struct exporter *ret)
{
	struct uploader *u;
	int r;

	r = uploader_new(url, backend, bctx, o, &u);
	if (r < 0)
		return r;
	*ret = (struct exporter){.ops = &uploader_ops, .ctx = u};
	return 0;
}
