/*
 * workload-exits SECONDS: burn SECONDS (default 1) in a distinctively named function, exit.
 *
 * main -> burn_until_exit -> spin_short_lived. The process is gone long before the
 * profiler's window closes: the test checks that its samples are still there, attributed
 * to its pid and comm and symbolized, i.e. that the profiler resolves a sample against the
 * mappings that existed when it was taken, not against a /proc entry that no longer exists.
 */
#include <stdint.h>
#include <stdio.h>

#include "workload.h"

WORKLOAD_NOINLINE static uint64_t spin_short_lived(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0x5e));
	return x;
}

WORKLOAD_NOINLINE static void burn_until_exit(uint64_t duration_ns)
{
	uint64_t deadline = workload_now_ns() + duration_ns;

	do
		workload_sink += spin_short_lived(WORKLOAD_SLICE_ITERS);
	while (workload_now_ns() < deadline);
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
		return 2;
	}
	burn_until_exit(argc == 2 ? workload_parse_seconds_ns(argv[0], argv[1]) : 1000000000u);
	return workload_sink == 0; /* 0 in practice; uses the result after the call */
}
