/*
 * workload-exitstatus SECONDS CODE: burn SECONDS, then exit with status CODE.
 *
 * main -> burn_before_status -> spin_exit_status. Used by the `perfagent -- CMD` test: the
 * daemon must exit with its command's status and profile the command's functions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "workload.h"

WORKLOAD_NOINLINE static uint64_t spin_exit_status(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0x42));
	return x;
}

WORKLOAD_NOINLINE static void burn_before_status(uint64_t duration_ns)
{
	uint64_t deadline = workload_now_ns() + duration_ns;

	do
		workload_sink += spin_exit_status(WORKLOAD_SLICE_ITERS);
	while (workload_now_ns() < deadline);
}

int main(int argc, char **argv)
{
	char *end;
	long code;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SECONDS CODE\n", argv[0]);
		return 2;
	}
	code = strtol(argv[2], &end, 10);
	if (end == argv[2] || *end || code < 0 || code > 255) {
		fprintf(stderr, "%s: invalid exit code '%s' (0..255)\n", argv[0], argv[2]);
		return 2;
	}
	burn_before_status(workload_parse_seconds_ns(argv[0], argv[1]));
	exit((int)code);
}
