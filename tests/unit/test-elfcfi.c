/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elfcfi: loading CFI from real ELF files (this test's own executable, libc), the bias of a
 * mapping from the PT_LOADs, separate-debug-file paths, and corrupt files: every truncation
 * length class and byte flips of a real binary give an error or a table, never a crash.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "elfcfi.h"
#include "puw.h"

static char tmpdir[] = "/tmp/test-elfcfi.XXXXXX";

static uint8_t *slurp(const char *path, size_t *ret_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *b = NULL;
	size_t off = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size))) {
		while (off < (size_t)st.st_size) {
			ssize_t n = read(fd, b + off, (size_t)st.st_size - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		*ret_size = off;
	}
	close(fd);
	return b;
}

static int spill(const char *path, const uint8_t *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < n) {
		ssize_t w = write(fd, b + off, n - off);

		if (w <= 0) {
			close(fd);
			return -EIO;
		}
		off += (size_t)w;
	}
	close(fd);
	return 0;
}

static void test_self(void)
{
	struct elfcfi_info info;
	struct puw_cfi *cfi = NULL;
	struct puw_cfi_stats st;
	struct puw_cfi_row row;
	uint64_t bias = 0;
	FILE *maps;
	char line[PATH_MAX + 128];
	bool found = false;

	CHECK_EQ_U64(elfcfi_load("/proc/self/exe", NULL, &cfi, &info), 0);
	if (!cfi)
		return;
	CHECK(info.arch == puw_arch_host() || puw_arch_host() == _PUW_ARCH_MAX);
	CHECK(info.n_loads >= 2);
	CHECK(info.has_eh_frame);
	CHECK(info.build_id_size == 20);
	puw_cfi_get_stats(cfi, &st);
	CHECK(st.fdes > 10);
	CHECK_EQ_U64(st.fdes_malformed, 0);

	/* The executable mapping of this binary: its bias finds test_self's row. */
	maps = fopen("/proc/self/maps", "re");
	while (maps && fgets(line, sizeof(line), maps)) {
		unsigned long long start, end, off;
		char perms[8];
		uint64_t fn = (uint64_t)(uintptr_t)test_self;

		if (sscanf(line, "%llx-%llx %7s %llx", &start, &end, perms, &off) != 4)
			continue;
		if (perms[2] != 'x' || fn < start || fn >= end)
			continue;
		CHECK_EQ_U64(elfcfi_bias(&info, start, off, &bias), 0);
		CHECK_EQ_U64(puw_cfi_find_row(cfi, fn - bias, &row), 0);
		CHECK(row.start <= fn - bias && fn - bias < row.end);
		found = true;
	}
	if (maps)
		fclose(maps);
	CHECK(found);
	puw_cfi_free(cfi);
}

static void test_bias(void)
{
	struct elfcfi_info info = {
		.n_loads = 3,
		.loads =
			{
				{.vaddr = 0,
				 .memsz = 0x1000,
				 .offset = 0,
				 .filesz = 0x1000,
				 .align = 0x1000},
				{.vaddr = 0x1000,
				 .memsz = 0x5000,
				 .offset = 0x1000,
				 .filesz = 0x5000,
				 .align = 0x1000},
				{.vaddr = 0x7de0,
				 .memsz = 0x400,
				 .offset = 0x6de0,
				 .filesz = 0x300,
				 .align = 0x1000},
			},
	};
	uint64_t bias;

	CHECK_EQ_U64(elfcfi_bias(&info, 0x555555554000, 0, &bias), 0);
	CHECK_EQ_U64(bias, 0x555555554000);
	CHECK_EQ_U64(elfcfi_bias(&info, 0x555555555000, 0x1000, &bias), 0);
	CHECK_EQ_U64(bias, 0x555555554000);
	/* The data segment: mapped from its offset rounded down to the page. */
	CHECK_EQ_U64(elfcfi_bias(&info, 0x55555555b000, 0x6000, &bias), 0);
	CHECK_EQ_U64(bias, 0x55555555b000 - (0x7de0 + 0x6000 - 0x6de0));
	/* A split mapping, starting inside the text segment. */
	CHECK_EQ_U64(elfcfi_bias(&info, 0x555555557000, 0x3000, &bias), 0);
	CHECK_EQ_U64(bias, 0x555555554000);
	CHECK_EQ_U64(elfcfi_bias(&info, 0x1000, 0x100000, &bias), -ENOENT);
	/* A non-PIE executable: bias 0. */
	info.loads[0].vaddr = 0x400000;
	CHECK_EQ_U64(elfcfi_bias(&info, 0x400000, 0, &bias), 0);
	CHECK_EQ_U64(bias, 0);
}

static void test_paths(void)
{
	struct elfcfi_info info = {.build_id_size = 4, .build_id = {0xab, 0xcd, 0x01, 0x02}};
	char buf[PATH_MAX];

	CHECK_EQ_U64(elfcfi_build_id_path(&info, NULL, buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "/usr/lib/debug/.build-id/ab/cd0102.debug");
	CHECK_EQ_U64(elfcfi_build_id_path(&info, "/proc/42/root", buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "/proc/42/root/usr/lib/debug/.build-id/ab/cd0102.debug");
	CHECK_EQ_U64(elfcfi_build_id_path(&info, NULL, buf, 10), -ENAMETOOLONG);
	info.build_id_size = 0;
	CHECK_EQ_U64(elfcfi_build_id_path(&info, NULL, buf, sizeof(buf)), -ENOENT);

	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "/usr/bin/xz", 0, buf, sizeof(buf)), -ENOENT);
	strcpy(info.debuglink, "xz.debug");
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "/usr/bin/xz", 0, buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "/usr/bin/xz.debug");
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "/usr/bin/xz", 1, buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "/usr/bin/.debug/xz.debug");
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "/usr/bin/xz", 2, buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "/usr/lib/debug/usr/bin/xz.debug");
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "/usr/bin/xz", 3, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "xz", 0, buf, sizeof(buf)), 0);
	CHECK_STREQ(buf, "xz.debug");
	CHECK_EQ_U64(elfcfi_debuglink_path(&info, "xz", 2, buf, sizeof(buf)), -ENOENT);

	/* The standard check value of CRC-32/ISO-HDLC. */
	CHECK_EQ_U64(elfcfi_crc32(0, "123456789", 9), 0xcbf43926);
}

/* libc and, when installed, its separate debug file (build-id path). */
static void test_libc(void)
{
	static const char *const candidates[] = {
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib/aarch64-linux-gnu/libc.so.6",
		"/lib64/libc.so.6",
		"/usr/lib64/libc.so.6",
	};
	struct elfcfi_info info;
	struct puw_cfi *cfi = NULL, *cfi_dbg = NULL;
	struct puw_cfi_stats st, st_dbg;
	char dbg[PATH_MAX];
	const char *path = NULL;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], R_OK) == 0) {
			path = candidates[i];
			break;
		}
	if (!path)
		return;
	CHECK_EQ_U64(elfcfi_load(path, NULL, &cfi, &info), 0);
	if (!cfi)
		return;
	puw_cfi_get_stats(cfi, &st);
	CHECK(st.fdes > 1000);
	CHECK_EQ_U64(st.fdes_malformed, 0);
	CHECK_EQ_U64(st.fdes_unsupported, 0);
	if (elfcfi_build_id_path(&info, NULL, dbg, sizeof(dbg)) == 0 && access(dbg, R_OK) == 0) {
		CHECK_EQ_U64(elfcfi_load(path, dbg, &cfi_dbg, NULL), 0);
		if (cfi_dbg) {
			puw_cfi_get_stats(cfi_dbg, &st_dbg);
			/* The same, but __restore_rt's FDE yields to the trampoline row. */
			CHECK(st_dbg.fdes + 1 >= st.fdes);
			printf("libc: %zu FDEs, %zu rows, %zu bytes; with %s: %zu FDEs\n", st.fdes,
			       st.rows, st.bytes, dbg, st_dbg.fdes);
		}
	}
	puw_cfi_free(cfi);
	puw_cfi_free(cfi_dbg);

	/* A debug file of another binary, or not ELF at all, is ignored or rejected. */
	CHECK_EQ_U64(elfcfi_load(path, "/proc/self/exe", &cfi, NULL), 0);
	puw_cfi_free(cfi);
	CHECK_EQ_U64(elfcfi_load(path, "/nonexistent", &cfi, NULL), 0);
	puw_cfi_free(cfi);
}

static void test_corrupt(void)
{
	size_t size = 0, lens[64], n_lens = 0;
	uint8_t *exe = slurp("/proc/self/exe", &size);
	char path[PATH_MAX];
	struct puw_cfi *cfi;
	struct elfcfi_info info;
	uint64_t rng = 0x2545f4914f6cdd1d;
	unsigned ok = 0, rejected = 0;

	CHECK(exe != NULL);
	if (!exe)
		return;
	snprintf(path, sizeof(path), "%s/bad", tmpdir);

	/* Not ELF, empty, a directory, missing. */
	CHECK_EQ_U64(spill(path, (const uint8_t *)"hello", 5), 0);
	CHECK_EQ_U64(elfcfi_load(path, NULL, &cfi, NULL), -ENOEXEC);
	CHECK_EQ_U64(elfcfi_read_info(path, &info), -ENOEXEC);
	CHECK_EQ_U64(spill(path, exe, 0), 0);
	CHECK_EQ_U64(elfcfi_load(path, NULL, &cfi, NULL), -ENOEXEC);
	CHECK_EQ_U64(elfcfi_load(tmpdir, NULL, &cfi, NULL), -ENOEXEC);
	CHECK_EQ_U64(elfcfi_load("/nonexistent/x", NULL, &cfi, NULL), -ENOENT);

	/* Truncations: the headers, the sections, the middle, one byte short. */
	for (size_t l = 1; l < 128 && l < size; l += 7)
		lens[n_lens++] = l;
	for (size_t k = 1; k < 16; k++)
		lens[n_lens++] = size * k / 16;
	lens[n_lens++] = size - 1;
	for (size_t i = 0; i < n_lens; i++) {
		int r;

		CHECK_EQ_U64(spill(path, exe, lens[i]), 0);
		cfi = NULL;
		r = elfcfi_load(path, NULL, &cfi, NULL);
		if (r == 0)
			ok++, puw_cfi_free(cfi);
		else if (r == -ENOEXEC || r == -ENOENT)
			rejected++;
		else
			CHECK_EQ_U64(r, -ENOEXEC);
	}
	/* Byte flips anywhere in the file. */
	for (unsigned i = 0; i < 200; i++) {
		uint8_t *m = malloc(size);
		int r;

		if (!m)
			break;
		memcpy(m, exe, size);
		for (unsigned k = 0; k < 1 + i % 8; k++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			/* Half of the flips in the first 4 KiB: headers and tables. */
			m[(i & 1 ? rng % 4096 : rng) % size] ^= (uint8_t)(rng >> 56 | 1);
		}
		CHECK_EQ_U64(spill(path, m, size), 0);
		free(m);
		cfi = NULL;
		r = elfcfi_load(path, NULL, &cfi, NULL);
		if (r == 0)
			ok++, puw_cfi_free(cfi);
		else
			rejected++;
	}
	CHECK(rejected > 0);
	unlink(path);
	free(exe);
	printf("corrupt files: %u loaded, %u rejected\n", ok, rejected);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	test_self();
	test_bias();
	test_paths();
	test_libc();
	test_corrupt();
	rmdir(tmpdir);
	return check_finish("test-elfcfi");
}
