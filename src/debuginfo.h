/* SPDX-License-Identifier: Apache-2.0 */
/*
 * debuginfo: where the separate debug file of a binary is, the way GDB and elfutils look.
 *
 * In order: by GNU build-id under <root>/usr/lib/debug/.build-id/xx/rest.debug and under
 * every extra debug directory (laid out like /usr/lib/debug: DIR/.build-id/xx/rest.debug);
 * then by .gnu_debuglink name next to the binary, in its .debug/ subdirectory, under
 * <root>/usr/lib/debug/<binary's directory>/ and under every extra DIR/<binary's directory>/,
 * a candidate counting only when its CRC-32 matches the one the link records; then, when a
 * provider is configured (a debuginfod client, say), whatever it has for the build-id.
 *
 * root is the binary's filesystem root as the caller reaches it ("" for the host, or
 * "/proc/PID/root" for a process in another mount namespace); the extra directories are host
 * paths given by the user and are not rooted.
 *
 * The caller still checks that the file found is really this binary's (same build-id): a
 * stale debug package at the right path must not name other code. Never logs; no state.
 */
#ifndef PA_DEBUGINFO_H
#define PA_DEBUGINFO_H

#include <stddef.h>
#include <stdint.h>

/*
 * A source of debug files by build-id (e.g. a debuginfod client with its own cache). Returns
 * 1 with a NUL-terminated path in buf, 0 when it has nothing, -EAGAIN when an asynchronous
 * provider is still fetching it (the binary is looked up again once it has an answer), or
 * another -errno. Must not block: it runs on the thread that symbolizes.
 */
typedef int (*debuginfo_provider_fn)(void *ctx, const char *build_id_hex, char *buf, size_t size);

struct debuginfo_config {
	const char *const *dirs; /* extra debug directories (--debuginfo-dir), may be NULL */
	size_t n_dirs;
	debuginfo_provider_fn provider; /* optional, asked last */
	void *provider_ctx;
};

struct debuginfo_query {
	const char *path;      /* the binary as the caller opens it (may start with root) */
	const char *root;      /* "" or NULL for the host, else e.g. "/proc/PID/root" */
	const char *build_id;  /* lowercase hex, "" or NULL when the binary has none */
	const char *debuglink; /* .gnu_debuglink file name, "" or NULL when none */
	uint32_t debuglink_crc;
};

enum debuginfo_how {
	DEBUGINFO_BY_BUILD_ID,
	DEBUGINFO_BY_DEBUGLINK,
	DEBUGINFO_BY_PROVIDER,
};

/*
 * Finds the debug file of q's binary. Returns 1 with its path in buf and how it was found in
 * *ret_how (may be NULL), 0 when there is none, or -errno (-ENAMETOOLONG).
 */
int debuginfo_find(const struct debuginfo_config *c, const struct debuginfo_query *q, char *buf,
		   size_t size, enum debuginfo_how *ret_how);

/* CRC-32 of the whole file at path (the .gnu_debuglink checksum). Returns 0 or -errno. */
int debuginfo_file_crc32(const char *path, uint32_t *ret_crc);

const char *debuginfo_how_name(enum debuginfo_how how);

#endif
