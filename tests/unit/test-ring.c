/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The perf ring reader and the record decoders, against synthetic rings in plain memory.
 *
 * A fake ring is a struct perf_event_mmap_page, a small power-of-two data area and a scratch
 * buffer, each its own heap block so that valgrind or ASan catch any read past them. The
 * writer side plays the kernel: it lays records out as linux/perf_event.h describes them
 * (sample fields in perf_output_sample() order, the sample_id trailer after side-band
 * records), refuses to write into space the reader has not given back (the kernel's
 * CIRC_SPACE rule: the ring is never filled completely) and publishes data_head with release.
 *
 * Decoders are also fed every truncation of each record, copied into a heap block of exactly
 * the truncated length, so any read past header.size is an out-of-bounds read.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/perf_event.h>

#include "check.h"
#include "record.h"
#include "ring.h"

#define DATA_SIZE 4096
#define SCRATCH_SIZE (65536 + 8)
#define REC_MAX 65536

#define SAMPLE_TYPE                                                                          \
	(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |             \
	 PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER |                \
	 PERF_SAMPLE_STACK_USER)

/* x86-64 BP, SP, IP: what an unwinder needs at minimum. */
#define REGS_MASK ((1ULL << 6) | (1ULL << 7) | (1ULL << 8))

static const struct record_layout layout = {
	.sample_type = SAMPLE_TYPE,
	.regs_user_mask = REGS_MASK,
	.sample_id_all = true,
};

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p) {
		fprintf(stderr, "test-ring: out of memory\n");
		exit(99);
	}
	return p;
}

/* ---- the fake ring ----------------------------------------------------------------------- */

struct fake {
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	uint64_t size;
	uint8_t *scratch;
	struct ring r;
};

/* A ring whose kernel-side head and tail both start at pos (any 64-bit position). */
static void fake_init(struct fake *f, uint64_t size, uint64_t pos)
{
	int r;

	f->meta = xcalloc(sizeof(*f->meta));
	f->data = xcalloc(size);
	f->size = size;
	f->scratch = xcalloc(SCRATCH_SIZE);
	f->meta->data_head = pos;
	f->meta->data_tail = pos;
	f->meta->data_offset = 4096;
	f->meta->data_size = size;
	r = ring_init(&f->r, f->meta, f->data, size, f->scratch, SCRATCH_SIZE);
	CHECK_EQ_U64(r, 0);
}

static void fake_done(struct fake *f)
{
	free(f->meta);
	free(f->data);
	free(f->scratch);
}

/* Copies bytes into the data area at position pos, wrapping like the kernel's output code. */
static void fake_put(struct fake *f, uint64_t pos, const void *src, size_t n)
{
	uint64_t off = pos & (f->size - 1);
	size_t first = n < f->size - off ? n : f->size - off;

	memcpy(f->data + off, src, first);
	memcpy(f->data, (const uint8_t *)src + first, n - first);
}

/*
 * Appends one record at data_head as the kernel would and publishes it. Returns its position,
 * or -ENOSPC when the reader has not given back enough space (the kernel would count it lost).
 */
static int64_t fake_write(struct fake *f, const struct perf_event_header *h)
{
	uint64_t head = f->meta->data_head;
	uint64_t tail = __atomic_load_n(&f->meta->data_tail, __ATOMIC_ACQUIRE);

	/* CIRC_SPACE(head, tail, size) >= size: one byte always stays free. */
	if (head - tail + h->size > f->size - 1)
		return -ENOSPC;
	fake_put(f, head, h, h->size);
	__atomic_store_n(&f->meta->data_head, head + h->size, __ATOMIC_RELEASE);
	return (int64_t)head;
}

/* ---- the record builder ------------------------------------------------------------------ */

struct rec {
	union {
		uint64_t align;
		uint8_t b[REC_MAX];
	};
	size_t n;
};

static void rec_bytes(struct rec *w, const void *p, size_t n)
{
	if (w->n + n > REC_MAX) {
		fprintf(stderr, "test-ring: record too big\n");
		exit(99);
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void rec_u64(struct rec *w, uint64_t v)
{
	rec_bytes(w, &v, sizeof(v));
}

static void rec_u32x2(struct rec *w, uint32_t a, uint32_t b)
{
	uint32_t pair[2] = { a, b };

	rec_bytes(w, pair, sizeof(pair));
}

static void rec_start(struct rec *w, uint32_t type, uint16_t misc)
{
	struct perf_event_header h = { .type = type, .misc = misc };

	w->n = 0;
	rec_bytes(w, &h, sizeof(h));
}

/* A NUL-terminated string padded with NULs to 8 bytes: ALIGN(strlen + 1, sizeof(u64)). */
static void rec_string(struct rec *w, const char *s)
{
	static const uint8_t zeros[8];
	size_t n = strlen(s) + 1;

	rec_bytes(w, s, n);
	rec_bytes(w, zeros, (8 - n % 8) % 8);
}

/* struct sample_id for TID|TIME|CPU: {pid, tid}, time, {cpu, res}. */
static void rec_trailer(struct rec *w, const struct record_id *id)
{
	rec_u32x2(w, id->pid, id->tid);
	rec_u64(w, id->time);
	rec_u32x2(w, id->cpu, 0);
}

static const struct perf_event_header *rec_end(struct rec *w)
{
	struct perf_event_header *h = (struct perf_event_header *)w->b;

	h->size = w->n;
	return h;
}

struct sample_spec {
	uint64_t ip;
	struct record_id id;
	uint64_t period;
	const uint64_t *chain;
	uint64_t chain_nr;
	uint64_t abi;
	const uint64_t *regs;
	unsigned regs_nr;
	uint64_t stack_size; /* 0: no stack, no dyn_size */
	const uint8_t *stack;
	uint64_t dyn_size;
};

/* A PERF_RECORD_SAMPLE in perf_output_sample() order for SAMPLE_TYPE. */
static const struct perf_event_header *build_sample(struct rec *w, const struct sample_spec *s)
{
	rec_start(w, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER);
	rec_u64(w, s->ip);
	rec_u32x2(w, s->id.pid, s->id.tid);
	rec_u64(w, s->id.time);
	rec_u32x2(w, s->id.cpu, 0);
	rec_u64(w, s->period);
	rec_u64(w, s->chain_nr);
	rec_bytes(w, s->chain, s->chain_nr * 8);
	rec_u64(w, s->abi);
	if (s->abi != PERF_SAMPLE_REGS_ABI_NONE)
		rec_bytes(w, s->regs, s->regs_nr * 8);
	rec_u64(w, s->stack_size);
	if (s->stack_size) {
		rec_bytes(w, s->stack, s->stack_size);
		rec_u64(w, s->dyn_size);
	}
	return rec_end(w);
}

struct mmap2_spec {
	struct record_id id;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino, ino_generation;
	const uint8_t *build_id; /* 20 bytes, or NULL for maj/min/ino */
	uint32_t prot, flags;
	const char *filename;
};

static const struct perf_event_header *build_mmap2(struct rec *w, const struct mmap2_spec *m)
{
	rec_start(w, PERF_RECORD_MMAP2,
		  PERF_RECORD_MISC_USER | (m->build_id ? PERF_RECORD_MISC_MMAP_BUILD_ID : 0));
	rec_u32x2(w, m->id.pid, m->id.tid);
	rec_u64(w, m->addr);
	rec_u64(w, m->len);
	rec_u64(w, m->pgoff);
	if (m->build_id) {
		uint8_t u[24] = { 20 }; /* build_id_size, __reserved_1, __reserved_2, build_id */

		memcpy(u + 4, m->build_id, 20);
		rec_bytes(w, u, sizeof(u));
	} else {
		rec_u32x2(w, m->maj, m->min);
		rec_u64(w, m->ino);
		rec_u64(w, m->ino_generation);
	}
	rec_u32x2(w, m->prot, m->flags);
	rec_string(w, m->filename);
	rec_trailer(w, &m->id);
	return rec_end(w);
}

static const struct perf_event_header *build_comm(struct rec *w, bool exec, uint32_t pid,
						  uint32_t tid, const char *comm,
						  const struct record_id *id)
{
	rec_start(w, PERF_RECORD_COMM, exec ? PERF_RECORD_MISC_COMM_EXEC : 0);
	rec_u32x2(w, pid, tid);
	rec_string(w, comm);
	rec_trailer(w, id);
	return rec_end(w);
}

static const struct perf_event_header *build_task(struct rec *w, uint32_t type, uint32_t pid,
						  uint32_t ppid, uint32_t tid, uint32_t ptid,
						  uint64_t time, const struct record_id *id)
{
	rec_start(w, type, 0);
	rec_u32x2(w, pid, ppid);
	rec_u32x2(w, tid, ptid);
	rec_u64(w, time);
	rec_trailer(w, id);
	return rec_end(w);
}

static const struct perf_event_header *build_lost(struct rec *w, uint64_t event_id,
						  uint64_t lost, const struct record_id *id)
{
	rec_start(w, PERF_RECORD_LOST, 0);
	rec_u64(w, event_id);
	rec_u64(w, lost);
	rec_trailer(w, id);
	return rec_end(w);
}

static const struct perf_event_header *build_throttle(struct rec *w, uint32_t type,
						      uint64_t time, uint64_t event_id,
						      uint64_t stream_id,
						      const struct record_id *id)
{
	rec_start(w, type, 0);
	rec_u64(w, time);
	rec_u64(w, event_id);
	rec_u64(w, stream_id);
	rec_trailer(w, id);
	return rec_end(w);
}

/* Copies the first len bytes of h into a heap block of exactly that length, claiming len. */
static struct perf_event_header *truncated(const struct perf_event_header *h, size_t len)
{
	size_t n = len < sizeof(*h) ? sizeof(*h) : len;
	struct perf_event_header *t = xcalloc(n);

	memcpy(t, h, n);
	t->size = len;
	return t;
}

/* ---- shared fixtures --------------------------------------------------------------------- */

static const uint64_t chain[] = {
	PERF_CONTEXT_KERNEL, 0xffffffff81000010ULL, 0xffffffff81000020ULL,
	0xffffffff81000030ULL, PERF_CONTEXT_USER, 0x401000ULL,
};
static const uint64_t regs3[] = { 0x7ffc0000a0b0ULL, 0x7ffc0000a000ULL, 0x401234ULL };
static uint8_t stack64[64];

static struct sample_spec full_sample(void)
{
	for (size_t i = 0; i < sizeof(stack64); i++)
		stack64[i] = (uint8_t)(0xa0 + i);
	return (struct sample_spec){
		.ip = 0xffffffff81000010ULL,
		.id = { .pid = 4242, .tid = 4243, .time = 123456789012345ULL, .cpu = 3 },
		.period = 10101010,
		.chain = chain,
		.chain_nr = sizeof(chain) / sizeof(chain[0]),
		.abi = PERF_SAMPLE_REGS_ABI_64,
		.regs = regs3,
		.regs_nr = 3,
		.stack_size = sizeof(stack64),
		.stack = stack64,
		.dyn_size = 40,
	};
}

static void check_sample(const struct record_sample *got, const struct sample_spec *want)
{
	CHECK_EQ_U64(got->ip, want->ip);
	CHECK_EQ_U64(got->id.pid, want->id.pid);
	CHECK_EQ_U64(got->id.tid, want->id.tid);
	CHECK_EQ_U64(got->id.time, want->id.time);
	CHECK_EQ_U64(got->id.cpu, want->id.cpu);
	CHECK_EQ_U64(got->period, want->period);
	CHECK_EQ_U64(got->callchain_nr, want->chain_nr);
	CHECK(want->chain_nr == 0 || got->callchain);
	if (got->callchain && got->callchain_nr == want->chain_nr)
		CHECK(memcmp(got->callchain, want->chain, want->chain_nr * 8) == 0);
	CHECK_EQ_U64(got->regs_abi, want->abi);
	if (want->abi == PERF_SAMPLE_REGS_ABI_NONE) {
		CHECK(got->regs == NULL);
		CHECK_EQ_U64(got->regs_nr, 0);
	} else {
		CHECK_EQ_U64(got->regs_nr, want->regs_nr);
		CHECK(want->regs_nr == 0 || got->regs);
		if (got->regs && got->regs_nr == want->regs_nr)
			CHECK(memcmp(got->regs, want->regs, want->regs_nr * 8) == 0);
	}
	if (want->stack_size == 0) {
		CHECK(got->stack == NULL);
		CHECK_EQ_U64(got->stack_size, 0);
	} else {
		uint64_t valid = want->dyn_size < want->stack_size ? want->dyn_size
								    : want->stack_size;

		CHECK_EQ_U64(got->stack_size, valid);
		CHECK(got->stack != NULL);
		if (got->stack && got->stack_size == valid)
			CHECK(memcmp(got->stack, want->stack, valid) == 0);
	}
}

/* ---- ring tests -------------------------------------------------------------------------- */

static void test_init(void)
{
	struct perf_event_mmap_page meta = { .data_tail = 0x123458, .data_head = 0x123458 };
	static uint8_t data[DATA_SIZE], scratch[SCRATCH_SIZE];
	struct ring r;

	CHECK_EQ_U64(ring_init(&r, &meta, data, 3000, scratch, SCRATCH_SIZE), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, &meta, data, 0, scratch, SCRATCH_SIZE), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, &meta, data, DATA_SIZE, scratch, 65536), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, NULL, data, DATA_SIZE, scratch, SCRATCH_SIZE), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, &meta, NULL, DATA_SIZE, scratch, SCRATCH_SIZE), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, &meta, data, DATA_SIZE, NULL, SCRATCH_SIZE), -EINVAL);
	CHECK_EQ_U64(ring_init(&r, &meta, data, DATA_SIZE, scratch, SCRATCH_SIZE), 0);
	/* A ring reopened mid-stream starts at the kernel-visible tail. */
	CHECK_EQ_U64(r.tail, 0x123458);
	CHECK_EQ_U64(r.head, 0x123458);
	CHECK_EQ_U64(ring_snapshot(&r), 0);
}

static void test_in_order(void)
{
	static struct rec w;
	struct fake f;
	const struct perf_event_header *h;
	struct record_id id = { .pid = 77, .tid = 78, .time = 5000, .cpu = 1 };
	struct sample_spec s = full_sample();
	struct mmap2_spec m = {
		.id = id, .addr = 0x400000, .len = 0x2000, .pgoff = 0x1000, .maj = 8, .min = 1,
		.ino = 99, .ino_generation = 1, .prot = 5, .flags = 2, .filename = "/usr/bin/true",
	};
	uint32_t types[6] = { PERF_RECORD_COMM, PERF_RECORD_MMAP2, PERF_RECORD_SAMPLE,
			      PERF_RECORD_FORK, PERF_RECORD_EXIT, PERF_RECORD_LOST };
	uint64_t sizes[6], total = 0, pos;
	int n = 0, r;

	fake_init(&f, DATA_SIZE, 0);
	CHECK_EQ_U64(ring_snapshot(&f.r), 0);
	CHECK_EQ_U64(ring_peek(&f.r, f.r.tail, &h), -EAGAIN);

	h = build_comm(&w, false, 77, 78, "worker", &id);
	sizes[0] = h->size;
	CHECK(fake_write(&f, h) >= 0);
	h = build_mmap2(&w, &m);
	sizes[1] = h->size;
	CHECK(fake_write(&f, h) >= 0);
	h = build_sample(&w, &s);
	sizes[2] = h->size;
	CHECK(fake_write(&f, h) >= 0);
	h = build_task(&w, PERF_RECORD_FORK, 80, 77, 80, 78, 6000, &id);
	sizes[3] = h->size;
	CHECK(fake_write(&f, h) >= 0);

	/* Records published after the snapshot stay invisible until the next one. */
	total = sizes[0] + sizes[1] + sizes[2] + sizes[3];
	CHECK_EQ_U64(ring_snapshot(&f.r), total);
	h = build_task(&w, PERF_RECORD_EXIT, 80, 77, 80, 78, 7000, &id);
	sizes[4] = h->size;
	CHECK(fake_write(&f, h) >= 0);
	h = build_lost(&w, 1, 12, &id);
	sizes[5] = h->size;
	CHECK(fake_write(&f, h) >= 0);
	CHECK_EQ_U64(ring_peek(&f.r, total, &h), -EAGAIN);
	total += sizes[4] + sizes[5];
	CHECK_EQ_U64(ring_snapshot(&f.r), total);

	for (pos = f.r.tail; (r = ring_peek(&f.r, pos, &h)) == 0; pos += h->size) {
		CHECK(n < 6);
		if (n >= 6)
			break;
		CHECK_EQ_U64(h->type, types[n]);
		CHECK_EQ_U64(h->size, sizes[n]);
		CHECK(h == (const void *)(f.data + (pos & (DATA_SIZE - 1))));
		n++;
	}
	CHECK_EQ_U64(r, -EAGAIN);
	CHECK_EQ_U64(n, 6);
	CHECK_EQ_U64(pos, total);

	/* Nothing is given back until ring_consume(). */
	CHECK_EQ_U64(f.meta->data_tail, 0);
	ring_consume(&f.r, sizes[0]);
	CHECK_EQ_U64(f.meta->data_tail, sizes[0]);
	CHECK_EQ_U64(f.r.tail, sizes[0]);
	CHECK_EQ_U64(ring_snapshot(&f.r), total - sizes[0]);
	ring_consume(&f.r, pos);
	CHECK_EQ_U64(f.meta->data_tail, total);
	CHECK_EQ_U64(ring_snapshot(&f.r), 0);
	CHECK_EQ_U64(ring_peek(&f.r, f.r.tail, &h), -EAGAIN);
	fake_done(&f);
}

/* The writer refuses what the reader has not given back; ring_consume() makes room. */
static void test_consume_gives_space(void)
{
	static struct rec w;
	struct fake f;
	const struct perf_event_header *h;
	uint64_t pos;
	int written = 0;

	fake_init(&f, DATA_SIZE, 0);
	rec_start(&w, PERF_RECORD_MAX + 1, 0);
	for (int i = 0; i < 31; i++)
		rec_u64(&w, i);
	h = rec_end(&w); /* 256 bytes */
	while (fake_write(&f, h) >= 0)
		written++;
	/* 16 * 256 would fill the ring, which the kernel never does. */
	CHECK_EQ_U64(written, 15);
	CHECK_EQ_U64(ring_snapshot(&f.r), 15 * 256);
	CHECK(ring_peek(&f.r, f.r.tail, &h) == 0);
	pos = f.r.tail + h->size;
	ring_consume(&f.r, pos);
	CHECK_EQ_U64(f.meta->data_tail, 256);
	h = rec_end(&w);
	CHECK_EQ_U64(fake_write(&f, h), 15 * 256);
	CHECK_EQ_U64(fake_write(&f, h), -ENOSPC);
	fake_done(&f);
}

/*
 * A record starting 8 * k bytes before the end of the data area, for every k: k == 1 puts
 * the header alone at the very end; k == size / 8 ends the record exactly at the end. Each
 * offset is tried at a low position and at one past 2^32 laps.
 */
static void test_wrap_offsets(void)
{
	static struct rec w;
	struct sample_spec s = full_sample();
	const struct perf_event_header *want = build_sample(&w, &s);
	uint64_t size = want->size;
	uint64_t laps[2] = { 0, 1ULL << 32 };

	CHECK(size > 64);
	for (int l = 0; l < 2; l++) {
		for (uint64_t back = 8; back <= size + 8; back += 8) {
			uint64_t start = (laps[l] + 1) * DATA_SIZE - back;
			const struct perf_event_header *h, *next;
			struct record_sample got;
			struct fake f;
			struct rec *after = xcalloc(sizeof(*after));
			int64_t at;

			fake_init(&f, DATA_SIZE, start);
			/* Stale bytes where the record lands, so a missed copy shows. */
			memset(f.data, 0xee, DATA_SIZE);
			at = fake_write(&f, want);
			CHECK_EQ_U64(at, start);
			rec_start(after, PERF_RECORD_MAX + 2, 0);
			rec_u64(after, 0x1122334455667788ULL);
			CHECK(fake_write(&f, rec_end(after)) >= 0);
			CHECK_EQ_U64(ring_snapshot(&f.r), size + 16);

			CHECK_EQ_U64(ring_peek(&f.r, start, &h), 0);
			CHECK_EQ_U64(h->size, size);
			CHECK(memcmp(h, want, size) == 0);
			if (back < size)
				CHECK(h == (const void *)f.scratch);
			else
				CHECK(h == (const void *)(f.data + DATA_SIZE - back));
			CHECK_EQ_U64(record_parse_sample(&layout, h, &got), 0);
			check_sample(&got, &s);

			CHECK_EQ_U64(ring_peek(&f.r, start + size, &next), 0);
			CHECK_EQ_U64(next->type, PERF_RECORD_MAX + 2);
			CHECK_EQ_U64(next->size, 16);
			CHECK_EQ_U64(((const uint64_t *)next)[1], 0x1122334455667788ULL);
			/* The record peeked first is still intact after the second peek. */
			CHECK(memcmp(h, want, size) == 0);
			CHECK_EQ_U64(ring_peek(&f.r, start + size + 16, &next), -EAGAIN);

			ring_consume(&f.r, start + size + 16);
			CHECK_EQ_U64(f.meta->data_tail, start + size + 16);
			free(after);
			fake_done(&f);
		}
	}
}

/* The largest record a u16 size allows, wrapping a ring that can hold it. */
static void test_wrap_max_record(void)
{
	static struct rec w;
	const uint64_t size = 131072;
	const struct perf_event_header *h;
	struct fake f;
	uint64_t start = 3 * size - 1000;

	rec_start(&w, PERF_RECORD_MAX + 3, 0);
	for (uint64_t i = 1; w.n < 65528; i++)
		rec_u64(&w, i * 0x9e3779b97f4a7c15ULL);
	rec_end(&w);
	CHECK_EQ_U64(((struct perf_event_header *)w.b)->size, 65528);

	fake_init(&f, size, start);
	CHECK_EQ_U64(fake_write(&f, (struct perf_event_header *)w.b), start);
	CHECK_EQ_U64(ring_snapshot(&f.r), 65528);
	CHECK_EQ_U64(ring_peek(&f.r, start, &h), 0);
	CHECK(h == (const void *)f.scratch);
	CHECK(memcmp(h, w.b, 65528) == 0);
	fake_done(&f);
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Many laps of records of random sizes: the writer fills whatever space it is given, the
 * reader drains one pass, keeps every pointer it was handed and checks them all at the end of
 * the pass (at most one record per pass wraps, so none is overwritten in scratch), then
 * consumes. Every record carries its sequence number in every word.
 */
static void test_laps(void)
{
	static struct rec w;
	static const struct perf_event_header *held[DATA_SIZE / 8];
	static uint64_t held_seq[DATA_SIZE / 8];
	struct fake f;
	uint64_t seq_w = 0, seq_r = 0, bytes = 0;
	int bad = 0, wraps = 0;

	fake_init(&f, DATA_SIZE, (1ULL << 32) - 2 * DATA_SIZE); /* positions cross 2^32 */
	while (bytes < 400 * DATA_SIZE) {
		const struct perf_event_header *h;
		uint64_t pos;
		int n = 0, r;

		for (;;) {
			uint64_t big = rng() % 8 == 0;
			uint64_t words = 1 + rng() % (big ? 500 : 24);

			rec_start(&w, PERF_RECORD_MAX + 4, (uint16_t)seq_w);
			for (uint64_t i = 1; i < words; i++)
				rec_u64(&w, seq_w * 1000003 + i);
			if (fake_write(&f, rec_end(&w)) < 0)
				break;
			seq_w++;
		}
		ring_snapshot(&f.r);
		for (pos = f.r.tail; (r = ring_peek(&f.r, pos, &h)) == 0; pos += h->size) {
			held[n] = h;
			held_seq[n] = seq_r++;
			if (h == (const void *)f.scratch)
				wraps++;
			n++;
		}
		CHECK_EQ_U64(r, -EAGAIN);
		for (int i = 0; i < n; i++) {
			const uint64_t *v = (const uint64_t *)held[i];

			if (held[i]->type != PERF_RECORD_MAX + 4 ||
			    held[i]->misc != (uint16_t)held_seq[i])
				bad++;
			for (uint64_t j = 1; j < held[i]->size / 8; j++)
				if (v[j] != held_seq[i] * 1000003 + j)
					bad++;
		}
		bytes += pos - f.r.tail;
		ring_consume(&f.r, pos);
		CHECK_EQ_U64(f.meta->data_tail, pos);
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(seq_r, seq_w);
	CHECK(wraps > 100);
	fake_done(&f);
}

/* Writes raw header bytes at the current head and moves data_head by advance. */
static void put_raw_header(struct fake *f, uint16_t size, uint64_t advance)
{
	struct perf_event_header h = { .type = PERF_RECORD_SAMPLE, .size = size };

	fake_put(f, f->meta->data_head, &h, sizeof(h));
	f->meta->data_head += advance;
}

static void test_bad_headers(void)
{
	static const struct {
		uint16_t size;
		uint64_t advance;
	} cases[] = {
		{ 0, 64 },	/* size 0: the reader would spin */
		{ 4, 64 },	/* smaller than a header */
		{ 12, 64 },	/* not a multiple of 8 */
		{ 60, 64 },	/* not a multiple of 8 */
		{ 64, 32 },	/* beyond head */
		{ 16, 8 },	/* beyond head */
		{ 8, 4 },	/* head leaves no room for a header */
	};
	const struct perf_event_header *h = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t starts[2] = { 0, 5 * DATA_SIZE - 8 }; /* middle and very end */

		for (int k = 0; k < 2; k++) {
			struct fake f;

			fake_init(&f, DATA_SIZE, starts[k]);
			put_raw_header(&f, cases[i].size, cases[i].advance);
			CHECK_EQ_U64(ring_snapshot(&f.r), cases[i].advance);
			CHECK_EQ_U64(ring_peek(&f.r, starts[k], &h), -EBADMSG);
			/* The documented recovery: skip to head. */
			ring_consume(&f.r, f.r.head);
			CHECK_EQ_U64(f.meta->data_tail, starts[k] + cases[i].advance);
			CHECK_EQ_U64(ring_peek(&f.r, f.r.tail, &h), -EAGAIN);
			fake_done(&f);
		}
	}

	/* A good record followed by a bad one: the good one still reads. */
	{
		static struct rec w;
		struct fake f;

		fake_init(&f, DATA_SIZE, 0);
		rec_start(&w, PERF_RECORD_MAX + 5, 0);
		rec_u64(&w, 1);
		CHECK(fake_write(&f, rec_end(&w)) >= 0);
		put_raw_header(&f, 0, 16);
		ring_snapshot(&f.r);
		CHECK_EQ_U64(ring_peek(&f.r, 0, &h), 0);
		CHECK_EQ_U64(h->size, 16);
		CHECK_EQ_U64(ring_peek(&f.r, 16, &h), -EBADMSG);
		fake_done(&f);
	}

	/*
	 * A header larger than the data area near its end, with a head that claims that much
	 * data: no kernel writes this, and the copy must not read past the data area.
	 */
	{
		struct fake f;
		uint64_t start = DATA_SIZE - 8;

		fake_init(&f, DATA_SIZE, start);
		put_raw_header(&f, 65528, 65528);
		CHECK_EQ_U64(ring_snapshot(&f.r), 65528);
		CHECK_EQ_U64(ring_peek(&f.r, start, &h), -EBADMSG);
		fake_done(&f);
	}
}

/* ---- record tests ------------------------------------------------------------------------ */

static void test_sample_fields(void)
{
	static struct rec w;
	struct sample_spec s = full_sample();
	struct record_sample got;
	const struct perf_event_header *h;

	/* Every field, kernel and user callchain contexts, dyn_size < size. */
	h = build_sample(&w, &s);
	CHECK_EQ_U64(h->size, 8 + 8 + 8 + 8 + 8 + 8 + 8 + 6 * 8 + 8 + 3 * 8 + 8 + 64 + 8);
	memset(&got, 0, sizeof(got));
	CHECK_EQ_U64(record_parse_sample(&layout, h, &got), 0);
	check_sample(&got, &s);
	CHECK_EQ_U64(got.callchain[0], PERF_CONTEXT_KERNEL);
	CHECK_EQ_U64(got.callchain[4], PERF_CONTEXT_USER);
	CHECK_EQ_U64(got.regs[2], 0x401234);
	CHECK_EQ_U64(got.stack_size, 40);
	CHECK(got.stack == (const uint8_t *)h + h->size - 8 - 64);

	/* dyn_size == size, and a dyn_size beyond size is clamped to the copied bytes. */
	s.dyn_size = 64;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	check_sample(&got, &s);
	s.dyn_size = 1000;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	CHECK_EQ_U64(got.stack_size, 64);

	/* Kernel-only callchain, as the sampler asks for. */
	s = full_sample();
	s.chain_nr = 4;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	check_sample(&got, &s);

	/* No callchain at all. */
	s.chain_nr = 0;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	check_sample(&got, &s);

	/* A kernel thread: regs ABI NONE (no registers follow), stack size 0 (no dyn_size). */
	s = full_sample();
	s.abi = PERF_SAMPLE_REGS_ABI_NONE;
	s.stack_size = 0;
	h = build_sample(&w, &s);
	CHECK_EQ_U64(h->size, 8 + 8 + 8 + 8 + 8 + 8 + 8 + 6 * 8 + 8 + 8);
	CHECK_EQ_U64(record_parse_sample(&layout, h, &got), 0);
	check_sample(&got, &s);

	/* Regs ABI NONE but a stack: the stack starts right after the ABI word. */
	s = full_sample();
	s.abi = PERF_SAMPLE_REGS_ABI_NONE;
	h = build_sample(&w, &s);
	CHECK_EQ_U64(record_parse_sample(&layout, h, &got), 0);
	check_sample(&got, &s);

	/* Registers but no stack. */
	s = full_sample();
	s.stack_size = 0;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	check_sample(&got, &s);

	/* The 32-bit ABI carries the same mask-sized array. */
	s = full_sample();
	s.abi = PERF_SAMPLE_REGS_ABI_32;
	CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), 0);
	check_sample(&got, &s);

	/* The register count follows the mask's popcount: every bit set, and no bit set. */
	{
		struct record_layout wide = layout, none = layout;
		uint64_t regs64[64];

		for (int i = 0; i < 64; i++)
			regs64[i] = 0x1000 + i;
		wide.regs_user_mask = ~0ULL;
		s = full_sample();
		s.regs = regs64;
		s.regs_nr = 64;
		CHECK_EQ_U64(record_parse_sample(&wide, build_sample(&w, &s), &got), 0);
		check_sample(&got, &s);
		CHECK_EQ_U64(got.regs[63], 0x103f);
		/* The same record read with the narrow mask lands in the wrong place. */
		CHECK_EQ_U64(record_parse_sample(&layout, build_sample(&w, &s), &got), -EBADMSG);

		none.regs_user_mask = 0;
		s = full_sample();
		s.regs_nr = 0;
		CHECK_EQ_U64(record_parse_sample(&none, build_sample(&w, &s), &got), 0);
		check_sample(&got, &s);
	}

	/* Not a sample. */
	{
		struct record_id id = { 1, 2, 3, 4 };

		CHECK_EQ_U64(record_parse_sample(&layout, build_comm(&w, false, 1, 2, "x", &id),
						 &got),
			     -EBADMSG);
	}
}

/* Lengths that lie: counts far beyond the record, including ones whose byte size overflows. */
static void test_sample_lies(void)
{
	static struct rec w;
	struct sample_spec s = full_sample();
	struct record_sample got;
	const struct perf_event_header *h = build_sample(&w, &s);
	uint64_t *words = (uint64_t *)w.b;
	/* Word index of callchain nr, regs abi, and stack size in the full sample. */
	size_t nr_at = 6, abi_at = 7 + 6, size_at = abi_at + 1 + 3;
	/* 20 words follow nr, 72 bytes follow the stack size; 2^61 words is 0 bytes mod 2^64. */
	uint64_t nr_lies[] = { 21, 100, 1ULL << 61, 1ULL << 62, 1ULL << 63, ~0ULL };
	uint64_t size_lies[] = { 65, 72, 73, 1ULL << 63, ~0ULL - 7, ~0ULL };

	for (size_t i = 0; i < sizeof(nr_lies) / sizeof(nr_lies[0]); i++) {
		build_sample(&w, &s);
		words[nr_at] = nr_lies[i];
		CHECK_EQ_U64(record_parse_sample(&layout, h, &got), -EBADMSG);
	}
	/* 65 and 72 fit but leave no whole word for dyn_size. */
	for (size_t i = 0; i < sizeof(size_lies) / sizeof(size_lies[0]); i++) {
		build_sample(&w, &s);
		words[size_at] = size_lies[i];
		CHECK_EQ_U64(record_parse_sample(&layout, h, &got), -EBADMSG);
	}
	/* A wrong ABI value with regs present is still a record with regs. */
	build_sample(&w, &s);
	words[abi_at] = 7;
	CHECK_EQ_U64(record_parse_sample(&layout, h, &got), 0);
	CHECK_EQ_U64(got.regs_nr, 3);
}

/*
 * Every truncation of every sample shape: header.size claims fewer bytes than the sample
 * needs, and the record sits in a heap block of exactly that many bytes.
 */
static void test_sample_truncated(void)
{
	static struct rec w;
	struct sample_spec shapes[4];
	int wrong = 0, ok = 0;

	shapes[0] = full_sample();
	shapes[1] = full_sample();
	shapes[1].abi = PERF_SAMPLE_REGS_ABI_NONE;
	shapes[1].stack_size = 0;
	shapes[2] = full_sample();
	shapes[2].stack_size = 0;
	shapes[3] = full_sample();
	shapes[3].chain_nr = 0;
	shapes[3].abi = PERF_SAMPLE_REGS_ABI_NONE;

	for (int k = 0; k < 4; k++) {
		const struct perf_event_header *h = build_sample(&w, &shapes[k]);

		for (size_t len = 0; len <= h->size; len++) {
			struct perf_event_header *t = truncated(h, len);
			struct record_sample got;
			struct record_id id;
			int want = len == h->size ? 0 : -EBADMSG;

			if (record_parse_sample(&layout, t, &got) != want)
				wrong++;
			if (record_parse_id(&layout, t, &id) != want)
				wrong++;
			if (want == 0) {
				check_sample(&got, &shapes[k]);
				CHECK_EQ_U64(id.time, shapes[k].id.time);
				ok++;
			}
			free(t);
		}
	}
	CHECK_EQ_U64(wrong, 0);
	CHECK_EQ_U64(ok, 4);
}

static void test_mmap2(void)
{
	static struct rec w;
	static const uint8_t build_id[20] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6,
					      7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct mmap2_spec m = {
		.id = { .pid = 300, .tid = 300, .time = 999000, .cpu = 2 },
		.addr = 0x7f0000001000ULL, .len = 0x1e5000, .pgoff = 0x28000,
		.maj = 259, .min = 2, .ino = 1234567, .ino_generation = 77,
		.prot = 5, .flags = 0x1002, .filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	};
	const struct perf_event_header *h;
	struct record_mmap2 got;
	struct record_id id;

	h = build_mmap2(&w, &m);
	CHECK_EQ_U64(h->size % 8, 0);
	CHECK_EQ_U64(record_parse_mmap2(&layout, h, &got), 0);
	CHECK_EQ_U64(got.id.pid, 300);
	CHECK_EQ_U64(got.id.tid, 300);
	CHECK_EQ_U64(got.id.time, 999000);
	CHECK_EQ_U64(got.id.cpu, 2);
	CHECK_EQ_U64(got.addr, 0x7f0000001000ULL);
	CHECK_EQ_U64(got.len, 0x1e5000);
	CHECK_EQ_U64(got.pgoff, 0x28000);
	CHECK_EQ_U64(got.maj, 259);
	CHECK_EQ_U64(got.min, 2);
	CHECK_EQ_U64(got.ino, 1234567);
	CHECK_EQ_U64(got.prot, 5);
	CHECK_EQ_U64(got.flags, 0x1002);
	CHECK(!got.has_build_id);
	CHECK_STREQ(got.filename, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	CHECK_EQ_U64(record_parse_id(&layout, h, &id), 0);
	CHECK_EQ_U64(id.time, 999000);
	CHECK_EQ_U64(id.pid, 300);

	/* A name whose NUL fills the last word exactly: no padding. */
	m.filename = "/bin/ls";
	CHECK_EQ_U64(record_parse_mmap2(&layout, build_mmap2(&w, &m), &got), 0);
	CHECK_STREQ(got.filename, "/bin/ls");

	/* With a build id the union holds it instead of maj/min/ino. */
	m.filename = "[vdso]";
	m.build_id = build_id;
	h = build_mmap2(&w, &m);
	CHECK(h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID);
	memset(&got, 0xff, sizeof(got));
	CHECK_EQ_U64(record_parse_mmap2(&layout, h, &got), 0);
	CHECK(got.has_build_id);
	CHECK_EQ_U64(got.maj, 0);
	CHECK_EQ_U64(got.min, 0);
	CHECK_EQ_U64(got.ino, 0);
	CHECK_EQ_U64(got.addr, 0x7f0000001000ULL);
	CHECK_EQ_U64(got.pgoff, 0x28000);
	CHECK_EQ_U64(got.prot, 5);
	CHECK_EQ_U64(got.flags, 0x1002);
	CHECK_STREQ(got.filename, "[vdso]");
	CHECK_EQ_U64(got.id.time, 999000);
	CHECK_EQ_U64(got.id.cpu, 2);

	/* No NUL inside the body: the last byte before the trailer is overwritten. */
	h = build_mmap2(&w, &m);
	memset(w.b + h->size - 24 - 8, 'x', 8);
	CHECK_EQ_U64(record_parse_mmap2(&layout, h, &got), -EBADMSG);

	/* Not an mmap2. */
	h = build_lost(&w, 1, 2, &m.id);
	CHECK_EQ_U64(record_parse_mmap2(&layout, h, &got), -EBADMSG);
}

static void test_comm(void)
{
	static struct rec w;
	struct record_id id = { .pid = 500, .tid = 501, .time = 31337, .cpu = 7 };
	const struct perf_event_header *h;
	struct record_comm got;
	struct record_id rid;

	h = build_comm(&w, false, 500, 501, "kworker/u8:2", &id);
	CHECK_EQ_U64(record_parse_comm(&layout, h, &got), 0);
	CHECK_EQ_U64(got.pid, 500);
	CHECK_EQ_U64(got.tid, 501);
	CHECK(!got.exec);
	CHECK_STREQ(got.comm, "kworker/u8:2");
	CHECK_EQ_U64(got.id.time, 31337);
	CHECK_EQ_U64(got.id.cpu, 7);
	CHECK_EQ_U64(got.id.tid, 501);

	h = build_comm(&w, true, 500, 500, "python3", &id);
	CHECK_EQ_U64(h->misc, PERF_RECORD_MISC_COMM_EXEC);
	CHECK_EQ_U64(record_parse_comm(&layout, h, &got), 0);
	CHECK(got.exec);
	CHECK_EQ_U64(got.tid, 500);
	CHECK_STREQ(got.comm, "python3");
	CHECK_EQ_U64(record_parse_id(&layout, h, &rid), 0);
	CHECK_EQ_U64(rid.time, 31337);
	CHECK_EQ_U64(rid.pid, 500);
	CHECK_EQ_U64(rid.tid, 501);
	CHECK_EQ_U64(rid.cpu, 7);

	/* An empty name is still a string. */
	h = build_comm(&w, false, 1, 1, "", &id);
	CHECK_EQ_U64(record_parse_comm(&layout, h, &got), 0);
	CHECK_STREQ(got.comm, "");

	CHECK_EQ_U64(record_parse_comm(&layout, build_lost(&w, 1, 2, &id), &got), -EBADMSG);
}

static void test_fork_exit(void)
{
	static struct rec w;
	struct record_id id = { .pid = 600, .tid = 601, .time = 8000, .cpu = 0 };
	const struct perf_event_header *h;
	struct record_task got;
	struct record_id rid;

	h = build_task(&w, PERF_RECORD_FORK, 700, 600, 702, 601, 7999, &id);
	CHECK_EQ_U64(h->size, 8 + 24 + 24);
	CHECK_EQ_U64(record_parse_task(&layout, h, &got), 0);
	CHECK_EQ_U64(got.pid, 700);
	CHECK_EQ_U64(got.ppid, 600);
	CHECK_EQ_U64(got.tid, 702);
	CHECK_EQ_U64(got.ptid, 601);
	CHECK_EQ_U64(got.time, 7999);
	CHECK_EQ_U64(got.id.time, 8000);
	CHECK_EQ_U64(got.id.pid, 600);
	CHECK_EQ_U64(got.id.tid, 601);
	/* record_parse_id takes the trailer's time, not the body's. */
	CHECK_EQ_U64(record_parse_id(&layout, h, &rid), 0);
	CHECK_EQ_U64(rid.time, 8000);

	h = build_task(&w, PERF_RECORD_EXIT, 700, 600, 700, 600, 9999, &id);
	CHECK_EQ_U64(record_parse_task(&layout, h, &got), 0);
	CHECK_EQ_U64(got.pid, 700);
	CHECK_EQ_U64(got.ppid, 600);
	CHECK_EQ_U64(got.tid, 700);
	CHECK_EQ_U64(got.ptid, 600);
	CHECK_EQ_U64(got.time, 9999);
	CHECK_EQ_U64(got.id.time, 8000);

	h = build_comm(&w, false, 1, 1, "x", &id);
	CHECK_EQ_U64(record_parse_task(&layout, h, &got), -EBADMSG);
}

static void test_lost_throttle(void)
{
	static struct rec w;
	struct record_id id = { .pid = 0, .tid = 0, .time = 4444, .cpu = 5 };
	const struct perf_event_header *h;
	struct record_lost got;
	struct record_id rid;

	/* The event id comes first and must not be taken for the count. */
	h = build_lost(&w, 0xabcdef, 17, &id);
	CHECK_EQ_U64(h->size, 8 + 16 + 24);
	CHECK_EQ_U64(record_parse_lost(&layout, h, &got), 0);
	CHECK_EQ_U64(got.lost, 17);
	CHECK_EQ_U64(got.id.time, 4444);
	CHECK_EQ_U64(got.id.cpu, 5);
	CHECK_EQ_U64(record_parse_id(&layout, h, &rid), 0);
	CHECK_EQ_U64(rid.time, 4444);

	/* PERF_RECORD_LOST_SAMPLES: { u64 lost; } with no id. */
	rec_start(&w, PERF_RECORD_LOST_SAMPLES, 0);
	rec_u64(&w, 23);
	rec_trailer(&w, &id);
	h = rec_end(&w);
	CHECK_EQ_U64(record_parse_lost(&layout, h, &got), 0);
	CHECK_EQ_U64(got.lost, 23);
	CHECK_EQ_U64(got.id.time, 4444);

	h = build_task(&w, PERF_RECORD_EXIT, 1, 1, 1, 1, 1, &id);
	CHECK_EQ_U64(record_parse_lost(&layout, h, &got), -EBADMSG);

	/* THROTTLE and UNTHROTTLE carry a time of their own; the trailer's is what counts. */
	id.time = 5555;
	h = build_throttle(&w, PERF_RECORD_THROTTLE, 5554, 9, 9, &id);
	CHECK_EQ_U64(record_parse_id(&layout, h, &rid), 0);
	CHECK_EQ_U64(rid.time, 5555);
	CHECK_EQ_U64(rid.cpu, 5);
	id.time = 6666;
	h = build_throttle(&w, PERF_RECORD_UNTHROTTLE, 6665, 9, 9, &id);
	CHECK_EQ_U64(record_parse_id(&layout, h, &rid), 0);
	CHECK_EQ_U64(rid.time, 6666);
}

static void test_parse_id(void)
{
	static struct rec w;
	struct sample_spec s = full_sample();
	struct record_id id = { .pid = 10, .tid = 11, .time = 1000, .cpu = 2 };
	struct record_id rid;
	struct record_layout bare = layout;

	/* A sample has no trailer: its own pid, tid, time and cpu. */
	CHECK_EQ_U64(record_parse_id(&layout, build_sample(&w, &s), &rid), 0);
	CHECK_EQ_U64(rid.pid, 4242);
	CHECK_EQ_U64(rid.tid, 4243);
	CHECK_EQ_U64(rid.time, 123456789012345ULL);
	CHECK_EQ_U64(rid.cpu, 3);

	CHECK_EQ_U64(record_parse_id(&layout, build_task(&w, PERF_RECORD_FORK, 1, 2, 3, 4, 999,
							 &id),
				     &rid),
		     0);
	CHECK_EQ_U64(rid.pid, 10);
	CHECK_EQ_U64(rid.tid, 11);
	CHECK_EQ_U64(rid.time, 1000);
	CHECK_EQ_U64(rid.cpu, 2);

	/* A header too short for the trailer. */
	rec_start(&w, PERF_RECORD_THROTTLE, 0);
	rec_u64(&w, 1);
	CHECK_EQ_U64(record_parse_id(&layout, rec_end(&w), &rid), -EBADMSG);

	/* Without sample_id_all, side-band records carry no ids at all. */
	bare.sample_id_all = false;
	rec_start(&w, PERF_RECORD_COMM, 0);
	rec_u32x2(&w, 5, 6);
	rec_string(&w, "bare");
	CHECK_EQ_U64(record_parse_id(&bare, rec_end(&w), &rid), 0);
	CHECK_EQ_U64(rid.time, 0);
	CHECK_EQ_U64(rid.pid, 0);
	{
		struct record_comm c;

		CHECK_EQ_U64(record_parse_comm(&bare, rec_end(&w), &c), 0);
		CHECK_STREQ(c.comm, "bare");
		CHECK_EQ_U64(c.pid, 5);
	}
}

/*
 * Every truncation of every side-band record: never a read past header.size; a truncation by
 * whole words (the only kind a ring hands out) is always -EBADMSG. A truncation by a few
 * bytes can leave a padded string intact, so only memory safety is checked for those.
 */
static void test_sideband_truncated(void)
{
	static const uint8_t build_id[20] = { 1 };
	struct record_id id = { .pid = 1, .tid = 2, .time = 3, .cpu = 4 };
	struct mmap2_spec m = {
		.id = id, .addr = 0x1000, .len = 0x1000, .prot = 5, .filename = "/usr/bin/truex",
	};
	static struct rec recs[8];
	int wrong = 0, ok = 0;

	build_mmap2(&recs[0], &m);
	m.build_id = build_id;
	build_mmap2(&recs[1], &m);
	build_comm(&recs[2], true, 1, 2, "comm-name-15chr", &id);
	build_task(&recs[3], PERF_RECORD_FORK, 1, 2, 3, 4, 5, &id);
	build_task(&recs[4], PERF_RECORD_EXIT, 1, 2, 3, 4, 5, &id);
	build_lost(&recs[5], 1, 2, &id);
	build_throttle(&recs[6], PERF_RECORD_THROTTLE, 1, 2, 3, &id);
	rec_start(&recs[7], PERF_RECORD_LOST_SAMPLES, 0);
	rec_u64(&recs[7], 9);
	rec_trailer(&recs[7], &id);
	rec_end(&recs[7]);

	for (int k = 0; k < 8; k++) {
		const struct perf_event_header *h = (const struct perf_event_header *)recs[k].b;

		for (size_t len = 0; len <= h->size; len++) {
			struct perf_event_header *t = truncated(h, len);
			bool whole = len % 8 == 0;
			bool full = len == h->size;
			union {
				struct record_mmap2 m;
				struct record_comm c;
				struct record_task t;
				struct record_lost l;
			} u;
			struct record_id rid;
			int r;

			switch (h->type) {
			case PERF_RECORD_MMAP2:
				r = record_parse_mmap2(&layout, t, &u.m);
				break;
			case PERF_RECORD_COMM:
				r = record_parse_comm(&layout, t, &u.c);
				break;
			case PERF_RECORD_FORK:
			case PERF_RECORD_EXIT:
				r = record_parse_task(&layout, t, &u.t);
				break;
			case PERF_RECORD_LOST:
			case PERF_RECORD_LOST_SAMPLES:
				r = record_parse_lost(&layout, t, &u.l);
				break;
			default:
				r = full ? 0 : -EBADMSG; /* only the trailer to parse */
				break;
			}
			if (full && r != 0)
				wrong++;
			else if (!full && whole && r != -EBADMSG)
				wrong++;
			else if (r != 0 && r != -EBADMSG)
				wrong++;
			ok += full && r == 0;

			r = record_parse_id(&layout, t, &rid);
			if (len < 8 + 24 ? r != -EBADMSG : r != 0)
				wrong++;
			free(t);
		}
	}
	CHECK_EQ_U64(wrong, 0);
	CHECK_EQ_U64(ok, 8);
}

int main(void)
{
	test_init();
	test_in_order();
	test_consume_gives_space();
	test_wrap_offsets();
	test_wrap_max_record();
	test_laps();
	test_bad_headers();
	test_sample_fields();
	test_sample_lies();
	test_sample_truncated();
	test_mmap2();
	test_comm();
	test_fork_exit();
	test_lost_throttle();
	test_parse_id();
	test_sideband_truncated();
	return check_finish("test-ring");
}
