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

#include "doctor.h"
#include "export.h"
#include "flush.h"
#include "log.h"
#include "metrics.h"
#include "profile.h"
#include "reload.h"
#include "sampler.h"
#include "util.h"

#define DEFAULT_FREQUENCY_HZ 19
#define DEFAULT_INTERVAL_S 10
#define DEFAULT_STACK_SIZE 16384
#define DEFAULT_OUTPUT_DIR "./profiles"
#define DRAIN_TICK_MS 100
#define MAX_PIDS 1024
#define HOTTEST_SHOWN 5
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
	/* Operation: self-metrics endpoint and the caches' memory budget. */
	const char *http_address;
	uint64_t memory_limit_bytes;
	char **cmd;
};

static void usage(FILE *out)
{
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
		"Operation:\n"
		"      --http-address ADDR    serve /metrics (Prometheus) and /healthz on ADDR,\n"
		"                             HOST:PORT or [IPV6]:PORT (default %s; none: off)\n"
		"      --memory-limit BYTES   budget of the symbol and CFI caches together, with\n"
		"                             K, M or G suffixes (default 512M)\n"
		"Subcommands:\n"
		"  perfagent doctor [--pid PID]     check this machine (and a process) for profiling\n"
		"  perfagent explain PID            what unwinding and symbols find in PID, and\n"
		"                                   where its stacks stop\n"
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
		METRICS_DEFAULT_ADDRESS);
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
	OPT_HTTP_ADDRESS,
	OPT_MEMORY_LIMIT,
};

/* "512M", "1G", "65536": bytes with an optional binary K/M/G suffix. */
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
		{ "http-address", required_argument, NULL, OPT_HTTP_ADDRESS },
		{ "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
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
		.http_address = METRICS_DEFAULT_ADDRESS,
		.memory_limit_bytes = DEFAULT_MEMORY_LIMIT,
	};
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
		case OPT_HTTP_ADDRESS:
			if (metrics_parse_address(optarg) < 0) {
				log_error("--http-address %s: expected HOST:PORT, [IPV6]:PORT, :PORT "
					  "or none", optarg);
				return -EINVAL;
			}
			o->http_address = optarg;
			break;
		case OPT_MEMORY_LIMIT:
			if (parse_bytes(optarg, 1ULL << 20, 1ULL << 40, &o->memory_limit_bytes) < 0) {
				log_error("--memory-limit %s: expected bytes from 1M to 1024G (K, M, G "
					  "suffixes)", optarg);
				return -EINVAL;
			}
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
		 st->throttled, st->dropped, rr->fs.processes, rr->fs.files, o->output_dir,
		 rr->fs.bytes / 1024);
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
	if (st->cfi_refused || st->cfi_evicted)
		log_warn("--memory-limit bit: CFI of %" PRIu64 " binaries not loaded and %" PRIu64
			 " tables evicted to stay within %" PRIu64 " KiB; their frames unwound by "
			 "frame pointers: raise --memory-limit", st->cfi_refused, st->cfi_evicted,
			 st->cfi_limit_bytes / 1024);
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
	if (json_dump_file(root, path, JSON_INDENT(2)) < 0)
		r = log_error_errno(-EIO, "write the summary to %s", path);
	json_decref(root);
	return r;
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
	struct metrics *metrics = NULL;
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
		/* The caches share --memory-limit: half for CFI tables, half for symbols. */
		.cfi_max_bytes = (size_t)(o.memory_limit_bytes / 2),
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
		.symcache_bytes = (size_t)(o.memory_limit_bytes - o.memory_limit_bytes / 2),
	};
	r = export_file_new(o.output_dir, &fc.exporter);
	if (r < 0)
		goto out;
	r = flusher_new(&fc, spare, &f);
	if (r < 0) {
		fc.exporter.ops->free(fc.exporter.ctx);
		log_error_errno(r, "start the flush thread: %m");
		goto out;
	}
	spare = NULL;
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
		 child ? o.cmd[0] : o.n_pids ? "the given processes" : "the whole machine",
		 sampler_event_name(s), o.frequency_hz, sampler_n_cpus(s), o.stack_size,
		 o.interval_s, o.output_dir);
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
	return ret;
}
