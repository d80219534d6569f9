/*
 * workload-shares SECONDS: burn one CPU for SECONDS in known proportions.
 *
 * The stacks are main -> run -> dispatch -> burn_{a,b,c} -> spin_{alpha,beta,gamma}, and
 * the three leaves take 60 %, 30 % and 10 % of the CPU time. The shares come from iteration
 * counts (6:3:1 per round, every iteration costing the same), not from clock reads, so they
 * hold whatever the CPU speed or the load. A round lasts a few milliseconds and its length is
 * randomised (0.5x to 1.5x), so a sampler running at a fixed frequency cannot lock onto the
 * rhythm of the rounds and every window of a second or more sees the designed shares.
 *
 * Clock reads happen once per round, in run(), never in a leaf.
 */
#include <stdint.h>
#include <stdio.h>

#include "workload.h"

/* Iterations of one tenth of a round: about 0.3-0.7 ms. */
#define ROUND_UNIT_ITERS (UINT64_C(1) << 18)

WORKLOAD_NOINLINE static uint64_t spin_alpha(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0xa1));
	return x;
}

WORKLOAD_NOINLINE static uint64_t spin_beta(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0xb2));
	return x;
}

WORKLOAD_NOINLINE static uint64_t spin_gamma(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0xc3));
	return x;
}

/* Each burn_* stores its leaf's result after the call, so the call is not a tail call and
 * burn_* stays on the stack. */
WORKLOAD_NOINLINE static void burn_a(uint64_t n)
{
	workload_sink += spin_alpha(n);
}

WORKLOAD_NOINLINE static void burn_b(uint64_t n)
{
	workload_sink += spin_beta(n);
}

WORKLOAD_NOINLINE static void burn_c(uint64_t n)
{
	workload_sink += spin_gamma(n);
}

/* One round: 6 + 3 + 1 units. */
WORKLOAD_NOINLINE static void dispatch(uint64_t unit)
{
	burn_a(6 * unit);
	burn_b(3 * unit);
	burn_c(unit);
	workload_sink++;
}

WORKLOAD_NOINLINE static uint64_t run(uint64_t duration_ns)
{
	uint64_t deadline = workload_now_ns() + duration_ns;
	uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t rounds = 0;

	do {
		/* xorshift64: the round length varies between 0.5 and 1.5 times the unit. */
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		dispatch(ROUND_UNIT_ITERS / 2 + rng % ROUND_UNIT_ITERS);
		rounds++;
	} while (workload_now_ns() < deadline);
	return rounds;
}

int main(int argc, char **argv)
{
	uint64_t rounds;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	rounds = run(workload_parse_seconds_ns(argv[0], argv[1]));
	/* Printing after run() also keeps main -> run from being a tail call. */
	printf("workload-shares: %llu rounds\n", (unsigned long long)rounds);
	return 0;
}
