/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf ring reading: snapshot, peek (copying out records that wrap), consume.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "ring.h"

int ring_init(struct ring *r, struct perf_event_mmap_page *meta, uint8_t *data,
	      uint64_t data_size, uint8_t *scratch, size_t scratch_size)
{
	if (!meta || !data || !scratch || data_size == 0 || (data_size & (data_size - 1)))
		return -EINVAL;
	/* A record's size is a u16, so one record never exceeds 64 KiB. */
	if (scratch_size < 65536 + 8)
		return -EINVAL;
	*r = (struct ring){
		.meta = meta,
		.data = data,
		.data_size = data_size,
		.scratch = scratch,
		.scratch_size = scratch_size,
	};
	r->tail = __atomic_load_n(&meta->data_tail, __ATOMIC_RELAXED);
	r->head = r->tail;
	return 0;
}

uint64_t ring_snapshot(struct ring *r)
{
	r->head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	return r->head - r->tail;
}

int ring_peek(struct ring *r, uint64_t pos, const struct perf_event_header **ret)
{
	uint64_t mask = r->data_size - 1;
	uint64_t off = pos & mask;
	struct perf_event_header h;

	if (pos >= r->head)
		return -EAGAIN;
	if (r->head - pos < sizeof(h))
		return -EBADMSG;

	/* Headers are 8-aligned and the data size is a multiple of 8: a header never wraps. */
	memcpy(&h, r->data + off, sizeof(h));
	/*
	 * A record never exceeds the data area (the kernel keeps one byte free); checking it
	 * keeps the wrapped copy below inside the data area even if data_head lies.
	 */
	if (h.size < sizeof(h) || (h.size & 7) || h.size > r->head - pos || h.size > r->data_size)
		return -EBADMSG;

	if (off + h.size <= r->data_size) {
		*ret = (const struct perf_event_header *)(r->data + off);
		return 0;
	}
	/* The record wraps the end of the data area: copy it out in two pieces. */
	size_t first = r->data_size - off;

	memcpy(r->scratch, r->data + off, first);
	memcpy(r->scratch + first, r->data, h.size - first);
	*ret = (const struct perf_event_header *)r->scratch;
	return 0;
}

void ring_consume(struct ring *r, uint64_t new_tail)
{
	r->tail = new_tail;
	__atomic_store_n(&r->meta->data_tail, new_tail, __ATOMIC_RELEASE);
}
