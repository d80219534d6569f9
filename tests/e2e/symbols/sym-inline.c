/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inline fixture: mix() is inlined into two different callers, caller_a() and caller_b().
 * Built with -g: each sample in mix's code must come back as two Lines, mix (with its source
 * line) inside caller_a or caller_b (with the line of the call).
 */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline __attribute__((always_inline)) unsigned long mix(unsigned long n, unsigned long k)
{
	unsigned long s = k;

	for (unsigned long i = 0; i < n; i++)
		s = (s ^ (i * 0x9e3779b97f4a7c15ul)) * 31 + (s >> 11);
	return s;
}

__attribute__((noinline)) unsigned long caller_a(unsigned long n)
{
	unsigned long r = mix(n, 1);

	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) unsigned long caller_b(unsigned long n)
{
	unsigned long r = mix(n, 2);

	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	double end = now_s() + (argc > 1 ? atof(argv[1]) : 1.0);

	while (now_s() < end) {
		sink += caller_a(100000);
		sink += caller_b(100000);
	}
	return 0;
}
