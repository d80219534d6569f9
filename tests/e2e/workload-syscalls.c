/*
 * workload-syscalls SECONDS: alternates between the kernel and the vDSO.
 *
 * main -> burn_syscalls -> {getppid system calls, clock_gettime through the vDSO}. The
 * samples land in kernel functions (named from /proc/kallsyms) and in the [vdso] mapping
 * (named from the agent's own copy of the vDSO image), which is what symbols-kernel.sh
 * checks; the exact kernel functions differ between kernels and are not checked.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

WORKLOAD_NOINLINE static uint64_t enter_kernel(unsigned n)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < n; i++)
		x += (uint64_t)syscall(SYS_getppid);
	return x;
}

WORKLOAD_NOINLINE static uint64_t read_clock(unsigned n)
{
	struct timespec ts;
	uint64_t x = 0;

	for (unsigned i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x += (uint64_t)ts.tv_nsec;
	}
	return x;
}

WORKLOAD_NOINLINE static void burn_syscalls(uint64_t duration_ns)
{
	uint64_t deadline = workload_now_ns() + duration_ns;

	do {
		workload_sink += enter_kernel(2000);
		workload_sink += read_clock(20000);
	} while (workload_now_ns() < deadline);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	burn_syscalls(workload_parse_seconds_ns(argv[0], argv[1]));
	return workload_sink == 0;
}
