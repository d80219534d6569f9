/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symbol fixture in C: main -> TAG_outer -> TAG_leaf, burning CPU for the given seconds. Built
 * several times with a different TAG (-DTAG=...) so each build's names say which lookup path
 * (debug file by build-id, .gnu_debuglink, MiniDebugInfo) had to find them.
 */
#include <stdlib.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define LEAF CAT(TAG, _leaf)
#define OUTER CAT(TAG, _outer)

static volatile unsigned long sink;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Local (static) on purpose: only .symtab names it, never .dynsym. */
static __attribute__((noinline, noclone)) unsigned long LEAF(unsigned long n)
{
	unsigned long s = 0;

	for (unsigned long i = 0; i < n; i++)
		s += (i * 2654435761u) ^ (s >> 7);
	return s;
}

static __attribute__((noinline, noclone)) void OUTER(double seconds)
{
	double end = now_s() + seconds;

	while (now_s() < end)
		sink += LEAF(200000);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	OUTER(argc > 1 ? atof(argv[1]) : 1.0);
	return 0;
}
