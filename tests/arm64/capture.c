/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot capture for the arm64 fixtures: see capture.h for what a capture holds and how
 * the expected chain is cut out of _Unwind_Backtrace's answer.
 *
 * Everything a capture touches is preallocated (static buffers, fixed caps) and the file is
 * written with write(2): the capture runs in a signal handler. /proc/self/maps is re-read at
 * every capture; under qemu-user that file is qemu's rendering of the guest's view, with the
 * host paths of the files it opened (the -L sysroot prefix included).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

#include "capture.h"

#if !defined(__aarch64__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the arm64 fixtures are built for little-endian aarch64 only"
#endif

/* tests/lib/snapshot.h, restated: this file is cross-compiled and does not include it. */
#define SNAP_MAGIC "PUWSNAP1"
#define SNAP_ARCH_AARCH64 1u /* enum puw_arch: PUW_ARCH_X86_64 = 0, PUW_ARCH_AARCH64 = 1 */
#define SNAP_F_EXPECTED_IS_RA 1u
#define SNAP_REGS 33	    /* PUW_REGS_MAX: x0..x30 = 0..30, sp = 31, pc = 32 */
#define SNAP_MAX_MODULES 64 /* of this process: well under the format's 4096 */
#define SNAP_MAX_EXPECTED 1024

#define MAX_STACK_BYTES (256 * 1024)
#define MAPS_BUF_BYTES (128 * 1024)
#define PATH_BYTES 512
#define OUT_BUF_BYTES                                                                              \
	(MAX_STACK_BYTES + SNAP_MAX_MODULES * (PATH_BYTES + 128) + SNAP_MAX_EXPECTED * 8 + 4096)
#define MAX_OBJECTS 64
#define BUILD_ID_HEX 128

/*
 * User space on Linux arm64 has at most 48 address bits here; the pointer-authentication
 * code of a signed return address sits above them (qemu-user configures 48-bit VAs too).
 */
#define VA_MASK ((UINT64_C(1) << 48) - 1)

/* A64 "movz x8, #139" (__NR_rt_sigreturn) and "svc #0": the rt_sigreturn trampoline. */
#define INSN_MOV_X8_SIGRETURN 0xd2801168u
#define INSN_SVC_0 0xd4000001u

struct module {
	uint64_t start, end, pgoff;
	const char *path; /* into maps_buf, or a literal */
	size_t path_len;
	const char *build_id;
};

/* A loaded object's executable segments and build ID, from dl_iterate_phdr(). */
struct object {
	uint64_t start, end;
	char build_id[BUILD_ID_HEX + 1];
};

static size_t stack_bytes;
static int out_fd = -1;
static char scenario[64];
static unsigned n_captures, n_no_expected, n_failed;
static volatile sig_atomic_t sampling, in_capture;
static unsigned sampling_max;

static struct object objects[MAX_OBJECTS];
static unsigned n_objects;

static char maps_buf[MAPS_BUF_BYTES];
static struct module modules[SNAP_MAX_MODULES];
static uint64_t backtrace_ips[SNAP_MAX_EXPECTED + 64];
static unsigned n_backtrace_ips;
static uint8_t out_buf[OUT_BUF_BYTES];
static size_t out_len;

static void put(const void *p, size_t n)
{
	if (out_len + n > sizeof(out_buf)) {
		out_len = sizeof(out_buf) + 1; /* poisoned: checked before writing out */
		return;
	}
	memcpy(out_buf + out_len, p, n);
	out_len += n;
}

static void put_u16(uint16_t v)
{
	put(&v, sizeof(v)); /* little-endian host: the in-memory form is the file's */
}

static void put_u32(uint32_t v)
{
	put(&v, sizeof(v));
}

static void put_u64(uint64_t v)
{
	put(&v, sizeof(v));
}

/* Pads the output to a multiple of 8 bytes from the start of the snapshot. */
static void put_pad8(void)
{
	static const uint8_t zero[8];

	put(zero, (8 - out_len % 8) % 8);
}

static int build_id_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct object *o;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	(void)data;
	if (n_objects == MAX_OBJECTS)
		return 1;
	o = &objects[n_objects];
	o->build_id[0] = '\0';
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			uint64_t s = info->dlpi_addr + ph->p_vaddr;

			if (s < lo)
				lo = s;
			if (s + ph->p_memsz > hi)
				hi = s + ph->p_memsz;
		}
		if (ph->p_type == PT_NOTE) {
			const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
			const uint8_t *end = p + ph->p_memsz;

			/* Elf64_Nhdr {namesz, descsz, type}, name and desc each padded to 4. */
			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
				const uint8_t *name = p + sizeof(*nh);
				const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);

				if (desc + nh->n_descsz > end)
					break;
				if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
				    memcmp(name, "GNU", 4) == 0 &&
				    nh->n_descsz * 2 <= BUILD_ID_HEX) {
					for (unsigned j = 0; j < nh->n_descsz; j++)
						snprintf(o->build_id + 2 * j, 3, "%02x", desc[j]);
				}
				p = desc + ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	if (lo < hi) {
		o->start = lo;
		o->end = hi;
		n_objects++;
	}
	return 0;
}

static const char *build_id_of(uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < n_objects; i++)
		if (start < objects[i].end && objects[i].start < end && objects[i].build_id[0])
			return objects[i].build_id;
	return "";
}

static uint64_t parse_hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

/*
 * Reads /proc/self/maps; keeps the executable mappings and finds the end of the mapping
 * holding addr (the stack's, for a capture).
 *
 * The signal-return trampoline tramp names its mapping "[sigtramp]" when the mapping is
 * anonymous, starts at tramp, and tramp really is "movz x8, #139; svc #0": qemu-user before
 * 8.1 writes those two instructions at the start of an anonymous page of its own (Linux puts
 * __kernel_rt_sigreturn in the named [vdso]). The replay has no other way to know the page
 * is a trampoline, and relies on it starting there.
 */
static int read_maps(uint64_t addr, uint64_t tramp, unsigned *ret_n, uint64_t *ret_end)
{
	size_t len = 0;
	unsigned n = 0;
	uint64_t addr_end = 0;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, maps_buf + len, sizeof(maps_buf) - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof(maps_buf) - 1) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	maps_buf[len] = '\0';

	/* "start-end perms offset dev inode   path" */
	for (char *line = maps_buf; *line;) {
		char *eol = strchr(line, '\n');
		const char *p = line;
		uint64_t start, end, pgoff;
		char perms[5];
		char *path;

		if (eol)
			*eol = '\0';
		start = parse_hex(&p);
		p++;
		end = parse_hex(&p);
		p++;
		memcpy(perms, p, 4);
		perms[4] = '\0';
		p += 5;
		pgoff = parse_hex(&p);
		/* Skip dev and inode to the path (or the end of the line). */
		for (int field = 0; field < 2; field++) {
			while (*p == ' ')
				p++;
			while (*p && *p != ' ')
				p++;
		}
		while (*p == ' ')
			p++;
		path = (char *)p;

		if (addr >= start && addr < end)
			addr_end = end;
		if (perms[2] == 'x' && n < SNAP_MAX_MODULES) {
			struct module *m = &modules[n++];

			m->start = start;
			m->end = end;
			m->pgoff = pgoff;
			m->path = path;
			m->path_len = strlen(path);
			if (m->path_len > PATH_BYTES)
				m->path_len = PATH_BYTES;
			m->build_id = m->path_len ? build_id_of(start, end) : "";
			if (m->path_len == 0 && tramp == start && tramp + 8 <= end &&
			    ((const uint32_t *)tramp)[0] == INSN_MOV_X8_SIGRETURN &&
			    ((const uint32_t *)tramp)[1] == INSN_SVC_0) {
				m->path = "[sigtramp]";
				m->path_len = strlen(m->path);
			}
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	*ret_n = n;
	*ret_end = addr_end;
	return 0;
}

/*
 * glibc's _start marks x30 undefined (DW_CFA_undefined), the DWARF end of the chain; libgcc
 * (GCC 11 and later) still calls back once more with IP 0 after it: the end, not a frame.
 */
static _Unwind_Reason_Code backtrace_cb(struct _Unwind_Context *ctx, void *arg)
{
	uint64_t ip = _Unwind_GetIP(ctx);

	(void)arg;
	if (ip == 0 || n_backtrace_ips == sizeof(backtrace_ips) / sizeof(backtrace_ips[0]))
		return _URC_END_OF_STACK;
	backtrace_ips[n_backtrace_ips++] = ip;
	return _URC_NO_REASON;
}

/*
 * The expected chain: after the frame whose IP is the trampoline the capturing handler
 * returns to, the interrupted pc, then return addresses. Returns the index of the
 * interrupted frame in backtrace_ips, or -1 when libgcc's answer does not have that shape.
 */
static int expected_chain(uint64_t tramp, uint64_t pc)
{
	n_backtrace_ips = 0;
	_Unwind_Backtrace(backtrace_cb, NULL);
	for (unsigned i = 0; i + 1 < n_backtrace_ips; i++)
		if ((backtrace_ips[i] & VA_MASK) == tramp)
			return backtrace_ips[i + 1] == pc ? (int)i + 1 : -1;
	return -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One snapshot of the context uc, interrupted by a signal whose handler returns to tramp. */
static int capture(const ucontext_t *uc, uint64_t tramp)
{
	const mcontext_t *mc = &uc->uc_mcontext;
	uint64_t sp = mc->sp, stack_end = 0, size;
	unsigned n_mod = 0, n_exp = 0;
	struct timespec ts;
	int first, r;

	r = read_maps(sp, tramp, &n_mod, &stack_end);
	if (r < 0)
		return r;
	if (stack_end <= sp)
		return -ERANGE;
	size = stack_end - sp < stack_bytes ? stack_end - sp : stack_bytes;

	first = expected_chain(tramp, mc->pc);
	if (first >= 0) {
		n_exp = n_backtrace_ips - (unsigned)first;
		if (n_exp > SNAP_MAX_EXPECTED)
			n_exp = SNAP_MAX_EXPECTED;
	}

	out_len = 0;
	put(SNAP_MAGIC, 8);
	put_u32(SNAP_ARCH_AARCH64);
	put_u32(SNAP_F_EXPECTED_IS_RA);
	put_u64((UINT64_C(1) << SNAP_REGS) - 1);
	for (int i = 0; i < 31; i++)
		put_u64(mc->regs[i]);
	put_u64(mc->sp);
	put_u64(mc->pc);
	put_u64(sp);
	put_u64(size);
	put((const void *)sp, size);
	put_pad8();
	put_u32(n_mod);
	for (unsigned i = 0; i < n_mod; i++) {
		const struct module *m = &modules[i];
		size_t bid = strlen(m->build_id);

		put_u64(m->start);
		put_u64(m->end);
		put_u64(m->pgoff);
		put_u16((uint16_t)m->path_len);
		put(m->path, m->path_len);
		put_u16((uint16_t)bid);
		put(m->build_id, bid);
		put_pad8();
	}
	put_u32(n_exp);
	put_u32(0);
	for (unsigned i = 0; i < n_exp; i++)
		put_u64(backtrace_ips[(unsigned)first + i]);
	put_u32((uint32_t)getpid());
	put_u32((uint32_t)syscall(SYS_gettid));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	put_u64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	if (out_len > sizeof(out_buf))
		return -ENOBUFS;

	r = write_all(out_fd, out_buf, out_len);
	if (r < 0)
		return r;
	n_captures++;
	if (n_exp == 0)
		n_no_expected++;
	return 0;
}

static void handler(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	int saved_errno = errno;
	/* Where this handler returns: the rt_sigreturn trampoline (x30 as the kernel set it). */
	uint64_t tramp = (uint64_t)(uintptr_t)__builtin_return_address(0) & VA_MASK;

	(void)si;
	if (sig == SIGTRAP &&
	    *(const uint32_t *)(uintptr_t)uc->uc_mcontext.pc != CAPTURE_BRK_INSN) {
		/* Not ours: the default action reports it when the instruction runs again. */
		signal(SIGTRAP, SIG_DFL);
		goto out;
	}
	if (sig == SIGPROF && n_captures >= sampling_max)
		sampling = 0;
	if (out_fd >= 0 && !in_capture && (sig == SIGTRAP || sampling)) {
		in_capture = 1;
		if (capture(uc, tramp) < 0)
			n_failed++;
		in_capture = 0;
	}
	/* Resume after the BRK. */
	if (sig == SIGTRAP)
		uc->uc_mcontext.pc += 4;
out:
	errno = saved_errno;
}

int capture_init(size_t bytes)
{
	struct sigaction sa;

	if (bytes == 0 || bytes > MAX_STACK_BYTES)
		return -EINVAL;
	stack_bytes = bytes;

	n_objects = 0;
	dl_iterate_phdr(build_id_cb, NULL);

	/* Resolve _Unwind_Backtrace's PLT slot and warm libgcc up outside any handler. */
	n_backtrace_ips = 0;
	_Unwind_Backtrace(backtrace_cb, NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	/* A capture must not be interrupted by the fixture's own asynchronous signals. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGPROF);
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaddset(&sa.sa_mask, SIGUSR1);
	if (sigaction(SIGTRAP, &sa, NULL) < 0 || sigaction(SIGPROF, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * Writes the vDSO image to DIR/vdso.so, where replay-arm64 looks for the file of a "[vdso]"
 * module (it checks the build ID): on Linux, and in qemu-user from 8.1, the handler returns
 * to __kernel_rt_sigreturn in the vDSO, whose CFI and symbol the replay needs. The image is
 * a whole ELF file, mapped from its first byte (the kernel's vdso.lds, qemu's likewise).
 */
static int dump_vdso(const char *dir)
{
	const uint8_t *p = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
	uint64_t start = (uint64_t)(uintptr_t)p, end = 0;
	char path[4096];
	unsigned n;
	int fd, r;

	if (!p)
		return 0; /* qemu-user before 8.1: no vDSO */
	r = read_maps(start, 0, &n, &end);
	if (r < 0)
		return r;
	if (end <= start)
		return -ERANGE;
	snprintf(path, sizeof(path), "%s/vdso.so", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, p, end - start);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int capture_begin(const char *dir, const char *name)
{
	char path[4096];
	int r;

	if (out_fd >= 0)
		return -EBUSY;
	r = dump_vdso(dir);
	if (r < 0)
		return r;
	snprintf(scenario, sizeof(scenario), "%s", name);
	snprintf(path, sizeof(path), "%s/%s.snap", dir, name);
	out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0)
		return -errno;
	n_captures = n_no_expected = n_failed = 0;
	/* Objects loaded since the last scenario get their build IDs. */
	n_objects = 0;
	dl_iterate_phdr(build_id_cb, NULL);
	return 0;
}

int capture_end(void)
{
	int r = 0;

	capture_sampling_stop();
	if (out_fd < 0)
		return -EBADF;
	if (close(out_fd) < 0)
		r = -errno;
	out_fd = -1;
	printf("%s: %u snapshots, %u without an expected chain, %u failed captures\n", scenario,
	       n_captures, n_no_expected, n_failed);
	fflush(stdout);
	if (r == 0 && n_failed > 0)
		r = -EIO;
	return r;
}

int capture_sampling_start(unsigned hz, unsigned max)
{
	struct itimerval it = {0};

	if (hz == 0 || hz > 100000)
		return -EINVAL;
	sampling_max = n_captures + max;
	sampling = 1;
	it.it_interval.tv_usec = (suseconds_t)(1000000 / hz);
	it.it_value = it.it_interval;
	if (setitimer(ITIMER_PROF, &it, NULL) < 0)
		return -errno;
	return 0;
}

void capture_sampling_stop(void)
{
	struct itimerval it = {0};

	sampling = 0;
	setitimer(ITIMER_PROF, &it, NULL);
}

unsigned capture_count(void)
{
	return n_captures;
}
