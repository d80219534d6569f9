/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the libFuzzer targets of the puw library (unwind/fuzz/fuzz-*.c) and their replay
 * driver: a reader that turns the fuzzer's bytes into fields without ever failing (past the
 * end every field reads as zero, so every input is a valid request), a copy helper that puts
 * a byte range in its own exact-size allocation (so that AddressSanitizer sees any read past
 * its end, which it would not inside the fuzzer's larger buffer), and an invariant check that
 * aborts, which libFuzzer reports as a crash with the input that caused it.
 *
 * The targets are built twice: instrumented with clang (--enable-fuzzing) and plain, linked
 * with replay.c, as the unit tests that replay the committed corpora. Nothing here depends on
 * libFuzzer.
 */
#ifndef PUW_FUZZ_COMMON_H
#define PUW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The libFuzzer entry points (https://llvm.org/docs/LibFuzzer.html). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A library invariant that does not hold: a bug, reported as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* Little-endian field of n (1..8) bytes; missing bytes read as zero. */
static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (in->n == 0)
			break;
		v |= (uint64_t)in->p[0] << (8 * i);
		in->p++;
		in->n--;
	}
	return v;
}

/* The next len bytes, or as many as are left; *ret_len says how many. */
static inline const uint8_t *fuzz_take_bytes(struct fuzz_in *in, size_t len, size_t *ret_len)
{
	const uint8_t *p = in->p;

	if (len > in->n)
		len = in->n;
	in->p += len;
	in->n -= len;
	*ret_len = len;
	return p;
}

/*
 * An owned copy of [p, p + len) in an allocation of exactly len bytes, NULL for len 0.
 * Aborts when out of memory: the targets' inputs are small.
 */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t len)
{
	uint8_t *q;

	if (len == 0)
		return NULL;
	q = malloc(len);
	FUZZ_CHECK(q != NULL);
	memcpy(q, p, len);
	return q;
}

#endif
