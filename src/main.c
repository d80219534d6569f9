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
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export.h"
#include "flush.h"
#include "log.h"
#include "profile.h"
#include "sampler.h"
#include "util.h"

#define DEFAULT_FREQUENCY_HZ 19
#define DEFAULT_INTERVAL_S 10
#define DEFAULT_STACK_SIZE 16384
#define DEFAULT_OUTPUT_DIR "./profiles"
#define DRAIN_TICK_MS 100
#define MAX_PIDS 1024
#define HOTTEST_SHOWN 5

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
	char **cmd;
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
		"stacks in userspace, and writes one pprof profile per window.\n"
		"\n"
		"What to profile (default: the whole machine):\n"
		"  -p, --pid PID[,PID...]     only these processes and their threads\n"
		"  -- COMMAND [ARGS...]       run COMMAND, profile it and its children, and exit\n"
		"                             with its exit status\n"
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
		"Output:\n"
		"  -o, --output-dir DIR       where the .pb.gz profiles go (default %s)\n"
		"  -i, --interval SECONDS     length of one profile window (default %d)\n"
		"  -d, --duration SECONDS     stop after this long (default 0: until SIGINT or\n"
		"                             SIGTERM; the partial window is written either way)\n"
		"      --summary-json FILE    write the end-of-run summary as JSON to FILE\n"
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
		"Other:\n"
		"      --check-perf           check that the sampling events can be opened, exit\n"
		"      --log-level LEVEL      error, warn, info (default) or debug\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n"
		"\n"
		"Privileges: root, or CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8) plus\n"
		"CAP_SYS_PTRACE to read other users' binaries, or kernel.perf_event_paranoid <= 0.\n",
		DEFAULT_FREQUENCY_HZ, DEFAULT_STACK_SIZE, DEFAULT_OUTPUT_DIR, DEFAULT_INTERVAL_S,
		d.timeout_s, d.concurrency, d.retry_max_s, (unsigned long long)d.spool_max_bytes);
}

static int parse_pids(const char *arg, struct options *o)
{
	char buf[4096], *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		return -E2BIG;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t pid;

		if (parse_u64(tok, 1, INT32_MAX, &pid) < 0)
			return -EINVAL;
		if (o->n_pids >= MAX_PIDS)
			return -E2BIG;
		o->pids[o->n_pids++] = (uint32_t)pid;
	}
	return o->n_pids ? 0 : -EINVAL;
}

enum {
	OPT_STACK_SIZE = 256,
	OPT_RING_SIZE,
	OPT_EVENT,
	OPT_UNWIND,
	OPT_UNWIND_MARKERS,
	OPT_SUMMARY_JSON,
	OPT_CHECK_PERF,
	OPT_LOG_LEVEL,
	OPT_EXPORT,
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

/* Returns 1 to run, 0 to exit successfully (--help), or -EINVAL (already reported). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "frequency", required_argument, NULL, 'F' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output-dir", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
		{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
		{ "event", required_argument, NULL, OPT_EVENT },
		{ "unwind", required_argument, NULL, OPT_UNWIND },
		{ "unwind-markers", no_argument, NULL, OPT_UNWIND_MARKERS },
		{ "summary-json", required_argument, NULL, OPT_SUMMARY_JSON },
		{ "check-perf", no_argument, NULL, OPT_CHECK_PERF },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "export", required_argument, NULL, OPT_EXPORT },
		{ "service-name", required_argument, NULL, OPT_SERVICE_NAME },
		{ "bearer-token-file", required_argument, NULL, OPT_BEARER_TOKEN_FILE },
		{ "basic-auth-user", required_argument, NULL, OPT_BASIC_AUTH_USER },
		{ "basic-auth-password-file", required_argument, NULL, OPT_BASIC_AUTH_PASSWORD_FILE },
		{ "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "header", required_argument, NULL, OPT_HEADER },
		{ "tls-ca-file", required_argument, NULL, OPT_TLS_CA_FILE },
		{ "tls-cert-file", required_argument, NULL, OPT_TLS_CERT_FILE },
		{ "tls-key-file", required_argument, NULL, OPT_TLS_KEY_FILE },
		{ "tls-insecure-skip-verify", no_argument, NULL, OPT_TLS_INSECURE },
		{ "export-timeout", required_argument, NULL, OPT_EXPORT_TIMEOUT },
		{ "export-concurrency", required_argument, NULL, OPT_EXPORT_CONCURRENCY },
		{ "retry-max-delay", required_argument, NULL, OPT_RETRY_MAX_DELAY },
		{ "spool-dir", required_argument, NULL, OPT_SPOOL_DIR },
		{ "spool-max-bytes", required_argument, NULL, OPT_SPOOL_MAX_BYTES },
		{ "datadog-tags", required_argument, NULL, OPT_DATADOG_TAGS },
		{ "output-max-bytes", required_argument, NULL, OPT_OUTPUT_MAX_BYTES },
		{ "output-max-age", required_argument, NULL, OPT_OUTPUT_MAX_AGE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	uint64_t v;
	int c;

	*o = (struct options){
		.frequency_hz = DEFAULT_FREQUENCY_HZ,
		.interval_s = DEFAULT_INTERVAL_S,
		.output_dir = DEFAULT_OUTPUT_DIR,
		.stack_size = DEFAULT_STACK_SIZE,
		.unwind_mode = PUW_MODE_AUTO,
	};
	export_options_default(&o->eo);
	/* '+': stop at the first non-option, so "-- cmd -x" and "cmd -x" keep cmd's options. */
	while ((c = getopt_long(argc, argv, "+F:i:d:o:p:hV", longopts, NULL)) >= 0) {
		switch (c) {
		case 'F':
			if (parse_u64(optarg, 1, 100000, &v) < 0) {
				log_error("--frequency %s: expected samples per second, 1 to 100000",
					  optarg);
				return -EINVAL;
			}
			o->frequency_hz = (uint32_t)v;
			break;
		case 'i':
			if (parse_u64(optarg, 1, 86400, &o->interval_s) < 0) {
				log_error("--interval %s: expected seconds, 1 to 86400", optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			if (parse_u64(optarg, 0, 31536000, &o->duration_s) < 0) {
				log_error("--duration %s: expected seconds (0 = until a signal)", optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			o->output_dir = optarg;
			o->output_dir_set = true;
			break;
		case 'p':
			if (parse_pids(optarg, o) < 0) {
				log_error("--pid %s: expected process ids separated by commas (at most "
					  "%d)", optarg, MAX_PIDS);
				return -EINVAL;
			}
			break;
		case OPT_STACK_SIZE:
			if (parse_u64(optarg, 8, 65528, &v) < 0 || v % 8) {
				log_error("--stack-size %s: expected a multiple of 8 from 8 to 65528 "
					  "bytes (the kernel's limit for one sample)", optarg);
				return -EINVAL;
			}
			o->stack_size = (uint32_t)v;
			break;
		case OPT_RING_SIZE:
			if (parse_u64(optarg, 4096, 1ULL << 30, &v) < 0 || (v & (v - 1))) {
				log_error("--ring-size %s: expected a power of two from 4096 to 1 GiB "
					  "bytes", optarg);
				return -EINVAL;
			}
			o->ring_bytes = v;
			break;
		case OPT_EVENT:
			if (strcmp(optarg, "cpu-clock") == 0)
				o->want_cycles = false;
			else if (strcmp(optarg, "cycles") == 0)
				o->want_cycles = true;
			else {
				log_error("--event %s: expected cpu-clock or cycles", optarg);
				return -EINVAL;
			}
			break;
		case OPT_UNWIND:
			if (strcmp(optarg, "auto") == 0)
				o->unwind_mode = PUW_MODE_AUTO;
			else if (strcmp(optarg, "fp") == 0)
				o->unwind_mode = PUW_MODE_FP;
			else {
				log_error("--unwind %s: expected auto or fp", optarg);
				return -EINVAL;
			}
			break;
		case OPT_UNWIND_MARKERS:
			o->unwind_markers = true;
			break;
		case OPT_SUMMARY_JSON:
			o->summary_json = optarg;
			break;
		case OPT_CHECK_PERF:
			o->check_perf = true;
			break;
		case OPT_LOG_LEVEL: {
			enum log_level l;

			if (log_level_from_string(optarg, &l) < 0) {
				log_error("--log-level %s: expected error, warn, info or debug", optarg);
				return -EINVAL;
			}
			log_set_level(l);
			break;
		}
		case OPT_EXPORT ... OPT_OUTPUT_MAX_AGE:
			if (parse_export_option(c, optarg, o) < 0)
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("perfagent %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'perfagent --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->cmd = argv + optind;
	if (o->cmd && o->n_pids) {
		log_error("--pid and a command cannot be combined: choose one target");
		return -EINVAL;
	}
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
	if (st->lost)
		log_warn("%" PRIu64 " samples were lost in the kernel (rings full): lower "
			 "--frequency or --stack-size, or raise --ring-size", st->lost);
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
	struct flush_config fc = { 0 };
	struct run_result rr = { 0 };
	sigset_t mask, saved_mask;
	pid_t child = 0;
	int go_fd = -1, sfd = -1, epfd = -1, child_status = -1, ret = 1, r;
	uint64_t start_ns, window_end_ns, deadline_ns;
	bool stopping = false;

	r = parse_options(argc, argv, &o);
	if (r <= 0)
		return r == 0 ? 0 : 2;
	raise_nofile_limit();

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

	sc = (struct sampler_config){
		.frequency_hz = o.frequency_hz,
		.stack_size = o.stack_size,
		.ring_bytes = o.ring_bytes,
		.want_cycles = o.want_cycles,
		.unwind_mode = o.unwind_mode,
		.unwind_markers = o.unwind_markers,
		.pids = o.n_pids ? o.pids : NULL,
		.n_pids = o.n_pids,
		.cmd_pid = child,
	};
	r = sampler_open(&sc, &s);
	if (r < 0)
		goto out; /* sampler_open said why */
	if (o.check_perf) {
		printf("perf events: ok (%s at %u Hz on %d CPUs)\n", sampler_event_name(s),
		       o.frequency_hz, sampler_n_cpus(s));
		ret = 0;
		goto out;
	}

	profile_limits_default(&lim);
	w = profile_window_new(&lim);
	spare = profile_window_new(&lim);
	if (!w || !spare) {
		log_error("allocate the aggregation windows: out of memory");
		goto out;
	}
	fc = (struct flush_config){
		.frequency_hz = o.frequency_hz,
		.event_name = sampler_event_name(s),
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
		 child ? o.cmd[0] : o.n_pids ? "the given processes" : "the whole machine",
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
		if (now >= deadline_ns || sampler_targets_gone(s))
			stopping = true;
		if (!stopping && now >= window_end_ns) {
			w->end_mono_ns = now;
			w = flusher_submit(f, w);
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
	flusher_finish(f);

	rr.seconds = (double)(now_monotonic_ns() - start_ns) / 1e9;
	sampler_get_stats(s, &rr.st);
	flusher_get_summary(f, &rr.fs);
	rr.n_hot = flusher_hottest(f, rr.hot, HOTTEST_SHOWN);
	rr.procs_seen = sampler_procs_seen(s);
	rr.n_cpus = sampler_n_cpus(s);
	rr.event = sampler_event_name(s);
	rr.n_bstops = sampler_binary_stops(s, rr.bstops, HOTTEST_SHOWN);
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
	flusher_free(f);
	profile_window_free(w);
	profile_window_free(spare);
	sampler_free(s);
	return ret;
}
