// SPDX-License-Identifier: Apache-2.0
/*
 * fixture-eh OUTDIR [SCENARIO...]: the arm64 C++ unwind fixture: stacks with an exception in
 * flight. Built and run like fixture.c (tests/arm64/arm64.mk, capture.h).
 *
 * Scenarios (all by default):
 *   eh-search  captured inside libgcc's unwinder while it unwinds a throw: the fixture
 *              interposes _dl_find_object(), which _Unwind_Find_FDE calls (through the PLT
 *              of libgcc_s) for every frame of both phases, so the stack holds the fixture's
 *              frames, __cxa_throw or a landing pad's _Unwind_Resume, and libgcc_s's
 *              _Unwind_RaiseException/uw_frame_state_for/_Unwind_Find_FDE
 *   eh-cleanup a destructor run by a cleanup landing pad during phase 2 (the thrower's
 *              frames are gone; the landing pad may sit in a .cold section of its own)
 *   eh-catch   a leaf called from inside a catch block
 *
 * Captures happen before any call in the capturing function (a call would leave x30
 * pointing into the function itself: see the C fixture's stale-lr scenario).
 */
#include <dlfcn.h>
#include <stdexcept>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline, noclone))
#define STACK_COPY_BYTES (64 * 1024)

static volatile uint64_t sink;

/* ---- the _dl_find_object interposer --------------------------------------------------- */

typedef int dl_find_object_fn(void *, struct dl_find_object *);
static dl_find_object_fn *real_dl_find_object;
/* Calls left before the one that captures; 0: none armed. */
static volatile unsigned find_countdown;
static unsigned find_calls;

/*
 * The main program's definition wins over ld.so's for libgcc_s's PLT call (the link exports
 * it: -Wl,--export-dynamic-symbol). Before GCC 12 / glibc 2.35 libgcc used
 * dl_iterate_phdr() instead and no capture would happen: the scenario then fails for having
 * no snapshot, rather than passing without testing anything.
 */
extern "C" int _dl_find_object(void *pc, struct dl_find_object *ret) noexcept
{
	if (find_countdown && --find_countdown == 0)
		CAPTURE_HERE();
	find_calls++;
	return real_dl_find_object(pc, ret);
}

/* ---- throwing code ------------------------------------------------------------------- */

static volatile bool capture_in_dtor;

struct guard {
	unsigned id;
	NOINLINE ~guard()
	{
		if (capture_in_dtor)
			CAPTURE_HERE();
		sink += id;
	}
};

NOINLINE static void eh_level(unsigned n)
{
	guard g{n};

	if (n == 0)
		throw std::runtime_error("fixture");
	eh_level(n - 1);
	sink += n;
}

NOINLINE static void catch_leaf(void)
{
	CAPTURE_HERE();
	sink += 7;
}

NOINLINE static void eh_catcher(unsigned depth, bool capture_in_catch)
{
	try {
		eh_level(depth);
	} catch (const std::exception &e) {
		if (capture_in_catch)
			catch_leaf();
		sink += strlen(e.what());
	}
}

static void scenario_eh_search(void)
{
	static const unsigned countdowns[] = {1, 3, 8, 15, 25, 40};

	for (size_t i = 0; i < sizeof(countdowns) / sizeof(countdowns[0]); i++) {
		find_countdown = countdowns[i];
		eh_catcher(12, false);
		find_countdown = 0;
	}
}

static void scenario_eh_cleanup(void)
{
	capture_in_dtor = true;
	eh_catcher(3, false);
	capture_in_dtor = false;
}

static void scenario_eh_catch(void)
{
	eh_catcher(0, true);
	eh_catcher(20, true);
}

/* ---- main ---------------------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*run)(void);
} scenarios[] = {
	{"eh-search", scenario_eh_search},
	{"eh-cleanup", scenario_eh_cleanup},
	{"eh-catch", scenario_eh_catch},
};

static int run_scenario(const char *dir, size_t i)
{
	int r = capture_begin(dir, scenarios[i].name);

	if (r < 0) {
		fprintf(stderr, "fixture-eh: %s/%s.snap: %s\n", dir, scenarios[i].name,
			strerror(-r));
		return r;
	}
	scenarios[i].run();
	if (capture_count() == 0) {
		fprintf(stderr, "fixture-eh: scenario %s captured nothing\n", scenarios[i].name);
		capture_end();
		return -ENODATA;
	}
	r = capture_end();
	if (r < 0)
		fprintf(stderr, "fixture-eh: scenario %s: %s\n", scenarios[i].name, strerror(-r));
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
	real_dl_find_object = (dl_find_object_fn *)dlsym(RTLD_NEXT, "_dl_find_object");
	if (!real_dl_find_object) {
		fprintf(stderr, "fixture-eh: no _dl_find_object after this program: %s\n",
			dlerror());
		return 1;
	}
	r = capture_init(STACK_COPY_BYTES);
	if (r < 0) {
		fprintf(stderr, "fixture-eh: capture_init: %s\n", strerror(-r));
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
			fprintf(stderr, "fixture-eh: unknown scenario '%s'\n", argv[a]);
			return 2;
		}
		failed |= run_scenario(argv[1], i) < 0;
	}
	return failed;
}
