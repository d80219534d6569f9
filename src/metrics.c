/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-metrics over HTTP (see metrics.h for the threading contract). The exposition is
 * built into a bounded buffer per scrape; names follow Prometheus conventions
 * (perfagent_*_total for counters, base units: bytes, seconds).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flush.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define HEALTH_STALE_S 10
#define PUBLISH_EVERY_NS (1000ULL * 1000 * 1000)
#define EXPOSITION_MAX (64 * 1024)

struct metrics {
	struct MHD_Daemon *daemon;
	unsigned port;
	pthread_mutex_t lock; /* guards everything below */
	struct flusher *flusher;
	struct sampler_stats st;
	uint64_t procs_seen;
	uint64_t published_ns, start_ns, last_publish_try_ns;
	uint64_t reloads, reload_failures;
};

/* Splits an --http-address into a socket address. */
static int address_resolve(const char *address, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char host[256];
	const char *port, *colon = strrchr(address, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
			*ai = NULL;
	size_t hl;
	uint64_t p;
	int r;

	if (!colon)
		return -EINVAL;
	port = colon + 1;
	if (parse_u64(port, 0, 65535, &p) < 0)
		return -EINVAL;
	hl = (size_t)(colon - address);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, address, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	} else if (strchr(host, ':')) {
		return -EINVAL; /* an IPv6 address needs brackets */
	}
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r != 0 || !ai)
		return -EINVAL;
	memcpy(ret, ai->ai_addr, ai->ai_addrlen);
	*ret_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int metrics_parse_address(const char *address)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (strcmp(address, "none") == 0)
		return 0;
	return address_resolve(address, &ss, &len);
}

struct text {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len >= t->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = (size_t)n < t->cap - t->len ? t->len + (size_t)n : t->cap;
}

static void metric(struct text *t, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	text_add(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		 (unsigned long long)value);
}

static uint64_t rss_bytes(void)
{
	unsigned long long size = 0, resident = 0;
	FILE *fp = fopen("/proc/self/statm", "re");

	if (!fp)
		return 0;
	if (fscanf(fp, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(fp);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static size_t exposition(struct metrics *m, char *buf, size_t cap)
{
	struct text t = {.buf = buf, .cap = cap};
	struct sampler_stats st;
	struct flush_metrics fm = {0};
	struct flusher *f;
	uint64_t procs, reloads, reload_failures, start_ns;

	pthread_mutex_lock(&m->lock);
	st = m->st;
	procs = m->procs_seen;
	f = m->flusher;
	reloads = m->reloads;
	reload_failures = m->reload_failures;
	start_ns = m->start_ns;
	pthread_mutex_unlock(&m->lock);
	if (f)
		flusher_get_metrics(f, &fm);

	metric(&t, "perfagent_samples_total", "counter", "Samples taken from the perf rings.",
	       st.samples);
	metric(&t, "perfagent_lost_samples_total", "counter",
	       "Records the kernel dropped because a ring was full (PERF_RECORD_LOST).", st.lost);
	metric(&t, "perfagent_throttled_total", "counter",
	       "Times the kernel throttled sampling (PERF_RECORD_THROTTLE).", st.throttled);
	metric(&t, "perfagent_dropped_samples_total", "counter",
	       "Samples dropped over a window's series or stack cap.", st.dropped);
	metric(&t, "perfagent_bad_records_total", "counter", "Ring records that failed to parse.",
	       st.bad_records);
	metric(&t, "perfagent_kernel_only_samples_total", "counter",
	       "Samples without user registers (kernel threads).", st.kernel_only);
	text_add(&t, "# HELP perfagent_unwind_stops_total User stack unwinds by stop reason.\n"
		     "# TYPE perfagent_unwind_stops_total counter\n");
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		text_add(&t, "perfagent_unwind_stops_total{reason=\"%s\"} %llu\n", puw_stop_name(i),
			 (unsigned long long)st.stop[i]);
	text_add(&t,
		 "# HELP perfagent_unwind_frames_total Caller frames found, by method.\n"
		 "# TYPE perfagent_unwind_frames_total counter\n"
		 "perfagent_unwind_frames_total{method=\"cfi\"} %llu\n"
		 "perfagent_unwind_frames_total{method=\"fp\"} %llu\n"
		 "perfagent_unwind_frames_total{method=\"signal\"} %llu\n",
		 (unsigned long long)st.unwind.steps_cfi, (unsigned long long)st.unwind.steps_fp,
		 (unsigned long long)st.unwind.steps_signal);
	metric(&t, "perfagent_processes_tracked", "gauge", "Processes seen by the sampler.", procs);

	metric(&t, "perfagent_cfi_cache_bytes", "gauge", "Compiled CFI tables held in memory.",
	       st.cfi_bytes);
	metric(&t, "perfagent_cfi_cache_limit_bytes", "gauge",
	       "Budget of the CFI store (--memory-limit).", st.cfi_limit_bytes);
	metric(&t, "perfagent_cfi_binaries", "gauge", "Binaries in the CFI store.",
	       st.cfi_binaries);
	metric(&t, "perfagent_cfi_loaded_total", "counter", "CFI tables compiled.", st.cfi_loaded);
	metric(&t, "perfagent_cfi_failed_total", "counter",
	       "Binaries without usable CFI (unreadable, corrupt, none).", st.cfi_failed);
	metric(&t, "perfagent_cfi_refused_total", "counter",
	       "Binaries not loaded because the CFI store was over its budget.", st.cfi_refused);
	metric(&t, "perfagent_cfi_evicted_total", "counter",
	       "CFI tables evicted to stay within the budget.", st.cfi_evicted);

	metric(&t, "perfagent_symbol_cache_hits_total", "counter",
	       "Symbol lookups of a binary served from the cache.", fm.syms.hits);
	metric(&t, "perfagent_symbol_cache_misses_total", "counter",
	       "Symbol lookups of a binary that read the ELF file.",
	       fm.syms.binaries_loaded + fm.syms.binaries_failed);
	metric(&t, "perfagent_symbol_cache_failures_total", "counter",
	       "Binaries whose symbols could not be read.", fm.syms.binaries_failed);
	metric(&t, "perfagent_symbol_cache_evictions_total", "counter",
	       "Symbol tables evicted to stay within the budget.", fm.syms.evictions);
	metric(&t, "perfagent_symbol_cache_bytes", "gauge", "Symbol tables held in memory.",
	       fm.syms.bytes);
	metric(&t, "perfagent_symbol_cache_limit_bytes", "gauge",
	       "Budget of the symbol cache (--memory-limit).", fm.symcache_limit_bytes);

	metric(&t, "perfagent_windows_total", "counter", "Profile windows flushed.",
	       fm.sum.windows);
	text_add(&t,
		 "# HELP perfagent_export_total Profiles handed to the exporter, by outcome.\n"
		 "# TYPE perfagent_export_total counter\n"
		 "perfagent_export_total{outcome=\"ok\"} %llu\n"
		 "perfagent_export_total{outcome=\"error\"} %llu\n",
		 (unsigned long long)fm.sum.files, (unsigned long long)fm.sum.send_errors);
	metric(&t, "perfagent_export_bytes_total", "counter", "Bytes of encoded profiles exported.",
	       fm.sum.bytes);
	metric(&t, "perfagent_spool_bytes", "gauge",
	       "Bytes of profiles waiting on disk for the backend.", fm.spool_bytes);
	text_add(&t, "# HELP perfagent_exporter_windows_total Windows by exporter and outcome.\n"
		     "# TYPE perfagent_exporter_windows_total counter\n");
	for (size_t i = 0; f; i++) {
		const char *target;
		struct export_stats es;
		char name[256];
		size_t n = 0;

		if (!flusher_export_stats(f, i, &target, &es))
			break;
		/* A label value: quotes, backslashes and newlines escaped. */
		for (const char *c = target; *c && n + 2 < sizeof(name); c++) {
			if (*c == '"' || *c == '\\' || *c == '\n')
				name[n++] = '\\';
			name[n++] = *c == '\n' ? 'n' : *c;
		}
		name[n] = '\0';
		text_add(&t,
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"sent\"} %llu\n"
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"retried\"} %llu\n"
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"spooled\"} %llu\n"
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"replayed\"} %llu\n"
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"dropped\"} %llu\n"
			 "perfagent_exporter_windows_total{exporter=\"%s\",outcome=\"rejected\"} %llu\n",
			 name, (unsigned long long)es.sent, name, (unsigned long long)es.retried, name,
			 (unsigned long long)es.spooled, name, (unsigned long long)es.replayed, name,
			 (unsigned long long)es.dropped, name, (unsigned long long)es.rejected);
	}

	metric(&t, "perfagent_reloads_total", "counter", "SIGHUP reloads.", reloads);
	metric(&t, "perfagent_reload_failures_total", "counter",
	       "SIGHUP reloads that failed (the previous settings stay).", reload_failures);
	metric(&t, "perfagent_resident_memory_bytes", "gauge", "Resident set size of the agent.",
	       rss_bytes());
	text_add(&t,
		 "# HELP perfagent_uptime_seconds Seconds since the agent started.\n"
		 "# TYPE perfagent_uptime_seconds gauge\nperfagent_uptime_seconds %.3f\n",
		 (double)(now_monotonic_ns() - start_ns) / 1e9);
	text_add(&t,
		 "# HELP perfagent_build_info The agent's version.\n"
		 "# TYPE perfagent_build_info gauge\nperfagent_build_info{version=\"%s\"} 1\n",
		 PACKAGE_VERSION);
	return t.len;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;
	static const char plain[] = "text/plain; charset=utf-8";

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, plain, "GET only\n", 9);
	if (strcmp(url, "/metrics") == 0) {
		char *buf = malloc(EXPOSITION_MAX);
		enum MHD_Result r;
		size_t len;

		if (!buf)
			return MHD_NO;
		len = exposition(m, buf, EXPOSITION_MAX);
		r = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len);
		free(buf);
		return r;
	}
	if (strcmp(url, "/healthz") == 0) {
		uint64_t last, now = now_monotonic_ns();

		pthread_mutex_lock(&m->lock);
		last = m->published_ns;
		pthread_mutex_unlock(&m->lock);
		if (now - last <= HEALTH_STALE_S * 1000000000ULL)
			return respond(c, MHD_HTTP_OK, plain, "ok\n", 3);
		return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, plain,
			       "stalled: the sampling loop has not reported for 10 s\n", 53);
	}
	if (strcmp(url, "/") == 0)
		return respond(c, MHD_HTTP_OK, plain, "perfagent: /metrics /healthz\n", 29);
	return respond(c, MHD_HTTP_NOT_FOUND, plain, "not found: try /metrics or /healthz\n", 36);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("metrics server: %s", line);
}

int metrics_start(const char *address, struct metrics **ret)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct metrics *m;
	const union MHD_DaemonInfo *info;
	char host[NI_MAXHOST];

	if (address_resolve(address, &ss, &len) < 0)
		return log_error_errno(-EINVAL,
				       "--http-address %s: expected HOST:PORT, "
				       "[IPV6]:PORT or none",
				       address);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->start_ns = m->published_ns = now_monotonic_ns();
	m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
					     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				     0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR, &ss,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_CONNECTION_LIMIT, 16U,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	if (!m->daemon) {
		int r = errno ? -errno : -EADDRINUSE;

		pthread_mutex_destroy(&m->lock);
		free(m);
		return log_warn_errno(r,
				      "metrics: cannot listen on %s: %m — pick another "
				      "--http-address, or none to turn the endpoint off",
				      address);
	}
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	log_info("metrics: http://%s%s%s:%u/metrics and /healthz", ss.ss_family == AF_INET6 ? "[" : "",
		 host, ss.ss_family == AF_INET6 ? "]" : "", m->port);
	*ret = m;
	return 0;
}

void metrics_set_flusher(struct metrics *m, struct flusher *f)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->flusher = f;
	pthread_mutex_unlock(&m->lock);
}

void metrics_publish(struct metrics *m, const struct sampler *s, uint64_t now_ns)
{
	struct sampler_stats st;

	if (!m || now_ns - m->last_publish_try_ns < PUBLISH_EVERY_NS)
		return;
	m->last_publish_try_ns = now_ns;
	sampler_get_stats(s, &st);
	/* Never wait for a scrape: try again at the next publication. */
	if (pthread_mutex_trylock(&m->lock) != 0)
		return;
	m->st = st;
	m->procs_seen = sampler_procs_seen(s);
	m->published_ns = now_ns;
	pthread_mutex_unlock(&m->lock);
}

void metrics_count_reload(struct metrics *m, int result)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->reloads++;
	if (result < 0)
		m->reload_failures++;
	pthread_mutex_unlock(&m->lock);
}

unsigned metrics_port(const struct metrics *m)
{
	return m ? m->port : 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
