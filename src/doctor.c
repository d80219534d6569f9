/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doctor and explain (see doctor.h). Every check asks the kernel directly rather than
 * guessing from version numbers where it can: features are probed by opening a disabled
 * event on the calling thread (user-space only, so the probe answers even where
 * kernel.perf_event_paranoid forbids more), privileges are read with capget(2) through
 * libcap, and "can it open an event on every CPU" runs the sampler's own open path.
 *
 * Binary facts (CFI, symbols, debug info, frame pointers) are read from the ELF file through
 * /proc/PID/root so a container's files resolve. Frame pointers are judged from function
 * prologues: the share of .symtab/.dynsym functions whose first instructions set up the
 * frame ("push %rbp; mov %rsp,%rbp" on x86-64, "stp x29, x30, [sp, #-N]!" on arm64).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <inttypes.h>
#include <libelf.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor.h"
#include "elfcfi.h"
#include "log.h"
#include "maps.h"
#include "profile.h"
#include "sampler.h"
#include "util.h"

#define DOCTOR_FREQUENCY_HZ 19
#define DOCTOR_STACK_SIZE 16384
#define EXPLAIN_FREQUENCY_HZ 99
#define EXPLAIN_DEFAULT_S 3
#define MAX_BINARIES 256
#define PROLOGUES_CHECKED 256

enum verdict { V_OK, V_WARN, V_FAIL };

struct doctor {
	unsigned n_ok, n_warn, n_fail;
};

static void __attribute__((format(printf, 5, 6)))
report(struct doctor *d, enum verdict v, const char *check, const char *fix, const char *fmt, ...)
{
	static const char *names[] = {"OK", "WARN", "FAIL"};
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("%-4s  %-22s %s\n", names[v], check, what);
	if (v != V_OK && fix)
		printf("      %-22s fix: %s\n", "", fix);
	if (v == V_OK)
		d->n_ok++;
	else if (v == V_WARN)
		d->n_warn++;
	else
		d->n_fail++;
}

static int read_int_file(const char *path, long *ret)
{
	FILE *fp = fopen(path, "re");
	long v;
	int r = 0;

	if (!fp)
		return -errno;
	if (fscanf(fp, "%ld", &v) != 1)
		r = -EINVAL;
	fclose(fp);
	if (r == 0)
		*ret = v;
	return r;
}

/* ---- capabilities ---- */

struct caps {
	bool perfmon, sys_admin, sys_ptrace, dac_read_search, syslog, ipc_lock;
};

static bool cap_effective(cap_t c, const char *name)
{
	cap_value_t v;
	cap_flag_value_t f = CAP_CLEAR;

	if (cap_from_name(name, &v) < 0 || cap_get_flag(c, v, CAP_EFFECTIVE, &f) < 0)
		return false;
	return f == CAP_SET;
}

static void caps_read(struct caps *ret)
{
	cap_t c = cap_get_proc();

	*ret = (struct caps){0};
	if (!c)
		return;
	ret->perfmon = cap_effective(c, "cap_perfmon");
	ret->sys_admin = cap_effective(c, "cap_sys_admin");
	ret->sys_ptrace = cap_effective(c, "cap_sys_ptrace");
	ret->dac_read_search = cap_effective(c, "cap_dac_read_search");
	ret->syslog = cap_effective(c, "cap_syslog");
	ret->ipc_lock = cap_effective(c, "cap_ipc_lock");
	cap_free(c);
}

/* ---- perf feature probes ---- */

static int perf_open(struct perf_event_attr *a, pid_t pid, int cpu, unsigned long flags)
{
	int fd = (int)syscall(SYS_perf_event_open, a, pid, cpu, -1, flags | PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static void probe_attr(struct perf_event_attr *a)
{
	*a = (struct perf_event_attr){
		.size = sizeof(*a),
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = DOCTOR_FREQUENCY_HZ,
		.freq = 1,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME,
	};
}

static uint64_t user_regs_mask(void)
{
#if defined(__x86_64__)
	return (1ULL << 6) | (1ULL << 7) | (1ULL << 8); /* PERF_REG_X86_BP, SP, IP */
#elif defined(__aarch64__)
	return (1ULL << 29) | (1ULL << 30) | (1ULL << 31) | (1ULL << 32); /* x29, lr, sp, pc */
#else
	return 0;
#endif
}

static const char *probe_fix_of(int r)
{
	if (r == -EACCES || r == -EPERM)
		return "run as root or grant CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8), or set "
		       "kernel.perf_event_paranoid <= 1 for your own processes";
	return NULL;
}

static void check_kernel(struct doctor *d, unsigned *ret_major, unsigned *ret_minor)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	uname(&u);
	sscanf(u.release, "%u.%u", &major, &minor);
	*ret_major = major;
	*ret_minor = minor;
	if (major > 5 || (major == 5 && minor >= 8))
		report(d, V_OK, "kernel", NULL, "Linux %s (%s)", u.release, u.machine);
	else if (major >= 4)
		report(d, V_WARN, "kernel",
		       "the agent works, but needs CAP_SYS_ADMIN instead of CAP_PERFMON; kernels "
		       "from 5.8 on allow a narrower grant",
		       "Linux %s (%s): before 5.8, no CAP_PERFMON", u.release, u.machine);
	else
		report(d, V_FAIL, "kernel", "upgrade to Linux 4.9 or later",
		       "Linux %s (%s): too old for user register and stack sampling", u.release,
		       u.machine);
}

enum probe_kind { PROBE_USER_STACK, PROBE_SAMPLE_CGROUP, PROBE_BUILD_ID };

/* Kernel features, each probed by opening an event that asks for it. */
static const struct feature_probe {
	enum probe_kind kind;
	const char *check;
	enum verdict missing; /* what its absence means for profiling */
	const char *ok, *fix;
} feature_probes[] = {
	{PROBE_USER_STACK, "user regs + stack", V_FAIL,
	 "PERF_SAMPLE_REGS_USER and PERF_SAMPLE_STACK_USER work",
	 "use Linux 3.7 or later with CONFIG_HAVE_PERF_USER_STACK_DUMP"},
	{PROBE_SAMPLE_CGROUP, "PERF_SAMPLE_CGROUP", V_WARN, "samples carry their cgroup id",
	 "Linux 5.7 or later; until then cgroups are read from /proc/PID/cgroup"},
	{PROBE_BUILD_ID, "MMAP2 build-ids", V_WARN, "mapping records carry build-ids",
	 "Linux 5.12 or later; until then build-ids are read from the files"},
};

static void check_features(struct doctor *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(feature_probes); i++) {
		const struct feature_probe *p = &feature_probes[i];
		struct perf_event_attr a;
		int r;

		probe_attr(&a);
		switch (p->kind) {
		case PROBE_USER_STACK:
			a.sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
			a.sample_regs_user = user_regs_mask();
			a.sample_stack_user = 8192;
			break;
		case PROBE_SAMPLE_CGROUP:
			a.sample_type |= PERF_SAMPLE_CGROUP;
			break;
		case PROBE_BUILD_ID:
			a.mmap = 1;
			a.mmap2 = 1;
			a.build_id = 1;
			break;
		}
		r = perf_open(&a, 0, -1, 0);
		if (r == 0)
			report(d, V_OK, p->check, NULL, "%s", p->ok);
		else
			report(d, p->missing, p->check, probe_fix_of(r) ? probe_fix_of(r) : p->fix,
			       "not available: %s", strerror(-r));
	}
}

static void check_cgroups(struct doctor *d, const struct caps *c, bool privileged)
{
	struct statfs sf;
	char line[4096], path[4200];
	FILE *fp;
	int fd, r;
	struct perf_event_attr a;

	const char *v2root = "/sys/fs/cgroup";

	if (statfs("/sys/fs/cgroup", &sf) < 0) {
		report(d, V_WARN, "cgroup version", "mount cgroup2 on /sys/fs/cgroup",
		       "/sys/fs/cgroup: %s", strerror(errno));
		return;
	}
	if ((unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		report(d, V_OK, "cgroup version", NULL, "v2 (unified hierarchy)");
	} else if (statfs("/sys/fs/cgroup/unified", &sf) == 0 &&
		   (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		v2root = "/sys/fs/cgroup/unified";
		report(d, V_WARN, "cgroup version",
		       "boot with systemd.unified_cgroup_hierarchy=1 for a pure cgroup v2 host",
		       "hybrid: v1 controllers, v2 at %s; cgroup names in labels follow v2",
		       v2root);
	} else {
		report(d, V_WARN, "cgroup version",
		       "boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2",
		       "v1 only: cgroup targets and container labels need cgroup v2");
		return;
	}

	/* A cgroup event on CPU 0 for the cgroup we run in. */
	snprintf(path, sizeof(path), "%s", v2root);
	fp = fopen("/proc/self/cgroup", "re");
	if (fp) {
		while (fgets(line, sizeof(line), fp))
			if (strncmp(line, "0::", 3) == 0) {
				line[strcspn(line, "\n")] = '\0';
				snprintf(path, sizeof(path), "%s%s", v2root, line + 3);
			}
		fclose(fp);
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		report(d, V_WARN, "cgroup events", "mount the host's /sys/fs/cgroup read-only",
		       "cannot open %s: %s", path, strerror(errno));
		return;
	}
	probe_attr(&a);
	r = perf_open(&a, fd, 0, PERF_FLAG_PID_CGROUP);
	close(fd);
	if (r == 0)
		report(d, V_OK, "cgroup events", NULL, "per-cgroup events open (%s)", path);
	else
		report(d, privileged ? V_FAIL : V_WARN, "cgroup events",
		       privileged ? "use a kernel with CONFIG_CGROUP_PERF=y" : probe_fix_of(r),
		       "cannot open a cgroup event: %s", strerror(-r));
	(void)c;
}

static void check_privileges(struct doctor *d, const struct caps *c, long paranoid,
			     bool have_paranoid)
{
	char held[256] = "", missing[256] = "";
	bool perf_ok = c->perfmon || c->sys_admin;
	static const char *names[] = {"CAP_PERFMON",	     "CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
				      "CAP_DAC_READ_SEARCH", "CAP_SYSLOG",    "CAP_IPC_LOCK"};
	const bool have[] = {c->perfmon,	 c->sys_admin, c->sys_ptrace,
			     c->dac_read_search, c->syslog,    c->ipc_lock};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *dst = have[i] ? held : missing;

		snprintf(dst + strlen(dst), 256 - strlen(dst), "%s%s", dst[0] ? " " : "", names[i]);
	}
	if (perf_ok && c->sys_ptrace && c->dac_read_search)
		report(d, V_OK, "capabilities", NULL, "held: %s%s%s", held,
		       missing[0] ? "; not held: " : "", missing);
	else if (perf_ok || (have_paranoid && paranoid <= 0))
		report(d, V_WARN, "capabilities",
		       "grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (the packaged service does) "
		       "so other users' and containers' binaries can be read",
		       "held: %s; not held: %s", held[0] ? held : "none", missing);
	else
		report(d, V_FAIL, "capabilities",
		       "run as root, or grant CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH "
		       "CAP_SYSLOG CAP_IPC_LOCK (systemd AmbientCapabilities=, setcap on the "
		       "binary, or the container's securityContext)",
		       "held: %s; not held: %s", held[0] ? held : "none", missing);

	if (!have_paranoid)
		report(d, V_WARN, "perf_event_paranoid", "mount /proc with /proc/sys readable",
		       "cannot read /proc/sys/kernel/perf_event_paranoid");
	else if (perf_ok)
		report(d, V_OK, "perf_event_paranoid", NULL,
		       "%ld (not limiting: CAP_PERFMON or CAP_SYS_ADMIN held)", paranoid);
	else if (paranoid <= 0)
		report(d, V_OK, "perf_event_paranoid", NULL,
		       "%ld: unprivileged whole-machine profiling allowed", paranoid);
	else
		report(d, V_FAIL, "perf_event_paranoid",
		       "grant CAP_PERFMON (the packaged service does), or "
		       "sysctl -w kernel.perf_event_paranoid=0 (persist it in /etc/sysctl.d/)",
		       "%ld: without CAP_PERFMON only your own processes%s can be profiled",
		       paranoid, paranoid >= 2 ? ", user space only," : "");
}

static void check_mlock(struct doctor *d, const struct caps *c, long ncpus)
{
	struct sampler_config sc = {.frequency_hz = DOCTOR_FREQUENCY_HZ,
				    .stack_size = DOCTOR_STACK_SIZE};
	uint64_t ring_kb = sampler_ring_bytes(&sc) / 1024 + 4; /* + the header page */
	long kb;
	char fix[256];

	if (read_int_file("/proc/sys/kernel/perf_event_mlock_kb", &kb) < 0) {
		report(d, V_WARN, "perf_event_mlock_kb", "mount /proc with /proc/sys readable",
		       "cannot read /proc/sys/kernel/perf_event_mlock_kb");
		return;
	}
	snprintf(fix, sizeof(fix),
		 "grant CAP_IPC_LOCK (the packaged service does), or "
		 "sysctl -w kernel.perf_event_mlock_kb=%" PRIu64,
		 ring_kb);
	if (c->ipc_lock)
		report(d, V_OK, "perf_event_mlock_kb", NULL,
		       "%ld KiB (not limiting: CAP_IPC_LOCK held)", kb);
	else if ((uint64_t)kb >= ring_kb)
		report(d, V_OK, "perf_event_mlock_kb", NULL,
		       "%ld KiB per CPU, default rings need %" PRIu64 " KiB", kb, ring_kb);
	else
		report(d, V_FAIL, "perf_event_mlock_kb", fix,
		       "%ld KiB per CPU (%ld CPUs) is less than the %" PRIu64 " KiB a default ring "
		       "needs",
		       kb, ncpus, ring_kb);
}

static void check_kptr(struct doctor *d)
{
	long k = -1;
	char line[256];
	unsigned long long addr = 0;
	FILE *fp;
	bool readable = false;

	(void)read_int_file("/proc/sys/kernel/kptr_restrict", &k);
	fp = fopen("/proc/kallsyms", "re");
	if (fp) {
		while (fgets(line, sizeof(line), fp))
			if (sscanf(line, "%llx", &addr) == 1 && addr) {
				readable = true;
				break;
			}
		fclose(fp);
	}
	if (readable)
		report(d, V_OK, "kptr_restrict", NULL, "%ld: kernel symbol addresses readable", k);
	else
		report(d, V_WARN, "kptr_restrict",
		       "grant CAP_SYSLOG with kernel.kptr_restrict <= 1 (the packaged service "
		       "does), or sysctl -w kernel.kptr_restrict=0",
		       "%ld: /proc/kallsyms addresses read as 0, kernel frames keep addresses", k);
}

static void check_every_cpu(struct doctor *d)
{
	struct sampler_config sc = {.frequency_hz = DOCTOR_FREQUENCY_HZ,
				    .stack_size = DOCTOR_STACK_SIZE,
				    .unwind_mode = PUW_MODE_FP};
	struct sampler *s = NULL;
	int r;

	/* The sampler's own open path: events and rings on every CPU, as the daemon does. */
	r = sampler_open(&sc, &s);
	if (r == 0) {
		report(d, V_OK, "events on every CPU", NULL,
		       "%s sampling events and rings open on "
		       "%d CPUs",
		       sampler_event_name(s), sampler_n_cpus(s));
		sampler_free(s);
	} else {
		report(d, V_FAIL, "events on every CPU",
		       "see the error above; the capabilities and perf_event_paranoid lines say "
		       "what to change",
		       "cannot open the whole-machine sampling events: %s", strerror(-r));
	}
}

/* ---- binary facts (doctor --pid and explain) ---- */

struct binary_facts {
	int elf; /* 0, or -errno reading the ELF file */
	bool eh_frame, debug_frame;
	bool symtab, dynsym;
	bool debug_info; /* .debug_info in the file */
	bool debug_file; /* a separate debug file was found */
	int fp;		 /* percent of checked functions with a frame-pointer prologue, -1 */
	char build_id[2 * ELFCFI_BUILD_ID_MAX + 1];
};

static bool fp_prologue(const uint8_t *p, size_t n)
{
#if defined(__x86_64__)
	static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
	static const uint8_t frame[] = {0x55, 0x48, 0x89, 0xe5}; /* push %rbp; mov %rsp,%rbp */

	if (n >= 8 && memcmp(p, endbr64, 4) == 0) {
		p += 4;
		n -= 4;
	}
	return n >= 4 && memcmp(p, frame, 4) == 0;
#elif defined(__aarch64__)
	/* stp x29, x30, [sp, #-N]! possibly after paciasp or bti c. */
	for (size_t i = 0; i + 4 <= n && i < 12; i += 4) {
		uint32_t insn;

		memcpy(&insn, p + i, 4);
		if ((insn & 0xffc07fffu) == 0xa9807bfdu)
			return true;
	}
	return false;
#else
	(void)p;
	(void)n;
	return false;
#endif
}

/* Share of functions (by symbol) whose code starts with a frame-pointer prologue. */
static int fp_share(Elf *elf, int fd, Elf_Scn *symscn, const GElf_Shdr *symsh)
{
	Elf_Data *data = elf_getdata(symscn, NULL);
	size_t n = symsh->sh_entsize ? symsh->sh_size / symsh->sh_entsize : 0;
	unsigned checked = 0, with = 0;

	if (!data)
		return -1;
	for (size_t i = 0; i < n && checked < PROLOGUES_CHECKED; i++) {
		GElf_Sym sym;
		Elf_Scn *scn;
		GElf_Shdr sh;
		uint8_t code[16];

		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_size < 16 || sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE)
			continue;
		scn = elf_getscn(elf, sym.st_shndx);
		if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    sym.st_value < sh.sh_addr || sym.st_value + 16 > sh.sh_addr + sh.sh_size)
			continue;
		if (pread(fd, code, sizeof(code),
			  (off_t)(sh.sh_offset + sym.st_value - sh.sh_addr)) !=
		    (ssize_t)sizeof(code))
			continue;
		checked++;
		with += fp_prologue(code, sizeof(code));
	}
	return checked ? (int)(100 * with / checked) : -1;
}

static void binary_facts_read(const char *root, const char *path, struct binary_facts *ret)
{
	char full[4200], cand[4200];
	struct elfcfi_info info;
	Elf *elf = NULL;
	Elf_Scn *scn = NULL, *best_sym = NULL;
	GElf_Shdr best_sh;
	size_t shstrndx;
	int fd;

	memset(ret, 0, sizeof(*ret));
	ret->fp = -1;
	snprintf(full, sizeof(full), "%s%s", root, path);
	ret->elf = elfcfi_read_info(full, &info);
	if (ret->elf < 0)
		return;
	ret->eh_frame = info.has_eh_frame;
	ret->debug_frame = info.has_debug_frame;
	for (size_t i = 0; i < info.build_id_size; i++)
		sprintf(ret->build_id + 2 * i, "%02x", info.build_id[i]);
	if (elfcfi_build_id_path(&info, root, cand, sizeof(cand)) == 0 && access(cand, R_OK) == 0)
		ret->debug_file = true;
	for (unsigned i = 0; !ret->debug_file && i < 3; i++) {
		char rel[4200];

		if (elfcfi_debuglink_path(&info, path, i, rel, sizeof(rel)) < 0)
			break;
		snprintf(cand, sizeof(cand), "%s%s", root, rel);
		if (access(cand, R_OK) == 0)
			ret->debug_file = true;
	}

	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) < 0)
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		if (sh.sh_type == SHT_SYMTAB && sh.sh_size > sh.sh_entsize) {
			ret->symtab = true;
			best_sym = scn;
			best_sh = sh;
		} else if (sh.sh_type == SHT_DYNSYM && sh.sh_size > sh.sh_entsize) {
			ret->dynsym = true;
			if (!best_sym) {
				best_sym = scn;
				best_sh = sh;
			}
		} else if (strcmp(name, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS &&
			   sh.sh_size) {
			ret->debug_info = true;
		}
	}
	if (best_sym)
		ret->fp = fp_share(elf, fd, best_sym, &best_sh);
out:
	elf_end(elf);
	close(fd);
}

static const char *fp_word(int fp)
{
	return fp < 0 ? "?" : fp >= 50 ? "yes" : fp >= 10 ? "partly" : "no";
}

struct mapping_list {
	struct {
		char *path;
		uint64_t start, end, offset;
	} m[MAX_BINARIES];
	size_t n;
	size_t more; /* executable file mappings past MAX_BINARIES */
};

static int collect_exec_mapping(void *ctx, const struct maps_entry *e)
{
	struct mapping_list *l = ctx;

	if (!(e->prot & MAPS_PROT_EXEC) || e->path[0] != '/')
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->m[i].path, e->path) == 0)
			return 0;
	if (l->n == MAX_BINARIES) {
		l->more++;
		return 0;
	}
	l->m[l->n].path = strdup(e->path);
	if (!l->m[l->n].path)
		return -ENOMEM;
	l->m[l->n].start = e->start;
	l->m[l->n].end = e->end;
	l->m[l->n].offset = e->offset;
	l->n++;
	return 0;
}

static void mapping_list_done(struct mapping_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->m[i].path);
}

static void process_name(int pid, char *buf, size_t size)
{
	char path[64];
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	buf[0] = '\0';
	fp = fopen(path, "re");
	if (!fp)
		return;
	if (fgets(buf, (int)size, fp))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(fp);
}

static void check_pid(struct doctor *d, int pid)
{
	struct mapping_list *l = calloc(1, sizeof(*l));
	char root[64], comm[64];
	unsigned cfi = 0, syms = 0, debug = 0;
	struct binary_facts main_facts;
	int r;

	if (!l)
		return;
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	process_name(pid, comm, sizeof(comm));
	r = maps_read(pid, NULL, collect_exec_mapping, l);
	if (r < 0) {
		report(d, V_FAIL, "target process",
		       r == -ENOENT ? "check the pid" : "run as root or grant CAP_SYS_PTRACE",
		       "pid %d: cannot read /proc/%d/maps: %s", pid, pid, strerror(-r));
		free(l);
		return;
	}
	report(d, V_OK, "target process", NULL, "pid %d (%s): %zu executable files mapped", pid,
	       comm, l->n + l->more);
	for (size_t i = 0; i < l->n; i++) {
		struct binary_facts f;

		binary_facts_read(root, l->m[i].path, &f);
		cfi += f.eh_frame || f.debug_frame;
		syms += f.symtab || f.dynsym;
		debug += f.debug_info || f.debug_file;
		if (i == 0)
			main_facts = f;
	}
	if (l->n == 0) {
		mapping_list_done(l);
		free(l);
		return;
	}
	report(d, cfi == l->n ? V_OK : V_WARN, "CFI",
	       "install the packages' debug symbols "
	       "(debuginfod, -dbgsym packages) or build with -fasynchronous-unwind-tables",
	       "%u of %zu binaries have .eh_frame or .debug_frame", cfi, l->n);
	report(d, syms == l->n ? V_OK : V_WARN, "symbols",
	       "do not strip .dynsym/.symtab, or install the -dbgsym packages",
	       "%u of %zu binaries have a symbol table", syms, l->n);
	report(d, debug ? V_OK : V_WARN, "debug info",
	       "optional: install -dbgsym packages (/usr/lib/debug/.build-id) for inlined frames",
	       "%u of %zu binaries have debug info", debug, l->n);
	if (main_facts.elf < 0)
		report(d, V_WARN, "frame pointers", "run as root or grant CAP_DAC_READ_SEARCH",
		       "%s: cannot read: %s", l->m[0].path, strerror(-main_facts.elf));
	else
		report(d,
		       main_facts.fp >= 50 || main_facts.eh_frame || main_facts.debug_frame
			       ? V_OK
			       : V_WARN,
		       "frame pointers",
		       "build with -fno-omit-frame-pointer, or keep .eh_frame "
		       "(-fasynchronous-unwind-tables) so CFI unwinds it",
		       "%s: %s (%d%% of functions set up a frame)%s", l->m[0].path,
		       fp_word(main_facts.fp), main_facts.fp < 0 ? 0 : main_facts.fp,
		       main_facts.fp < 50 && (main_facts.eh_frame || main_facts.debug_frame)
			       ? "; CFI covers it"
			       : "");
	mapping_list_done(l);
	free(l);
}

int doctor_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {}};
	struct doctor d = {0};
	struct caps caps;
	long paranoid = 0, ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool have_paranoid;
	unsigned major, minor;
	uint64_t pid = 0;
	int c;

	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) >= 0) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, 1, INT32_MAX, &pid) < 0) {
				log_error("doctor --pid %s: expected a process id", optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: perfagent doctor [--pid PID]\n\n"
			       "Checks what profiling needs on this machine (kernel features, "
			       "sysctls,\n"
			       "capabilities, cgroups, opening the events) and, with --pid, "
			       "whether\n"
			       "that process's stacks can be unwound and symbolized. Prints OK, "
			       "WARN or\n"
			       "FAIL per check with the fix; exits 1 when a check fails.\n");
			return 0;
		default:
			fprintf(stderr, "Try 'perfagent doctor --help'.\n");
			return 2;
		}
	}
	caps_read(&caps);
	have_paranoid = read_int_file("/proc/sys/kernel/perf_event_paranoid", &paranoid) == 0;
	printf("perfagent %s doctor\n", PACKAGE_VERSION);
	check_kernel(&d, &major, &minor);
	check_features(&d);
	check_privileges(&d, &caps, paranoid, have_paranoid);
	check_mlock(&d, &caps, ncpus);
	check_kptr(&d);
	check_cgroups(&d, &caps,
		      caps.perfmon || caps.sys_admin || (have_paranoid && paranoid <= 0));
	fflush(stdout);
	check_every_cpu(&d);
	if (pid)
		check_pid(&d, (int)pid);
	printf("%u OK, %u WARN, %u FAIL\n", d.n_ok, d.n_warn, d.n_fail);
	return d.n_fail ? 1 : 0;
}

/* ---- explain ---- */

static int explain_sample(int pid, uint64_t seconds, struct sampler_stats *ret_st,
			  struct sampler_binary_stops *bs, size_t max_bs, size_t *ret_n_bs)
{
	uint32_t pids[1] = {(uint32_t)pid};
	struct sampler_config sc = {.frequency_hz = EXPLAIN_FREQUENCY_HZ,
				    .stack_size = DOCTOR_STACK_SIZE,
				    .unwind_mode = PUW_MODE_AUTO,
				    .pids = pids,
				    .n_pids = 1};
	struct profile_limits lim;
	struct profile_window *w = NULL;
	struct sampler *s = NULL;
	uint64_t end;
	int r;

	r = sampler_open(&sc, &s);
	if (r < 0)
		return r;
	profile_limits_default(&lim);
	w = profile_window_new(&lim);
	if (!w) {
		sampler_free(s);
		return -ENOMEM;
	}
	(void)sampler_bootstrap(s);
	r = sampler_enable(s);
	if (r < 0)
		goto out;
	profile_window_reset(w, now_monotonic_ns(), now_realtime_ns());
	end = now_monotonic_ns() + seconds * NSEC_PER_SEC;
	while (now_monotonic_ns() < end && !sampler_targets_gone(s)) {
		usleep(50 * 1000);
		sampler_drain(s, w, false);
	}
	sampler_disable(s);
	while (sampler_drain(s, w, true) > 0)
		;
	sampler_get_stats(s, ret_st);
	*ret_n_bs = sampler_binary_stops(s, bs, max_bs);
	/* Paths in bs are borrowed from the sampler: copy them before it goes. */
	for (size_t i = 0; i < *ret_n_bs; i++)
		bs[i].path = strdup(bs[i].path ? bs[i].path : "?");
out:
	profile_window_free(w);
	sampler_free(s);
	return r;
}

int explain_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"duration", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {}};
	struct mapping_list *l;
	struct sampler_stats st;
	struct sampler_binary_stops bs[16];
	size_t n_bs = 0;
	uint64_t seconds = EXPLAIN_DEFAULT_S, pid, unwound = 0;
	char root[64], comm[64];
	int c, r;

	while ((c = getopt_long(argc, argv, "+d:h", longopts, NULL)) >= 0) {
		switch (c) {
		case 'd':
			if (parse_u64(optarg, 0, 600, &seconds) < 0) {
				log_error("explain --duration %s: expected seconds, 0 to 600",
					  optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: perfagent explain [--duration SECONDS] PID\n\n"
			       "Lists the executable mappings of PID with what unwinding and\n"
			       "symbolization will find in each (CFI, symbols, debug info, frame\n"
			       "pointers), then samples PID for SECONDS (default %d) and shows "
			       "where\n"
			       "its user stacks stopped.\n",
			       EXPLAIN_DEFAULT_S);
			return 0;
		default:
			fprintf(stderr, "Try 'perfagent explain --help'.\n");
			return 2;
		}
	}
	if (optind != argc - 1 || parse_u64(argv[optind], 1, INT32_MAX, &pid) < 0) {
		log_error("explain: expected one process id: perfagent explain PID");
		return 2;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return 1;
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	process_name((int)pid, comm, sizeof(comm));
	r = maps_read((int)pid, NULL, collect_exec_mapping, l);
	if (r < 0) {
		log_error_errno(r, "explain: cannot read /proc/%d/maps: %m — %s", (int)pid,
				r == -ENOENT ? "no such process"
					     : "run as root or grant CAP_SYS_PTRACE");
		free(l);
		return 1;
	}
	printf("pid %d (%s): %zu executable files mapped\n\n", (int)pid, comm, l->n + l->more);
	printf("%-5s %-6s %-7s %-6s %-6s %-40s %s\n", "CFI", "SYMS", "DEBUG", "FP", "", "BUILD-ID",
	       "PATH");
	for (size_t i = 0; i < l->n; i++) {
		struct binary_facts f;
		const char *cfi, *syms;

		binary_facts_read(root, l->m[i].path, &f);
		if (f.elf < 0) {
			printf("%-5s %-6s %-7s %-6s %-6s %-40s %s (%s)\n", "-", "-", "-", "-", "",
			       "-", l->m[i].path, strerror(-f.elf));
			continue;
		}
		cfi = f.eh_frame && f.debug_frame ? "both"
		      : f.eh_frame		  ? "eh"
		      : f.debug_frame		  ? "debug"
						  : "none";
		syms = f.symtab ? "symtab" : f.dynsym ? "dynsym" : "none";
		printf("%-5s %-6s %-7s %-6s %-6s %-40s %s\n", cfi, syms,
		       f.debug_info   ? "yes"
		       : f.debug_file ? "file"
				      : "no",
		       fp_word(f.fp), "", f.build_id[0] ? f.build_id : "-", l->m[i].path);
	}
	if (l->more)
		printf("... and %zu more\n", l->more);
	printf("\nCFI: eh = .eh_frame, debug = .debug_frame; SYMS: the symbol table used; DEBUG:\n"
	       ".debug_info in the file, or a separate debug file; FP: functions set up frame\n"
	       "pointers (yes/partly/no)\n");
	mapping_list_done(l);
	free(l);
	fflush(stdout);

	if (seconds == 0)
		return 0;
	r = explain_sample((int)pid, seconds, &st, bs, ARRAY_SIZE(bs), &n_bs);
	if (r < 0) {
		log_error_errno(r, "explain: sampling pid %d failed: %m", (int)pid);
		return 1;
	}
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		unwound += st.stop[i];
	printf("\nUnwinding over %" PRIu64 " s at %d Hz: %" PRIu64 " samples, %" PRIu64
	       " user stacks, %.1f frames on average\nstop reasons:",
	       seconds, EXPLAIN_FREQUENCY_HZ, st.samples, unwound,
	       unwound ? (double)st.user_frames / (double)unwound : 0.0);
	for (int i = 0; i < _PUW_STOP_MAX; i++)
		if (st.stop[i])
			printf(" %s %" PRIu64 " (%.1f%%)", puw_stop_name(i), st.stop[i],
			       100.0 * (double)st.stop[i] / (double)unwound);
	printf("%s\n", unwound ? "" : " none (the process used no CPU)");
	for (size_t i = 0; i < n_bs; i++) {
		printf("  cut short in %s: %" PRIu64 ":", bs[i].path, bs[i].total);
		for (int k = 0; k < _PUW_STOP_MAX; k++)
			if (bs[i].stop[k])
				printf(" %s %" PRIu64, puw_stop_name(k), bs[i].stop[k]);
		printf("\n");
		free((char *)bs[i].path);
	}
	return 0;
}
