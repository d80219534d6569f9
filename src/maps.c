/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/PID/maps parsing. The kernel prints one line per VMA (fs/proc/task_mmu.c,
 * show_map_vma): "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ", then pads with spaces to a
 * fixed column and appends the path, a pseudo-name such as [heap], or nothing. The parser is
 * strict about the fixed fields, so a file that is not a maps file fails loudly, and lenient
 * about the path, which may contain anything but a newline (the kernel escapes '\n' as
 * "\012").
 *
 * maps_read() holds one line buffer on its stack and no other state; entries handed to the
 * callback borrow that buffer and are valid only during the call. Never logs.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "maps.h"

#define DELETED_SUFFIX " (deleted)"

/*
 * The longest line: the fixed fields (two 16-digit addresses, perms, a 16-digit offset, a
 * device, a 20-digit inode and the padding: under 128 bytes), a path of up to PATH_MAX
 * (the kernel's d_path limit), " (deleted)", the newline and the terminating NUL.
 */
#define MAPS_LINE_MAX (128 + PATH_MAX + sizeof(DELETED_SUFFIX) + 2)

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses at least one hex digit at *p into a value of at most max, and advances *p past
 * them. strtoull is not used: it accepts signs, "0x" and leading blanks, none of which the
 * kernel prints.
 */
static bool parse_hex(const char **p, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	if (hex_digit(*s) < 0)
		return false;
	for (; (d = hex_digit(*s)) >= 0; s++) {
		if (v > (max - (uint64_t)d) / 16)
			return false;
		v = v * 16 + (uint64_t)d;
	}
	*p = s;
	*ret = v;
	return true;
}

static bool parse_dec(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return true;
}

static bool expect_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* The permission field: exactly "rwxp"-shaped, each letter or '-', then 'p' or 's'. */
static bool parse_perms(const char **p, unsigned *ret_prot, bool *ret_shared)
{
	const char *s = *p;
	unsigned prot = 0;

	if (s[0] == 'r')
		prot |= MAPS_PROT_READ;
	else if (s[0] != '-')
		return false;
	if (s[1] == 'w')
		prot |= MAPS_PROT_WRITE;
	else if (s[1] != '-')
		return false;
	if (s[2] == 'x')
		prot |= MAPS_PROT_EXEC;
	else if (s[2] != '-')
		return false;
	if (s[3] != 'p' && s[3] != 's')
		return false;
	*ret_shared = s[3] == 's';
	*ret_prot = prot;
	*p = s + 4;
	return true;
}

int maps_parse_line(char *line, struct maps_entry *ret)
{
	struct maps_entry e = {.path = ""};
	const char *p = line;
	uint64_t v;
	size_t len;
	char *path;

	if (!line || !ret)
		return -EINVAL;

	len = strlen(line);
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';

	if (!parse_hex(&p, UINT64_MAX, &e.start) || !expect_char(&p, '-') ||
	    !parse_hex(&p, UINT64_MAX, &e.end) || !expect_char(&p, ' '))
		return -EINVAL;
	if (e.end < e.start)
		return -EINVAL;
	if (!parse_perms(&p, &e.prot, &e.shared) || !expect_char(&p, ' '))
		return -EINVAL;
	if (!parse_hex(&p, UINT64_MAX, &e.offset) || !expect_char(&p, ' '))
		return -EINVAL;
	/* Device numbers: MAJOR() has 12 bits and MINOR() 20 in the kernel; u32 holds both. */
	if (!parse_hex(&p, UINT32_MAX, &v) || !expect_char(&p, ':'))
		return -EINVAL;
	e.dev_major = (uint32_t)v;
	if (!parse_hex(&p, UINT32_MAX, &v))
		return -EINVAL;
	e.dev_minor = (uint32_t)v;
	if (!expect_char(&p, ' ') || !parse_dec(&p, &e.inode))
		return -EINVAL;

	/* After the inode: end of line, or padding then the path (which keeps inner spaces). */
	if (*p != '\0' && *p != ' ')
		return -EINVAL;
	while (*p == ' ')
		p++;
	path = line + (p - line);

	len = strlen(path);
	if (len > strlen(DELETED_SUFFIX) && path[0] == '/' &&
	    strcmp(path + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX) == 0) {
		path[len - strlen(DELETED_SUFFIX)] = '\0';
		e.deleted = true;
	}
	e.path = path;

	*ret = e;
	return 0;
}

int maps_read(int pid, const char *path, maps_entry_fn *fn, void *ctx)
{
	char proc_path[sizeof("/proc//maps") + 3 * sizeof(int)];
	char line[MAPS_LINE_MAX];
	FILE *f;
	int n = 0, r = 0;

	if (!fn)
		return -EINVAL;
	if (!path) {
		if (pid <= 0)
			return -EINVAL;
		snprintf(proc_path, sizeof(proc_path), "/proc/%d/maps", pid);
		path = proc_path;
	}

	f = fopen(path, "re");
	if (!f)
		return -errno;

	while (fgets(line, sizeof(line), f)) {
		struct maps_entry e;
		size_t len = strlen(line);

		/* A line that does not fit is not a maps line the kernel can print. */
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			r = -ENAMETOOLONG;
			goto out;
		}
		r = maps_parse_line(line, &e);
		if (r < 0)
			goto out;
		r = fn(ctx, &e);
		if (r < 0)
			goto out;
		if (n == INT_MAX) {
			r = -EOVERFLOW;
			goto out;
		}
		n++;
	}
	/* A process that exits while being read ends the file early: ESRCH or a short read. */
	r = ferror(f) ? (errno > 0 ? -errno : -EIO) : n;
out:
	fclose(f);
	return r;
}
