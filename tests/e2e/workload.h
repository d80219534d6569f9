/*
 * Helpers shared by the end-to-end workloads (tests/e2e/workload-*.c).
 *
 * A workload is a small CPU-bound program whose stacks the tests know in advance: every
 * function on the hot path is noinline, has a distinctive name, and the leaf spins in a loop
 * long enough that a sample almost never lands in a prologue, an epilogue or the vDSO (clock
 * reads happen once per slice, outside the leaf). The workloads are built with
 * -O2 -fno-omit-frame-pointer; the code does not rely on that for correctness.
 *
 * Two compiler optimisations would silently change the stacks the tests expect, so the
 * workloads defeat them in the source rather than through flags (a user's CFLAGS come last):
 *  - sibling calls: "return leaf(n);" becomes a jmp and the caller vanishes from the stack.
 *    Every call on the hot path is followed by work (workload_sink), so it is never a tail call;
 *  - identical code folding (-fipa-icf, on at -O2): two leaves with the same body would be
 *    merged into one symbol. Every leaf passes its own constant to workload_step().
 *
 * And one default would hide a caller from a frame-pointer unwinder: GCC omits the frame
 * pointer in leaf functions on x86-64 even with -fno-omit-frame-pointer (the
 * -momit-leaf-frame-pointer default), so while a leaf runs, %rbp still points at its caller's
 * frame and an FP walk goes straight to the caller's caller. Every leaf starts with
 * WORKLOAD_LEAF_FRAME(), which makes the compiler set up a frame whatever the architecture,
 * compiler or flags: the expected stacks are complete for the FP and the CFI unwinders alike.
 */
#ifndef PERFAGENT_TESTS_E2E_WORKLOAD_H
#define PERFAGENT_TESTS_E2E_WORKLOAD_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* noclone too: GCC would otherwise specialise a leaf always called with the same count into
 * "spin_x.constprop.0", and the tests look for the plain name. */
#if defined(__clang__)
#define WORKLOAD_NOINLINE __attribute__((noinline))
#else
#define WORKLOAD_NOINLINE __attribute__((noinline, noclone))
#endif

/* Iterations per slice: 2^20 dependent multiply-adds, about 1-3 ms on current x86-64 and
 * arm64 cores, so a clock read between slices is a negligible fraction of the time. */
#define WORKLOAD_SLICE_ITERS (UINT64_C(1) << 20)

/* Results go here so the loops are not dead code; volatile so every store happens. */
static volatile uint64_t workload_sink;

/* Asking for the frame address forces a frame (push fp; mov sp, fp) in the prologue. */
#define WORKLOAD_LEAF_FRAME() (workload_sink += (uintptr_t)__builtin_frame_address(0) & 1)

/* One step of a 64-bit linear congruential generator. The empty asm hides the value from the
 * optimiser so the loop is neither vectorised nor folded into a closed form, and each
 * iteration costs the same in every leaf (a multiply-add latency chain). */
static inline __attribute__((always_inline)) uint64_t workload_step(uint64_t x, uint64_t k)
{
	x = x * UINT64_C(6364136223846793005) + k;
	__asm__ volatile("" : "+r"(x));
	return x;
}

static inline uint64_t workload_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parse a duration in seconds (decimals allowed) or exit with a usage error. */
static inline uint64_t workload_parse_seconds_ns(const char *prog, const char *arg)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno || end == arg || *end || s < 0 || s > 86400) {
		fprintf(stderr, "%s: invalid duration '%s' (seconds, 0..86400)\n", prog, arg);
		exit(2);
	}
	return (uint64_t)(s * 1e9);
}

#endif
