/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf record decoding. The kernel writes sample fields in the fixed order of
 * perf_output_sample() and the sample_id trailer in the order of __perf_event_header__init_id()
 * (TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER); we read whichever the layout asked for.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "record.h"

struct cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static int take(struct cursor *c, void *dst, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -EBADMSG;
	memcpy(dst, c->p, n);
	c->p += n;
	return 0;
}

static int take_u64(struct cursor *c, uint64_t *v)
{
	return take(c, v, sizeof(*v));
}

static int skip(struct cursor *c, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -EBADMSG;
	c->p += n;
	return 0;
}

static size_t trailer_size(const struct record_layout *l)
{
	uint64_t t = l->sample_type;
	size_t n = 0;

	if (!l->sample_id_all)
		return 0;
	n += (t & PERF_SAMPLE_TID) ? 8 : 0;
	n += (t & PERF_SAMPLE_TIME) ? 8 : 0;
	n += (t & PERF_SAMPLE_ID) ? 8 : 0;
	n += (t & PERF_SAMPLE_STREAM_ID) ? 8 : 0;
	n += (t & PERF_SAMPLE_CPU) ? 8 : 0;
	n += (t & PERF_SAMPLE_IDENTIFIER) ? 8 : 0;
	return n;
}

static int parse_trailer(const struct record_layout *l, const struct perf_event_header *h,
			 struct record_id *ret)
{
	uint64_t t = l->sample_type;
	size_t n = trailer_size(l);
	struct record_id id = { 0 };
	struct cursor c;
	uint32_t pair[2];

	if (h->size < sizeof(*h) + n)
		return -EBADMSG;
	c.p = (const uint8_t *)h + h->size - n;
	c.end = (const uint8_t *)h + h->size;
	if ((t & PERF_SAMPLE_TID) && take(&c, pair, 8) == 0) {
		id.pid = pair[0];
		id.tid = pair[1];
	}
	if (t & PERF_SAMPLE_TIME)
		(void)take_u64(&c, &id.time);
	if (t & PERF_SAMPLE_ID)
		(void)skip(&c, 8);
	if (t & PERF_SAMPLE_STREAM_ID)
		(void)skip(&c, 8);
	if ((t & PERF_SAMPLE_CPU) && take(&c, pair, 8) == 0)
		id.cpu = pair[0];
	*ret = id;
	return 0;
}

/* The body of a side-band record: from after the header to before the trailer. */
static int body(const struct record_layout *l, const struct perf_event_header *h,
		struct cursor *ret)
{
	size_t n = trailer_size(l);

	if (h->size < sizeof(*h) + n)
		return -EBADMSG;
	ret->p = (const uint8_t *)(h + 1);
	ret->end = (const uint8_t *)h + h->size - n;
	return 0;
}

int record_parse_sample(const struct record_layout *l, const struct perf_event_header *h,
			struct record_sample *ret)
{
	uint64_t t = l->sample_type;
	struct record_sample s = { 0 };
	struct cursor c = { (const uint8_t *)(h + 1), (const uint8_t *)h + h->size };
	uint32_t pair[2];
	int r;

	if (h->type != PERF_RECORD_SAMPLE || h->size < sizeof(*h))
		return -EBADMSG;
	if ((t & PERF_SAMPLE_IDENTIFIER) && (r = skip(&c, 8)) < 0)
		return r;
	if ((t & PERF_SAMPLE_IP) && (r = take_u64(&c, &s.ip)) < 0)
		return r;
	if (t & PERF_SAMPLE_TID) {
		if ((r = take(&c, pair, 8)) < 0)
			return r;
		s.id.pid = pair[0];
		s.id.tid = pair[1];
	}
	if ((t & PERF_SAMPLE_TIME) && (r = take_u64(&c, &s.id.time)) < 0)
		return r;
	if ((t & PERF_SAMPLE_ADDR) && (r = skip(&c, 8)) < 0)
		return r;
	if ((t & PERF_SAMPLE_ID) && (r = skip(&c, 8)) < 0)
		return r;
	if ((t & PERF_SAMPLE_STREAM_ID) && (r = skip(&c, 8)) < 0)
		return r;
	if (t & PERF_SAMPLE_CPU) {
		if ((r = take(&c, pair, 8)) < 0)
			return r;
		s.id.cpu = pair[0];
	}
	if ((t & PERF_SAMPLE_PERIOD) && (r = take_u64(&c, &s.period)) < 0)
		return r;
	if (t & (PERF_SAMPLE_READ | PERF_SAMPLE_RAW | PERF_SAMPLE_BRANCH_STACK))
		return -EOPNOTSUPP; /* never requested; their layouts are not parsed here */
	if (t & PERF_SAMPLE_CALLCHAIN) {
		if ((r = take_u64(&c, &s.callchain_nr)) < 0)
			return r;
		if (s.callchain_nr > (size_t)(c.end - c.p) / 8)
			return -EBADMSG;
		s.callchain = (const uint64_t *)c.p;
		c.p += s.callchain_nr * 8;
	}
	if (t & PERF_SAMPLE_REGS_USER) {
		if ((r = take_u64(&c, &s.regs_abi)) < 0)
			return r;
		if (s.regs_abi != PERF_SAMPLE_REGS_ABI_NONE) {
			s.regs_nr = __builtin_popcountll(l->regs_user_mask);
			if (s.regs_nr > (size_t)(c.end - c.p) / 8)
				return -EBADMSG;
			s.regs = (const uint64_t *)c.p;
			c.p += s.regs_nr * 8;
		}
	}
	if (t & PERF_SAMPLE_STACK_USER) {
		uint64_t size, dyn_size;

		if ((r = take_u64(&c, &size)) < 0)
			return r;
		/* size 0 means no stack was copied and no dyn_size follows. */
		if (size > 0) {
			if (size > (size_t)(c.end - c.p))
				return -EBADMSG;
			s.stack = c.p;
			c.p += size;
			if ((r = take_u64(&c, &dyn_size)) < 0)
				return r;
			s.stack_size = dyn_size < size ? dyn_size : size;
		}
	}
	if (t & (PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC | PERF_SAMPLE_TRANSACTION |
		 PERF_SAMPLE_REGS_INTR | PERF_SAMPLE_PHYS_ADDR))
		return -EOPNOTSUPP; /* never requested */
	/* Linux 5.7: the id of the cgroup (v2) the task was in when sampled. */
	if ((t & PERF_SAMPLE_CGROUP) && (r = take_u64(&c, &s.cgroup)) < 0)
		return r;
	*ret = s;
	return 0;
}

int record_parse_id(const struct record_layout *l, const struct perf_event_header *h,
		    struct record_id *ret)
{
	if (h->type == PERF_RECORD_SAMPLE) {
		struct record_sample s;
		int r = record_parse_sample(l, h, &s);

		if (r < 0)
			return r;
		*ret = s.id;
		return 0;
	}
	return parse_trailer(l, h, ret);
}

/* A NUL-terminated string that fills the rest of the body (padded to 8 bytes). */
static int take_string(struct cursor *c, const char **ret)
{
	const char *s = (const char *)c->p;

	if (c->p >= c->end || !memchr(s, '\0', c->end - c->p))
		return -EBADMSG;
	*ret = s;
	c->p = c->end;
	return 0;
}

int record_parse_mmap2(const struct record_layout *l, const struct perf_event_header *h,
		       struct record_mmap2 *ret)
{
	struct record_mmap2 m = { 0 };
	struct cursor c;
	uint32_t pair[2];
	int r;

	if (h->type != PERF_RECORD_MMAP2)
		return -EBADMSG;
	if ((r = body(l, h, &c)) < 0 || (r = parse_trailer(l, h, &m.id)) < 0)
		return r;
	if ((r = take(&c, pair, 8)) < 0 || (r = take_u64(&c, &m.addr)) < 0 ||
	    (r = take_u64(&c, &m.len)) < 0 || (r = take_u64(&c, &m.pgoff)) < 0)
		return r;
	m.id.pid = pair[0];
	m.id.tid = pair[1];
	if (h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID) {
		/* The union holds {u8 build_id_size, u8 res[3], u8 build_id[20]} instead. */
		m.has_build_id = true;
		if ((r = skip(&c, 24)) < 0)
			return r;
	} else {
		uint64_t ino, gen;

		if ((r = take(&c, pair, 8)) < 0 || (r = take_u64(&c, &ino)) < 0 ||
		    (r = take_u64(&c, &gen)) < 0)
			return r;
		m.maj = pair[0];
		m.min = pair[1];
		m.ino = ino;
	}
	if ((r = take(&c, pair, 8)) < 0)
		return r;
	m.prot = pair[0];
	m.flags = pair[1];
	if ((r = take_string(&c, &m.filename)) < 0)
		return r;
	*ret = m;
	return 0;
}

int record_parse_comm(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_comm *ret)
{
	struct record_comm m = { 0 };
	struct cursor c;
	uint32_t pair[2];
	int r;

	if (h->type != PERF_RECORD_COMM)
		return -EBADMSG;
	if ((r = body(l, h, &c)) < 0 || (r = parse_trailer(l, h, &m.id)) < 0)
		return r;
	if ((r = take(&c, pair, 8)) < 0 || (r = take_string(&c, &m.comm)) < 0)
		return r;
	m.pid = pair[0];
	m.tid = pair[1];
	m.exec = h->misc & PERF_RECORD_MISC_COMM_EXEC;
	*ret = m;
	return 0;
}

int record_parse_task(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_task *ret)
{
	struct record_task m = { 0 };
	struct cursor c;
	uint32_t v[4];
	int r;

	if (h->type != PERF_RECORD_FORK && h->type != PERF_RECORD_EXIT)
		return -EBADMSG;
	if ((r = body(l, h, &c)) < 0 || (r = parse_trailer(l, h, &m.id)) < 0)
		return r;
	if ((r = take(&c, v, sizeof(v))) < 0 || (r = take_u64(&c, &m.time)) < 0)
		return r;
	m.pid = v[0];
	m.ppid = v[1];
	m.tid = v[2];
	m.ptid = v[3];
	*ret = m;
	return 0;
}

int record_parse_cgroup(const struct record_layout *l, const struct perf_event_header *h,
			struct record_cgroup *ret)
{
	struct record_cgroup m = { 0 };
	struct cursor c;
	int r;

	if (h->type != PERF_RECORD_CGROUP)
		return -EBADMSG;
	if ((r = body(l, h, &c)) < 0 || (r = parse_trailer(l, h, &m.id)) < 0)
		return r;
	if ((r = take_u64(&c, &m.cgroup)) < 0 || (r = take_string(&c, &m.path)) < 0)
		return r;
	*ret = m;
	return 0;
}

int record_parse_lost(const struct record_layout *l, const struct perf_event_header *h,
		      struct record_lost *ret)
{
	struct record_lost m = { 0 };
	struct cursor c;
	int r;

	if (h->type != PERF_RECORD_LOST && h->type != PERF_RECORD_LOST_SAMPLES)
		return -EBADMSG;
	if ((r = body(l, h, &c)) < 0 || (r = parse_trailer(l, h, &m.id)) < 0)
		return r;
	if (h->type == PERF_RECORD_LOST && (r = skip(&c, 8)) < 0) /* the event id */
		return r;
	if ((r = take_u64(&c, &m.lost)) < 0)
		return r;
	*ret = m;
	return 0;
}
