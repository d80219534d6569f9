/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fixture OUTDIR [SCENARIO...]: the arm64 C unwind fixture. Cross-compiled in several
 * variants (frame pointers or not, PAC-signed return addresses or not: tests/arm64/arm64.mk)
 * and run under qemu-aarch64; each scenario writes OUTDIR/SCENARIO.snap, snapshots of known
 * stacks with the chain libgcc's unwinder expects (tests/arm64/capture.h).
 *
 * Scenarios (all by default):
 *   recursion  self and mutual recursion, 1 to 900 frames deep, captured at the bottom
 *   leaf       a frameless leaf (its caller only in x30), and the first instruction of a
 *              function before any prologue (x30 signed there in the PAC variants)
 *   stale-lr   a non-leaf right after a call returned: x30 still points into the function
 *              itself, a case no frame-pointer heuristic can tell from a leaf (CFI can)
 *   same-site  the frameless base case of a recursion: x30 equals the return address the
 *              caller saved, so a frame-pointer unwinder takes the leaf for a saved frame
 *   vla        variable-length array and alloca frames (SP moved at run time), captured in
 *              the frame and in a leaf below it
 *   qsort      a comparator called by libc's qsort, itself called through the PLT
 *   signal     a handler interrupting code asynchronously (SIGALRM) and synchronously
 *              (raise), captured inside the handler: the chain crosses the rt_sigreturn
 *              trampoline into the interrupted frame
 *   sampled    SIGPROF at 1 kHz over a mix of the above: captures at arbitrary instructions
 *
 * Every function on a captured path is noinline/noclone and does work after each call, so
 * no call becomes a tail call and no frame is folded away (see tests/e2e/workload.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline, noclone))

#define STACK_COPY_BYTES (64 * 1024)

static volatile uint64_t sink;

/* ---- recursion ----------------------------------------------------------------------- */

/* The bottom of the recursion: a frameless leaf, called from a call site of its own. */
NOINLINE static uint64_t rec_bottom(uint64_t x)
{
	CAPTURE_HERE();
	return x * 5 + 1;
}

NOINLINE static uint64_t rec_self(unsigned n)
{
	uint64_t r;

	if (n == 0) {
		r = rec_bottom(sink);
		sink += r;
		return r + 1;
	}
	r = rec_self(n - 1);
	sink += r;
	return r + n;
}

NOINLINE static uint64_t rec_b(unsigned n);

/* A bigger frame than rec_b's, so the two alternate frame sizes. */
NOINLINE static uint64_t rec_a(unsigned n)
{
	volatile uint8_t pad[40];
	uint64_t r;

	pad[n % 40] = (uint8_t)n;
	if (n == 0) {
		CAPTURE_HERE();
		return pad[0];
	}
	r = rec_b(n - 1);
	sink += r;
	return r + pad[n % 40];
}

NOINLINE static uint64_t rec_b(unsigned n)
{
	uint64_t r;

	if (n == 0) {
		CAPTURE_HERE();
		return 2;
	}
	r = rec_a(n - 1);
	sink += r;
	return r * 3;
}

static void scenario_recursion(void)
{
	static const unsigned depths[] = {0, 1, 16, 200, 900};

	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
		sink += rec_self(depths[i]);
	sink += rec_a(51);
	sink += rec_b(300);
}

/* ---- leaf ---------------------------------------------------------------------------- */

/* No call, no frame: the caller exists only in x30, x29 is still the caller's. */
NOINLINE static uint64_t leaf_trap(uint64_t x)
{
	x = x * 3 + 1;
	CAPTURE_HERE();
	return x ^ (x >> 7);
}

NOINLINE static void leaf_caller(void)
{
	sink += leaf_trap(sink);
	sink += 1;
}

/*
 * fixture_entry_trap: a function whose first instruction after BTI (and, in the PAC
 * variants, PACIASP) is the capture. Nothing is saved yet: CFA = sp, return address in x30,
 * signed when built with -mbranch-protection (__ARM_FEATURE_PAC_DEFAULT), which the CFI says
 * with DW_CFA_AARCH64_negate_ra_state (.cfi_negate_ra_state). HINT encodings so any
 * assembler takes them: #34 = BTI C, #25 = PACIASP, #29 = AUTIASP.
 */
#ifdef __ARM_FEATURE_PAC_DEFAULT
#define ENTRY_SIGN "hint #25\n\t.cfi_negate_ra_state\n\t"
#define ENTRY_AUTH "hint #29\n\t.cfi_negate_ra_state\n\t"
#else
#define ENTRY_SIGN ""
#define ENTRY_AUTH ""
#endif
uint64_t fixture_entry_trap(uint64_t x);
__asm__(".text\n\t"
	".p2align 2\n\t"
	".globl fixture_entry_trap\n\t"
	".type fixture_entry_trap, %function\n"
	"fixture_entry_trap:\n\t"
	".cfi_startproc\n\t"
	"hint #34\n\t" ENTRY_SIGN "brk #0x7d0\n\t"
	"add x0, x0, #1\n\t" ENTRY_AUTH "ret\n\t"
	".cfi_endproc\n\t"
	".size fixture_entry_trap, .-fixture_entry_trap\n\t");

NOINLINE static void entry_caller(void)
{
	sink += fixture_entry_trap(sink);
	sink += 2;
}

static void scenario_leaf(void)
{
	for (int i = 0; i < 4; i++) {
		leaf_caller();
		entry_caller();
	}
}

/* ---- stale-lr ------------------------------------------------------------------------ */

NOINLINE static uint64_t plain_leaf(uint64_t x)
{
	return x * 7 + 3;
}

/* After plain_leaf returned, x30 is the return address into stale_lr itself. */
NOINLINE static uint64_t stale_lr(uint64_t x)
{
	x = plain_leaf(x);
	CAPTURE_HERE();
	sink += x;
	return x + 1;
}

NOINLINE static void stale_lr_caller(void)
{
	sink += stale_lr(sink);
	sink += 3;
}

static void scenario_stale_lr(void)
{
	for (int i = 0; i < 4; i++)
		stale_lr_caller();
}

/* ---- same-site ----------------------------------------------------------------------- */

/*
 * GCC shrink-wraps the base case: it runs before the prologue, frameless, so x30 holds the
 * return address into the caller, rec_same(1), and so does the record x29 points at, that of
 * rec_same(1) returning into rec_same(2): one call site. A frame-pointer unwinder cannot tell
 * this leaf from a function that saved its record; CFI can.
 */
NOINLINE static uint64_t rec_same(unsigned n)
{
	uint64_t r;

	if (n == 0) {
		CAPTURE_HERE();
		return 1;
	}
	r = rec_same(n - 1);
	sink += r;
	return r + n;
}

static void scenario_same_site(void)
{
	sink += rec_same(2);
	sink += rec_same(40);
}

/* ---- vla ----------------------------------------------------------------------------- */

NOINLINE static uint64_t vla_leaf(volatile uint8_t *buf, unsigned n)
{
	CAPTURE_HERE();
	return buf[n - 1] + n;
}

NOINLINE static uint64_t vla_frame(unsigned n)
{
	volatile uint8_t buf[n];
	uint64_t r;

	for (unsigned i = 0; i < n; i++)
		buf[i] = (uint8_t)i;
	CAPTURE_HERE();
	r = vla_leaf(buf, n);
	sink += buf[0];
	return r;
}

NOINLINE static uint64_t alloca_frame(unsigned n)
{
	volatile uint8_t *buf = __builtin_alloca(n);
	uint64_t r;

	for (unsigned i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 3);
	CAPTURE_HERE();
	r = vla_leaf(buf, n);
	sink += buf[0];
	return r;
}

static void scenario_vla(void)
{
	static const unsigned sizes[] = {1, 17, 1000, 12345};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sink += vla_frame(sizes[i]);
		sink += alloca_frame(sizes[i]);
	}
}

/* ---- qsort --------------------------------------------------------------------------- */

static unsigned cmp_calls, cmp_next_trap;

static int cmp_trap(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (++cmp_calls == cmp_next_trap) {
		CAPTURE_HERE();
		cmp_next_trap *= 7;
	}
	return (x > y) - (x < y);
}

NOINLINE static void qsort_caller(int *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_trap);
	sink += (uint64_t)v[n / 2];
}

static void scenario_qsort(void)
{
	static int v[4096];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (int)(x >> 8);
	}
	cmp_calls = 0;
	cmp_next_trap = 1;
	qsort_caller(v, sizeof(v) / sizeof(v[0]));
	/* A small array: glibc sorts it without the temporary buffer path. */
	cmp_calls = 0;
	cmp_next_trap = 3;
	qsort_caller(v + 100, 20);
}

/* ---- signal -------------------------------------------------------------------------- */

static volatile sig_atomic_t alrm_seen;

NOINLINE static void in_handler_leaf(void)
{
	CAPTURE_HERE();
	sink += 5;
}

/* Runs on top of the interrupted code's stack: no SA_ONSTACK. */
static void alrm_handler(int sig)
{
	(void)sig;
	in_handler_leaf();
	alrm_seen++;
}

static void usr1_handler(int sig)
{
	(void)sig;
	CAPTURE_HERE();
	sink += 6;
}

NOINLINE static uint64_t sig_spin(void)
{
	uint64_t x = sink;
	sig_atomic_t seen = alrm_seen;

	while (alrm_seen == seen)
		x = x * 6364136223846793005u + 1;
	return x;
}

NOINLINE static void sig_mid(void)
{
	sink += sig_spin();
	sink += 1;
}

NOINLINE static void sig_raise(void)
{
	raise(SIGUSR1);
	sink += 1;
}

static void scenario_signal(void)
{
	struct sigaction sa;
	struct itimerval it = {0};

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = alrm_handler;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = usr1_handler;
	sigaction(SIGUSR1, &sa, NULL);

	it.it_interval.tv_usec = 2000;
	it.it_value = it.it_interval;
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 16; i++)
		sig_mid();
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);

	for (int i = 0; i < 4; i++)
		sig_raise();
	signal(SIGALRM, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
}

/* ---- sampled ------------------------------------------------------------------------- */

NOINLINE static uint64_t mix_spin(uint64_t n)
{
	uint64_t x = n;

	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005u + i;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* Work before and after the recursive call, so samples land at every depth. */
NOINLINE static uint64_t mix_rec(unsigned n)
{
	uint64_t r = mix_spin(200 + n * 13);

	if (n > 0)
		r += mix_rec(n - 1);
	r += mix_spin(100);
	return r;
}

static int cmp_plain(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

NOINLINE static uint64_t mix_sort(unsigned seed)
{
	int v[256];

	for (unsigned i = 0; i < 256; i++)
		v[i] = (int)((i * 2654435761u) ^ seed);
	qsort(v, 256, sizeof(v[0]), cmp_plain);
	return (uint64_t)v[17];
}

NOINLINE static uint64_t mix_vla(unsigned n)
{
	volatile uint64_t buf[n];

	for (unsigned i = 0; i < n; i++)
		buf[i] = mix_spin(i & 31);
	return buf[n / 2];
}

static void scenario_sampled(void)
{
	const unsigned want = 400;
	unsigned start = capture_count();

	capture_sampling_start(1000, want);
	for (unsigned i = 0; capture_count() - start < want && i < 1000000; i++) {
		sink += mix_rec(12);
		sink += mix_sort(i);
		sink += mix_vla(1 + i % 300);
	}
	capture_sampling_stop();
}

/* ---- main ---------------------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*run)(void);
} scenarios[] = {
	{"recursion", scenario_recursion},
	{"leaf", scenario_leaf},
	{"stale-lr", scenario_stale_lr},
	{"same-site", scenario_same_site},
	{"vla", scenario_vla},
	{"qsort", scenario_qsort},
	{"signal", scenario_signal},
	{"sampled", scenario_sampled},
};

static int run_scenario(const char *dir, size_t i)
{
	int r = capture_begin(dir, scenarios[i].name);

	if (r < 0) {
		fprintf(stderr, "fixture: %s/%s.snap: %s\n", dir, scenarios[i].name, strerror(-r));
		return r;
	}
	scenarios[i].run();
	r = capture_end();
	if (r < 0)
		fprintf(stderr, "fixture: scenario %s: %s\n", scenarios[i].name, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	size_t n = sizeof(scenarios) / sizeof(scenarios[0]);
	int r, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s OUTDIR [SCENARIO...]\n", argv[0]);
		return 2;
	}
	r = capture_init(STACK_COPY_BYTES);
	if (r < 0) {
		fprintf(stderr, "fixture: capture_init: %s\n", strerror(-r));
		return 1;
	}
	if (argc == 2) {
		for (size_t i = 0; i < n; i++)
			failed |= run_scenario(argv[1], i) < 0;
		return failed;
	}
	for (int a = 2; a < argc; a++) {
		size_t i;

		for (i = 0; i < n && strcmp(argv[a], scenarios[i].name) != 0; i++)
			;
		if (i == n) {
			fprintf(stderr, "fixture: unknown scenario '%s'\n", argv[a]);
			return 2;
		}
		failed |= run_scenario(argv[1], i) < 0;
	}
	return failed;
}
