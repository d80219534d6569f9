/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/PID/maps parsing: a table of valid lines with every field expected, a table of
 * invalid lines that must be refused, maps_read() over a file written here (count, order,
 * early stop, errors), and over /proc/self/maps, which must show this test's own code.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "maps.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define R MAPS_PROT_READ
#define W MAPS_PROT_WRITE
#define X MAPS_PROT_EXEC

static const struct valid_case {
	const char *line;
	struct maps_entry want;
} valid_cases[] = {
	{"55d0c8a00000-55d0c8a28000 r-xp 00028000 fd:01 1311803                    "
	 "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
	 {0x55d0c8a00000, 0x55d0c8a28000, 0x28000, 0xfd, 0x01, 1311803, R | X, false, false,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
	/* No trailing newline. */
	{"00400000-00452000 r--p 00000000 08:02 173521      /usr/bin/dbus-daemon",
	 {0x400000, 0x452000, 0, 8, 2, 173521, R, false, false, "/usr/bin/dbus-daemon"}},
	/* Anonymous: nothing after the inode, with or without the kernel's trailing blank. */
	{"7f2c1a428000-7f2c1a42a000 rw-p 00000000 00:00 0\n",
	 {0x7f2c1a428000, 0x7f2c1a42a000, 0, 0, 0, 0, R | W, false, false, ""}},
	{"7f2c1a428000-7f2c1a42a000 rw-p 00000000 00:00 0                          \n",
	 {0x7f2c1a428000, 0x7f2c1a42a000, 0, 0, 0, 0, R | W, false, false, ""}},
	{"7ffd4b1c0000-7ffd4b1e1000 rw-p 00000000 00:00 0                          [stack]\n",
	 {0x7ffd4b1c0000, 0x7ffd4b1e1000, 0, 0, 0, 0, R | W, false, false, "[stack]"}},
	{"7ffd4b1fc000-7ffd4b1fe000 r-xp 00000000 00:00 0                          [vdso]\n",
	 {0x7ffd4b1fc000, 0x7ffd4b1fe000, 0, 0, 0, 0, R | X, false, false, "[vdso]"}},
	{"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
	 {0xffffffffff600000, 0xffffffffff601000, 0, 0, 0, 0, X, false, false, "[vsyscall]"}},
	/* Deleted file: the suffix is stripped and flagged. */
	{"7f0000000000-7f0000010000 r-xp 00001000 fd:01 42                         "
	 "/opt/app/lib/libjit.so (deleted)\n",
	 {0x7f0000000000, 0x7f0000010000, 0x1000, 0xfd, 1, 42, R | X, false, true,
	  "/opt/app/lib/libjit.so"}},
	/* memfd and SysV shm print as deleted files; shared mapping. */
	{"7f0000020000-7f0000030000 rw-s 00000000 00:01 1025                       "
	 "/memfd:jit-code (deleted)\n",
	 {0x7f0000020000, 0x7f0000030000, 0, 0, 1, 1025, R | W, true, true, "/memfd:jit-code"}},
	/* Spaces inside the path are kept, including around a "(deleted)" in the middle. */
	{"7f0000040000-7f0000050000 r-xp 00002000 103:05 9999999                   "
	 "/home/u/My Apps/lib (deleted) x.so\n",
	 {0x7f0000040000, 0x7f0000050000, 0x2000, 0x103, 5, 9999999, R | X, false, false,
	  "/home/u/My Apps/lib (deleted) x.so"}},
	{"7f0000060000-7f0000070000 r--p 00000000 fd:01 7 /a b  c.so \n",
	 {0x7f0000060000, 0x7f0000070000, 0, 0xfd, 1, 7, R, false, false, "/a b  c.so "}},
	/* Pseudo-names are not files: a "(deleted)" there is left alone. */
	{"7f0000080000-7f0000090000 rw-p 00000000 00:00 0 [anon:x (deleted)]\n",
	 {0x7f0000080000, 0x7f0000090000, 0, 0, 0, 0, R | W, false, false, "[anon:x (deleted)]"}},
	/* The largest values each field can hold; upper-case hex. */
	{"0-FFFFFFFFFFFFFFFF ---s ffffffffffffffff fff:fffff 18446744073709551615",
	 {0, UINT64_MAX, UINT64_MAX, 0xfff, 0xfffff, UINT64_MAX, 0, true, false, ""}},
};

static const char *const invalid_cases[] = {
	"",
	"\n",
	"garbage",
	"55d0c8a00000 r-xp 00028000 fd:01 1311803 /x",		    /* no end address */
	"55d0c8a00000- r-xp 00028000 fd:01 1311803 /x",		    /* empty end */
	"55d0c8a0g000-55d0c8a28000 r-xp 00028000 fd:01 1311803 /x", /* bad hex digit */
	"0x400000-0x452000 r-xp 00000000 08:02 1 /x",		    /* 0x prefix */
	"-400000-452000 r-xp 00000000 08:02 1 /x",		    /* sign */
	"10000000000000000-10000000000000001 r-xp 0 08:02 1 /x",    /* 65-bit address */
	"452000-400000 r-xp 00000000 08:02 1 /x",		    /* end before start */
	"400000-452000 rxp 00000000 08:02 1 /x",		    /* short perms */
	"400000-452000 r-xq 00000000 08:02 1 /x",		    /* neither p nor s */
	"400000-452000 w-xp 00000000 08:02 1 /x",		    /* letter out of place */
	"400000-452000 r-xp 0000z000 08:02 1 /x",		    /* bad offset */
	"400000-452000 r-xp 00000000 0802 1 /x",		    /* device without ':' */
	"400000-452000 r-xp 00000000 08: 1 /x",			    /* empty minor */
	"400000-452000 r-xp 00000000 100000000:02 1 /x",	    /* major beyond u32 */
	"400000-452000 r-xp 00000000 08:02 /x",			    /* missing inode */
	"400000-452000 r-xp 00000000 08:02 12a /x",		    /* inode not decimal */
	"400000-452000 r-xp 00000000 08:02 18446744073709551616",   /* inode beyond u64 */
	"400000-452000 r-xp 00000000 08:02",			    /* fields missing */
	"400000-452000 r-xp",
	"400000-452000",
	"400000-452000  r-xp 00000000 08:02 1 /x", /* two blanks: not the kernel's format */
	" 400000-452000 r-xp 00000000 08:02 1 /x", /* leading blank */
};

static void test_valid(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct maps_entry e;
		char line[512];
		int before = check_failures;

		snprintf(line, sizeof(line), "%s", c->line);
		CHECK_EQ_U64(maps_parse_line(line, &e), 0);
		if (check_failures != before) {
			fprintf(stderr, "  ... valid case %zu: \"%s\"\n", i, c->line);
			continue;
		}
		CHECK_EQ_U64(e.start, c->want.start);
		CHECK_EQ_U64(e.end, c->want.end);
		CHECK_EQ_U64(e.offset, c->want.offset);
		CHECK_EQ_U64(e.dev_major, c->want.dev_major);
		CHECK_EQ_U64(e.dev_minor, c->want.dev_minor);
		CHECK_EQ_U64(e.inode, c->want.inode);
		CHECK_EQ_U64(e.prot, c->want.prot);
		CHECK_EQ_U64(e.shared, c->want.shared);
		CHECK_EQ_U64(e.deleted, c->want.deleted);
		CHECK_STREQ(e.path, c->want.path);
		/* The path is borrowed from the caller's buffer. */
		CHECK(e.path[0] == '\0' || (e.path >= line && e.path < line + sizeof(line)));
		if (check_failures != before)
			fprintf(stderr, "  ... valid case %zu: \"%s\"\n", i, c->line);
	}
}

static void test_invalid(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
		struct maps_entry e, untouched;
		char line[512];
		int before = check_failures;

		memset(&untouched, 0x5a, sizeof(untouched));
		e = untouched;
		snprintf(line, sizeof(line), "%s", invalid_cases[i]);
		CHECK_EQ_U64(maps_parse_line(line, &e), -EINVAL);
		CHECK(memcmp(&e, &untouched, sizeof(e)) == 0); /* ret written only on success */
		if (check_failures != before)
			fprintf(stderr, "  ... invalid case %zu: \"%s\"\n", i, invalid_cases[i]);
	}
	CHECK_EQ_U64(maps_parse_line(NULL, NULL), -EINVAL);
}

/* ---- maps_read over a file ---------------------------------------------------------- */

struct collect {
	unsigned n;
	uint64_t starts[8];
	char paths[8][64];
	int stop_after; /* return -ECANCELED from this entry on; 0: never */
};

static int collect_entry(void *ctx, const struct maps_entry *e)
{
	struct collect *c = ctx;

	if (c->stop_after && c->n + 1 >= (unsigned)c->stop_after)
		return -ECANCELED;
	if (c->n < ARRAY_SIZE(c->starts)) {
		c->starts[c->n] = e->start;
		snprintf(c->paths[c->n], sizeof(c->paths[c->n]), "%s", e->path);
	}
	c->n++;
	return 0;
}

static int write_temp(char *name, size_t size, const char *content)
{
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(name, size, "%s/test-maps.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(name);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fputs(content, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static void test_read_file(void)
{
	static const char good[] =
		"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
		"00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/dbus-daemon\n"
		"7f2c1a428000-7f2c1a42a000 rw-p 00000000 00:00 0\n"
		"7ffd4b1fc000-7ffd4b1fe000 r-xp 00000000 00:00 0   [vdso]"; /* no final newline */
	static const char bad[] = "00400000-00452000 r-xp 00000000 08:02 173521 /x\n"
				  "not a maps line\n";
	char name[PATH_MAX];
	struct collect c;
	char *longline, *cur;
	size_t long_size = PATH_MAX + 512;

	if (write_temp(name, sizeof(name), good) < 0) {
		CHECK(!"cannot write a temporary file");
		return;
	}
	memset(&c, 0, sizeof(c));
	CHECK_EQ_U64(maps_read(0, name, collect_entry, &c), 4);
	CHECK_EQ_U64(c.n, 4);
	CHECK_EQ_U64(c.starts[0], 0x400000);
	CHECK_EQ_U64(c.starts[3], 0x7ffd4b1fc000);
	CHECK_STREQ(c.paths[1], "/usr/bin/dbus-daemon");
	CHECK_STREQ(c.paths[2], "");
	CHECK_STREQ(c.paths[3], "[vdso]");

	/* A negative return from the callback stops the read and is returned. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	CHECK_EQ_U64(maps_read(0, name, collect_entry, &c), -ECANCELED);
	CHECK_EQ_U64(c.n, 1);
	unlink(name);

	/* A malformed line fails the read. */
	if (write_temp(name, sizeof(name), bad) == 0) {
		memset(&c, 0, sizeof(c));
		CHECK_EQ_U64(maps_read(0, name, collect_entry, &c), -EINVAL);
		CHECK_EQ_U64(c.n, 1);
		unlink(name);
	}

	/* A path of PATH_MAX - 1 bytes, deleted, fits; a line longer than the kernel prints not. */
	longline = malloc(long_size);
	if (!longline) {
		CHECK(!"out of memory");
		return;
	}
	cur = longline;
	cur += sprintf(cur, "7f0000000000-7f0000010000 r-xp 00000000 fd:01 42%*s/", 25, "");
	memset(cur, 'a', PATH_MAX - 2);
	cur += PATH_MAX - 2;
	strcpy(cur, " (deleted)\n");
	if (write_temp(name, sizeof(name), longline) == 0) {
		memset(&c, 0, sizeof(c));
		CHECK_EQ_U64(maps_read(0, name, collect_entry, &c), 1);
		unlink(name);
	}
	memset(longline, '1', long_size - 1);
	longline[long_size - 1] = '\0';
	if (write_temp(name, sizeof(name), longline) == 0) {
		memset(&c, 0, sizeof(c));
		CHECK_EQ_U64(maps_read(0, name, collect_entry, &c), -ENAMETOOLONG);
		unlink(name);
	}
	free(longline);

	CHECK_EQ_U64(maps_read(0, "/nonexistent/maps", collect_entry, &c), -ENOENT);
	CHECK_EQ_U64(maps_read(0, NULL, collect_entry, &c), -EINVAL);
	CHECK_EQ_U64(maps_read(-1, NULL, collect_entry, &c), -EINVAL);
	CHECK_EQ_U64(maps_read(getpid(), NULL, NULL, NULL), -EINVAL);
}

/* ---- /proc/self/maps ---------------------------------------------------------------- */

struct find_self {
	uint64_t code; /* an address inside this binary's text */
	char exe[PATH_MAX];
	bool found;
	bool path_ok;
	unsigned n_exec;
};

static int find_self_entry(void *ctx, const struct maps_entry *e)
{
	struct find_self *s = ctx;

	if (e->prot & MAPS_PROT_EXEC)
		s->n_exec++;
	if (s->code >= e->start && s->code < e->end) {
		s->found = true;
		s->path_ok = (e->prot & MAPS_PROT_EXEC) && !e->deleted && e->inode != 0 &&
			     strcmp(e->path, s->exe) == 0;
	}
	return 0;
}

static void test_read_self(void)
{
	struct find_self s = {.code = (uint64_t)(uintptr_t)test_read_self};
	ssize_t len;
	int n;

	len = readlink("/proc/self/exe", s.exe, sizeof(s.exe) - 1);
	if (len <= 0) {
		fprintf(stderr, "test-maps: /proc/self/exe unreadable, skipping the self check\n");
		return;
	}
	s.exe[len] = '\0';

	n = maps_read(getpid(), NULL, find_self_entry, &s);
	CHECK(n > 0);
	CHECK(s.n_exec > 0);
	CHECK(s.found);
	CHECK(s.path_ok);
	if (!s.path_ok)
		fprintf(stderr, "  ... looking for %s\n", s.exe);

	/* The explicit path gives the same answer. */
	s.found = s.path_ok = false;
	s.n_exec = 0;
	CHECK(maps_read(0, "/proc/self/maps", find_self_entry, &s) > 0);
	CHECK(s.found && s.path_ok);
}

int main(void)
{
	test_valid();
	test_invalid();
	test_read_file();
	test_read_self();
	return check_finish("test-maps");
}
