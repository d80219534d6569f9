/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool on its own: windows come back oldest first with their metadata, id and labels, a
 * reopened spool finds what an earlier run left, the byte cap drops the oldest and says how
 * many, a damaged file is reported (-EBADMSG) rather than replayed, stray temporary files are
 * ignored.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spool.h"

static struct spool_record rec(uint64_t start, uint64_t seq, size_t len, uint8_t fill)
{
	static uint8_t buf[8192];
	struct spool_record r = {.meta = {.start_real_ns = start, .duration_ns = 1000, .seq = seq},
				 .profile = buf,
				 .len = len};

	memset(buf, fill, len);
	for (size_t i = 0; i < len; i += 7)
		buf[i] = (uint8_t)(i * 131 +
				   seq); /* not all one byte: compresses, but not to nothing */
	snprintf(r.id, sizeof(r.id), "00000000-0000-4000-8000-%012llu", (unsigned long long)seq);
	return r;
}

int main(void)
{
	char dir[] = "/tmp/perfagent-spool-XXXXXX", path[512];
	struct spool *s = NULL;
	struct spool_record r, got;
	uint64_t dropped = 99;
	int fd;

	if (!mkdtemp(dir))
		return 99;
	CHECK_EQ_U64(spool_open(dir, 1 << 20, &s), 0);
	CHECK_EQ_U64(spool_count(s), 0);
	CHECK(spool_read_oldest(s, &got) == -ENOENT);
	/* Put out of order: read back in window order. */
	r = rec(3000, 3, 2000, 3);
	CHECK_EQ_U64(spool_put(s, &r, &dropped), 0);
	CHECK_EQ_U64(dropped, 0);
	r = rec(1000, 1, 2000, 1);
	CHECK_EQ_U64(spool_put(s, &r, &dropped), 0);
	r = rec(2000, 2, 2000, 2);
	r.labels = (char *)"service_name\0checkout\0pod\0web-1\0";
	r.labels_len = sizeof("service_name\0checkout\0pod\0web-1\0") - 1;
	CHECK_EQ_U64(spool_put(s, &r, &dropped), 0);
	CHECK_EQ_U64(spool_count(s), 3);
	CHECK_EQ_U64(spool_read_oldest(s, &got), 0);
	CHECK_EQ_U64(got.meta.seq, 1);
	CHECK_EQ_U64(got.meta.start_real_ns, 1000);
	CHECK_EQ_U64(got.meta.duration_ns, 1000);
	CHECK_EQ_U64(got.len, 2000);
	CHECK_STREQ(got.id, "00000000-0000-4000-8000-000000000001");
	CHECK_EQ_U64(got.labels_len, 0);
	r = rec(1000, 1, 2000, 1);
	CHECK(memcmp(got.profile, r.profile, 2000) == 0);
	free(got.profile);
	spool_remove_oldest(s);
	CHECK_EQ_U64(spool_count(s), 2);
	spool_free(s);

	/* A new run finds the two left, ignores a temporary file, reports a damaged one. */
	snprintf(path, sizeof(path), "%s/00000000000000002500-000009.zst.tmp.1", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	CHECK_EQ_U64(spool_open(dir, 1 << 20, &s), 0);
	CHECK_EQ_U64(spool_count(s), 2);
	CHECK_EQ_U64(spool_read_oldest(s, &got), 0);
	CHECK_EQ_U64(got.meta.seq, 2);
	CHECK_EQ_U64(got.labels_len, sizeof("service_name\0checkout\0pod\0web-1\0") - 1);
	CHECK(got.labels &&
	      memcmp(got.labels, "service_name\0checkout\0pod\0web-1\0", got.labels_len) == 0);
	free(got.profile);
	free(got.labels);
	snprintf(path, sizeof(path), "%s/00000000000000002000-000002.zst", dir);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "garbage!", 8) == 8);
	close(fd);
	CHECK(spool_read_oldest(s, &got) == -EBADMSG);
	spool_remove_oldest(s);
	CHECK_EQ_U64(spool_read_oldest(s, &got), 0);
	CHECK_EQ_U64(got.meta.seq, 3);
	free(got.profile);
	spool_remove_oldest(s);
	CHECK_EQ_U64(spool_count(s), 0);
	CHECK_EQ_U64(spool_bytes(s), 0);
	spool_free(s);

	/* The cap: the oldest go first, counted; the newest are kept; the cap holds. */
	CHECK_EQ_U64(spool_open(dir, 4096, &s), 0);
	for (uint64_t i = 1; i <= 10; i++) {
		r = rec(10000 + i, i, 3000, (uint8_t)i);
		CHECK_EQ_U64(spool_put(s, &r, &dropped), 0);
		CHECK(spool_bytes(s) <= 4096);
	}
	CHECK(spool_count(s) >= 1 && spool_count(s) < 10);
	CHECK_EQ_U64(spool_read_oldest(s, &got), 0);
	CHECK_EQ_U64(got.meta.seq, 10 - spool_count(s) + 1);
	free(got.profile);
	/* A window larger than the whole cap is refused, the others stay. */
	r = rec(20000, 11, 8192, 0);
	for (size_t i = 0; i < 8192; i++)
		r.profile[i] = (uint8_t)(rand() & 0xff);
	CHECK(spool_put(s, &r, &dropped) == -EFBIG);
	CHECK(spool_count(s) >= 1);
	while (spool_count(s))
		spool_remove_oldest(s);
	spool_free(s);
	rmdir(dir);
	return check_finish("test-spool");
}
