/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perfagent: wires the modules together. Parses options, starts the command to profile if
 * there is one, opens the sampler, runs the main loop (drain on ring wakeups and on a short
 * timer, close a window every --interval), and on exit drains what is left, writes the
 * partial window and prints the summary.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conffile.h"
#include "doctor.h"
#include "export.h"
#include "flush.h"
#include "labeler.h"
#include "labels.h"
#include "log.h"
#include "options.h"
#include "metrics.h"
#include "profile.h"
#include "reload.h"
#include "sampler.h"
#include "sidecar.h"
#include "util.h"

#define DEFAULT_FREQUENCY_HZ 19
#define DEFAULT_INTERVAL_S 10
#define DEFAULT_STACK_SIZE 16384
#define DEFAULT_OUTPUT_DIR "./profiles"
#define DRAIN_TICK_MS 100
#define MAX_PIDS 1024
#define HOTTEST_SHOWN 5
#define DEFAULT_MAX_SERIES 1000

struct str_list {
	char **v; /* NULL-terminated */
	size_t n;
};
#define MAX_DEBUGINFO_DIRS 64
#define DEFAULT_SYMBOL_CACHE_MIB 256
#define DEFAULT_MEMORY_LIMIT (512ULL << 20)

struct options {
	uint32_t frequency_hz;
	uint64_t interval_s;
	uint64_t duration_s;
	const char *output_dir;
	uint32_t pids[MAX_PIDS];
	size_t n_pids;
	uint32_t stack_size;
	uint64_t ring_bytes;
	bool want_cycles;
	enum puw_mode unwind_mode;
	bool unwind_markers;
	bool check_perf;
	const char *summary_json;
	const char *debuginfod_url;
	uint32_t debuginfod_timeout_s;
	/* Operation: self-metrics endpoint and the caches' memory budget. */
	const char *http_address;
	uint64_t memory_limit_bytes;
	char **cmd;
	/* targets and labels */
	const char *config_path;
	struct str_list cgroups;
	struct str_list env_vars;
	struct labelset labels; /* --label and the file's "labels" */
	struct labelset cli_labels; /* --label alone: a reload merges the new file's under them */
	const char *node;
	bool label_cmdline;
	uint32_t max_series;
	bool sidecar;
	uint32_t print_labels_pid;
	const char *kubelet_log_dir;
	/* Symbolization */
	enum flush_symbolize symbolize;
	enum demangle_mode demangle;
	uint64_t symbol_cache_bytes;
	const char *debuginfo_dirs[MAX_DEBUGINFO_DIRS];
	size_t n_debuginfo_dirs;
	/* Exporters: --export KIND=DEST (and -o DIR for file=DIR), with their shared options. */
	const char *exports[FLUSH_MAX_EXPORTERS];
	size_t n_exports;
	bool output_dir_set;
	struct export_options eo;
};

static void usage(FILE *out)
{
	struct export_options d;

	export_options_default(&d);
	fprintf(out,
		"Usage: perfagent [OPTIONS] [-- COMMAND [ARGS...]]\n"
		"\n"
		"Continuous CPU profiler: samples every CPU with perf_event_open, unwinds user\n"
		"stacks in userspace, and writes one pprof profile per series per window.\n"
		"\n"
		"What to profile (default: the whole machine):\n"
		"  -p, --pid PID[,PID...]     only these processes and their threads\n"
		"  -- COMMAND [ARGS...]       run COMMAND, profile it and its children, and exit\n"
		"                             with its exit status\n"
		"      --cgroup DIR           only the tasks of this cgroup directory and its\n"
		"                             descendants, selected in the kernel (repeatable)\n"
		"      --sidecar              profile the processes of our PID namespace only (a\n"
		"                             pod sharing its PID namespace)\n"
		"\n"
		"Sampling:\n"
		"  -F, --frequency HZ         samples per second per CPU (default %d)\n"
		"      --event EVENT          cpu-clock (default) or cycles (falls back to\n"
		"                             cpu-clock where there is no hardware counter)\n"
		"      --stack-size BYTES     user stack bytes copied per sample, a multiple of 8\n"
		"                             below 65536 (default %d)\n"
		"      --ring-size BYTES      perf ring per CPU, a power of two (default: sized\n"
		"                             from the frequency and stack size)\n"
		"      --unwind MODE          auto: DWARF CFI, frame pointers where no CFI covers\n"
		"                             the code (default); fp: frame pointers only\n"
		"      --unwind-markers       end each truncated stack with a frame naming why\n"
		"                             it stopped, e.g. [unwind: no-cfi]\n"
		"\n"
		"Labels:\n"
		"      --label NAME=VALUE     a label on every series (repeatable)\n"
		"      --node NAME            the node label (default: the host name)\n"
		"      --include-env-var NAME a process's environment variable NAME as\n"
		"                             __meta_env_var_NAME (repeatable)\n"
		"      --label-cmdline        discover __meta_process_cmdline (may hold secrets)\n"
		"      --max-series N         series per window; more go to one overflow series\n"
		"                             (default %d)\n"
		"      --kubelet-log-dir DIR  where pods' logs name their namespace, pod and\n"
		"                             container: DIR/pods, DIR/containers (default /var/log)\n"
		"      --print-labels PID     print the discovered and final labels of PID, exit\n"
		"\n"
		"Output:\n"
		"  -o, --output-dir DIR       where the .pb.gz profiles go (default %s)\n"
		"  -i, --interval SECONDS     length of one profile window (default %d)\n"
		"  -d, --duration SECONDS     stop after this long (default 0: until SIGINT or\n"
		"                             SIGTERM; the partial window is written either way)\n"
		"      --summary-json FILE    write the end-of-run summary as JSON to FILE\n"
		"\n"
		"Symbols:\n"
		"      --debuginfod-url URLS  fetch debug files missing on this host from these\n"
		"                             debuginfod servers (space-separated; default:\n"
		"                             $DEBUGINFOD_URLS), in the background\n"
		"      --debuginfod-timeout SECONDS  bound on one fetch (default 30)\n"
		"      --symbolize MODE       local: function names, source lines and inlined\n"
		"                             frames found on this host (default); none: no\n"
		"                             names, only build-ids, file offsets and addresses,\n"
		"                             for a backend that symbolizes (Parca, Pyroscope)\n"
		"      --demangle MODE        full: C++/Rust names with parameters and template\n"
		"                             arguments (default); simplified: without them, so\n"
		"                             instances and overloads merge; none: as mangled\n"
		"      --debuginfo-dir DIR    also look for separate debug files in DIR, laid out\n"
		"                             like /usr/lib/debug (.build-id/xx/rest.debug); may\n"
		"                             be repeated\n"
		"      --symbol-cache-size MIB  memory for symbol tables and DWARF (default %d)\n"
		"\n"
		"Export (-o DIR is --export file=DIR; several exporters may run at once):\n"
		"      --export KIND=DEST     file=DIR, pyroscope=URL (Connect Push),\n"
		"                             pyroscope-ingest=URL (legacy /ingest), parca=URL\n"
		"                             (gRPC, h2c on http://), parca-grpc-web=URL,\n"
		"                             datadog=URL (agent, or agentless intake)\n"
		"      --service-name NAME    service_name / service: tag (default: the command's\n"
		"                             name, the first --pid's name, or perfagent)\n"
		"      --bearer-token-file FILE   Authorization: Bearer, re-read when it changes\n"
		"      --basic-auth-user USER     HTTP basic auth, with the password read from\n"
		"      --basic-auth-password-file FILE\n"
		"      --api-key-file FILE    Datadog agentless: DD-API-KEY\n"
		"      --tenant ID            X-Scope-OrgID header\n"
		"      --header 'NAME: VALUE' extra request header (repeatable)\n"
		"      --tls-ca-file FILE, --tls-cert-file FILE, --tls-key-file FILE\n"
		"      --tls-insecure-skip-verify  do not verify the server certificate (unsafe)\n"
		"      --export-timeout SECONDS    one request, connection included (default %u)\n"
		"      --export-concurrency N      requests in flight per exporter (default %u)\n"
		"      --retry-max-delay SECONDS   backoff cap between retries (default %u)\n"
		"      --spool-dir DIR        undelivered windows wait here (default\n"
		"                             $STATE_DIRECTORY/spool or ./spool)\n"
		"      --spool-max-bytes BYTES     per exporter; the oldest go first (default %llu)\n"
		"      --datadog-tags K:V,... extra Datadog profile tags\n"
		"      --output-max-bytes BYTES, --output-max-age SECONDS\n"
		"                             file exporter retention: the oldest files go\n"
		"                             first (default 0: keep everything)\n"
		"\n"
		"Operation:\n"
		"      --http-address ADDR    serve /metrics (Prometheus) and /healthz on ADDR,\n"
		"                             HOST:PORT or [IPV6]:PORT (default %s; none: off)\n"
		"      --memory-limit BYTES   budget of the symbol and CFI caches together, with\n"
		"                             K, M or G suffixes (default 512M)\n"
		"\n"
		"Subcommands:\n"
		"  perfagent doctor [--pid PID]     check this machine (and a process) for profiling\n"
		"  perfagent explain PID            what unwinding and symbols find in PID, and\n"
		"                                   where its stacks stop\n"
		"\n"
		"Other:\n"
		"  -c, --config FILE          a JSON file whose keys are these long options, plus\n"
		"                             targets, labels and relabel_configs; the command line\n"
		"                             overrides it\n"
		"      --check-perf           check that the sampling events can be opened, exit\n"
		"      --log-level LEVEL      error, warn, info (default) or debug\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n"
		"\n"
		"Privileges: root, or CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8) plus\n"
		"CAP_SYS_PTRACE to read other users' binaries, or kernel.perf_event_paranoid <= 0.\n",
		DEFAULT_FREQUENCY_HZ, DEFAULT_STACK_SIZE, DEFAULT_MAX_SERIES, DEFAULT_OUTPUT_DIR,
		DEFAULT_INTERVAL_S, DEFAULT_SYMBOL_CACHE_MIB, d.timeout_s, d.concurrency, d.retry_max_s,
		(unsigned long long)d.spool_max_bytes, METRICS_DEFAULT_ADDRESS);
}

static int str_list_add(struct str_list *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

static void str_list_free(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct str_list){ 0 };
}

/* Option setters: one per table entry; each validates, stores and explains. */

static int set_frequency(void *ctx, const char *v)
{
	struct options *o = ctx;
	uint64_t x;

	if (parse_u64(v, 1, 100000, &x) < 0) {
		log_error("--frequency %s: expected samples per second, 1 to 100000", v);
		return -EINVAL;
	}
	o->frequency_hz = (uint32_t)x;
	return 0;
}

static int set_interval(void *ctx, const char *v)
{
	if (parse_u64(v, 1, 86400, &((struct options *)ctx)->interval_s) < 0) {
		log_error("--interval %s: expected seconds, 1 to 86400", v);
		return -EINVAL;
	}
	return 0;
}

static int set_duration(void *ctx, const char *v)
{
	if (parse_u64(v, 0, 31536000, &((struct options *)ctx)->duration_s) < 0) {
		log_error("--duration %s: expected seconds (0 = until a signal)", v);
		return -EINVAL;
	}
	return 0;
}

static int set_output_dir(void *ctx, const char *v)
{
	((struct options *)ctx)->output_dir = v;
	((struct options *)ctx)->output_dir_set = true;
	return 0;
}

static int set_pid(void *ctx, const char *arg)
{
	struct options *o = ctx;
	char buf[4096], *save = NULL;
	size_t before = o->n_pids;

	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		goto bad;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t pid;

		if (parse_u64(tok, 1, INT32_MAX, &pid) < 0 || o->n_pids >= MAX_PIDS)
			goto bad;
		o->pids[o->n_pids++] = (uint32_t)pid;
	}
	if (o->n_pids > before)
		return 0;
bad:
	log_error("--pid %s: expected process ids separated by commas (at most %d)", arg, MAX_PIDS);
	return -EINVAL;
}

static int set_stack_size(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 8, 65528, &x) < 0 || x % 8) {
		log_error("--stack-size %s: expected a multiple of 8 from 8 to 65528 bytes (the "
			  "kernel's limit for one sample)", v);
		return -EINVAL;
	}
	((struct options *)ctx)->stack_size = (uint32_t)x;
	return 0;
}

static int set_ring_size(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 4096, 1ULL << 30, &x) < 0 || (x & (x - 1))) {
		log_error("--ring-size %s: expected a power of two from 4096 to 1 GiB bytes", v);
		return -EINVAL;
	}
	((struct options *)ctx)->ring_bytes = x;
	return 0;
}

static int set_event(void *ctx, const char *v)
{
	struct options *o = ctx;

	if (strcmp(v, "cpu-clock") == 0)
		o->want_cycles = false;
	else if (strcmp(v, "cycles") == 0)
		o->want_cycles = true;
	else {
		log_error("--event %s: expected cpu-clock or cycles", v);
		return -EINVAL;
	}
	return 0;
}

static int set_unwind(void *ctx, const char *v)
{
	struct options *o = ctx;

	if (strcmp(v, "auto") == 0)
		o->unwind_mode = PUW_MODE_AUTO;
	else if (strcmp(v, "fp") == 0)
		o->unwind_mode = PUW_MODE_FP;
	else {
		log_error("--unwind %s: expected auto or fp", v);
		return -EINVAL;
	}
	return 0;
}

static int set_unwind_markers(void *ctx, const char *v)
{
	((struct options *)ctx)->unwind_markers = true;
	return 0;
}

static int set_summary_json(void *ctx, const char *v)
{
	((struct options *)ctx)->summary_json = v;
	return 0;
}

static int set_check_perf(void *ctx, const char *v)
{
	((struct options *)ctx)->check_perf = true;
	return 0;
}

static int set_log_level(void *ctx, const char *v)
{
	enum log_level l;

	if (log_level_from_string(v, &l) < 0) {
		log_error("--log-level %s: expected error, warn, info or debug", v);
		return -EINVAL;
	}
	log_set_level(l);
	return 0;
}

static int set_config(void *ctx, const char *v)
{
	((struct options *)ctx)->config_path = v;
	return 0;
}

static int set_cgroup(void *ctx, const char *v)
{
	if (v[0] != '/') {
		log_error("--cgroup %s: expected an absolute cgroup directory such as "
			  "/sys/fs/cgroup/system.slice/nginx.service", v);
		return -EINVAL;
	}
	return str_list_add(&((struct options *)ctx)->cgroups, v);
}

static int set_label(void *ctx, const char *v)
{
	struct options *o = ctx;
	const char *eq = strchr(v, '=');
	char name[256];

	if (!eq || (size_t)(eq - v) >= sizeof(name))
		goto bad;
	memcpy(name, v, eq - v);
	name[eq - v] = '\0';
	if (!label_name_valid(name) || strncmp(name, "__", 2) == 0 || !eq[1])
		goto bad;
	return labelset_set(&o->labels, name, eq + 1);
bad:
	log_error("--label %s: expected NAME=VALUE, NAME matching [a-zA-Z_][a-zA-Z0-9_]* and not "
		  "starting with __, VALUE not empty", v);
	return -EINVAL;
}

static int set_node(void *ctx, const char *v)
{
	((struct options *)ctx)->node = v;
	return 0;
}

static int set_include_env_var(void *ctx, const char *v)
{
	if (!label_name_valid(v)) {
		log_error("--include-env-var %s: expected a variable name ([a-zA-Z_][a-zA-Z0-9_]*)", v);
		return -EINVAL;
	}
	return str_list_add(&((struct options *)ctx)->env_vars, v);
}

static int set_label_cmdline(void *ctx, const char *v)
{
	((struct options *)ctx)->label_cmdline = true;
	return 0;
}

static int set_max_series(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 1, 1000000, &x) < 0) {
		log_error("--max-series %s: expected a number of series, 1 to 1000000", v);
		return -EINVAL;
	}
	((struct options *)ctx)->max_series = (uint32_t)x;
	return 0;
}

static int set_sidecar(void *ctx, const char *v)
{
	((struct options *)ctx)->sidecar = true;
	return 0;
}

static int set_print_labels(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 1, INT32_MAX, &x) < 0) {
		log_error("--print-labels %s: expected a process id", v);
		return -EINVAL;
	}
	((struct options *)ctx)->print_labels_pid = (uint32_t)x;
	return 0;
}

static int set_kubelet_log_dir(void *ctx, const char *v)
{
	((struct options *)ctx)->kubelet_log_dir = v;
	return 0;
}

static int set_debuginfod_url(void *ctx, const char *v)
{
	((struct options *)ctx)->debuginfod_url = v;
	return 0;
}

static int set_debuginfod_timeout(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 1, 3600, &x) < 0) {
		log_error("--debuginfod-timeout %s: expected seconds from 1 to 3600", v);
		return -EINVAL;
	}
	((struct options *)ctx)->debuginfod_timeout_s = (uint32_t)x;
	return 0;
}

static int set_symbolize(void *ctx, const char *v)
{
	struct options *o = ctx;

	if (strcmp(v, "local") == 0)
		o->symbolize = FLUSH_SYMBOLIZE_LOCAL;
	else if (strcmp(v, "none") == 0)
		o->symbolize = FLUSH_SYMBOLIZE_NONE;
	else {
		log_error("--symbolize %s: expected local or none", v);
		return -EINVAL;
	}
	return 0;
}

static int set_demangle(void *ctx, const char *v)
{
	if (demangle_mode_from_string(v, &((struct options *)ctx)->demangle) < 0) {
		log_error("--demangle %s: expected full, simplified or none", v);
		return -EINVAL;
	}
	return 0;
}

static int set_debuginfo_dir(void *ctx, const char *v)
{
	struct options *o = ctx;

	if (o->n_debuginfo_dirs >= MAX_DEBUGINFO_DIRS) {
		log_error("--debuginfo-dir %s: at most %d directories", v, MAX_DEBUGINFO_DIRS);
		return -EINVAL;
	}
	o->debuginfo_dirs[o->n_debuginfo_dirs++] = v;
	return 0;
}

static int set_symbol_cache_size(void *ctx, const char *v)
{
	uint64_t x;

	if (parse_u64(v, 1, 1 << 20, &x) < 0) {
		log_error("--symbol-cache-size %s: expected MiB, 1 to 1048576", v);
		return -EINVAL;
	}
	((struct options *)ctx)->symbol_cache_bytes = x << 20;
	return 0;
}

enum {
	OPT_EXPORT = 256,
	OPT_SERVICE_NAME,
	OPT_BEARER_TOKEN_FILE,
	OPT_BASIC_AUTH_USER,
	OPT_BASIC_AUTH_PASSWORD_FILE,
	OPT_API_KEY_FILE,
	OPT_TENANT,
	OPT_HEADER,
	OPT_TLS_CA_FILE,
	OPT_TLS_CERT_FILE,
	OPT_TLS_KEY_FILE,
	OPT_TLS_INSECURE,
	OPT_EXPORT_TIMEOUT,
	OPT_EXPORT_CONCURRENCY,
	OPT_RETRY_MAX_DELAY,
	OPT_SPOOL_DIR,
	OPT_SPOOL_MAX_BYTES,
	OPT_DATADOG_TAGS,
	OPT_OUTPUT_MAX_BYTES,
	OPT_OUTPUT_MAX_AGE,
};

/* The export options (OPT_EXPORT..OPT_OUTPUT_MAX_AGE). Returns 0 or -EINVAL (reported). */
static int parse_export_option(int c, const char *arg, struct options *o)
{
	struct export_options *e = &o->eo;
	uint64_t v;

	switch (c) {
	case OPT_EXPORT:
		if (o->n_exports >= FLUSH_MAX_EXPORTERS) {
			log_error("--export: at most %d exporters", FLUSH_MAX_EXPORTERS);
			return -EINVAL;
		}
		o->exports[o->n_exports++] = arg;
		return 0;
	case OPT_SERVICE_NAME:
		e->service_name = arg;
		return 0;
	case OPT_BEARER_TOKEN_FILE:
		e->bearer_token_file = arg;
		return 0;
	case OPT_BASIC_AUTH_USER:
		e->basic_user = arg;
		return 0;
	case OPT_BASIC_AUTH_PASSWORD_FILE:
		e->basic_password_file = arg;
		return 0;
	case OPT_API_KEY_FILE:
		e->api_key_file = arg;
		return 0;
	case OPT_TENANT:
		e->tenant = arg;
		return 0;
	case OPT_HEADER:
		/* Only the name is ever shown: the value may be a credential. */
		if (!strchr(arg, ':') || strchr(arg, ':') == arg || strpbrk(arg, "\r\n") ||
		    e->n_headers >= EXPORT_MAX_HEADERS) {
			log_error("--header %.*s: expected 'Name: value' on one line (at most %d)",
				  (int)strcspn(arg, ":\r\n"), arg, EXPORT_MAX_HEADERS);
			return -EINVAL;
		}
		e->headers[e->n_headers++] = arg;
		return 0;
	case OPT_TLS_CA_FILE:
		e->tls_ca_file = arg;
		return 0;
	case OPT_TLS_CERT_FILE:
		e->tls_cert_file = arg;
		return 0;
	case OPT_TLS_KEY_FILE:
		e->tls_key_file = arg;
		return 0;
	case OPT_TLS_INSECURE:
		e->tls_insecure = true;
		return 0;
	case OPT_EXPORT_TIMEOUT:
		if (parse_u64(arg, 1, 3600, &v) < 0) {
			log_error("--export-timeout %s: expected seconds, 1 to 3600", arg);
			return -EINVAL;
		}
		e->timeout_s = (uint32_t)v;
		e->connect_timeout_s = e->timeout_s < e->connect_timeout_s ? e->timeout_s
									 : e->connect_timeout_s;
		return 0;
	case OPT_EXPORT_CONCURRENCY:
		if (parse_u64(arg, 1, 64, &v) < 0) {
			log_error("--export-concurrency %s: expected 1 to 64", arg);
			return -EINVAL;
		}
		e->concurrency = (uint32_t)v;
		return 0;
	case OPT_RETRY_MAX_DELAY:
		if (parse_u64(arg, 1, 3600, &v) < 0) {
			log_error("--retry-max-delay %s: expected seconds, 1 to 3600", arg);
			return -EINVAL;
		}
		e->retry_max_s = (uint32_t)v;
		return 0;
	case OPT_SPOOL_DIR:
		e->spool_dir = arg;
		return 0;
	case OPT_SPOOL_MAX_BYTES:
		if (parse_u64(arg, 4096, 1ULL << 50, &e->spool_max_bytes) < 0) {
			log_error("--spool-max-bytes %s: expected bytes, at least 4096", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_DATADOG_TAGS:
		e->datadog_tags = arg;
		return 0;
	case OPT_OUTPUT_MAX_BYTES:
		if (parse_u64(arg, 0, UINT64_MAX, &e->file_max_bytes) < 0) {
			log_error("--output-max-bytes %s: expected bytes (0 = no cap)", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_OUTPUT_MAX_AGE:
		if (parse_u64(arg, 0, UINT64_MAX / 2, &e->file_max_age_s) < 0) {
			log_error("--output-max-age %s: expected seconds (0 = no cap)", arg);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* The export options through the table: each setter hands its option to parse_export_option(). */
#define EXPORT_SETTER(fn, opt)                                                               \
	static int fn(void *ctx, const char *v)                                                \
	{                                                                                      \
		return parse_export_option(opt, v, ctx);                                           \
	}
EXPORT_SETTER(set_export, OPT_EXPORT)
EXPORT_SETTER(set_service_name, OPT_SERVICE_NAME)
EXPORT_SETTER(set_bearer_token_file, OPT_BEARER_TOKEN_FILE)
EXPORT_SETTER(set_basic_auth_user, OPT_BASIC_AUTH_USER)
EXPORT_SETTER(set_basic_auth_password_file, OPT_BASIC_AUTH_PASSWORD_FILE)
EXPORT_SETTER(set_api_key_file, OPT_API_KEY_FILE)
EXPORT_SETTER(set_tenant, OPT_TENANT)
EXPORT_SETTER(set_header, OPT_HEADER)
EXPORT_SETTER(set_tls_ca_file, OPT_TLS_CA_FILE)
EXPORT_SETTER(set_tls_cert_file, OPT_TLS_CERT_FILE)
EXPORT_SETTER(set_tls_key_file, OPT_TLS_KEY_FILE)
EXPORT_SETTER(set_tls_insecure_skip_verify, OPT_TLS_INSECURE)
EXPORT_SETTER(set_export_timeout, OPT_EXPORT_TIMEOUT)
EXPORT_SETTER(set_export_concurrency, OPT_EXPORT_CONCURRENCY)
EXPORT_SETTER(set_retry_max_delay, OPT_RETRY_MAX_DELAY)
EXPORT_SETTER(set_spool_dir, OPT_SPOOL_DIR)
EXPORT_SETTER(set_spool_max_bytes, OPT_SPOOL_MAX_BYTES)
EXPORT_SETTER(set_datadog_tags, OPT_DATADOG_TAGS)
EXPORT_SETTER(set_output_max_bytes, OPT_OUTPUT_MAX_BYTES)
EXPORT_SETTER(set_output_max_age, OPT_OUTPUT_MAX_AGE)

static int parse_bytes(const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	char num[32];
	size_t n = strlen(arg);
	unsigned shift = 0;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, arg, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (parse_u64(num, min >> shift, max >> shift, ret) < 0)
		return -EINVAL;
	*ret <<= shift;
	return *ret >= min && *ret <= max ? 0 : -EINVAL;
}

static int set_http_address(void *ctx, const char *v)
{
	if (metrics_parse_address(v) < 0) {
		log_error("--http-address %s: expected HOST:PORT, [IPV6]:PORT, :PORT or none", v);
		return -EINVAL;
	}
	((struct options *)ctx)->http_address = v;
	return 0;
}

static int set_memory_limit(void *ctx, const char *v)
{
	if (parse_bytes(v, 1ULL << 20, 1ULL << 40, &((struct options *)ctx)->memory_limit_bytes) <
	    0) {
		log_error("--memory-limit %s: expected bytes from 1M to 1024G (K, M, G suffixes)", v);
		return -EINVAL;
	}
	return 0;
}

static int show_help(void *ctx, const char *v)
{
	usage(stdout);
	return 1;
}

static int show_version(void *ctx, const char *v)
{
	printf("perfagent %s\n", PACKAGE_VERSION);
	return 1;
}

/*
 * The options: the command line and the configuration file's keys both come from this
 * table (options.h). Add an option here and it works in both.
 */
static const struct opt_def option_table[] = {
	{ "frequency", 'F', OPT_NUMBER, false, false, set_frequency, "HZ" },
	{ "interval", 'i', OPT_NUMBER, false, false, set_interval, "SECONDS" },
	{ "duration", 'd', OPT_NUMBER, false, false, set_duration, "SECONDS" },
	{ "output-dir", 'o', OPT_STRING, false, false, set_output_dir, "DIR" },
	{ "pid", 'p', OPT_NUMBER, true, false, set_pid, "PID[,PID...]" },
	{ "stack-size", 0, OPT_NUMBER, false, false, set_stack_size, "BYTES" },
	{ "ring-size", 0, OPT_NUMBER, false, false, set_ring_size, "BYTES" },
	{ "event", 0, OPT_STRING, false, false, set_event, "EVENT" },
	{ "unwind", 0, OPT_STRING, false, false, set_unwind, "MODE" },
	{ "unwind-markers", 0, OPT_FLAG, false, false, set_unwind_markers, NULL },
	{ "summary-json", 0, OPT_STRING, false, false, set_summary_json, "FILE" },
	{ "check-perf", 0, OPT_FLAG, false, false, set_check_perf, NULL },
	{ "log-level", 0, OPT_STRING, false, false, set_log_level, "LEVEL" },
	{ "config", 'c', OPT_STRING, false, true, set_config, "FILE" },
	{ "help", 'h', OPT_FLAG, false, true, show_help, NULL },
	{ "version", 'V', OPT_FLAG, false, true, show_version, NULL },
	/* targets and labels */
	{ "cgroup", 0, OPT_STRING, true, false, set_cgroup, "DIR" },
	{ "label", 0, OPT_STRING, true, false, set_label, "NAME=VALUE" },
	{ "node", 0, OPT_STRING, false, false, set_node, "NAME" },
	{ "include-env-var", 0, OPT_STRING, true, false, set_include_env_var, "NAME" },
	{ "label-cmdline", 0, OPT_FLAG, false, false, set_label_cmdline, NULL },
	{ "max-series", 0, OPT_NUMBER, false, false, set_max_series, "N" },
	{ "sidecar", 0, OPT_FLAG, false, false, set_sidecar, NULL },
	{ "print-labels", 0, OPT_NUMBER, false, true, set_print_labels, "PID" },
	{ "kubelet-log-dir", 0, OPT_STRING, false, false, set_kubelet_log_dir, "DIR" },
	/* symbols */
	{ "debuginfod-url", 0, OPT_STRING, false, false, set_debuginfod_url, "URLS" },
	{ "debuginfod-timeout", 0, OPT_NUMBER, false, false, set_debuginfod_timeout, "SECONDS" },
	{ "symbolize", 0, OPT_STRING, false, false, set_symbolize, "MODE" },
	{ "demangle", 0, OPT_STRING, false, false, set_demangle, "MODE" },
	{ "debuginfo-dir", 0, OPT_STRING, true, false, set_debuginfo_dir, "DIR" },
	{ "symbol-cache-size", 0, OPT_NUMBER, false, false, set_symbol_cache_size, "MIB" },
	/* operation */
	{ "http-address", 0, OPT_STRING, false, false, set_http_address, "ADDR" },
	{ "memory-limit", 0, OPT_STRING, false, false, set_memory_limit, "BYTES" },
	/* export */
	{ "export", 0, OPT_STRING, true, false, set_export, "KIND=DEST" },
	{ "service-name", 0, OPT_STRING, false, false, set_service_name, "VALUE" },
	{ "bearer-token-file", 0, OPT_STRING, false, false, set_bearer_token_file, "FILE" },
	{ "basic-auth-user", 0, OPT_STRING, false, false, set_basic_auth_user, "VALUE" },
	{ "basic-auth-password-file", 0, OPT_STRING, false, false, set_basic_auth_password_file, "FILE" },
	{ "api-key-file", 0, OPT_STRING, false, false, set_api_key_file, "FILE" },
	{ "tenant", 0, OPT_STRING, false, false, set_tenant, "VALUE" },
	{ "header", 0, OPT_STRING, true, false, set_header, "'NAME: VALUE'" },
	{ "tls-ca-file", 0, OPT_STRING, false, false, set_tls_ca_file, "FILE" },
	{ "tls-cert-file", 0, OPT_STRING, false, false, set_tls_cert_file, "FILE" },
	{ "tls-key-file", 0, OPT_STRING, false, false, set_tls_key_file, "FILE" },
	{ "tls-insecure-skip-verify", 0, OPT_FLAG, false, false, set_tls_insecure_skip_verify, NULL },
	{ "export-timeout", 0, OPT_NUMBER, false, false, set_export_timeout, "SECONDS" },
	{ "export-concurrency", 0, OPT_NUMBER, false, false, set_export_concurrency, "N" },
	{ "retry-max-delay", 0, OPT_NUMBER, false, false, set_retry_max_delay, "SECONDS" },
	{ "spool-dir", 0, OPT_STRING, false, false, set_spool_dir, "DIR" },
	{ "spool-max-bytes", 0, OPT_NUMBER, false, false, set_spool_max_bytes, "BYTES" },
	{ "datadog-tags", 0, OPT_STRING, false, false, set_datadog_tags, "VALUE" },
	{ "output-max-bytes", 0, OPT_NUMBER, false, false, set_output_max_bytes, "BYTES" },
	{ "output-max-age", 0, OPT_NUMBER, false, false, set_output_max_age, "SECONDS" },
};

/*
 * Returns 1 to run, 0 to exit successfully (--help), or -EINVAL (already reported). The
 * configuration file, when given, is returned in *ret_cf (its sections: targets, relabel).
 */
static int parse_options(int argc, char **argv, struct options *o, struct conffile **ret_cf)
{
	struct opt_parse cli;
	struct conffile *cf = NULL;
	const char *config;
	int r;

	*o = (struct options){
		.frequency_hz = DEFAULT_FREQUENCY_HZ,
		.interval_s = DEFAULT_INTERVAL_S,
		.output_dir = DEFAULT_OUTPUT_DIR,
		.stack_size = DEFAULT_STACK_SIZE,
		.unwind_mode = PUW_MODE_AUTO,
		.max_series = DEFAULT_MAX_SERIES,
		.symbolize = FLUSH_SYMBOLIZE_LOCAL,
		.demangle = DEMANGLE_FULL,
		.symbol_cache_bytes = (uint64_t)DEFAULT_SYMBOL_CACHE_MIB << 20,
		.http_address = METRICS_DEFAULT_ADDRESS,
		.memory_limit_bytes = DEFAULT_MEMORY_LIMIT,
	};
	export_options_default(&o->eo);
	labelset_init(&o->labels);
	*ret_cf = NULL;
	r = opt_parse_argv(option_table, ARRAY_SIZE(option_table), argc, argv, &cli);
	if (r < 0)
		return -EINVAL;
	/* --help and --version win over everything, the file included. */
	for (size_t i = 0; i < cli.n; i++)
		if (cli.v[i].def->set == show_help || cli.v[i].def->set == show_version) {
			cli.v[i].def->set(o, NULL);
			opt_parse_done(&cli);
			return 0;
		}
	config = opt_value(&cli, "config");
	labelset_init(&o->cli_labels);
	if (config) {
		r = conffile_load(config, option_table, ARRAY_SIZE(option_table), &cf);
		if (r >= 0)
			r = conffile_apply_options(cf, option_table, ARRAY_SIZE(option_table), &cli,
						   o);
		for (size_t i = 0; r == 0 && cf && i < cf->labels.n; i++)
			if (!labelset_get(&o->labels, cf->labels.v[i].name))
				r = labelset_set(&o->labels, cf->labels.v[i].name,
						 cf->labels.v[i].value);
	}
	if (r == 0)
		r = opt_apply(&cli, o);
	/* The command line's own labels, kept for reloads (the file's never override them). */
	for (size_t i = 0; r == 0 && i < cli.n; i++)
		if (cli.v[i].def->set == set_label) {
			/* Valid: opt_apply() ran set_label() on it. */
			const char *eq = strchr(cli.v[i].value, '=');
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)(eq - cli.v[i].value),
				 cli.v[i].value);
			r = labelset_set(&o->cli_labels, name, eq + 1);
		}
	if (r == 0 && cli.first_arg < argc)
		o->cmd = argv + cli.first_arg;
	opt_parse_done(&cli);
	if (r != 0) {
		conffile_free(cf);
		return r > 0 ? 0 : -EINVAL;
	}
	if (cf)
		for (size_t i = 0; i < cf->n_targets; i++)
			if (cf->targets[i].kind == TARGET_CGROUP &&
			    str_list_add(&o->cgroups, cf->targets[i].value) < 0)
				r = -ENOMEM;
	if (o->cmd && o->n_pids) {
		log_error("--pid and a command cannot be combined: choose one target");
		r = -EINVAL;
	} else if (o->cgroups.n && (o->cmd || o->n_pids)) {
		log_error("--cgroup cannot be combined with --pid or a command: choose one target");
		r = -EINVAL;
	}
	if (r < 0) {
		conffile_free(cf);
		return -EINVAL;
	}
	*ret_cf = cf;
	return 1;
}

/*
 * Starts cmd stopped before exec: it waits for a byte on a pipe, so the sampler can attach
 * its events (enable_on_exec) first. Returns the pid and the pipe's write end.
 */
static int spawn_stopped(char **cmd, const sigset_t *saved_mask, pid_t *ret_pid, int *ret_go)
{
	int go[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(go[0]);
		close(go[1]);
		return r;
	}
	if (pid == 0) {
		char c;

		close(go[1]);
		sigprocmask(SIG_SETMASK, saved_mask, NULL);
		if (read(go[0], &c, 1) != 1)
			_exit(127); /* the agent gave up before starting us */
		execvp(cmd[0], cmd);
		fprintf(stderr, "perfagent: error: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(go[0]);
	*ret_pid = pid;
	*ret_go = go[1];
	return 0;
}

static void raise_nofile_limit(void)
{
	struct rlimit rl;

	/* One fd per CPU, or per thread and CPU with --pid: take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct run_result {
	double seconds;
	struct sampler_stats st;
	struct flush_summary fs;
	struct flush_hot hot[HOTTEST_SHOWN];
	size_t n_hot;
	uint64_t procs_seen;
	int n_cpus;
	const char *event;
	struct sampler_binary_stops bstops[HOTTEST_SHOWN];
	size_t n_bstops;
	bool exact_cgroup;
	double cpu_seconds; /* the agent's own user + system time */
	const char *ex_target[FLUSH_MAX_EXPORTERS];
	struct export_stats ex[FLUSH_MAX_EXPORTERS];
	size_t n_ex;
};

static void print_summary(const struct options *o, const struct run_result *rr)
{
	const struct sampler_stats *st = &rr->st;
	uint64_t unwound = 0;
	char line[2048];
	size_t n = 0;

	for (int i = 0; i < _PUW_STOP_MAX; i++)
		unwound += st->stop[i];
	log_info("summary: %.1f s on %d CPUs, %s at %u Hz: %" PRIu64 " samples, %" PRIu64
		 " lost, %" PRIu64 " throttled, %" PRIu64 " dropped; %" PRIu64 " processes "
		 "sampled; %" PRIu64 " profiles in %s (%" PRIu64 " KiB)",
		 rr->seconds, rr->n_cpus, rr->event, o->frequency_hz, st->samples, st->lost,
		 st->throttled, st->dropped, rr->fs.processes, rr->fs.files,
		 rr->n_ex ? rr->ex_target[0] : "-", rr->fs.bytes / 1024);
	for (size_t i = 0; i < rr->n_ex; i++) {
		const struct export_stats *e = &rr->ex[i];

		if (strncmp(rr->ex_target[i], "file=", 5) == 0)
			continue;
		log_info("export %s: %" PRIu64 " sent (%" PRIu64 " from the spool, %" PRIu64
			 " KiB), %" PRIu64 " retried, %" PRIu64 " spooled, %" PRIu64 " dropped, %"
			 PRIu64 " rejected; %" PRIu64 " waiting in the spool",
			 rr->ex_target[i], e->sent, e->replayed, e->bytes / 1024, e->retried,
			 e->spooled, e->dropped, e->rejected, e->pending);
	}
	n += snprintf(line + n, sizeof(line) - n, "user stacks: %" PRIu64 " unwound, %.1f frames "
		      "on average; stop reasons:", unwound,
		      unwound ? (double)st->user_frames / (double)unwound : 0.0);
	for (int i = 0; i < _PUW_STOP_MAX && n < sizeof(line); i++)
		if (st->stop[i])
			n += snprintf(line + n, sizeof(line) - n, " %s %" PRIu64 " (%.1f%%)",
				      puw_stop_name(i), st->stop[i], 100.0 * st->stop[i] / unwound);
	if (st->kernel_only && n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "; %" PRIu64 " kernel-only samples",
			      st->kernel_only);
	log_info("%s", line);
	if (o->unwind_mode != PUW_MODE_FP)
		log_info("caller frames: %" PRIu64 " by CFI, %" PRIu64 " by frame pointers (%" PRIu64
			 " where no CFI covered the code), %" PRIu64 " signal frames; CFI of %" PRIu64
			 " binaries in %" PRIu64 " KiB (%" PRIu64 " without usable CFI)",
			 st->unwind.steps_cfi, st->unwind.steps_fp, st->unwind.steps_fp_fallback,
			 st->unwind.steps_signal, st->cfi_loaded, st->cfi_bytes / 1024,
			 st->cfi_failed);
	n = 0;
	line[0] = '\0';
	for (size_t i = 0; i < rr->n_bstops && n < sizeof(line); i++) {
		const struct sampler_binary_stops *b = &rr->bstops[i];
		int worst = 0;

		for (int k = 1; k < _PUW_STOP_MAX; k++)
			if (b->stop[k] > b->stop[worst])
				worst = k;
		n += snprintf(line + n, sizeof(line) - n, "%s%s %" PRIu64 " (mostly %s)",
			      i ? ", " : "", b->path, b->total, puw_stop_name(worst));
	}
	if (rr->n_bstops)
		log_info("stacks cut short, by binary of the last frame: %s", line);
	n = 0;
	line[0] = '\0';
	for (size_t i = 0; i < rr->n_hot && n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%.1f%% %s", i ? ", " : "",
			      rr->fs.samples ? 100.0 * rr->hot[i].samples / rr->fs.samples : 0.0,
			      rr->hot[i].function);
	if (rr->n_hot)
		log_info("hottest: %s", line);
	if (st->filtered || st->foreign || rr->fs.overflow_samples || st->label_evals)
		log_info("targets and labels: %" PRIu64 " label decisions, %" PRIu64 " samples of "
			 "non-target processes dropped before unwinding, %" PRIu64 " of other PID "
			 "namespaces, %" PRIu64 " in the overflow series (at most %u series per "
			 "window); agent CPU %.2f s",
			 st->label_evals, st->filtered, st->foreign, rr->fs.overflow_samples,
			 rr->fs.max_series, rr->cpu_seconds);
	if (st->cfi_refused || st->cfi_evicted)
		log_warn("--memory-limit bit: CFI of %" PRIu64 " binaries not loaded and %" PRIu64
			 " tables evicted to stay within %" PRIu64 " KiB; their frames unwound by "
			 "frame pointers: raise --memory-limit", st->cfi_refused, st->cfi_evicted,
			 st->cfi_limit_bytes / 1024);
	if (st->lost)
		log_warn("%" PRIu64 " samples were lost in the kernel (rings full): lower "
			 "--frequency or --stack-size, or raise --ring-size", st->lost);
	if (rr->fs.binaries_mismatched)
		log_warn("%" PRIu64 " binary files were replaced on disk after they were mapped and "
			 "could not be read as mapped; their frames keep addresses",
			 rr->fs.binaries_mismatched);
	if (rr->fs.debuginfod)
		log_info("debuginfod: %" PRIu64 " debug files fetched, %" PRIu64 " misses (%" PRIu64
			 " errors), %" PRIu64 " still pending", rr->fs.dbg.fetched, rr->fs.dbg.misses,
			 rr->fs.dbg.errors, rr->fs.dbg.pending);
	{
		const struct symcache_stats *sy = &rr->fs.symbols;

		log_info("symbols: %" PRIu64 " of %" PRIu64 " user locations named (%" PRIu64
			 " inlined frames); cache %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
			 " evictions, %zu of %zu KiB (peak %zu KiB), %.1f ms loading; slowest: %s %.1f ms",
			 rr->fs.locations_named, rr->fs.locations, rr->fs.inline_frames, sy->hits,
			 sy->misses, sy->evictions, sy->bytes / 1024, sy->max_bytes / 1024,
			 sy->peak_bytes / 1024, (double)sy->load_ns / 1e6,
			 sy->n_slowest ? sy->slowest[0].path : "-",
			 sy->n_slowest ? (double)sy->slowest[0].ns / 1e6 : 0.0);
	}
	if (rr->fs.binaries_failed)
		log_info("%" PRIu64 " binary files could not be read for symbols (gone before the "
			 "window closed, unreadable, or corrupt ELF); their frames keep addresses",
			 rr->fs.binaries_failed);
}

static int write_summary_json(const char *path, const struct options *o,
			      const struct run_result *rr)
{
	json_t *root = json_object(), *stops = json_object(), *hot = json_array();
	int r = 0;

	for (int i = 0; i < _PUW_STOP_MAX; i++)
		json_object_set_new(stops, puw_stop_name(i), json_integer((json_int_t)rr->st.stop[i]));
	for (size_t i = 0; i < rr->n_hot; i++)
		json_array_append_new(hot, json_pack("{s:s, s:I}", "function", rr->hot[i].function,
						     "samples", (json_int_t)rr->hot[i].samples));
	json_object_set_new(root, "seconds", json_real(rr->seconds));
	json_object_set_new(root, "cpus", json_integer(rr->n_cpus));
	json_object_set_new(root, "event", json_string(rr->event));
	json_object_set_new(root, "frequency_hz", json_integer(o->frequency_hz));
	json_object_set_new(root, "samples", json_integer((json_int_t)rr->st.samples));
	json_object_set_new(root, "lost", json_integer((json_int_t)rr->st.lost));
	json_object_set_new(root, "throttled", json_integer((json_int_t)rr->st.throttled));
	json_object_set_new(root, "dropped", json_integer((json_int_t)rr->st.dropped));
	json_object_set_new(root, "bad_records", json_integer((json_int_t)rr->st.bad_records));
	json_object_set_new(root, "kernel_only", json_integer((json_int_t)rr->st.kernel_only));
	json_object_set_new(root, "user_frames", json_integer((json_int_t)rr->st.user_frames));
	json_object_set_new(root, "processes", json_integer((json_int_t)rr->fs.processes));
	json_object_set_new(root, "processes_tracked", json_integer((json_int_t)rr->procs_seen));
	json_object_set_new(root, "windows", json_integer((json_int_t)rr->fs.windows));
	json_object_set_new(root, "files", json_integer((json_int_t)rr->fs.files));
	json_object_set_new(root, "bytes", json_integer((json_int_t)rr->fs.bytes));
	json_object_set_new(root, "send_errors", json_integer((json_int_t)rr->fs.send_errors));
	json_object_set_new(root, "binaries_failed",
			    json_integer((json_int_t)rr->fs.binaries_failed));
	json_object_set_new(root, "stop_reasons", stops);
	{
		const struct symcache_stats *sy = &rr->fs.symbols;
		json_t *sym = json_object(), *src = json_object(), *slow = json_array();

		for (int i = 0; i < _SYM_SOURCE_MAX; i++)
			json_object_set_new(src, sym_source_name(i),
					    json_integer((json_int_t)sy->by_source[i]));
		for (unsigned i = 0; i < sy->n_slowest; i++)
			json_array_append_new(slow, json_pack("{s:s, s:f, s:I, s:s, s:b}", "binary",
				sy->slowest[i].path, "load_ms", (double)sy->slowest[i].ns / 1e6,
				"bytes", (json_int_t)sy->slowest[i].bytes, "source",
				sym_source_name(sy->slowest[i].source), "dwarf", sy->slowest[i].dwarf));
		json_object_set_new(sym, "mode", json_string(o->symbolize == FLUSH_SYMBOLIZE_NONE
								    ? "none" : "local"));
		json_object_set_new(sym, "demangle", json_string(demangle_mode_name(o->demangle)));
		json_object_set_new(sym, "locations", json_integer((json_int_t)rr->fs.locations));
		json_object_set_new(sym, "locations_named",
				    json_integer((json_int_t)rr->fs.locations_named));
		json_object_set_new(sym, "inline_frames",
				    json_integer((json_int_t)rr->fs.inline_frames));
		json_object_set_new(sym, "hits", json_integer((json_int_t)sy->hits));
		json_object_set_new(sym, "misses", json_integer((json_int_t)sy->misses));
		json_object_set_new(sym, "loaded", json_integer((json_int_t)sy->binaries_loaded));
		json_object_set_new(sym, "failed", json_integer((json_int_t)sy->binaries_failed));
		json_object_set_new(sym, "evictions", json_integer((json_int_t)sy->evictions));
		json_object_set_new(sym, "bytes", json_integer((json_int_t)sy->bytes));
		json_object_set_new(sym, "peak_bytes", json_integer((json_int_t)sy->peak_bytes));
		json_object_set_new(sym, "max_bytes", json_integer((json_int_t)sy->max_bytes));
		json_object_set_new(sym, "load_ms", json_real((double)sy->load_ns / 1e6));
		json_object_set_new(sym, "with_dwarf", json_integer((json_int_t)sy->with_dwarf));
		json_object_set_new(sym, "by_source", src);
		json_object_set_new(sym, "slowest", slow);
		json_object_set_new(sym, "binaries_mismatched",
				    json_integer((json_int_t)rr->fs.binaries_mismatched));
		json_object_set_new(sym, "jit_maps_read", json_integer((json_int_t)rr->fs.jit_maps_read));
		json_object_set_new(sym, "jit_resolved", json_integer((json_int_t)rr->fs.jit_resolved));
		json_object_set_new(sym, "debuginfod",
				    json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "enabled",
					      rr->fs.debuginfod, "requests",
					      (json_int_t)rr->fs.dbg.requests, "fetched",
					      (json_int_t)rr->fs.dbg.fetched, "misses",
					      (json_int_t)rr->fs.dbg.misses, "errors",
					      (json_int_t)rr->fs.dbg.errors, "pending",
					      (json_int_t)rr->fs.dbg.pending));
		json_object_set_new(root, "symbols", sym);
	}
	json_object_set_new(root, "targets",
			    json_pack("{s:I, s:I, s:I, s:I, s:i, s:b, s:f, s:I}", "filtered",
				      (json_int_t)rr->st.filtered, "foreign",
				      (json_int_t)rr->st.foreign, "overflow_samples",
				      (json_int_t)rr->fs.overflow_samples, "label_evaluations",
				      (json_int_t)rr->st.label_evals, "max_series_per_window",
				      (int)rr->fs.max_series, "exact_cgroup", rr->exact_cgroup,
				      "agent_cpu_seconds", rr->cpu_seconds, "cgroup_records",
				      (json_int_t)rr->st.cgroup_records));
	json_object_set_new(root, "unwind",
			    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
				      o->unwind_mode == PUW_MODE_FP ? "fp" : "auto", "frames_cfi",
				      (json_int_t)rr->st.unwind.steps_cfi, "frames_fp",
				      (json_int_t)rr->st.unwind.steps_fp, "frames_fp_fallback",
				      (json_int_t)rr->st.unwind.steps_fp_fallback, "signal_frames",
				      (json_int_t)rr->st.unwind.steps_signal, "cfi_loaded",
				      (json_int_t)rr->st.cfi_loaded, "cfi_failed",
				      (json_int_t)rr->st.cfi_failed, "cfi_refused",
				      (json_int_t)rr->st.cfi_refused, "cfi_bytes",
				      (json_int_t)rr->st.cfi_bytes));
	{
		json_t *bs = json_array();

		for (size_t i = 0; i < rr->n_bstops; i++) {
			json_t *reasons = json_object();

			for (int k = 0; k < _PUW_STOP_MAX; k++)
				if (rr->bstops[i].stop[k])
					json_object_set_new(reasons, puw_stop_name(k),
							    json_integer((json_int_t)rr->bstops[i].stop[k]));
			json_array_append_new(bs, json_pack("{s:s, s:I, s:o}", "binary",
							    rr->bstops[i].path, "truncated",
							    (json_int_t)rr->bstops[i].total,
							    "reasons", reasons));
		}
		json_object_set_new(root, "stops_by_binary", bs);
	}
	json_object_set_new(root, "hottest", hot);
	{
		json_t *ex = json_array();

		for (size_t i = 0; i < rr->n_ex; i++) {
			const struct export_stats *e = &rr->ex[i];

			json_array_append_new(ex, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
							    "s:I, s:I}", "target", rr->ex_target[i],
							    "sent", (json_int_t)e->sent, "retried",
							    (json_int_t)e->retried, "spooled",
							    (json_int_t)e->spooled, "replayed",
							    (json_int_t)e->replayed, "dropped",
							    (json_int_t)e->dropped, "rejected",
							    (json_int_t)e->rejected, "bytes",
							    (json_int_t)e->bytes, "pending",
							    (json_int_t)e->pending));
		}
		json_object_set_new(root, "exporters", ex);
	}
	if (json_dump_file(root, path, JSON_INDENT(2)) < 0)
		r = log_error_errno(-EIO, "write the summary to %s", path);
	json_decref(root);
	return r;
}

/*
 * The labeler from the options and the file. Target rules become kernel cgroup events when
 * they are all cgroups (*ret_kernel); mixed with process rules, every rule is decided per
 * process instead (the kernel cannot express "this cgroup or that program").
 */
static int setup_labels(struct options *o, const struct conffile *cf, struct labeler **ret,
			bool *ret_kernel)
{
	static char hostname[256], pods[PATH_MAX], containers[PATH_MAX];
	struct labeler_config lc = { 0 };
	struct target_rule *targets = NULL;
	size_t n = 0, n_proc = 0;
	int r;

	if (!o->node && gethostname(hostname, sizeof(hostname) - 1) == 0)
		o->node = hostname;
	if (o->kubelet_log_dir) {
		snprintf(pods, sizeof(pods), "%s/pods", o->kubelet_log_dir);
		snprintf(containers, sizeof(containers), "%s/containers", o->kubelet_log_dir);
	}
	targets = calloc(o->cgroups.n + (cf ? cf->n_targets : 0) + 1, sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	for (size_t i = 0; i < o->cgroups.n; i++)
		targets[n++] = (struct target_rule){ .kind = TARGET_CGROUP, .value = o->cgroups.v[i] };
	for (size_t i = 0; cf && i < cf->n_targets; i++)
		if (cf->targets[i].kind != TARGET_CGROUP) {
			targets[n++] = cf->targets[i];
			n_proc++;
		}
	*ret_kernel = o->cgroups.n > 0 && n_proc == 0;
	if (o->cgroups.n && n_proc)
		log_info("target rules mix cgroups and programs: every rule is decided per process "
			 "(cgroup events cannot express the union)");
	lc = (struct labeler_config){
		.discover = {
			.cmdline = o->label_cmdline,
			.env_vars = o->env_vars.v,
			.node = o->node,
			.sidecar = o->sidecar,
			.pods_log_dir = o->kubelet_log_dir ? pods : NULL,
			.containers_log_dir = o->kubelet_log_dir ? containers : NULL,
		},
		.static_labels = &o->labels,
		.relabel = cf ? cf->relabel : NULL,
		/* Kernel events already select: no per-process rule to repeat. */
		.targets = *ret_kernel ? NULL : targets,
		.n_targets = *ret_kernel ? 0 : n,
	};
	r = labeler_new(&lc, ret);
	free(targets); /* the labeler copied the array; the strings live in o and cf */
	return r;
}

static void print_labelset(const char *title, const struct labelset *ls)
{
	printf("%s:\n", title);
	for (size_t i = 0; i < ls->n; i++)
		printf("  %s=%s\n", ls->v[i].name, ls->v[i].value);
}

static int print_labels(struct labeler *lab, uint32_t pid)
{
	struct labelset disc, series;
	int keep = 0;

	labelset_init(&disc);
	if (labeler_eval_verbose(lab, pid, &disc, &series, &keep) < 0) {
		log_error("labels of process %u: could not be evaluated", pid);
		return 1;
	}
	print_labelset("discovered", &disc);
	if (keep)
		print_labelset("series", &series);
	else
		printf("dropped: not a target, or a keep/drop rule dropped it\n");
	labelset_done(&disc);
	labelset_done(&series);
	return 0;
}

/*
 * The exporters of --export, plus file=DIR for -o (or by default when nothing else is
 * chosen). The service name, unless given, is the profiled program's. Returns 0 or -errno
 * (reported); on failure the exporters made so far are released.
 */
static int open_exporters(struct options *o, struct flush_config *fc)
{
	static char comm[64], file_spec[4096];
	struct export_options eo = o->eo;
	int r;

	if (!eo.service_name && o->cmd) {
		const char *slash = strrchr(o->cmd[0], '/');

		eo.service_name = slash ? slash + 1 : o->cmd[0];
	} else if (!eo.service_name && o->n_pids) {
		char path[64];
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%u/comm", o->pids[0]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			comm[n] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			eo.service_name = comm;
		}
	}
	if (o->output_dir_set || o->n_exports == 0) {
		if (o->n_exports >= FLUSH_MAX_EXPORTERS) {
			log_error("--export: at most %d exporters, -o included", FLUSH_MAX_EXPORTERS);
			return -EINVAL;
		}
		snprintf(file_spec, sizeof(file_spec), "file=%s", o->output_dir);
		memmove(o->exports + 1, o->exports, o->n_exports * sizeof(o->exports[0]));
		o->exports[0] = file_spec;
		o->n_exports++;
	}
	for (size_t i = 0; i < o->n_exports; i++) {
		r = export_new_from_spec(o->exports[i], &eo, &fc->exporters[i]);
		if (r < 0) {
			for (size_t j = 0; j < i; j++)
				exporter_done(&fc->exporters[j]);
			return r;
		}
		fc->n_exporters = i + 1;
	}
	return 0;
}

/*
 * SIGHUP with --config: the file is read and validated again; its labels and relabel_configs
 * (and process target rules) become a new labeler, which every process meets at its next
 * sample. Keys that only take effect at start (frequency, exporters, cgroup events...) are
 * named when they changed: they need a restart. The previous labeler lives until the windows
 * holding its series are flushed.
 */
struct config_reload {
	struct options *o;
	struct sampler *s;
	struct conffile **cf;      /* the configuration in force */
	struct labeler **lab;      /* the labeler in force */
	struct options *opts;      /* the options (static labels) the reloaded labeler borrows */
	struct labeler *retired;   /* the previous one, freed after two window hand-offs */
	struct conffile *retired_cf;       /* what it borrows */
	struct options *retired_opts;
	unsigned handoffs;         /* window hand-offs since it was retired */
	bool kernel_cgroups;
};

static int reload_config(void *ctx)
{
	struct config_reload *rl = ctx;
	struct conffile *ncf = NULL;
	struct labeler *nlab = NULL;
	struct options *o2;
	bool kernel = false;
	const char *key;
	json_t *v, *old_root;
	int r;

	if (rl->retired) {
		log_warn("reload: the previous reload's labels are still in use by a window; "
			 "try again after the next window");
		return -EBUSY;
	}
	r = conffile_load(rl->o->config_path, option_table, ARRAY_SIZE(option_table), &ncf);
	if (r < 0)
		return log_error_errno(r, "reload %s: kept the previous configuration",
				       rl->o->config_path);
	old_root = *rl->cf ? (*rl->cf)->root : NULL;
	json_object_foreach((json_t *)ncf->root, key, v) {
		if (strcmp(key, "labels") == 0 || strcmp(key, "relabel_configs") == 0 ||
		    strcmp(key, "targets") == 0)
			continue;
		if (!old_root || !json_equal(v, json_object_get(old_root, key)))
			log_warn("reload: \"%s\" changed; it takes effect at the next start", key);
	}
	/*
	 * Static labels: the command line's, then the new file's under them, in a copy of the
	 * options that lives as long as the labeler (it borrows them).
	 */
	o2 = malloc(sizeof(*o2));
	if (!o2) {
		conffile_free(ncf);
		return log_error_errno(-ENOMEM, "reload %s: out of memory", rl->o->config_path);
	}
	*o2 = *rl->o;
	labelset_init(&o2->labels);
	r = labelset_copy(&o2->labels, &rl->o->cli_labels);
	for (size_t i = 0; r == 0 && i < ncf->labels.n; i++)
		if (!labelset_get(&o2->labels, ncf->labels.v[i].name))
			r = labelset_set(&o2->labels, ncf->labels.v[i].name, ncf->labels.v[i].value);
	if (r == 0)
		r = setup_labels(o2, ncf, &nlab, &kernel);
	if (r == 0 && kernel != rl->kernel_cgroups)
		log_warn("reload: cgroup target rules changed; kernel selection takes effect at the "
			 "next start");
	if (r < 0) {
		labelset_done(&o2->labels);
		free(o2);
		conffile_free(ncf);
		return log_error_errno(r, "reload %s: kept the previous configuration",
				       rl->o->config_path);
	}
	/* The labeler borrows the labels and the file's rules: both live as long as it. */
	sampler_set_labeler(rl->s, labeler_eval, nlab, labeler_default_series(nlab));
	rl->retired = *rl->lab;
	rl->retired_cf = *rl->cf;
	rl->retired_opts = rl->opts;
	rl->opts = o2;
	rl->handoffs = 0;
	*rl->lab = nlab;
	*rl->cf = ncf;
	log_info("reloaded %s: labels and relabel rules apply from now on", rl->o->config_path);
	return 0;
}

/* Frees a copy of the options made by reload_config() (its labels are its own). */
static void options_copy_free(struct options *o)
{
	if (!o)
		return;
	labelset_done(&o->labels);
	free(o);
}

/* A window was handed to the flusher: the retired labeler goes once no window holds it. */
static void reload_window_handed(struct config_reload *rl)
{
	if (rl->retired && ++rl->handoffs >= 2) {
		labeler_free(rl->retired);
		conffile_free(rl->retired_cf);
		options_copy_free(rl->retired_opts);
		rl->retired_opts = NULL;
		rl->retired = NULL;
		rl->retired_cf = NULL;
	}
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	struct options o;
	struct sampler_config sc;
	struct sampler *s = NULL;
	struct flusher *f = NULL;
	struct profile_window *w = NULL, *spare = NULL;
	struct profile_limits lim;
	struct conffile *cf = NULL;
	struct labeler *lab = NULL;
	struct labelset overflow = { 0 };
	bool kernel_cgroups = false;
	struct flush_config fc = { 0 };
	struct debuginfo_config dic;
	struct run_result rr = { 0 };
	struct metrics *metrics = NULL;
	struct config_reload rl = { 0 };
	sigset_t mask, saved_mask;
	pid_t child = 0;
	int go_fd = -1, sfd = -1, epfd = -1, child_status = -1, ret = 1, r;
	uint64_t start_ns, window_end_ns, deadline_ns;
	bool stopping = false;

	/* Subcommands have their own options. */
	if (argc > 1 && strcmp(argv[1], "doctor") == 0)
		return doctor_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return explain_main(argc - 1, argv + 1);

	r = parse_options(argc, argv, &o, &cf);
	if (r <= 0)
		return r == 0 ? 0 : 2;
	/* libdebuginfod reads its servers from the environment; set it before any thread runs. */
	if (o.debuginfod_url && setenv("DEBUGINFOD_URLS", o.debuginfod_url, 1) < 0) {
		log_error_errno(-errno, "set DEBUGINFOD_URLS: %m");
		return 1;
	}
	raise_nofile_limit();
	r = setup_labels(&o, cf, &lab, &kernel_cgroups);
	if (r < 0)
		goto out;
	if (o.print_labels_pid) {
		ret = print_labels(lab, o.print_labels_pid);
		goto out;
	}
	if (o.sidecar && sidecar_check() < 0)
		goto out;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &saved_mask);
	signal(SIGPIPE, SIG_IGN);

	if (o.cmd && !o.check_perf) {
		r = spawn_stopped(o.cmd, &saved_mask, &child, &go_fd);
		if (r < 0) {
			log_error_errno(r, "start %s: %m", o.cmd[0]);
			return 1;
		}
	}

	dic = (struct debuginfo_config){ .dirs = o.debuginfo_dirs, .n_dirs = o.n_debuginfo_dirs };
	sc = (struct sampler_config){
		.debuginfo = &dic,
		.frequency_hz = o.frequency_hz,
		.stack_size = o.stack_size,
		.ring_bytes = o.ring_bytes,
		.want_cycles = o.want_cycles,
		.unwind_mode = o.unwind_mode,
		.unwind_markers = o.unwind_markers,
		.pids = o.n_pids ? o.pids : NULL,
		.n_pids = o.n_pids,
		.cmd_pid = child,
		.cgroups = kernel_cgroups ? (const char *const *)o.cgroups.v : NULL,
		.n_cgroups = kernel_cgroups ? o.cgroups.n : 0,
		.exact_cgroup = true,
		.label_fn = labeler_eval,
		.label_ctx = lab,
		.default_series = labeler_default_series(lab),
		.drop_foreign = o.sidecar,
		/* The caches share --memory-limit: half for CFI tables, half for symbols. */
		.cfi_max_bytes = (size_t)(o.memory_limit_bytes / 2),
	};
	r = sampler_open(&sc, &s);
	if (r < 0) {
		/* sampler_open said why; in a pod, say where the capability is granted */
		if (o.sidecar && (r == -EACCES || r == -EPERM))
			log_error("--sidecar: add PERFMON (SYS_ADMIN before Linux 5.8) to the "
				  "container's securityContext.capabilities.add");
		goto out;
	}
	if (o.check_perf) {
		printf("perf events: ok (%s at %u Hz on %d CPUs)\n", sampler_event_name(s),
		       o.frequency_hz, sampler_n_cpus(s));
		ret = 0;
		goto out;
	}

	profile_limits_default(&lim);
	lim.max_series = o.max_series;
	w = profile_window_new(&lim);
	spare = profile_window_new(&lim);
	if (!w || !spare) {
		log_error("allocate the aggregation windows: out of memory");
		goto out;
	}
	/* The overflow series: node and the static labels, as every series has them. */
	if (labelset_copy(&overflow, &o.labels) < 0 ||
	    (o.node && labelset_set(&overflow, "node", o.node) < 0)) {
		log_error("allocate the overflow series' labels: out of memory");
		goto out;
	}
	fc = (struct flush_config){
		.frequency_hz = o.frequency_hz,
		.event_name = sampler_event_name(s),
		.debuginfod_urls = getenv("DEBUGINFOD_URLS"),
		.debuginfod_timeout_s = o.debuginfod_timeout_s,
		.overflow_labels = &overflow,
		.symbolize = o.symbolize,
		.demangle = o.demangle,
		/* The caches share --memory-limit: half for CFI tables, half for symbols. */
		.symbol_cache_bytes = (size_t)(o.symbol_cache_bytes < o.memory_limit_bytes - o.memory_limit_bytes / 2
						      ? o.symbol_cache_bytes
						      : o.memory_limit_bytes - o.memory_limit_bytes / 2),
		.debuginfo = dic,
	};
	r = open_exporters(&o, &fc);
	if (r < 0)
		goto out;
	r = flusher_new(&fc, spare, &f);
	if (r < 0) {
		for (size_t i = 0; i < fc.n_exporters; i++)
			exporter_done(&fc.exporters[i]);
		log_error_errno(r, "start the flush thread: %m");
		goto out;
	}
	spare = NULL;
	if (o.config_path) {
		rl = (struct config_reload){ .o = &o, .s = s, .cf = &cf, .lab = &lab,
					     .kernel_cgroups = kernel_cgroups };
		(void)reload_register("configuration", reload_config, &rl);
	}
	/* A busy port must not stop profiling: the endpoint is off then (logged). */
	if (strcmp(o.http_address, "none") != 0 && metrics_start(o.http_address, &metrics) == 0)
		metrics_set_flusher(metrics, f);

	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0) {
		log_error_errno(-errno, "set up the event loop: %m");
		goto out;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0 || sampler_watch(s, epfd) < 0) {
			log_error_errno(-errno, "set up the event loop: %m");
			goto out;
		}
	}

	r = sampler_bootstrap(s);
	log_info("profiling %s: %s at %u Hz on %d CPUs, %u-byte stack copies, %" PRIu64
		 " s windows -> %s",
		 child ? o.cmd[0] : o.n_pids ? "the given processes" :
		 kernel_cgroups ? "the given cgroups" : o.sidecar ? "this PID namespace" :
		 "the whole machine",
		 sampler_event_name(s), o.frequency_hz, sampler_n_cpus(s), o.stack_size,
		 o.interval_s, fc.exporters[0].target);
	r = sampler_enable(s);
	if (r < 0) {
		log_error_errno(r, "enable the sampling events: %m");
		goto out;
	}
	if (child) {
		if (write(go_fd, "g", 1) != 1) {
			log_error_errno(-errno, "start %s: %m", o.cmd[0]);
			goto out;
		}
		close(go_fd);
		go_fd = -1;
	}

	start_ns = now_monotonic_ns();
	profile_window_reset(w, start_ns, now_realtime_ns());
	window_end_ns = start_ns + o.interval_s * NSEC_PER_SEC;
	deadline_ns = o.duration_s ? start_ns + o.duration_s * NSEC_PER_SEC : UINT64_MAX;

	while (!stopping) {
		struct epoll_event evs[64];
		uint64_t now = now_monotonic_ns(), next = window_end_ns < deadline_ns ? window_end_ns
										     : deadline_ns;
		int timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		int n;

		if (timeout > DRAIN_TICK_MS)
			timeout = DRAIN_TICK_MS;
		n = epoll_wait(epfd, evs, ARRAY_SIZE(evs), timeout);
		for (int i = 0; i < n; i++) {
			struct signalfd_siginfo si;

			if (evs[i].data.u64 != UINT64_MAX)
				continue;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					int status;

					if (child && waitpid(child, &status, WNOHANG) == child) {
						child_status = status;
						stopping = true;
					}
				} else if (si.ssi_signo == SIGHUP && !child) {
					/* The window in progress keeps filling: nothing is lost. */
					metrics_count_reload(metrics, reload_run());
				} else if (child && child_status < 0) {
					/* The command decides when we stop: pass the signal on. */
					kill(child, (int)si.ssi_signo);
				} else {
					log_info("received %s, writing the last window",
						 strsignal((int)si.ssi_signo));
					stopping = true;
				}
			}
		}
		sampler_drain(s, w, false);

		now = now_monotonic_ns();
		metrics_publish(metrics, s, now);
		if (now >= deadline_ns || sampler_targets_gone(s))
			stopping = true;
		if (!stopping && now >= window_end_ns) {
			struct profile_window *empty;

			/* A flush still running (a big debug file loading) must not stall draining:
			 * the window stays open and is handed over at a later tick. */
			w->end_mono_ns = now;
			empty = flusher_try_submit(f, w);
			if (!empty) {
				window_end_ns = now + DRAIN_TICK_MS * 1000000ULL; /* retry then */
				continue;
			}
			w = empty;
			reload_window_handed(&rl);
			profile_window_reset(w, now, now_realtime_ns());
			window_end_ns += o.interval_s * NSEC_PER_SEC;
			if (window_end_ns <= now)
				window_end_ns = now + o.interval_s * NSEC_PER_SEC;
		}
	}

	/* Stop sampling, take everything still in the rings, write the partial window. */
	sampler_disable(s);
	while (sampler_drain(s, w, true) > 0)
		;
	w->end_mono_ns = now_monotonic_ns();
	w = flusher_submit(f, w);
	metrics_stop(metrics); /* before the flusher it reads from goes */
	metrics = NULL;
	flusher_finish(f);

	rr.seconds = (double)(now_monotonic_ns() - start_ns) / 1e9;
	sampler_get_stats(s, &rr.st);
	flusher_get_summary(f, &rr.fs);
	rr.n_hot = flusher_hottest(f, rr.hot, HOTTEST_SHOWN);
	rr.procs_seen = sampler_procs_seen(s);
	rr.n_cpus = sampler_n_cpus(s);
	rr.event = sampler_event_name(s);
	rr.n_bstops = sampler_binary_stops(s, rr.bstops, HOTTEST_SHOWN);
	rr.exact_cgroup = sampler_exact_cgroup(s);
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			rr.cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
					 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	}
	while (rr.n_ex < FLUSH_MAX_EXPORTERS &&
	       flusher_export_stats(f, rr.n_ex, &rr.ex_target[rr.n_ex], &rr.ex[rr.n_ex]))
		rr.n_ex++;
	print_summary(&o, &rr);
	ret = 0;
	if (o.summary_json && write_summary_json(o.summary_json, &o, &rr) < 0)
		ret = 1;
	if (rr.fs.send_errors)
		ret = 1;

	if (child) {
		/* Profiling may have ended first (--duration): the command still decides the code. */
		if (child_status < 0 && waitpid(child, &child_status, 0) != child)
			child_status = -1;
		ret = child_status >= 0 ? exit_code_of(child_status) : 1;
		child = 0;
	}
out:
	if (child) {
		/* We failed before the command started: it must not run unprofiled. */
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (go_fd >= 0)
		close(go_fd);
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
	metrics_stop(metrics);
	flusher_free(f);
	profile_window_free(w);
	profile_window_free(spare);
	sampler_free(s);
	labeler_free(lab);
	labeler_free(rl.retired);
	conffile_free(rl.retired_cf);
	options_copy_free(rl.retired_opts);
	options_copy_free(rl.opts);
	conffile_free(cf);
	str_list_free(&o.cgroups);
	str_list_free(&o.env_vars);
	labelset_done(&o.labels);
	labelset_done(&o.cli_labels);
	labelset_done(&overflow);
	return ret;
}
