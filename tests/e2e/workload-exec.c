/*
 * workload-exec BEFORE AFTER [PROGRAM]: burn BEFORE seconds, then exec PROGRAM AFTER.
 *
 * Before the exec the process burns in main -> burn_before_exec -> spin_before_exec; then
 * it replaces itself (same pid) with PROGRAM, by default workload-shares from the same
 * directory, which burns AFTER seconds in its own functions. The test checks that every
 * sample is attributed to the executable that was running when it was taken, with that
 * executable's function names: nothing of the old image after the exec, nothing of the new
 * one before.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

WORKLOAD_NOINLINE static uint64_t spin_before_exec(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0xe0));
	return x;
}

WORKLOAD_NOINLINE static void burn_before_exec(uint64_t duration_ns)
{
	uint64_t deadline = workload_now_ns() + duration_ns;

	do
		workload_sink += spin_before_exec(WORKLOAD_SLICE_ITERS);
	while (workload_now_ns() < deadline);
}

/* PROGRAM defaults to workload-shares beside this executable. */
static int default_program(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n < 0)
		return -1;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash || (size_t)(slash - buf) + sizeof("/workload-shares") > size)
		return -1;
	strcpy(slash, "/workload-shares");
	return 0;
}

int main(int argc, char **argv)
{
	char program[PATH_MAX];

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s BEFORE_SECONDS AFTER_SECONDS [PROGRAM]\n", argv[0]);
		return 2;
	}
	workload_parse_seconds_ns(argv[0], argv[2]);
	if (argc == 4) {
		snprintf(program, sizeof(program), "%s", argv[3]);
	} else if (default_program(program, sizeof(program)) < 0) {
		perror("workload-exec: /proc/self/exe");
		return 1;
	}
	burn_before_exec(workload_parse_seconds_ns(argv[0], argv[1]));
	fflush(stdout);
	execv(program, (char *[]){program, argv[2], NULL});
	fprintf(stderr, "workload-exec: exec %s: %s\n", program, strerror(errno));
	return 1;
}
