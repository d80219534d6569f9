/*
 * workload-threads SECONDS: three named threads, each burning its own function.
 *
 * Thread "worker-a" runs worker_main -> burn_worker_a -> spin_worker_a, "worker-b" the _b
 * functions and "worker-c" the _c ones, for SECONDS; the main thread only sleeps and joins.
 * Each thread names itself before it starts burning (and all wait for each other), so no
 * sample of a burn function is taken under the inherited name. The tests check that each
 * thread's samples carry its name and tid and its own functions only.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workload.h"

#define NTHREADS 3

WORKLOAD_NOINLINE static uint64_t spin_worker_a(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0x1a));
	return x;
}

WORKLOAD_NOINLINE static uint64_t spin_worker_b(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0x2b));
	return x;
}

WORKLOAD_NOINLINE static uint64_t spin_worker_c(uint64_t n)
{
	uint64_t x = n;

	WORKLOAD_LEAF_FRAME();
	for (uint64_t i = 0; i < n; i++)
		x = workload_step(x, UINT64_C(0x3c));
	return x;
}

WORKLOAD_NOINLINE static void burn_worker_a(uint64_t n)
{
	workload_sink += spin_worker_a(n);
}

WORKLOAD_NOINLINE static void burn_worker_b(uint64_t n)
{
	workload_sink += spin_worker_b(n);
}

WORKLOAD_NOINLINE static void burn_worker_c(uint64_t n)
{
	workload_sink += spin_worker_c(n);
}

static const struct worker_def {
	const char *name; /* at most 15 characters: the kernel's comm limit */
	void (*burn)(uint64_t n);
} worker_defs[NTHREADS] = {
	{"worker-a", burn_worker_a},
	{"worker-b", burn_worker_b},
	{"worker-c", burn_worker_c},
};

static atomic_bool stop;
static pthread_barrier_t named;

WORKLOAD_NOINLINE static void *worker_main(void *arg)
{
	const struct worker_def *def = arg;
	int r;

	r = pthread_setname_np(pthread_self(), def->name);
	if (r)
		fprintf(stderr, "workload-threads: naming %s: %s\n", def->name, strerror(r));
	pthread_barrier_wait(&named);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		def->burn(WORKLOAD_SLICE_ITERS);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[NTHREADS];
	struct timespec ts;
	uint64_t duration_ns;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	duration_ns = workload_parse_seconds_ns(argv[0], argv[1]);
	pthread_barrier_init(&named, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		r = pthread_create(&threads[i], NULL, worker_main, (void *)&worker_defs[i]);
		if (r) {
			fprintf(stderr, "workload-threads: pthread_create: %s\n", strerror(r));
			return 1;
		}
	}
	ts.tv_sec = duration_ns / 1000000000u;
	ts.tv_nsec = duration_ns % 1000000000u;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	printf("workload-threads: done\n");
	return 0;
}
