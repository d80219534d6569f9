/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot files: round trips (no module, several modules, expected chains, concatenated
 * snapshots), and the reader on hostile input — every truncation of a valid file, every
 * single-byte corruption of it, lying counts and lengths, non-zero padding — which must give
 * -EBADMSG (or a valid snapshot, for corruptions of free-form bytes), never a crash or a
 * read past the data. Run it under --enable-sanitizers to make "never" mean something.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snapshot.h"

static uint8_t stack_bytes[200];

static void make_snapshot(struct snapshot *s, unsigned n_modules, unsigned n_expected)
{
	static struct snapshot_module mods[3] = {
		{0x400000, 0x401000, 0x0, (char *)"/usr/bin/a",
		 (char *)"00112233445566778899aabbccddeeff00112233"},
		{0x7f0000001000, 0x7f0000009000, 0x1000,
		 (char *)"/usr/lib/x86_64-linux-gnu/libc.so.6", (char *)""},
		{0x7fff00000000, 0x7fff00002000, 0, (char *)"[vdso]", (char *)"abcdef"},
	};
	static uint64_t expected[4] = {0x400123, 0x400456, 0x7f0000002345, 0x400010};

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(stack_bytes); i++)
		stack_bytes[i] = (uint8_t)(i * 7 + 1);
	s->arch = PUW_ARCH_X86_64;
	s->flags = n_expected ? SNAPSHOT_F_EXPECTED_IS_RA : 0;
	s->regs.valid = (UINT64_C(1) << 16) | (UINT64_C(1) << 7) | (UINT64_C(1) << 6);
	s->regs.r[16] = 0x400123;
	s->regs.r[7] = 0x7ffd00001000;
	s->regs.r[6] = 0x7ffd00001040;
	s->stack_start = 0x7ffd00001000;
	s->stack_size = 197; /* not a multiple of 8: padding follows */
	s->stack = stack_bytes;
	s->n_modules = n_modules;
	s->modules = n_modules ? mods : NULL;
	s->n_expected = n_expected;
	s->expected = n_expected ? expected : NULL;
	s->pid = 1234;
	s->tid = 1235;
	s->time_ns = 987654321;
}

static void check_same(const struct snapshot *a, const struct snapshot *b)
{
	CHECK_EQ_U64(a->arch, b->arch);
	CHECK_EQ_U64(a->flags, b->flags);
	CHECK(!memcmp(&a->regs, &b->regs, sizeof(a->regs)));
	CHECK_EQ_U64(a->stack_start, b->stack_start);
	CHECK_EQ_U64(a->stack_size, b->stack_size);
	CHECK(!memcmp(a->stack, b->stack, a->stack_size));
	CHECK_EQ_U64(a->n_modules, b->n_modules);
	for (uint32_t i = 0; i < a->n_modules && i < b->n_modules; i++) {
		CHECK_EQ_U64(a->modules[i].start, b->modules[i].start);
		CHECK_EQ_U64(a->modules[i].end, b->modules[i].end);
		CHECK_EQ_U64(a->modules[i].pgoff, b->modules[i].pgoff);
		CHECK_STREQ(a->modules[i].path, b->modules[i].path);
		CHECK_STREQ(a->modules[i].build_id, b->modules[i].build_id);
	}
	CHECK_EQ_U64(a->n_expected, b->n_expected);
	for (uint32_t i = 0; i < a->n_expected && i < b->n_expected; i++)
		CHECK_EQ_U64(a->expected[i], b->expected[i]);
	CHECK_EQ_U64(a->pid, b->pid);
	CHECK_EQ_U64(a->tid, b->tid);
	CHECK_EQ_U64(a->time_ns, b->time_ns);
}

/* Serializes snapshots into a malloc'd buffer. */
static uint8_t *write_all(const struct snapshot *s, unsigned n, size_t *ret_size)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	CHECK(f != NULL);
	if (!f)
		exit(99);
	for (unsigned i = 0; i < n; i++)
		CHECK(snapshot_write(f, &s[i]) == 0);
	fclose(f);
	*ret_size = size;
	return (uint8_t *)buf;
}

/* Reads every snapshot of buf: returns how many, or the first error. */
static int read_all(const uint8_t *buf, size_t size, struct snapshot *out, unsigned max)
{
	FILE *f = fmemopen((void *)buf, size ? size : 1, "r");
	int n = 0, r;

	if (!f)
		exit(99);
	if (size == 0)
		fgetc(f); /* fmemopen refuses size 0: consume the one byte to be at EOF */
	for (;;) {
		struct snapshot s;

		r = snapshot_read(f, &s);
		if (r <= 0)
			break;
		if (out && (unsigned)n < max)
			out[n] = s;
		else
			snapshot_done(&s);
		n++;
	}
	fclose(f);
	return r < 0 ? r : n;
}

static void test_round_trip(void)
{
	struct snapshot in[3], out[3];
	uint8_t *buf;
	size_t size;
	int n;

	make_snapshot(&in[0], 0, 0);
	make_snapshot(&in[1], 3, 4);
	make_snapshot(&in[2], 1, 0);
	in[2].stack_size = 0;
	buf = write_all(in, 3, &size);
	n = read_all(buf, size, out, 3);
	CHECK_EQ_U64(n, 3);
	for (int i = 0; i < n && i < 3; i++) {
		check_same(&in[i], &out[i]);
		snapshot_done(&out[i]);
	}
	/* An empty file holds no snapshot. */
	CHECK_EQ_U64(read_all(buf, 0, NULL, 0), 0);
	free(buf);
}

/* Every strict prefix of a file ending inside a snapshot is malformed. */
static void test_truncation(void)
{
	struct snapshot in[2];
	size_t size, first;
	uint8_t *buf;

	make_snapshot(&in[0], 3, 4);
	make_snapshot(&in[1], 2, 0);
	free(write_all(in, 1, &first));
	buf = write_all(in, 2, &size);
	for (size_t cut = 1; cut < size; cut++) {
		int r = read_all(buf, cut, NULL, 0);

		if (cut == first)
			CHECK_EQ_U64(r, 1);
		else if (r != -EBADMSG) {
			fprintf(stderr, "truncated at %zu of %zu: %d\n", cut, size, r);
			CHECK(r == -EBADMSG);
		}
	}
	free(buf);
}

/* Every single-byte change reads back as a snapshot or -EBADMSG; never anything else. */
static void test_corruption(void)
{
	struct snapshot in;
	size_t size;
	uint8_t *buf;
	static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

	make_snapshot(&in, 3, 4);
	buf = write_all(&in, 1, &size);
	for (size_t i = 0; i < size; i++) {
		uint8_t saved = buf[i];

		for (size_t v = 0; v < sizeof(values); v++) {
			int r;

			buf[i] = values[v];
			r = read_all(buf, size, NULL, 0);
			if (r != 1 && r != -EBADMSG && r != -ENOMEM) {
				fprintf(stderr, "byte %zu = 0x%02x: %d\n", i, values[v], r);
				CHECK(0);
			}
		}
		buf[i] = saved;
	}
	free(buf);
}

static void patch_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the test host is little-endian like the format (x86-64, arm64) */
}

static void patch_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Offsets of the fixed fields, from the format. */
#define OFF_ARCH 8
#define OFF_FLAGS 12
#define OFF_VALID 16
#define OFF_STACK_START (24 + 8 * PUW_REGS_MAX)
#define OFF_STACK_SIZE (OFF_STACK_START + 8)
#define OFF_STACK (OFF_STACK_SIZE + 8)

static void expect_bad(const uint8_t *buf, size_t size, const char *what)
{
	int r = read_all(buf, size, NULL, 0);

	if (r != -EBADMSG) {
		fprintf(stderr, "%s: %d, expected -EBADMSG\n", what, r);
		CHECK(0);
	}
}

static void test_lies(void)
{
	struct snapshot in;
	size_t size, mods_off;
	uint8_t *buf, *copy;

	make_snapshot(&in, 1, 0);
	buf = write_all(&in, 1, &size);
	copy = malloc(size);
	mods_off = OFF_STACK + ((in.stack_size + 7) & ~(size_t)7);

	memcpy(copy, buf, size);
	copy[0] = 'X';
	expect_bad(copy, size, "magic");

	memcpy(copy, buf, size);
	patch_u32(copy + OFF_ARCH, _PUW_ARCH_MAX);
	expect_bad(copy, size, "arch");

	memcpy(copy, buf, size);
	patch_u32(copy + OFF_FLAGS, 0x80);
	expect_bad(copy, size, "unknown flag");

	memcpy(copy, buf, size);
	patch_u64(copy + OFF_VALID, UINT64_MAX);
	expect_bad(copy, size, "register bits beyond PUW_REGS_MAX");

	memcpy(copy, buf, size);
	patch_u64(copy + OFF_STACK_SIZE, UINT64_C(1) << 40);
	expect_bad(copy, size, "huge stack");

	memcpy(copy, buf, size);
	patch_u64(copy + OFF_STACK_START, UINT64_MAX - 8);
	expect_bad(copy, size, "stack wrapping the address space");

	memcpy(copy, buf, size);
	copy[OFF_STACK + in.stack_size] = 1;
	expect_bad(copy, size, "non-zero stack padding");

	memcpy(copy, buf, size);
	patch_u32(copy + mods_off, SNAPSHOT_MAX_MODULES + 1);
	expect_bad(copy, size, "too many modules");

	memcpy(copy, buf, size);
	patch_u32(copy + mods_off, 0xffffffff);
	expect_bad(copy, size, "module count 2^32-1");

	/* module: start at mods_off + 4; make end <= start */
	memcpy(copy, buf, size);
	patch_u64(copy + mods_off + 4 + 8, 0x400000);
	expect_bad(copy, size, "empty module range");

	/* path length beyond the file */
	memcpy(copy, buf, size);
	copy[mods_off + 4 + 24] = 0xff;
	copy[mods_off + 4 + 25] = 0xff;
	expect_bad(copy, size, "path length past the end");

	/* an embedded NUL in the path */
	memcpy(copy, buf, size);
	copy[mods_off + 4 + 26 + 2] = '\0';
	expect_bad(copy, size, "NUL in path");

	/* a build-id that is not lowercase hex: first byte after its length */
	memcpy(copy, buf, size);
	copy[mods_off + 4 + 26 + strlen(in.modules[0].path) + 2] = 'G';
	expect_bad(copy, size, "build-id not hex");

	/* n_expected too large; then the pad word after it non-zero */
	{
		size_t mod_len = 4 + 24 + 2 + strlen(in.modules[0].path) + 2 +
				 strlen(in.modules[0].build_id);
		size_t exp_off = (mods_off + mod_len + 7) & ~(size_t)7;

		memcpy(copy, buf, size);
		patch_u32(copy + exp_off, SNAPSHOT_MAX_EXPECTED + 1);
		expect_bad(copy, size, "too many expected PCs");

		memcpy(copy, buf, size);
		patch_u32(copy + exp_off + 4, 1);
		expect_bad(copy, size, "non-zero pad after n_expected");

		memcpy(copy, buf, size);
		copy[exp_off - 1] = 0x5a;
		expect_bad(copy, size, "non-zero module padding");
	}
	free(copy);
	free(buf);
}

static void test_write_refuses(void)
{
	struct snapshot s;
	FILE *f = fopen("/dev/null", "we");

	if (!f)
		exit(99);
	make_snapshot(&s, 1, 0);
	s.arch = _PUW_ARCH_MAX;
	CHECK_EQ_U64(snapshot_write(f, &s), (uint64_t)-EINVAL);
	make_snapshot(&s, 3, 0);
	s.n_expected = 2;
	s.expected = NULL;
	CHECK_EQ_U64(snapshot_write(f, &s), (uint64_t)-EINVAL);
	fclose(f);
}

int main(void)
{
	test_round_trip();
	test_truncation();
	test_corruption();
	test_lies();
	test_write_refuses();
	return check_finish("test-snapshot");
}
