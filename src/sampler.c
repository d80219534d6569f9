/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sampler: perf events, rings, and the per-record work.
 *
 * Order. Samples must be resolved against the mappings that existed when they were taken,
 * and a process's MMAP2 may sit in one CPU's ring while its next sample sits in another's.
 * Each drain round therefore (1) reads the clock, t_snap, (2) walks every ring from its
 * tail, collecting records up to the first one stamped after t_snap, (3) merges the
 * per-ring runs by timestamp and processes them in that order, (4) gives the consumed bytes
 * back. A record stamped before t_snap was written before we looked at any ring, so every
 * record that precedes it in time is already in some ring we walk in this round; records
 * after t_snap wait for the next round, in place, without being copied. Records are only
 * copied when they wrap a ring's end (ring.h), so memory does not grow with the rate.
 *
 * Rings. One ring per CPU; for per-thread targets and cgroups, every (thread or cgroup,
 * CPU) event redirects its output to its CPU's ring (PERF_EVENT_IOC_SET_OUTPUT). Wakeups come from the watermark (a
 * quarter of the ring) so a wakeup drains many records; the main loop also drains on its
 * timer so windows close on time at low rates.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cfistore.h"
#include "log.h"
#include "proc.h"
#include "record.h"
#include "ring.h"
#include "sampler.h"
#include "util.h"

#define MAX_CPUS 4096
#define MAX_PENDING 65536     /* records per round; the rest wait for the next round */
#define MAX_USER_FRAMES 512
#define MAX_KERNEL_FRAMES 128 /* the kernel's default perf_event_max_stack is 127 */
#define SCRATCH_BYTES (65536 + 64)
#define CFI_MAX_BYTES (256u << 20)
#define CFI_MAX_BINARIES 16384
#define BOOTSTRAP_CFI_WAIT_MS 5000
#define STOP_BINARIES 4096 /* binaries whose truncated unwinds are counted (power of two) */
#define CGROUP_SLOTS 65536 /* cgroup id -> path entries (power of two; kept half full) */
#define CGROUP_PATHS_BYTES (16u << 20)
#define MAX_LABEL_MOVES 16 /* label decisions redone on cgroup changes, per process and exec */

struct cgroup_entry {
	uint64_t id;
	const char *path; /* interned */
};

struct cpu_ring {
	int cpu;
	int fd; /* the event that owns the mmap */
	void *base;
	size_t map_bytes;
	struct ring ring;
	uint8_t *scratch;
	uint64_t consume_to; /* where this round's walk ended */
};

struct pending {
	uint64_t time;
	const struct perf_event_header *h;
};

struct sampler {
	uint32_t label_gen; /* bumped by sampler_set_labeler(): every decision is redone */
	struct sampler_config cfg;
	struct debuginfo_config cfg_debuginfo; /* a copy the CFI loader reads */
	struct record_layout layout;
	enum puw_arch arch;
	bool period_is_ns;
	const char *event_name;

	int n_cpus;
	int cpus[MAX_CPUS];
	struct cpu_ring *rings;
	int *fds; /* every event fd, the ring owners included */
	size_t n_fds, cap_fds;

	struct proc_table *procs;
	struct cfistore *cfis; /* NULL in frame-pointer mode */
	struct puw_cache *puw_cache; /* memo of CFI row lookups for this thread's unwinds */
	struct sampler_stats stats;
	struct sampler_binary_stops *stops_by_bin; /* open addressing by path pointer */
	uint32_t n_stops_by_bin;
	bool exact_cgroup;
	struct cgroup_entry *cgroup_ids; /* PERF_RECORD_CGROUP and the bootstrap walk */
	uint32_t n_cgroup_ids;
	struct strtab *cgroup_paths;

	/* per-round and per-sample scratch, allocated once */
	struct pending *pending;
	struct pending *merged;
	uint32_t *run_begin, *run_end;
	uint64_t pcs[MAX_USER_FRAMES];
	uint32_t locs[MAX_USER_FRAMES + MAX_KERNEL_FRAMES + 1];
};

static void *binary_ref(void *ctx, uint32_t pid, const char *path, uint32_t maj, uint32_t min,
			uint64_t ino)
{
	return cfistore_ref(ctx, pid, path, maj, min, ino);
}

static void binary_unref(void *ctx, void *bin)
{
	cfistore_unref(ctx, bin);
}

static const struct proc_binary_ops binary_ops = {
	.ref = binary_ref,
	.unref = binary_unref,
};

static long perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd,
			    unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

static int read_sysctl_int(const char *path, int *ret)
{
	FILE *f = fopen(path, "re");
	int v, r;

	if (!f)
		return -errno;
	r = fscanf(f, "%d", &v);
	fclose(f);
	if (r != 1)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parses a CPU list such as "0-3,8,10-11" (/sys/devices/system/cpu/online). */
static int parse_cpu_list(const char *s, int *cpus, int max)
{
	int n = 0;

	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			return -EINVAL;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			if (end == s + 1)
				return -EINVAL;
			s = end;
		}
		for (long c = a; c <= b; c++) {
			if (n >= max)
				return -E2BIG;
			cpus[n++] = (int)c;
		}
		if (*s == ',')
			s++;
	}
	return n;
}

static int online_cpus(int *cpus, int max)
{
	char buf[4096];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	int n;

	if (!f) {
		long k = sysconf(_SC_NPROCESSORS_ONLN);

		for (n = 0; n < k && n < max; n++)
			cpus[n] = n;
		return n;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return parse_cpu_list(buf, cpus, max);
}

/* Logs why perf_event_open failed and what to change. */
static int explain_open_error(int r, int cpu, pid_t pid, const struct sampler *s)
{
	int paranoid = 2;

	(void)read_sysctl_int("/proc/sys/kernel/perf_event_paranoid", &paranoid);
	switch (-r) {
	case EACCES:
	case EPERM:
		return log_error_errno(r,
				       "perf_event_open on CPU %d: %m — run as root, grant CAP_PERFMON "
				       "(CAP_SYS_ADMIN before Linux 5.8), or set "
				       "kernel.perf_event_paranoid <= %d (it is %d: sysctl -w "
				       "kernel.perf_event_paranoid=%d)",
				       cpu, pid < 0 ? 0 : 1, paranoid, pid < 0 ? 0 : 1);
	case EMFILE:
	case ENFILE:
		return log_error_errno(r,
				       "perf_event_open on CPU %d: %m — raise the open-file limit "
				       "(ulimit -n, LimitNOFILE=) to at least %zu",
				       cpu, s->n_fds * 2 + 64);
	case ESRCH:
		return log_error_errno(r, "perf_event_open for pid %d: no such process", (int)pid);
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		return log_error_errno(r,
				       "perf_event_open on CPU %d: %m — this kernel has no %s event "
				       "(software events need CONFIG_PERF_EVENTS)",
				       cpu, s->event_name);
	case EINVAL:
		return log_error_errno(r,
				       "perf_event_open on CPU %d: %m — the kernel rejected the "
				       "sampling attributes (user stack copy of %u bytes, frequency "
				       "%u Hz; check kernel.perf_event_max_sample_rate)",
				       cpu, s->cfg.stack_size, s->cfg.frequency_hz);
	default:
		return log_error_errno(r, "perf_event_open on CPU %d: %m", cpu);
	}
}

static void init_attr(const struct sampler *s, struct perf_event_attr *a, bool cycles)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	if (cycles) {
		a->type = PERF_TYPE_HARDWARE;
		a->config = PERF_COUNT_HW_CPU_CYCLES;
	} else {
		a->type = PERF_TYPE_SOFTWARE;
		a->config = PERF_COUNT_SW_CPU_CLOCK;
	}
	a->freq = 1;
	a->sample_freq = s->cfg.frequency_hz;
	a->sample_type = s->layout.sample_type;
	a->sample_regs_user = s->layout.regs_user_mask;
	a->sample_stack_user = s->cfg.stack_size;
	/* We unwind user stacks ourselves; the kernel only walks its own frames. */
	a->exclude_callchain_user = 1;
	a->sample_max_stack = MAX_KERNEL_FRAMES - 1;
	/* A CPU profile of work done: the idle task is not work. */
	a->exclude_idle = 1;
	a->exclude_hv = 1;
	a->mmap = 1;
	a->mmap2 = 1;
	a->comm = 1;
	a->comm_exec = 1;
	a->task = 1;
	a->sample_id_all = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->watermark = 1;
	a->disabled = 1;
	if (s->exact_cgroup)
		a->cgroup = 1; /* PERF_RECORD_CGROUP when a cgroup is created */
	if (s->cfg.cmd_pid > 0) {
		a->inherit = 1;
		a->enable_on_exec = 1;
	} else if (s->cfg.pids) {
		a->inherit = 1;
	}
}

static size_t cfi_max_bytes(const struct sampler_config *c)
{
	return c->cfi_max_bytes ? c->cfi_max_bytes : CFI_MAX_BYTES;
}

static uint64_t ring_bytes_for(const struct sampler_config *c)
{
	uint64_t record = c->stack_size + 512, want, bytes = 64 * 1024;

	if (c->ring_bytes)
		return c->ring_bytes;
	/* A quarter of a second of samples per CPU fills a quarter of the ring (the watermark). */
	want = (uint64_t)c->frequency_hz * record;
	while (bytes < want && bytes < (8u << 20))
		bytes *= 2;
	return bytes;
}

uint64_t sampler_ring_bytes(const struct sampler_config *c)
{
	return ring_bytes_for(c);
}

static int add_fd(struct sampler *s, int fd)
{
	if (s->n_fds == s->cap_fds) {
		size_t cap = s->cap_fds ? s->cap_fds * 2 : 64;
		int *fds = realloc(s->fds, cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		s->fds = fds;
		s->cap_fds = cap;
	}
	s->fds[s->n_fds++] = fd;
	return 0;
}

static int map_ring(struct sampler *s, struct cpu_ring *cr);

static int open_one(struct sampler *s, pid_t pid, int cpu, int *ret_fd)
{
	struct perf_event_attr a;
	bool cycles = s->cfg.want_cycles && s->event_name[0] == 'c' && s->event_name[1] == 'y';
	long fd;

	init_attr(s, &a, cycles);
	/* With a wakeup watermark, wakeup_watermark is in bytes. */
	a.wakeup_watermark = (uint32_t)(ring_bytes_for(&s->cfg) / 4);
	fd = perf_event_open(&a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0 && cycles && (errno == ENOENT || errno == EOPNOTSUPP || errno == ENODEV)) {
		log_warn("no hardware cycles counter here; sampling cpu-clock instead");
		s->event_name = "cpu-clock";
		s->period_is_ns = true;
		init_attr(s, &a, false);
		a.wakeup_watermark = (uint32_t)(ring_bytes_for(&s->cfg) / 4);
		fd = perf_event_open(&a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	}
	if (fd < 0)
		return explain_open_error(-errno, cpu, pid, s);
	*ret_fd = (int)fd;
	return add_fd(s, (int)fd);
}

/*
 * One event per CPU for the tasks of one cgroup directory (PERF_FLAG_PID_CGROUP: pid is an
 * fd of the directory; cgroup v2, or v1 with the perf_event controller; the kernel matches
 * descendants too), sharing the CPU's ring.
 */
static int open_cgroup(struct sampler *s, const char *dir)
{
	int cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cfd < 0)
		return log_error_errno(-errno, "--cgroup %s: %m — expected a cgroup directory "
					       "(cgroup v2, or v1 with the perf_event controller)", dir);
	for (int i = 0; i < s->n_cpus; i++) {
		struct cpu_ring *cr = &s->rings[i];
		struct perf_event_attr a;
		long fd;
		int r;

		init_attr(s, &a, false);
		a.wakeup_watermark = (uint32_t)(ring_bytes_for(&s->cfg) / 4);
		fd = perf_event_open(&a, cfd, cr->cpu, -1, PERF_FLAG_PID_CGROUP | PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			close(cfd);
			if (r == -EBADF || r == -EINVAL || r == -ENOENT)
				return log_error_errno(r, "--cgroup %s: perf cgroup event on CPU %d: %m "
							  "— not a cgroup v2 directory, or a v1 "
							  "hierarchy without the perf_event controller",
						       dir, cr->cpu);
			return explain_open_error(r, cr->cpu, -1, s);
		}
		if ((r = add_fd(s, (int)fd)) < 0) {
			close(cfd);
			return r;
		}
		if (cr->fd < 0) {
			cr->fd = (int)fd;
			r = map_ring(s, cr);
		} else if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, cr->fd) < 0) {
			r = log_error_errno(-errno, "redirect the cgroup event of %s to the ring of "
						    "CPU %d: %m", dir, cr->cpu);
		}
		if (r < 0) {
			close(cfd);
			return r;
		}
	}
	close(cfd);
	return 0;
}

/*
 * Whether this kernel takes PERF_SAMPLE_CGROUP (5.7+): one event like the real ones (same
 * target, so the same privileges apply). Only EINVAL means "not supported": any other
 * failure is left for the real open to explain.
 */
static int probe_sample_cgroup(struct sampler *s)
{
	struct perf_event_attr a;
	pid_t pid = s->cfg.cmd_pid > 0 ? s->cfg.cmd_pid
		    : s->cfg.pids && s->cfg.n_pids ? (pid_t)s->cfg.pids[0] : -1;
	long fd;
	int r;

	s->exact_cgroup = true;
	s->layout.sample_type |= PERF_SAMPLE_CGROUP;
	init_attr(s, &a, false);
	fd = perf_event_open(&a, pid, pid > 0 ? -1 : s->cpus[0], -1, PERF_FLAG_FD_CLOEXEC);
	if (fd >= 0) {
		close((int)fd);
		return 1;
	}
	r = -errno;
	s->exact_cgroup = false;
	s->layout.sample_type &= ~(uint64_t)PERF_SAMPLE_CGROUP;
	return r == -EINVAL ? 0 : r;
}

static int map_ring(struct sampler *s, struct cpu_ring *cr)
{
	uint64_t data = ring_bytes_for(&s->cfg);
	long page = sysconf(_SC_PAGESIZE);
	int r;

	cr->map_bytes = page + data;
	cr->base = mmap(NULL, cr->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, cr->fd, 0);
	if (cr->base == MAP_FAILED) {
		int mlock_kb = 0;

		r = -errno;
		cr->base = NULL;
		(void)read_sysctl_int("/proc/sys/kernel/perf_event_mlock_kb", &mlock_kb);
		if (r == -EPERM || r == -ENOMEM)
			return log_error_errno(r,
					       "mmap of the %" PRIu64 " KiB perf ring for CPU %d: %m — "
					       "raise kernel.perf_event_mlock_kb (it is %d) or grant "
					       "CAP_IPC_LOCK, or lower --ring-size",
					       data / 1024, cr->cpu, mlock_kb);
		return log_error_errno(r, "mmap of the perf ring for CPU %d: %m", cr->cpu);
	}
	cr->scratch = aligned_alloc(64, SCRATCH_BYTES);
	if (!cr->scratch)
		return -ENOMEM;
	return ring_init(&cr->ring, cr->base, (uint8_t *)cr->base + page, data, cr->scratch,
			 SCRATCH_BYTES);
}

/* Every thread id of a process, from /proc/PID/task. */
static int list_threads(uint32_t pid, uint32_t **ret, size_t *ret_n)
{
	char path[64];
	struct dirent *de;
	uint32_t *tids = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t tid;

		if (parse_u64(de->d_name, 1, UINT32_MAX, &tid) < 0)
			continue;
		if (n == cap) {
			uint32_t *t;

			cap = cap ? cap * 2 : 16;
			t = realloc(tids, cap * sizeof(*tids));
			if (!t) {
				free(tids);
				closedir(d);
				return -ENOMEM;
			}
			tids = t;
		}
		tids[n++] = (uint32_t)tid;
	}
	closedir(d);
	*ret = tids;
	*ret_n = n;
	return 0;
}

/* Opens the event of one task on every CPU, sharing that CPU's ring. */
static int open_task(struct sampler *s, pid_t tid)
{
	for (int i = 0; i < s->n_cpus; i++) {
		struct cpu_ring *cr = &s->rings[i];
		int fd, r;

		r = open_one(s, tid, cr->cpu, &fd);
		if (r < 0)
			return r;
		if (cr->fd < 0) {
			cr->fd = fd;
			r = map_ring(s, cr);
			if (r < 0)
				return r;
		} else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, cr->fd) < 0) {
			return log_error_errno(-errno, "redirect the events of task %d to the ring of "
						       "CPU %d: %m", (int)tid, cr->cpu);
		}
	}
	return 0;
}

int sampler_open(const struct sampler_config *c, struct sampler **ret)
{
	struct sampler *s;
	int r;

	if (c->stack_size == 0 || c->stack_size % 8 || c->stack_size >= 65536)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *c;
	s->arch = puw_arch_host();
	s->layout = (struct record_layout){
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |
			       PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER |
			       PERF_SAMPLE_STACK_USER,
		.regs_user_mask = puw_arch_perf_regs_mask(s->arch),
		.sample_id_all = true,
	};
	s->event_name = c->want_cycles ? "cycles" : "cpu-clock";
	s->period_is_ns = !c->want_cycles;

	r = online_cpus(s->cpus, MAX_CPUS);
	if (r <= 0) {
		log_error_errno(r < 0 ? r : -ENODEV, "read the online CPUs: %m");
		goto fail;
	}
	s->n_cpus = r;
	s->rings = calloc(s->n_cpus, sizeof(*s->rings));
	s->pending = calloc(MAX_PENDING, sizeof(*s->pending));
	s->merged = calloc(MAX_PENDING, sizeof(*s->merged));
	s->run_begin = calloc(s->n_cpus, sizeof(uint32_t));
	s->run_end = calloc(s->n_cpus, sizeof(uint32_t));
	s->procs = proc_table_new(65536, 1u << 20);
	s->stops_by_bin = calloc(STOP_BINARIES, sizeof(*s->stops_by_bin));
	if (!s->rings || !s->pending || !s->merged || !s->run_begin || !s->run_end || !s->procs ||
	    !s->stops_by_bin) {
		r = -ENOMEM;
		goto fail;
	}
	if (c->unwind_mode != PUW_MODE_FP) {
		s->cfis = cfistore_new(s->arch, cfi_max_bytes(&s->cfg), CFI_MAX_BINARIES);
		if (!s->cfis) {
			r = -ENOMEM;
			goto fail;
		}
		if (c->debuginfo) {
			s->cfg_debuginfo = *c->debuginfo;
			cfistore_set_debuginfo(s->cfis, &s->cfg_debuginfo);
		}
		proc_table_set_binary_ops(s->procs, &binary_ops, s->cfis);
		s->puw_cache = puw_cache_new();
		if (!s->puw_cache) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (int i = 0; i < s->n_cpus; i++) {
		s->rings[i].cpu = s->cpus[i];
		s->rings[i].fd = -1;
	}
	if (c->exact_cgroup && probe_sample_cgroup(s) == 0)
		log_info("this kernel cannot tag samples with their cgroup (PERF_SAMPLE_CGROUP needs "
			 "Linux 5.7): cgroups are read from /proc/PID/cgroup when a process is "
			 "first seen");
	if (s->exact_cgroup) {
		s->cgroup_ids = calloc(CGROUP_SLOTS, sizeof(*s->cgroup_ids));
		s->cgroup_paths = strtab_new(CGROUP_PATHS_BYTES);
		if (!s->cgroup_ids || !s->cgroup_paths) {
			r = -ENOMEM;
			goto fail;
		}
	}

	if (c->n_cgroups) {
		for (size_t i = 0; i < c->n_cgroups; i++) {
			r = open_cgroup(s, c->cgroups[i]);
			if (r < 0)
				goto fail;
		}
	} else if (c->cmd_pid > 0) {
		r = open_task(s, c->cmd_pid);
		if (r < 0)
			goto fail;
	} else if (c->pids) {
		for (size_t p = 0; p < c->n_pids; p++) {
			uint32_t *tids = NULL;
			size_t n = 0;

			r = list_threads(c->pids[p], &tids, &n);
			if (r < 0) {
				log_error_errno(r, "process %u: %m — is the pid right and still "
						   "running?", c->pids[p]);
				goto fail;
			}
			for (size_t t = 0; t < n && r >= 0; t++) {
				r = open_task(s, (pid_t)tids[t]);
				/* A thread may exit between the listing and the open. */
				if (r == -ESRCH)
					r = 0;
			}
			free(tids);
			if (r < 0)
				goto fail;
		}
	} else {
		for (int i = 0; i < s->n_cpus; i++) {
			struct cpu_ring *cr = &s->rings[i];

			r = open_one(s, -1, cr->cpu, &cr->fd);
			if (r < 0)
				goto fail;
			r = map_ring(s, cr);
			if (r < 0)
				goto fail;
		}
	}
	*ret = s;
	return 0;
fail:
	sampler_free(s);
	return r < 0 ? r : -EIO;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	for (int i = 0; s->rings && i < s->n_cpus; i++) {
		if (s->rings[i].base)
			munmap(s->rings[i].base, s->rings[i].map_bytes);
		free(s->rings[i].scratch);
	}
	for (size_t i = 0; i < s->n_fds; i++)
		close(s->fds[i]);
	free(s->fds);
	free(s->rings);
	free(s->pending);
	free(s->merged);
	free(s->run_begin);
	free(s->run_end);
	/* Mappings hold references into the CFI store: the table goes first. */
	proc_table_free(s->procs);
	cfistore_free(s->cfis);
	puw_cache_free(s->puw_cache);
	free(s->stops_by_bin);
	free(s->cgroup_ids);
	strtab_free(s->cgroup_paths);
	free(s);
}

int sampler_watch(struct sampler *s, int epfd)
{
	for (int i = 0; i < s->n_cpus; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };

		if (s->rings[i].fd < 0)
			continue;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->rings[i].fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

static void cgroup_id_add(struct sampler *s, uint64_t id, const char *path)
{
	uint32_t j = (uint32_t)hash_u64(HASH_INIT, id) & (CGROUP_SLOTS - 1);
	const char *p;

	for (; s->cgroup_ids[j].path; j = (j + 1) & (CGROUP_SLOTS - 1))
		if (s->cgroup_ids[j].id == id)
			break;
	if (!s->cgroup_ids[j].path && s->n_cgroup_ids + 1 >= CGROUP_SLOTS / 2)
		return; /* full: samples of further cgroups fall back to /proc/PID/cgroup */
	p = strtab_intern(s->cgroup_paths, path);
	if (!p)
		return;
	if (!s->cgroup_ids[j].path)
		s->n_cgroup_ids++;
	s->cgroup_ids[j] = (struct cgroup_entry){ .id = id, .path = p };
}

static const char *cgroup_id_path(const struct sampler *s, uint64_t id)
{
	uint32_t j = (uint32_t)hash_u64(HASH_INIT, id) & (CGROUP_SLOTS - 1);

	for (; s->cgroup_ids[j].path; j = (j + 1) & (CGROUP_SLOTS - 1))
		if (s->cgroup_ids[j].id == id)
			return s->cgroup_ids[j].path;
	return NULL;
}

/* The cgroup2 mount point, from /proc/self/mountinfo ("... - cgroup2 cgroup2 rw"). */
static int cgroup2_mount(char *ret, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], *dash = strstr(line, " - ");

		if (dash && strncmp(dash + 3, "cgroup2 ", 8) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
			snprintf(ret, size, "%s", mnt);
			r = 0;
		}
	}
	fclose(f);
	return r;
}

/*
 * The ids of existing cgroups: the kernel's cgroup id is the kernfs node id, which is what
 * name_to_handle_at() returns as the file handle of a cgroup2 directory (as perf does).
 */
static void cgroup_walk_ids(struct sampler *s, const char *root, const char *rel, int depth)
{
	char path[PATH_MAX];
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	struct dirent *de;
	int mount_id;
	DIR *d;

	if (depth > 32 || s->n_cgroup_ids + 1 >= CGROUP_SLOTS / 2)
		return;
	snprintf(path, sizeof(path), "%s%s", root, rel);
	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) == 0 && h.fh.handle_bytes == 8) {
		uint64_t id;

		memcpy(&id, h.fh.f_handle, sizeof(id));
		cgroup_id_add(s, id, rel[0] ? rel : "/");
	}
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) < (int)sizeof(sub))
			cgroup_walk_ids(s, root, sub, depth + 1);
	}
	closedir(d);
}

/* Reads the processes of a cgroup directory and its descendants. */
static int cgroup_scan_procs(struct sampler *s, const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int n = 0;
	unsigned pid;

	if (depth > 32)
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((f = fopen(path, "re"))) {
		while (fscanf(f, "%u", &pid) == 1)
			if (proc_table_scan(s->procs, pid) >= 0)
				n++;
		fclose(f);
	}
	if (!(d = opendir(dir)))
		return n;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			n += cgroup_scan_procs(s, path, depth + 1);
	}
	closedir(d);
	return n;
}

int sampler_bootstrap(struct sampler *s)
{
	int n = 0;

	if (s->exact_cgroup) {
		char root[PATH_MAX];

		if (cgroup2_mount(root, sizeof(root)) == 0)
			cgroup_walk_ids(s, root, "", 0);
	}
	if (s->cfg.n_cgroups)
		for (size_t i = 0; i < s->cfg.n_cgroups; i++)
			n += cgroup_scan_procs(s, s->cfg.cgroups[i], 0);
	else if (s->cfg.cmd_pid > 0)
		n = proc_table_scan(s->procs, (uint32_t)s->cfg.cmd_pid);
	else if (!s->cfg.pids)
		n = proc_table_scan_all(s->procs);
	else
		for (size_t i = 0; i < s->cfg.n_pids; i++)
			if (proc_table_scan(s->procs, s->cfg.pids[i]) >= 0)
				n++;
	/*
	 * Let the loader compile the CFI of what is already running before sampling starts, so
	 * the first window unwinds as well as the rest; bounded, since a huge machine may
	 * have more binaries than are worth a slow start.
	 */
	if (s->cfis && cfistore_wait_idle(s->cfis, BOOTSTRAP_CFI_WAIT_MS) < 0)
		log_info("CFI of the running processes still loading after %u ms; their first "
			 "samples unwind by frame pointers", BOOTSTRAP_CFI_WAIT_MS);
	return n;
}

static int ioctl_all(struct sampler *s, unsigned long req)
{
	for (size_t i = 0; i < s->n_fds; i++)
		if (ioctl(s->fds[i], req, 0) < 0)
			return -errno;
	return 0;
}

int sampler_enable(struct sampler *s)
{
	/* A command's events enable themselves at its exec (enable_on_exec). */
	if (s->cfg.cmd_pid > 0)
		return 0;
	return ioctl_all(s, PERF_EVENT_IOC_ENABLE);
}

int sampler_disable(struct sampler *s)
{
	return ioctl_all(s, PERF_EVENT_IOC_DISABLE);
}

bool sampler_targets_gone(struct sampler *s)
{
	if (!s->cfg.pids)
		return false;
	for (size_t i = 0; i < s->cfg.n_pids; i++)
		if (kill((pid_t)s->cfg.pids[i], 0) == 0 || errno == EPERM)
			return false;
	return true;
}

void sampler_get_stats(const struct sampler *s, struct sampler_stats *ret)
{
	*ret = s->stats;
	if (s->cfis) {
		struct cfistore_stats cs;

		cfistore_get_stats(s->cfis, &cs);
		ret->cfi_binaries = cs.binaries;
		ret->cfi_loaded = cs.loaded;
		ret->cfi_failed = cs.failed;
		ret->cfi_refused = cs.refused;
		ret->cfi_bytes = cs.bytes;
		ret->cfi_evicted = cs.evicted;
	}
	ret->cfi_limit_bytes = cfi_max_bytes(&s->cfg);
}

static int binary_stops_cmp(const void *a, const void *b)
{
	const struct sampler_binary_stops *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->path, y->path);
}

size_t sampler_binary_stops(const struct sampler *s, struct sampler_binary_stops *ret,
			    size_t max)
{
	struct sampler_binary_stops *all = malloc(STOP_BINARIES * sizeof(*all));
	size_t n = 0;

	if (!all)
		return 0;
	for (uint32_t i = 0; i < STOP_BINARIES; i++)
		if (s->stops_by_bin[i].path && s->stops_by_bin[i].total)
			all[n++] = s->stops_by_bin[i];
	qsort(all, n, sizeof(*all), binary_stops_cmp);
	if (n > max)
		n = max;
	memcpy(ret, all, n * sizeof(*all));
	free(all);
	return n;
}

/* Counts a truncated unwind against the binary of its last frame. */
static void count_binary_stop(struct sampler *s, const char *path, enum puw_stop stop)
{
	uint32_t j = (uint32_t)hash_u64(HASH_INIT, (uintptr_t)path) & (STOP_BINARIES - 1);

	for (; s->stops_by_bin[j].path; j = (j + 1) & (STOP_BINARIES - 1))
		if (s->stops_by_bin[j].path == path)
			break;
	if (!s->stops_by_bin[j].path) {
		/* Keep the table at most half full: past that, the rest share one entry. */
		if (s->n_stops_by_bin + 1 >= STOP_BINARIES / 2)
			return count_binary_stop(s, "[other binaries]", stop);
		s->stops_by_bin[j].path = path;
		s->n_stops_by_bin++;
	}
	s->stops_by_bin[j].stop[stop]++;
	s->stops_by_bin[j].total++;
}

const char *sampler_event_name(const struct sampler *s)
{
	return s->event_name;
}

uint64_t sampler_procs_seen(const struct sampler *s)
{
	struct proc_table_stats st;

	proc_table_get_stats(s->procs, &st);
	return st.procs_seen;
}

int sampler_n_cpus(const struct sampler *s)
{
	return s->n_cpus;
}

void sampler_set_labeler(struct sampler *s, sampler_label_fn *fn, void *ctx,
			 const struct labelset *default_series)
{
	s->cfg.label_fn = fn;
	s->cfg.label_ctx = ctx;
	s->cfg.default_series = default_series;
	s->label_gen++;
}

bool sampler_exact_cgroup(const struct sampler *s)
{
	return s->exact_cgroup;
}

/* The per-sample work: stack to locations, locations to the window. */

struct find_ctx {
	const struct proc *p;
};

static int find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	const struct find_ctx *fc = ctx;
	const struct proc_mapping *m = fc->p ? proc_find_mapping(fc->p, pc) : NULL;

	if (!m)
		return -ENOENT;
	ret->start = m->start;
	ret->end = m->end;
	ret->cfi = NULL;
	ret->bias = 0;
	if (m->bin)
		(void)cfi_binary_table(m->bin, m->start, m->pgoff, &ret->cfi, &ret->bias);
	return 0;
}

static int64_t user_location(struct profile_window *w, const struct proc *p, uint64_t pc,
			     uint64_t addr)
{
	const struct proc_mapping *m = p ? proc_find_mapping(p, pc) : NULL;
	struct profile_mapping pm;
	int64_t map;

	if (!m)
		return profile_window_location(w, PROFILE_MAP_NONE, addr);
	pm = (struct profile_mapping){
		.pid = p->pid,
		.start = m->start,
		.end = m->end,
		.pgoff = m->pgoff,
		.ino = m->ino,
		.maj = m->maj,
		.min = m->min,
		/* The window's two clocks give the realtime of the mapping, to compare with ctime. */
		.mapped_real_ns = m->mapped_mono_ns && w->start_real_ns > w->start_mono_ns
					  ? m->mapped_mono_ns + (w->start_real_ns - w->start_mono_ns)
					  : 0,
		.path = m->path,
	};
	map = profile_window_mapping(w, &pm);
	if (map < 0)
		return map;
	return profile_window_location(w, (uint32_t)map, addr);
}

static void handle_sample(struct sampler *s, const struct perf_event_header *h,
			  struct profile_window *w)
{
	struct record_sample rs;
	struct profile_thread thread = { 0 };
	const struct labelset *labels = s->cfg.default_series;
	bool overflow;
	struct proc *p;
	const char *tname;
	uint32_t n = 0;
	bool in_kernel = false;
	int64_t idx;

	if (record_parse_sample(&s->layout, h, &rs) < 0) {
		s->stats.bad_records++;
		return;
	}
	s->stats.samples++;
	/* Tasks outside our PID namespace read as pid 0: not ours to profile (sidecar). */
	if (s->cfg.drop_foreign && rs.id.pid == 0) {
		s->stats.foreign++;
		return;
	}

	p = proc_table_lookup_or_scan(s->procs, rs.id.pid);
	if (!p)
		s->stats.no_process++;
	if (s->cfg.on_sample)
		s->cfg.on_sample(s->cfg.on_sample_ctx, &rs, p);
	if (!w)
		return;
	/*
	 * Targets and labels, before any unwinding: decided once per process, again after an
	 * exec (proc resets label_state) or when the sample's exact cgroup differs from the
	 * one the decision was made for (a process moved).
	 */
	if (p && s->cfg.label_fn && rs.id.pid != 0) {
		bool moved = s->exact_cgroup && rs.cgroup && rs.cgroup != p->label_cgroup &&
			     p->label_state != PROC_LABELS_UNKNOWN;

		/*
		 * Threads of one process in different cgroups (cgroup v2 threaded mode) would
		 * alternate: past a few moves, keep the last decision rather than read /proc on
		 * every sample.
		 */
		if (moved && p->label_moves >= MAX_LABEL_MOVES) {
			moved = false;
			s->stats.label_moves_ignored++;
		}
		if (p->label_state == PROC_LABELS_UNKNOWN || moved || p->label_gen != s->label_gen) {
			const char *cg = s->exact_cgroup && rs.cgroup ? cgroup_id_path(s, rs.cgroup)
								      : NULL;
			const struct labelset *ls = NULL;
			int keep = s->cfg.label_fn(s->cfg.label_ctx, rs.id.pid, cg, &ls);

			p->label_moves += moved;
			s->stats.label_evals++;
			p->label_state = keep > 0 ? PROC_LABELS_KEEP : PROC_LABELS_DROP;
			p->series = ls;
			p->label_cgroup = rs.cgroup;
			p->label_gen = s->label_gen;
		}
		if (p->label_state == PROC_LABELS_DROP) {
			s->stats.filtered++;
			return;
		}
		labels = p->series;
	}
	idx = profile_window_series(w, labels, &overflow);
	if (idx < 0)
		goto full;
	if (overflow && s->cfg.label_fn) {
		s->stats.overflow++;
		w->overflow_samples++;
	}
	thread.series = (uint32_t)idx;
	thread.pid = rs.id.pid;
	thread.tid = rs.id.tid;
	thread.cpu = rs.id.cpu;
	if (p) {
		memcpy(thread.comm, p->comm, sizeof(thread.comm));
		thread.exe = p->exe;
	}
	tname = proc_table_thread_name(s->procs, rs.id.tid);
	snprintf(thread.thread_name, sizeof(thread.thread_name), "%s", tname ? tname : thread.comm);

	/* Kernel frames: the IP first, then return addresses; skip PERF_CONTEXT_* markers. */
	for (uint64_t i = 0; i < rs.callchain_nr && n < MAX_KERNEL_FRAMES; i++) {
		uint64_t ip = rs.callchain[i];

		if (ip >= (uint64_t)PERF_CONTEXT_MAX)
			continue;
		idx = profile_window_location(w, PROFILE_MAP_KERNEL, in_kernel ? ip - 1 : ip);
		if (idx < 0)
			goto full;
		s->locs[n++] = (uint32_t)idx;
		in_kernel = true;
	}

	if (rs.regs_abi == PERF_SAMPLE_REGS_ABI_NONE || !rs.regs) {
		s->stats.kernel_only++;
	} else {
		struct puw_regs regs;
		struct find_ctx fc = { .p = p };
		enum puw_stop stop = PUW_STOP_END;
		int got = 0;

		if (puw_regs_from_perf(s->arch, s->layout.regs_user_mask, rs.regs, rs.regs_nr,
				       &regs) == 0) {
			struct puw_request req = {
				.arch = s->arch,
				.mode = s->cfg.unwind_mode,
				.regs = &regs,
				.stack = rs.stack,
				.stack_start = regs.r[s->arch == PUW_ARCH_X86_64 ? 7 : 31],
				.stack_size = rs.stack ? rs.stack_size : 0,
				.find_module = find_module,
				.ctx = &fc,
				.stats = &s->stats.unwind,
				.cache = s->puw_cache,
			};
			got = puw_unwind(&req, s->pcs, MAX_USER_FRAMES, &stop);
		}
		if (got < 0) {
			got = 0;
			stop = PUW_STOP_NO_REGS;
		}
		s->stats.stop[stop]++;
		s->stats.user_frames += got;
		if (stop != PUW_STOP_END && got > 0) {
			const struct proc_mapping *m = p ? proc_find_mapping(p, s->pcs[got - 1]) : NULL;

			count_binary_stop(s, m ? m->path : "[unknown]", stop);
		}
		/* Every PC but an interrupted user IP is a return address: point into the call. */
		for (int i = 0; i < got && n < ARRAY_SIZE(s->locs); i++) {
			bool caller = i > 0 || in_kernel;

			idx = user_location(w, p, s->pcs[i], caller ? s->pcs[i] - 1 : s->pcs[i]);
			if (idx < 0)
				goto full;
			s->locs[n++] = (uint32_t)idx;
		}
		/* The outermost frame says why the stack ends here, for flame graphs. */
		if (s->cfg.unwind_markers && stop != PUW_STOP_END) {
			idx = profile_window_location(w, PROFILE_MAP_MARKER, stop);
			if (idx < 0)
				goto full;
			s->locs[n++] = (uint32_t)idx;
		}
	}

	idx = profile_window_thread(w, &thread);
	if (idx < 0)
		goto full;
	if (profile_window_add(w, (uint32_t)idx, s->locs, n,
			       s->period_is_ns ? rs.period : NSEC_PER_SEC / s->cfg.frequency_hz) < 0)
		s->stats.dropped++;
	return;
full:
	w->dropped++;
	s->stats.dropped++;
}

static void handle_record(struct sampler *s, const struct perf_event_header *h,
			  struct profile_window *w)
{
	union {
		struct record_mmap2 mmap2;
		struct record_comm comm;
		struct record_task task;
		struct record_lost lost;
		struct record_cgroup cgroup;
	} u;
	int r = 0;

	switch (h->type) {
	case PERF_RECORD_SAMPLE:
		handle_sample(s, h, w);
		return;
	case PERF_RECORD_MMAP2:
		r = record_parse_mmap2(&s->layout, h, &u.mmap2);
		/* Other PID namespaces' tasks read as pid 0: not ours (sidecar). */
		if (r >= 0 && !(s->cfg.drop_foreign && u.mmap2.id.pid == 0))
			proc_table_mmap(s->procs, u.mmap2.id.pid, u.mmap2.addr, u.mmap2.len,
					u.mmap2.pgoff, u.mmap2.maj, u.mmap2.min, u.mmap2.ino,
					u.mmap2.prot, u.mmap2.filename, u.mmap2.id.time);
		break;
	case PERF_RECORD_COMM:
		r = record_parse_comm(&s->layout, h, &u.comm);
		if (r >= 0)
			proc_table_comm(s->procs, u.comm.pid, u.comm.tid, u.comm.comm, u.comm.exec);
		break;
	case PERF_RECORD_FORK:
		r = record_parse_task(&s->layout, h, &u.task);
		if (r >= 0)
			proc_table_fork(s->procs, u.task.pid, u.task.ppid, u.task.tid, u.task.ptid);
		break;
	case PERF_RECORD_EXIT:
		r = record_parse_task(&s->layout, h, &u.task);
		if (r >= 0)
			proc_table_exit(s->procs, u.task.pid, u.task.tid);
		break;
	case PERF_RECORD_LOST:
	case PERF_RECORD_LOST_SAMPLES:
		r = record_parse_lost(&s->layout, h, &u.lost);
		if (r >= 0)
			s->stats.lost += u.lost.lost;
		break;
	case PERF_RECORD_THROTTLE:
		s->stats.throttled++;
		break;
	case PERF_RECORD_CGROUP:
		r = record_parse_cgroup(&s->layout, h, &u.cgroup);
		if (r >= 0 && s->cgroup_ids) {
			cgroup_id_add(s, u.cgroup.cgroup, u.cgroup.path);
			s->stats.cgroup_records++;
		}
		break;
	default:
		break; /* MMAP (no mmap2 fields), UNTHROTTLE, ...: nothing to do */
	}
	if (r < 0)
		s->stats.bad_records++;
}

/* Sorts one ring's run by time; runs are nearly sorted, so insertion sort is linear. */
static void sort_run(struct pending *p, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct pending x = p[i];
		uint32_t j = i;

		while (j > 0 && p[j - 1].time > x.time) {
			p[j] = p[j - 1];
			j--;
		}
		p[j] = x;
	}
}

int sampler_drain(struct sampler *s, struct profile_window *w, bool final)
{
	uint64_t t_snap = final ? UINT64_MAX : now_monotonic_ns();
	uint32_t n = 0, m = 0;

	s->stats.rounds++;
	/* Collect: per ring, the records stamped up to t_snap, in ring order. */
	for (int i = 0; i < s->n_cpus; i++) {
		struct cpu_ring *cr = &s->rings[i];
		uint64_t pos;

		s->run_begin[i] = s->run_end[i] = n;
		if (!cr->base)
			continue;
		ring_snapshot(&cr->ring);
		pos = cr->ring.tail;
		while (n < MAX_PENDING) {
			const struct perf_event_header *h;
			struct record_id id;
			int r = ring_peek(&cr->ring, pos, &h);

			if (r == -EAGAIN)
				break;
			if (r < 0) {
				/* A broken header: nothing after it can be framed. Give it all back. */
				s->stats.bad_records++;
				pos = cr->ring.head;
				break;
			}
			if (record_parse_id(&s->layout, h, &id) < 0)
				id.time = 0; /* processed, then counted as bad by its handler */
			if (id.time > t_snap)
				break;
			s->pending[n++] = (struct pending){ .time = id.time, .h = h };
			pos += h->size;
		}
		cr->consume_to = pos;
		s->run_end[i] = n;
		sort_run(s->pending + s->run_begin[i], n - s->run_begin[i]);
	}

	/*
	 * Merge the runs. Selecting the smallest head is O(records x CPUs); rounds are short
	 * and a heap only pays off with hundreds of CPUs.
	 */
	while (m < n) {
		int best = -1;

		for (int i = 0; i < s->n_cpus; i++)
			if (s->run_begin[i] < s->run_end[i] &&
			    (best < 0 ||
			     s->pending[s->run_begin[i]].time < s->pending[s->run_begin[best]].time))
				best = i;
		s->merged[m++] = s->pending[s->run_begin[best]++];
	}
	for (uint32_t i = 0; i < m; i++)
		handle_record(s, s->merged[i].h, w);

	for (int i = 0; i < s->n_cpus; i++)
		if (s->rings[i].base)
			ring_consume(&s->rings[i].ring, s->rings[i].consume_to);
	return (int)m;
}
