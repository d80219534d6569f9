/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unwind snapshot files (format in snapshot.h).
 *
 * The reader trusts nothing: every count and length is checked against the caps of
 * snapshot.h before anything is allocated, padding must be zero (a misframed file shows up
 * at the first pad, not as garbage registers three fields later), strings must be free of
 * NUL and build-ids hex, and a file that ends inside a snapshot is -EBADMSG. Allocation is
 * bounded by the caps: at most SNAPSHOT_MAX_STACK_BYTES of stack, SNAPSHOT_MAX_MODULES paths
 * of at most 64 KiB each. Offsets for padding count from the snapshot's magic, so snapshots
 * can be concatenated (each one's length is a multiple of 8 as long as it has a module).
 *
 * Library-like: returns -errno, never logs. Not thread-safe per FILE (stdio locks anyway).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

/* perf copies at most 64 KiB of stack per sample; fixtures may hold more, not unboundedly. */
#define SNAPSHOT_MAX_STACK_BYTES ((uint64_t)16 << 20)

struct rd {
	FILE *f;
	uint64_t off; /* bytes consumed since the magic */
};

/* Reads exactly n bytes. -EBADMSG on a short read: the file ends inside a snapshot. */
static int rd_bytes(struct rd *r, void *p, size_t n)
{
	if (n && fread(p, 1, n, r->f) != n)
		return ferror(r->f) ? -EIO : -EBADMSG;
	r->off += n;
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *ret)
{
	uint16_t v;
	int e = rd_bytes(r, &v, sizeof(v));

	if (e < 0)
		return e;
	*ret = le16toh(v);
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *ret)
{
	uint32_t v;
	int e = rd_bytes(r, &v, sizeof(v));

	if (e < 0)
		return e;
	*ret = le32toh(v);
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *ret)
{
	uint64_t v;
	int e = rd_bytes(r, &v, sizeof(v));

	if (e < 0)
		return e;
	*ret = le64toh(v);
	return 0;
}

/* Consumes the zero padding up to the next multiple of 8 from the magic. */
static int rd_pad(struct rd *r)
{
	uint8_t pad[8];
	size_t n = (8 - (r->off & 7)) & 7;
	int e = rd_bytes(r, pad, n);

	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++)
		if (pad[i])
			return -EBADMSG;
	return 0;
}

/* A u16-length-prefixed string, returned NUL-terminated and owned by the caller. */
static int rd_str(struct rd *r, bool hex, char **ret)
{
	uint16_t len;
	char *s;
	int e;

	e = rd_u16(r, &len);
	if (e < 0)
		return e;
	s = malloc((size_t)len + 1);
	if (!s)
		return -ENOMEM;
	e = rd_bytes(r, s, len);
	if (e < 0)
		goto fail;
	s[len] = '\0';
	e = -EBADMSG;
	if (strlen(s) != len)
		goto fail; /* an embedded NUL */
	if (hex && strspn(s, "0123456789abcdef") != len)
		goto fail;
	*ret = s;
	return 0;
fail:
	free(s);
	return e;
}

static int read_modules(struct rd *r, struct snapshot *s)
{
	uint32_t n;
	int e;

	e = rd_u32(r, &n);
	if (e < 0)
		return e;
	if (n > SNAPSHOT_MAX_MODULES)
		return -EBADMSG;
	if (n == 0)
		return 0;
	s->modules = calloc(n, sizeof(*s->modules));
	if (!s->modules)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct snapshot_module *m = &s->modules[i];

		if ((e = rd_u64(r, &m->start)) < 0 || (e = rd_u64(r, &m->end)) < 0 ||
		    (e = rd_u64(r, &m->pgoff)) < 0)
			return e;
		/* Count it now: snapshot_done() frees the strings of modules [0, n_modules). */
		s->n_modules = i + 1;
		if ((e = rd_str(r, false, &m->path)) < 0 || (e = rd_str(r, true, &m->build_id)) < 0)
			return e;
		if ((e = rd_pad(r)) < 0)
			return e;
		if (m->start >= m->end)
			return -EBADMSG;
	}
	return 0;
}

static int read_one(struct rd *r, struct snapshot *s)
{
	uint32_t arch, pad;
	int e;

	if ((e = rd_u32(r, &arch)) < 0 || (e = rd_u32(r, &s->flags)) < 0)
		return e;
	if (arch >= _PUW_ARCH_MAX || (s->flags & ~(uint32_t)SNAPSHOT_F_EXPECTED_IS_RA))
		return -EBADMSG;
	s->arch = (enum puw_arch)arch;

	if ((e = rd_u64(r, &s->regs.valid)) < 0)
		return e;
	if (PUW_REGS_MAX < 64 && (s->regs.valid >> PUW_REGS_MAX))
		return -EBADMSG;
	for (unsigned i = 0; i < PUW_REGS_MAX; i++)
		if ((e = rd_u64(r, &s->regs.r[i])) < 0)
			return e;

	if ((e = rd_u64(r, &s->stack_start)) < 0 || (e = rd_u64(r, &s->stack_size)) < 0)
		return e;
	/* The copy must not wrap the address space: [start, start + size) is a real range. */
	if (s->stack_size > SNAPSHOT_MAX_STACK_BYTES ||
	    s->stack_start + s->stack_size < s->stack_start)
		return -EBADMSG;
	s->stack = malloc(s->stack_size ? s->stack_size : 1);
	if (!s->stack)
		return -ENOMEM;
	if ((e = rd_bytes(r, s->stack, s->stack_size)) < 0)
		return e;
	if ((e = rd_pad(r)) < 0)
		return e;

	if ((e = read_modules(r, s)) < 0)
		return e;

	if ((e = rd_u32(r, &s->n_expected)) < 0 || (e = rd_u32(r, &pad)) < 0)
		return e;
	if (s->n_expected > SNAPSHOT_MAX_EXPECTED || pad != 0)
		return -EBADMSG;
	if (s->n_expected) {
		s->expected = calloc(s->n_expected, sizeof(*s->expected));
		if (!s->expected)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->n_expected; i++)
			if ((e = rd_u64(r, &s->expected[i])) < 0)
				return e;
	}

	if ((e = rd_u32(r, &s->pid)) < 0 || (e = rd_u32(r, &s->tid)) < 0 ||
	    (e = rd_u64(r, &s->time_ns)) < 0)
		return e;
	return 0;
}

int snapshot_read(FILE *f, struct snapshot *ret)
{
	struct snapshot s = {0};
	struct rd r = {.f = f};
	char magic[8];
	size_t got;
	int e;

	got = fread(magic, 1, sizeof(magic), f);
	if (got == 0)
		return ferror(f) ? -EIO : 0;
	if (got != sizeof(magic) || memcmp(magic, SNAPSHOT_MAGIC, sizeof(magic)) != 0)
		return -EBADMSG;
	r.off = sizeof(magic);

	e = read_one(&r, &s);
	if (e < 0) {
		snapshot_done(&s);
		return e;
	}
	*ret = s;
	return 1;
}

struct wr {
	FILE *f;
	uint64_t off;
	bool failed;
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (n && !w->failed && fwrite(p, 1, n, w->f) != n)
		w->failed = true;
	w->off += n;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	v = htole16(v);
	wr_bytes(w, &v, sizeof(v));
}

static void wr_u32(struct wr *w, uint32_t v)
{
	v = htole32(v);
	wr_bytes(w, &v, sizeof(v));
}

static void wr_u64(struct wr *w, uint64_t v)
{
	v = htole64(v);
	wr_bytes(w, &v, sizeof(v));
}

static void wr_pad(struct wr *w)
{
	static const uint8_t zeros[8];

	wr_bytes(w, zeros, (8 - (w->off & 7)) & 7);
}

static void wr_str(struct wr *w, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	wr_u16(w, (uint16_t)len);
	wr_bytes(w, s, len);
}

/* What the reader would reject is refused here, so a written file always reads back. */
static bool snapshot_valid(const struct snapshot *s)
{
	if ((unsigned)s->arch >= _PUW_ARCH_MAX || (s->flags & ~(uint32_t)SNAPSHOT_F_EXPECTED_IS_RA))
		return false;
	if (PUW_REGS_MAX < 64 && (s->regs.valid >> PUW_REGS_MAX))
		return false;
	if (s->stack_size > SNAPSHOT_MAX_STACK_BYTES || (s->stack_size && !s->stack) ||
	    s->stack_start + s->stack_size < s->stack_start)
		return false;
	if (s->n_modules > SNAPSHOT_MAX_MODULES || (s->n_modules && !s->modules))
		return false;
	for (uint32_t i = 0; i < s->n_modules; i++) {
		const struct snapshot_module *m = &s->modules[i];
		const char *b = m->build_id ? m->build_id : "";

		if (m->start >= m->end || (m->path && strlen(m->path) > UINT16_MAX))
			return false;
		if (strlen(b) > UINT16_MAX || strspn(b, "0123456789abcdef") != strlen(b))
			return false;
	}
	return s->n_expected <= SNAPSHOT_MAX_EXPECTED && (!s->n_expected || s->expected);
}

int snapshot_write(FILE *f, const struct snapshot *s)
{
	struct wr w = {.f = f};

	if (!snapshot_valid(s))
		return -EINVAL;
	wr_bytes(&w, SNAPSHOT_MAGIC, 8);
	wr_u32(&w, (uint32_t)s->arch);
	wr_u32(&w, s->flags);
	wr_u64(&w, s->regs.valid);
	for (unsigned i = 0; i < PUW_REGS_MAX; i++)
		wr_u64(&w, s->regs.r[i]);
	wr_u64(&w, s->stack_start);
	wr_u64(&w, s->stack_size);
	wr_bytes(&w, s->stack, s->stack_size);
	wr_pad(&w);
	wr_u32(&w, s->n_modules);
	for (uint32_t i = 0; i < s->n_modules; i++) {
		const struct snapshot_module *m = &s->modules[i];

		wr_u64(&w, m->start);
		wr_u64(&w, m->end);
		wr_u64(&w, m->pgoff);
		wr_str(&w, m->path);
		wr_str(&w, m->build_id);
		wr_pad(&w);
	}
	wr_u32(&w, s->n_expected);
	wr_u32(&w, 0);
	for (uint32_t i = 0; i < s->n_expected; i++)
		wr_u64(&w, s->expected[i]);
	wr_u32(&w, s->pid);
	wr_u32(&w, s->tid);
	wr_u64(&w, s->time_ns);
	return w.failed ? -EIO : 0;
}

void snapshot_done(struct snapshot *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->modules && i < s->n_modules; i++) {
		free(s->modules[i].path);
		free(s->modules[i].build_id);
	}
	free(s->modules);
	free(s->stack);
	free(s->expected);
	memset(s, 0, sizeof(*s));
}
