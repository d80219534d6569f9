/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture-snapshots — records real perf samples of a process as unwind snapshots
 * (tests/lib/snapshot.h) for the differential suite and the unwinder benchmark.
 *
 *   capture-snapshots -o FILE [-n COUNT] [-F HZ] [-s STACK_BYTES] [-t SECONDS] [--skip-ms MS]
 *                     (-p PID | -- COMMAND [ARGS...])
 *
 * Samples exactly what the daemon's sampler asks the kernel for: cpu-clock at HZ (frequency
 * mode), PERF_SAMPLE_REGS_USER with puw_arch_perf_regs_mask() and PERF_SAMPLE_STACK_USER of
 * STACK_BYTES, one event per (thread, CPU) with inherit (an inherited per-task event cannot
 * be mmapped with cpu = -1), all of a CPU's events sharing that CPU's ring. The process
 * table is src/proc.c, bootstrapped from /proc/PID/maps and kept current from MMAP2, COMM,
 * FORK and EXIT records processed in timestamp order with the samples, so each snapshot
 * lists the executable mappings that existed when it was taken, with each file's GNU
 * build-id. Registers are stored in DWARF numbering (puw_regs_from_perf()).
 *
 * Until the sampler grows a per-sample hook (sampler_config.on_sample), this is its own
 * minimal perf reader over the daemon's ring, record and proc modules.
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

#include "elfimage.h"
#include "proc.h"
#include "puw.h"
#include "record.h"
#include "ring.h"
#include "snapshot.h"
#include "symbolize.h"
#include "util.h"

#define MAX_CPUS 1024
#define SCRATCH_BYTES (65536 + 64)
#define MAX_PENDING (1u << 20)
#define MAX_BUILD_IDS 4096

struct cpu_ring {
	int cpu;
	int fd;
	void *base;
	size_t map_bytes;
	struct ring ring;
	uint8_t *scratch;
};

struct pending {
	uint64_t time;
	uint64_t seq;
	struct perf_event_header *h; /* owned copy */
};

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
	struct record_layout layout;
	int cpus[MAX_CPUS];
	int n_cpus;
	struct cpu_ring *rings;
	int *fds;
	size_t n_fds, cap_fds;
	size_t ring_bytes;

	struct proc_table *procs;
	struct symcache *syms;
	char *vdso_build_id;
	struct build_id_entry *build_ids;
	unsigned n_build_ids;

	struct pending *pending;
	size_t n_pending;
	uint64_t seq;

	FILE *out;
	unsigned written;
	uint64_t first_time;
	/* counters for the summary */
	uint64_t samples, kernel_only, skipped, no_process, bad_records, lost, write_errors;
};

static long perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd,
			    unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

static int online_cpus(int *cpus, int max)
{
	char buf[4096], *s = buf;
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	int n = 0;

	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			return -EINVAL;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			s = end;
		}
		for (long c = a; c <= b && n < max; c++)
			cpus[n++] = (int)c;
		if (*s == ',')
			s++;
	}
	return n;
}

static int add_fd(struct capture *c, int fd)
{
	if (c->n_fds == c->cap_fds) {
		size_t cap = c->cap_fds ? c->cap_fds * 2 : 64;
		int *fds = realloc(c->fds, cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		c->fds = fds;
		c->cap_fds = cap;
	}
	c->fds[c->n_fds++] = fd;
	return 0;
}

static int open_event(struct capture *c, pid_t tid, int cpu, int *ret_fd)
{
	struct perf_event_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.freq = 1;
	a.sample_freq = c->freq_hz;
	a.sample_type = c->layout.sample_type;
	a.sample_regs_user = c->layout.regs_user_mask;
	a.sample_stack_user = c->stack_bytes;
	a.mmap = 1;
	a.mmap2 = 1;
	a.comm = 1;
	a.comm_exec = 1;
	a.task = 1;
	a.sample_id_all = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.exclude_hv = 1;
	a.inherit = 1;
	a.disabled = 1;
	a.enable_on_exec = c->child > 0;
	a.watermark = 1;
	a.wakeup_watermark = (uint32_t)(c->ring_bytes / 4);
	fd = perf_event_open(&a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = (int)fd;
	return add_fd(c, (int)fd);
}

static int map_ring(struct capture *c, struct cpu_ring *cr)
{
	long page = sysconf(_SC_PAGESIZE);

	cr->map_bytes = (size_t)page + c->ring_bytes;
	cr->base = mmap(NULL, cr->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, cr->fd, 0);
	if (cr->base == MAP_FAILED) {
		cr->base = NULL;
		return -errno;
	}
	cr->scratch = aligned_alloc(64, SCRATCH_BYTES);
	if (!cr->scratch)
		return -ENOMEM;
	return ring_init(&cr->ring, cr->base, (uint8_t *)cr->base + page, c->ring_bytes,
			 cr->scratch, SCRATCH_BYTES);
}

static int open_task(struct capture *c, pid_t tid)
{
	for (int i = 0; i < c->n_cpus; i++) {
		struct cpu_ring *cr = &c->rings[i];
		int fd = -1, r;

		r = open_event(c, tid, cr->cpu, &fd);
		if (r < 0)
			return r;
		if (cr->fd < 0) {
			cr->fd = fd;
			r = map_ring(c, cr);
			if (r < 0)
				return r;
		} else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, cr->fd) < 0) {
			return -errno;
		}
	}
	return 0;
}

/* Opens every thread of pid; threads that exit meanwhile are skipped. */
static int open_process(struct capture *c, pid_t pid)
{
	struct dirent *de;
	char path[64];
	int opened = 0, r;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end || tid <= 0)
			continue;
		r = open_task(c, (pid_t)tid);
		if (r == -ESRCH)
			continue;
		if (r < 0) {
			closedir(d);
			return r;
		}
		opened++;
	}
	closedir(d);
	return opened ? 0 : -ESRCH;
}

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

static void handle_sample(struct capture *c, const struct perf_event_header *h)
{
	struct record_sample rs;
	struct snapshot s = {0};
	struct snapshot_module *mods = NULL;
	struct proc *p;
	unsigned sp = c->arch == PUW_ARCH_AARCH64 ? 31 : 7;

	if (record_parse_sample(&c->layout, h, &rs) < 0) {
		c->bad_records++;
		return;
	}
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
	p = proc_table_lookup_or_scan(c->procs, rs.id.pid);
	if (!p || !p->n_maps) {
		c->no_process++;
		return;
	}
	if (puw_regs_from_perf(c->arch, c->layout.regs_user_mask, rs.regs, rs.regs_nr, &s.regs) <
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

static void handle_record(struct capture *c, const struct perf_event_header *h)
{
	union {
		struct record_mmap2 mmap2;
		struct record_comm comm;
		struct record_task task;
		struct record_lost lost;
	} u;
	int r = 0;

	switch (h->type) {
	case PERF_RECORD_SAMPLE:
		handle_sample(c, h);
		return;
	case PERF_RECORD_MMAP2:
		r = record_parse_mmap2(&c->layout, h, &u.mmap2);
		if (r >= 0)
			proc_table_mmap(c->procs, u.mmap2.id.pid, u.mmap2.addr, u.mmap2.len,
					u.mmap2.pgoff, u.mmap2.maj, u.mmap2.min, u.mmap2.ino,
					u.mmap2.prot, u.mmap2.filename);
		break;
	case PERF_RECORD_COMM:
		r = record_parse_comm(&c->layout, h, &u.comm);
		if (r >= 0)
			proc_table_comm(c->procs, u.comm.pid, u.comm.tid, u.comm.comm, u.comm.exec);
		break;
	case PERF_RECORD_FORK:
		r = record_parse_task(&c->layout, h, &u.task);
		if (r >= 0)
			proc_table_fork(c->procs, u.task.pid, u.task.ppid, u.task.tid, u.task.ptid);
		break;
	case PERF_RECORD_EXIT:
		r = record_parse_task(&c->layout, h, &u.task);
		if (r >= 0)
			proc_table_exit(c->procs, u.task.pid, u.task.tid);
		break;
	case PERF_RECORD_LOST:
	case PERF_RECORD_LOST_SAMPLES:
		r = record_parse_lost(&c->layout, h, &u.lost);
		if (r >= 0)
			c->lost += u.lost.lost;
		break;
	default:
		break;
	}
	if (r < 0)
		c->bad_records++;
}

static int pending_cmp(const void *pa, const void *pb)
{
	const struct pending *a = pa, *b = pb;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * One round: copy every record out of every ring, then process in timestamp order those
 * stamped up to the clock read before looking at the rings (a record stamped earlier was
 * already written somewhere we looked); later ones wait for the next round.
 */
static int drain(struct capture *c, bool final)
{
	uint64_t t_snap = final ? UINT64_MAX : now_monotonic_ns();
	size_t done = 0;

	for (int i = 0; i < c->n_cpus; i++) {
		struct cpu_ring *cr = &c->rings[i];
		uint64_t pos;

		if (!cr->base)
			continue;
		ring_snapshot(&cr->ring);
		pos = cr->ring.tail;
		while (c->n_pending < MAX_PENDING) {
			const struct perf_event_header *h;
			struct record_id id;
			struct pending *pe;
			int r = ring_peek(&cr->ring, pos, &h);

			if (r == -EAGAIN)
				break;
			if (r < 0) {
				c->bad_records++;
				pos = cr->ring.head;
				break;
			}
			pe = &c->pending[c->n_pending];
			pe->h = malloc(h->size);
			if (!pe->h)
				return -ENOMEM;
			memcpy(pe->h, h, h->size);
			pe->time = record_parse_id(&c->layout, h, &id) == 0 ? id.time : 0;
			pe->seq = c->seq++;
			c->n_pending++;
			pos += h->size;
		}
		ring_consume(&cr->ring, pos);
	}
	qsort(c->pending, c->n_pending, sizeof(*c->pending), pending_cmp);
	while (done < c->n_pending && c->pending[done].time <= t_snap) {
		handle_record(c, c->pending[done].h);
		free(c->pending[done].h);
		done++;
	}
	memmove(c->pending, c->pending + done, (c->n_pending - done) * sizeof(*c->pending));
	c->n_pending -= done;
	return 0;
}

static bool target_alive(struct capture *c)
{
	if (c->child > 0) {
		int status;

		return waitpid(c->child, &status, WNOHANG) == 0;
	}
	return kill(c->pid, 0) == 0 || errno == EPERM;
}

static int ioctl_all(struct capture *c, unsigned long req)
{
	for (size_t i = 0; i < c->n_fds; i++)
		if (ioctl(c->fds[i], req, 0) < 0)
			return -errno;
	return 0;
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
	struct elf_image *vdso = NULL;
	int go[2] = {-1, -1};
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
	c.layout = (struct record_layout){
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			       PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_REGS_USER |
			       PERF_SAMPLE_STACK_USER,
		.regs_user_mask = puw_arch_perf_regs_mask(c.arch),
		.sample_id_all = true,
	};
	c.ring_bytes = 1u << 20;
	r = online_cpus(c.cpus, MAX_CPUS);
	if (r <= 0) {
		fprintf(stderr, "capture-snapshots: cannot read the online CPUs\n");
		return 1;
	}
	c.n_cpus = r;
	c.rings = calloc((size_t)c.n_cpus, sizeof(*c.rings));
	c.pending = calloc(MAX_PENDING, sizeof(*c.pending));
	c.build_ids = calloc(MAX_BUILD_IDS, sizeof(*c.build_ids));
	c.procs = proc_table_new(4096, 65536);
	c.syms = symcache_new(0);
	if (!c.rings || !c.pending || !c.build_ids || !c.procs || !c.syms) {
		fprintf(stderr, "capture-snapshots: out of memory\n");
		return 1;
	}
	for (int i = 0; i < c.n_cpus; i++) {
		c.rings[i].cpu = c.cpus[i];
		c.rings[i].fd = -1;
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
			return 1;
		}
		c.child = fork();
		if (c.child < 0) {
			perror("capture-snapshots: fork");
			return 1;
		}
		if (c.child == 0) {
			close(go[1]);
			run_child(go[0], argv + optind);
		}
		close(go[0]);
		r = open_task(&c, c.child);
	} else {
		r = open_process(&c, c.pid);
	}
	if (r < 0) {
		fprintf(stderr, "capture-snapshots: perf_event_open: %s%s\n", strerror(-r),
			r == -EACCES || r == -EPERM ? " — run as root, grant CAP_PERFMON, or set "
						      "kernel.perf_event_paranoid <= 1"
						    : "");
		rc = r == -EACCES || r == -EPERM ? 77 : 1;
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
	} else {
		r = proc_table_scan(c.procs, (uint32_t)c.pid);
		if (r < 0) {
			fprintf(stderr, "capture-snapshots: read /proc/%d: %s\n", (int)c.pid,
				strerror(-r));
			goto out;
		}
		if (ioctl_all(&c, PERF_EVENT_IOC_ENABLE) < 0) {
			perror("capture-snapshots: enable");
			goto out;
		}
	}

	deadline = now_monotonic_ns() + (uint64_t)c.timeout_s * NSEC_PER_SEC;
	while (c.written < c.want) {
		struct pollfd pfd[MAX_CPUS];
		int n = 0;

		for (int i = 0; i < c.n_cpus; i++)
			if (c.rings[i].fd >= 0)
				pfd[n++] = (struct pollfd){.fd = c.rings[i].fd, .events = POLLIN};
		(void)poll(pfd, (nfds_t)n, 100);
		if (drain(&c, false) < 0)
			break;
		if (now_monotonic_ns() > deadline || !target_alive(&c))
			break;
	}
	(void)ioctl_all(&c, PERF_EVENT_IOC_DISABLE);
	drain(&c, true);
	if (fflush(c.out) != 0)
		c.write_errors++;

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
	if (c.out && fclose(c.out) != 0)
		rc = 1;
	for (int i = 0; i < c.n_cpus; i++) {
		if (c.rings[i].base)
			munmap(c.rings[i].base, c.rings[i].map_bytes);
		free(c.rings[i].scratch);
	}
	for (size_t i = 0; i < c.n_fds; i++)
		close(c.fds[i]);
	for (size_t i = 0; i < c.n_pending; i++)
		free(c.pending[i].h);
	for (unsigned i = 0; i < c.n_build_ids; i++)
		free(c.build_ids[i].build_id);
	free(c.build_ids);
	free(c.vdso_build_id);
	free(c.pending);
	free(c.fds);
	free(c.rings);
	proc_table_free(c.procs);
	symcache_free(c.syms);
	return rc;
}
