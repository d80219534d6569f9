/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-metrics: the agent's own counters in the Prometheus text exposition format on
 * GET /metrics, and GET /healthz, served by libmicrohttpd on its own thread.
 *
 * Where the figures come from, and why scraping never slows the sampler down:
 *   - the sampler's counters are owned by the main (draining) thread. It publishes a copy
 *     with metrics_publish() about once a second; the copy is taken with a try-lock, so a
 *     scrape in progress makes the main thread skip one publication, never wait;
 *   - the flush thread's figures (windows, exporter outcomes, symbol cache) are read with
 *     flusher_get_metrics(), a snapshot the flush thread refreshes after each window under
 *     its own lock (held for a copy);
 *   - RSS is read from /proc/self/statm at scrape time.
 * /healthz answers 200 while the main loop has published within the last HEALTH_STALE_S
 * seconds, 503 otherwise (a stuck drain loop).
 *
 * Threads: metrics_start/metrics_publish/metrics_stop from the main thread; the handlers run
 * on libmicrohttpd's thread.
 */
#ifndef PA_METRICS_H
#define PA_METRICS_H

#include <stdint.h>

#include "sampler.h"

struct flusher;
struct metrics;

/* The default --http-address; "none" turns the endpoint off. */
#define METRICS_DEFAULT_ADDRESS "127.0.0.1:7071"

/*
 * Parses "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" (all interfaces). Port 0 picks a free
 * port (logged). Returns 0 or -EINVAL.
 */
int metrics_parse_address(const char *address);

/*
 * Starts the HTTP server on address (see above). f is borrowed for the server's lifetime
 * (may be NULL before the flusher exists: metrics_set_flusher()). Logs what failed and
 * returns -errno; the caller decides whether that is fatal.
 */
int metrics_start(const char *address, struct metrics **ret);
void metrics_set_flusher(struct metrics *m, struct flusher *f);
/* Main thread: a copy of the sampler's counters (taken only when no scrape holds the lock). */
void metrics_publish(struct metrics *m, const struct sampler *s, uint64_t now_ns);
/* Counts a SIGHUP reload and its outcome (0 or -errno). */
void metrics_count_reload(struct metrics *m, int result);
void metrics_stop(struct metrics *m); /* accepts NULL; joins the server thread */

/* The port actually bound (useful with port 0). */
unsigned metrics_port(const struct metrics *m);

#endif
