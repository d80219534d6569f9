/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal assertions for the unit tests, run by automake's test harness: exit 0 = pass,
 * 77 = skip, 99 = hard error, anything else = fail. A failed CHECK prints where and what,
 * and the test keeps going so one run shows every failure.
 */
#ifndef PA_TESTS_CHECK_H
#define PA_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		check_count++;                                                               \
		if (!(cond)) {                                                               \
			check_failures++;                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                            \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                   \
	do {                                                                                 \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                             \
		check_count++;                                                               \
		if (_a != _b) {                                                              \
			check_failures++;                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (0x%" PRIx64          \
					" != 0x%" PRIx64 ")\n",                              \
				__FILE__, __LINE__, #a, #b, _a, _b);                         \
		}                                                                            \
	} while (0)

#define CHECK_STREQ(a, b)                                                                    \
	do {                                                                                 \
		const char *_a = (a), *_b = (b);                                             \
		check_count++;                                                               \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                     \
			check_failures++;                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
				__FILE__, __LINE__, #a, #b, _a ? _a : "(null)",              \
				_b ? _b : "(null)");                                         \
		}                                                                            \
	} while (0)

/* Prints the automake-readable closing line and returns the exit status. */
static inline int check_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
