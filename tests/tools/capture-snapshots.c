/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture-snapshots — records real perf samples of a process as unwind snapshots
 * (tests/lib/snapshot.h) for the differential suite and the unwinder benchmark.
 *
 *   capture-snapshots -o FILE [-n COUNT] [-F HZ] [-s STACK_BYTES] [-t SECONDS] [--skip-ms MS]
 *                     (-p PID | -- COMMAND [ARGS...])
 *
 * The samples come from the daemon's own sampler (src/sampler.c), through its per-sample
 * hook: the same events, rings, timestamp ordering and process table as a profiling run,
 * so each snapshot lists the executable mappings that existed when it was taken, with each
 * file's GNU build-id. Registers are stored in DWARF numbering (puw_regs_from_perf()).
 *
 * Exit status: 0 when COUNT snapshots were written, 1 when fewer (the reason is printed),
 * 2 on usage errors, 77 when perf events cannot be opened (no privileges).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>

#include "elfimage.h"
#include "proc.h"
#include "puw.h"
#include "record.h"
#include "sampler.h"
#include "snapshot.h"
#include "symbolize.h"
#include "util.h"

#define MAX_BUILD_IDS 4096

struct build_id_entry {
	const char *path; /* interned by the process table */
	char *build_id;
};

struct capture {
	/* options */
	const char *out_path;
	unsigned want;
	unsigned freq_hz;
	unsigned stack_bytes;
	unsigned timeout_s;
	unsigned skip_ms;
	pid_t pid;   /* -p */
	pid_t child; /* -- COMMAND */

	enum puw_arch arch;
	uint64_t regs_mask;

	struct symcache *syms;
	char *vdso_build_id;
	struct build_id_entry *build_ids;
	unsigned n_build_ids;

	FILE *out;
	unsigned written;
	uint64_t first_time;
	/* counters for the summary */
	uint64_t samples, kernel_only, skipped, no_process, bad_records, lost, write_errors;
};

static const char *build_id_of(struct capture *c, uint32_t pid, const char *path)
{
	struct sym_binary *b;
	char buf[4096];
	const char *id = "";

	if (!strcmp(path, "[vdso]"))
		return c->vdso_build_id ? c->vdso_build_id : "";
	if (path[0] != '/')
		return "";
	for (unsigned i = 0; i < c->n_build_ids; i++)
		if (c->build_ids[i].path == path)
			return c->build_ids[i].build_id;
	if (c->n_build_ids == MAX_BUILD_IDS)
		return "";
	/* Through the process's root, so a process in a container names its own file. */
	snprintf(buf, sizeof(buf), "/proc/%u/root%s", pid, path);
	if (symcache_get(c->syms, buf, &b) == 0 || symcache_get(c->syms, path, &b) == 0) {
		id = sym_binary_build_id(b);
		c->build_ids[c->n_build_ids].build_id = strdup(id);
		sym_binary_unref(b);
	} else {
		c->build_ids[c->n_build_ids].build_id = strdup("");
	}
	if (!c->build_ids[c->n_build_ids].build_id)
		return "";
	c->build_ids[c->n_build_ids].path = path;
	return c->build_ids[c->n_build_ids++].build_id;
}

/* The sampler's hook: one sample, in timestamp order, with its process as it was then. */
static void on_sample(void *ctx, const struct record_sample *rsp, const struct proc *p)
{
	struct capture *c = ctx;
	const struct record_sample rs = *rsp;
	struct snapshot s = {0};
	struct snapshot_module *mods = NULL;
	unsigned sp = c->arch == PUW_ARCH_AARCH64 ? 31 : 7;

	c->samples++;
	if (c->written >= c->want)
		return;
	if (rs.regs_abi == PERF_SAMPLE_REGS_ABI_NONE || !rs.regs) {
		c->kernel_only++;
		return;
	}
	if (!c->first_time)
		c->first_time = rs.id.time;
	if (rs.id.time - c->first_time < (uint64_t)c->skip_ms * 1000000u) {
		c->skipped++;
		return;
	}
	if (!p || !p->n_maps) {
		c->no_process++;
		return;
	}
	if (puw_regs_from_perf(c->arch, c->regs_mask, rs.regs, rs.regs_nr, &s.regs) <
		    0 ||
	    !(s.regs.valid & (UINT64_C(1) << sp))) {
		c->bad_records++;
		return;
	}
	mods = calloc(p->n_maps, sizeof(*mods));
	if (!mods) {
		c->write_errors++;
		return;
	}
	for (uint32_t i = 0; i < p->n_maps; i++) {
		const struct proc_mapping *m = &p->maps[i];

		mods[i] = (struct snapshot_module){
			.start = m->start,
			.end = m->end,
			.pgoff = m->pgoff,
			.path = (char *)m->path,
			.build_id = (char *)build_id_of(c, p->pid, m->path),
		};
	}
	s.arch = c->arch;
	s.stack_start = s.regs.r[sp];
	s.stack_size = rs.stack ? rs.stack_size : 0;
	s.stack = (uint8_t *)rs.stack;
	s.n_modules = p->n_maps;
	s.modules = mods;
	s.pid = rs.id.pid;
	s.tid = rs.id.tid;
	s.time_ns = rs.id.time;
	if (snapshot_write(c->out, &s) < 0)
		c->write_errors++;
	else
		c->written++;
	free(mods);
}

static bool target_alive(const struct capture *c)
{
	if (c->child > 0) {
		int status;

		return waitpid(c->child, &status, WNOHANG) == 0;
	}
	return kill(c->pid, 0) == 0 || errno == EPERM;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: capture-snapshots -o FILE [-n COUNT] [-F HZ] [-s STACK_BYTES] [-t "
		   "SECONDS]\n"
		   "                         [--skip-ms MS] (-p PID | -- COMMAND [ARGS...])\n"
		   "  -n COUNT        snapshots to write (default 200)\n"
		   "  -F HZ           cpu-clock sampling frequency (default 499)\n"
		   "  -s BYTES        user stack bytes per sample, multiple of 8, 16-65528 KiB "
		   "(default 32768)\n"
		   "  -t SECONDS      give up after this long (default 60)\n"
		   "  --skip-ms MS    ignore the first MS milliseconds of samples (start-up)\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Child side of -- COMMAND: wait until the events exist, then exec (which enables them). */
static void run_child(int go_fd, char **argv)
{
	char b;

	if (read(go_fd, &b, 1) != 1)
		_exit(127);
	close(go_fd);
	execvp(argv[0], argv);
	fprintf(stderr, "capture-snapshots: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"skip-ms", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct capture c = {
		.want = 200,
		.freq_hz = 499,
		.stack_bytes = 32768,
		.timeout_s = 60,
	};
	struct sampler_config sc;
	struct sampler *smp = NULL;
	struct sampler_stats st;
	struct elf_image *vdso = NULL;
	uint32_t pid_list[1];
	int go[2] = {-1, -1};
	int epfd = -1;
	uint64_t deadline;
	unsigned pid_opt = 0;
	int opt, r, rc = 1;

	while ((opt = getopt_long(argc, argv, "+o:n:F:s:t:p:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			c.out_path = optarg;
			break;
		case 'n':
			r = parse_uint(optarg, 1000000, &c.want);
			break;
		case 'F':
			r = parse_uint(optarg, 100000, &c.freq_hz);
			break;
		case 's':
			r = parse_uint(optarg, 65528, &c.stack_bytes);
			if (r == 0 && (c.stack_bytes % 8 || c.stack_bytes < 8))
				r = -EINVAL;
			break;
		case 't':
			r = parse_uint(optarg, 86400, &c.timeout_s);
			break;
		case 'k':
			r = parse_uint(optarg, 86400000, &c.skip_ms);
			break;
		case 'p':
			r = parse_uint(optarg, INT32_MAX, &pid_opt);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (opt != 'o' && opt != 'h' && r < 0) {
			fprintf(stderr, "capture-snapshots: -%c %s: invalid value\n", opt, optarg);
			return 2;
		}
		r = 0;
	}
	if (!c.out_path || !c.want || !c.freq_hz || (pid_opt == 0) == (optind >= argc)) {
		usage(stderr);
		return 2;
	}
	c.pid = (pid_t)pid_opt;

	c.arch = puw_arch_host();
	if (c.arch == _PUW_ARCH_MAX) {
		fprintf(stderr,
			"capture-snapshots: puw does not support this host's architecture\n");
		return 77;
	}
	c.regs_mask = puw_arch_perf_regs_mask(c.arch);
	c.build_ids = calloc(MAX_BUILD_IDS, sizeof(*c.build_ids));
	c.syms = symcache_new(0);
	if (!c.build_ids || !c.syms) {
		fprintf(stderr, "capture-snapshots: out of memory\n");
		return 1;
	}
	if (elf_image_vdso(c.syms, &vdso) == 0) {
		c.vdso_build_id = strdup(vdso->build_id);
		elf_image_free(vdso);
	}

	c.out = fopen(c.out_path, "we");
	if (!c.out) {
		fprintf(stderr, "capture-snapshots: create %s: %s\n", c.out_path, strerror(errno));
		return 1;
	}

	if (optind < argc) {
		if (pipe2(go, O_CLOEXEC) < 0) {
			perror("capture-snapshots: pipe");
			goto out;
		}
		c.child = fork();
		if (c.child < 0) {
			perror("capture-snapshots: fork");
			goto out;
		}
		if (c.child == 0) {
			close(go[1]);
			run_child(go[0], argv + optind);
		}
		close(go[0]);
	}

	/* Frame-pointer mode: the sampler loads no CFI, since it unwinds nothing here. */
	pid_list[0] = (uint32_t)c.pid;
	sc = (struct sampler_config){
		.frequency_hz = c.freq_hz,
		.stack_size = c.stack_bytes,
		.unwind_mode = PUW_MODE_FP,
		.pids = c.child > 0 ? NULL : pid_list,
		.n_pids = c.child > 0 ? 0 : 1,
		.cmd_pid = c.child,
		.on_sample = on_sample,
		.on_sample_ctx = &c,
	};
	r = sampler_open(&sc, &smp);
	if (r < 0) {
		/* The sampler said why; no privileges is a skip for the test suite. */
		rc = r == -EACCES || r == -EPERM ? 77 : 1;
		goto out;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || sampler_watch(smp, epfd) < 0) {
		perror("capture-snapshots: epoll");
		goto out;
	}
	(void)sampler_bootstrap(smp);
	if (sampler_enable(smp) < 0) {
		perror("capture-snapshots: enable");
		goto out;
	}
	if (c.child > 0) {
		/* Mappings arrive as MMAP2 records from the exec on. */
		if (write(go[1], "g", 1) != 1) {
			perror("capture-snapshots: start the command");
			goto out;
		}
		close(go[1]);
		go[1] = -1;
	}

	deadline = now_monotonic_ns() + (uint64_t)c.timeout_s * NSEC_PER_SEC;
	while (c.written < c.want) {
		struct epoll_event ev[64];

		(void)epoll_wait(epfd, ev, 64, 100);
		sampler_drain(smp, NULL, false);
		if (now_monotonic_ns() > deadline || !target_alive(&c))
			break;
	}
	(void)sampler_disable(smp);
	while (sampler_drain(smp, NULL, true) > 0)
		;
	if (fflush(c.out) != 0)
		c.write_errors++;
	sampler_get_stats(smp, &st);
	c.lost = st.lost;
	c.bad_records += st.bad_records;

	fprintf(stderr,
		"capture-snapshots: %u snapshots to %s (%" PRIu64 " samples: %" PRIu64
		" kernel-only, %" PRIu64 " skipped at start, %" PRIu64
		" without a process; %" PRIu64 " lost, %" PRIu64 " bad records, %" PRIu64
		" write errors)\n",
		c.written, c.out_path, c.samples, c.kernel_only, c.skipped, c.no_process, c.lost,
		c.bad_records, c.write_errors);
	if (c.written < c.want)
		fprintf(stderr, "capture-snapshots: wanted %u: %s\n", c.want,
			now_monotonic_ns() > deadline ? "timed out (-t)" : "the target exited");
	rc = c.written == c.want && !c.write_errors ? 0 : 1;
out:
	if (c.child > 0) {
		kill(c.child, SIGKILL);
		waitpid(c.child, NULL, 0);
	}
	if (go[1] >= 0)
		close(go[1]);
	if (epfd >= 0)
		close(epfd);
	sampler_free(smp);
	if (c.out && fclose(c.out) != 0)
		rc = 1;
	for (unsigned i = 0; i < c.n_build_ids; i++)
		free(c.build_ids[i].build_id);
	free(c.build_ids);
	free(c.vdso_build_id);
	symcache_free(c.syms);
	return rc;
}
