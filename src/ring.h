/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One perf mmap ring buffer, read as its only consumer.
 *
 * The kernel produces at data_head; we consume from our own tail and publish data_tail when
 * we are done with a stretch of records, which gives the space back to the kernel. A record
 * may wrap the end of the data area: ring_peek() then copies it into the ring's scratch
 * buffer (one record long), which stays valid until the next ring_peek() that wraps. Because
 * one pass between two ring_consume() calls covers at most one data-area's worth of bytes,
 * at most one record per pass wraps, so records peeked in one pass all stay valid until
 * ring_consume().
 *
 * Memory ordering follows the comment on struct perf_event_mmap_page: load data_head with
 * acquire before reading records, store data_tail with release after we are done with them.
 * Single-threaded: one consumer per ring. Library-like: never logs.
 */
#ifndef PA_RING_H
#define PA_RING_H

#include <linux/perf_event.h>
#include <stddef.h>
#include <stdint.h>

struct ring {
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	uint64_t data_size; /* a power of two */
	uint64_t head;      /* last snapshot of data_head */
	uint64_t tail;      /* our position: everything before it has been consumed */
	uint8_t *scratch;   /* one record, for records that wrap the end of data */
	size_t scratch_size;
};

/*
 * Sets up a ring over memory the caller owns: meta is the first mmapped page, data the data
 * area of data_size bytes (a power of two), scratch at least 64 KiB + 8 bytes, 8-aligned.
 */
int ring_init(struct ring *r, struct perf_event_mmap_page *meta, uint8_t *data,
	      uint64_t data_size, uint8_t *scratch, size_t scratch_size);

/* Reads data_head (acquire) and returns the bytes available beyond tail. */
uint64_t ring_snapshot(struct ring *r);

/*
 * The record at position pos (tail <= pos < head of the last snapshot). Returns 0 and the
 * record in *ret, -EAGAIN when pos is at head, -EBADMSG when the header is impossible (size
 * below a header, not a multiple of 8, beyond head or larger than the data area): the ring is
 * then unreadable and the caller should skip to head with ring_consume(r, r->head).
 */
int ring_peek(struct ring *r, uint64_t pos, const struct perf_event_header **ret);

/* Publishes everything before new_tail as consumed (release). */
void ring_consume(struct ring *r, uint64_t new_tail);

#endif
