/*
 * bench-burn SECONDS [THREADS [DEPTH]]: keep THREADS CPUs busy (default: all online CPUs)
 * for SECONDS, each thread spinning at the bottom of a call stack DEPTH frames deep
 * (default 24), so that a sampler's per-sample cost includes unwinding stacks of a realistic
 * depth, not just main -> leaf.
 *
 * The recursion goes through three functions in turn (descend_a -> descend_b -> descend_c
 * -> descend_a ...), none inlined, none a tail call, and each with its own constant so that
 * identical code folding (-fipa-icf, on at -O2) cannot merge them: the stack really has DEPTH
 * frames of three different functions. Build with -fno-omit-frame-pointer (bench.mk does).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

static volatile uint64_t sink;
static uint64_t deadline_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

NOINLINE static uint64_t spin_bottom(uint64_t n)
{
	uint64_t x = n;

	sink += (uintptr_t)__builtin_frame_address(0) & 1; /* a frame even in a leaf */
	for (uint64_t i = 0; i < n; i++) {
		x = x * UINT64_C(6364136223846793005) + 1;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static uint64_t descend_a(int depth);

NOINLINE static uint64_t descend_c(int depth)
{
	uint64_t r = depth > 0 ? descend_a(depth - 1) : spin_bottom(UINT64_C(1) << 20);

	sink += r ^ 0xc;
	return r;
}

NOINLINE static uint64_t descend_b(int depth)
{
	uint64_t r = depth > 0 ? descend_c(depth - 1) : spin_bottom(UINT64_C(1) << 20);

	sink += r ^ 0xb;
	return r;
}

NOINLINE static uint64_t descend_a(int depth)
{
	uint64_t r = depth > 0 ? descend_b(depth - 1) : spin_bottom(UINT64_C(1) << 20);

	sink += r ^ 0xa;
	return r;
}

static int depth = 24;

static void *burn_thread(void *arg)
{
	(void)arg;
	/* The thread's start routine and the libc frames above it make up the rest. */
	while (now_ns() < deadline_ns)
		descend_a(depth - 3);
	return NULL;
}

int main(int argc, char **argv)
{
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *threads;
	double seconds;
	int r;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s SECONDS [THREADS [DEPTH]]\n", argv[0]);
		return 2;
	}
	seconds = strtod(argv[1], NULL);
	if (argc > 2)
		nthreads = strtol(argv[2], NULL, 10);
	if (argc > 3)
		depth = (int)strtol(argv[3], NULL, 10);
	if (seconds <= 0 || nthreads < 1 || nthreads > 4096 || depth < 4 || depth > 10000) {
		fprintf(stderr, "%s: invalid arguments\n", argv[0]);
		return 2;
	}
	deadline_ns = now_ns() + (uint64_t)(seconds * 1e9);
	threads = calloc(nthreads, sizeof(*threads));
	if (!threads)
		return 1;
	for (long i = 0; i < nthreads; i++) {
		r = pthread_create(&threads[i], NULL, burn_thread, NULL);
		if (r) {
			fprintf(stderr, "bench-burn: pthread_create: %s\n", strerror(r));
			return 1;
		}
	}
	for (long i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return 0;
}
