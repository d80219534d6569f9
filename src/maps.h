/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/PID/maps parsing. A line looks like
 *   7f2c1a400000-7f2c1a428000 r-xp 00028000 fd:01 1311803    /usr/lib/x86_64-linux-gnu/libc.so.6
 * and the path may be missing, contain spaces, or end in " (deleted)".
 * Library-like: never logs.
 */
#ifndef PA_MAPS_H
#define PA_MAPS_H

#include <stdbool.h>
#include <stdint.h>

enum {
	MAPS_PROT_READ = 1,
	MAPS_PROT_WRITE = 2,
	MAPS_PROT_EXEC = 4,
};

struct maps_entry {
	uint64_t start;
	uint64_t end;
	uint64_t offset;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t inode;
	unsigned prot;       /* MAPS_PROT_* */
	bool shared;         /* 's' rather than 'p' */
	bool deleted;        /* path ended in " (deleted)"; stripped from path */
	const char *path;    /* borrowed from the line buffer; "" for anonymous mappings */
};

/*
 * Parses one line (without or with its trailing newline, which is removed). The line buffer
 * is modified and ret->path points into it. Returns 0 or -EINVAL.
 */
int maps_parse_line(char *line, struct maps_entry *ret);

typedef int maps_entry_fn(void *ctx, const struct maps_entry *e);

/*
 * Reads /proc/<pid>/maps (or path when non-NULL, for tests) and calls fn for every entry;
 * stops and returns fn's value when it is negative. Returns the number of entries, or -errno.
 */
int maps_read(int pid, const char *path, maps_entry_fn *fn, void *ctx);

#endif
