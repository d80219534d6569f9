/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool: windows an exporter could not deliver, kept on disk until the backend answers
 * again. One zstd-compressed file per window, named by the window's start time and number so
 * that the directory listing is the replay order, across restarts too. Files are written
 * atomically (temporary name + rename), so a crash leaves whole windows or none.
 *
 * Bounded by bytes on disk: putting a window that does not fit removes the oldest first.
 * Not thread-safe: one owner (the exporter's upload thread, or its creator before that).
 */
#ifndef PA_SPOOL_H
#define PA_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#define SPOOL_ID_SIZE 37 /* a UUID and its NUL */

struct spool_record {
	struct export_meta meta;
	char id[SPOOL_ID_SIZE]; /* kept with the window so a replay carries the same id */
	uint8_t *profile;	/* owned by the record after spool_read_oldest() */
	size_t len;
	/* The window's series labels as "name\0value\0" pairs (none when empty), owned like
	 * profile. Backends add them to the series, where they override the defaults. */
	char *labels;
	size_t labels_len;
};

struct spool;

/* Creates dir if missing and indexes the windows already there. Returns 0 or -errno. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret);
void spool_free(struct spool *s); /* accepts NULL */

size_t spool_count(const struct spool *s);
uint64_t spool_bytes(const struct spool *s);
const char *spool_dir(const struct spool *s);

/*
 * Writes rec. Oldest windows are removed while the spool would exceed its cap; their number
 * goes to *ret_dropped (a window larger than the whole cap is itself not kept: -EFBIG).
 * Returns 0 or -errno.
 */
int spool_put(struct spool *s, const struct spool_record *rec, uint64_t *ret_dropped);
/* Reads the oldest window into ret (ret->profile and ->labels owned by the caller). -ENOENT
 * when empty,
 * -EBADMSG when the file is damaged (the caller removes it). */
int spool_read_oldest(struct spool *s, struct spool_record *ret);
/* Removes the oldest window. */
void spool_remove_oldest(struct spool *s);

#endif
