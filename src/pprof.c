/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof encoder: a hand-written protobuf writer for perftools.profiles.Profile.
 *
 * Every repeated message is serialized into its own byte buffer the moment it is added: the
 * samples, mappings, locations and functions are each one buffer of complete top-level fields,
 * and the string table is a buffer of field-6 entries whose bytes double as the interning
 * arena. Encoding is then a concatenation of those buffers plus a few scalar fields, and the
 * exact encoded size is known at every step, so the size cap is enforced on each add (-E2BIG)
 * rather than discovered at the end. Field order on the wire is by field number, as Go's
 * encoder does; decoders accept any order.
 *
 * Ids are sequential, so validating a reference is a range check against a count: no per-id
 * storage is kept for samples, mappings or locations. Strings and functions are interned with
 * open-addressing hash tables (linear probing, load <= 1/2) holding indices into their arrays;
 * index 0 of the string table is "" and is never stored in the table. All buffers keep their
 * memory across pprof_builder_reset(), so a long-running agent stops allocating once the
 * buffers have grown to a window's size.
 *
 * Not thread-safe. Never logs.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "pprof.h"

#define PPROF_DEFAULT_MAX_BYTES ((size_t)64 << 20)
/* protobuf messages are limited to 2 GiB; it also keeps every offset within 32 bits. */
#define PPROF_HARD_MAX_BYTES ((size_t)INT32_MAX)

/* Wire types. */
enum {
	WT_VARINT = 0,
	WT_LEN = 2,
};

/* Field numbers of Profile (all below 16, so every tag is a single byte). */
enum {
	F_PROFILE_SAMPLE_TYPE = 1,
	F_PROFILE_SAMPLE = 2,
	F_PROFILE_MAPPING = 3,
	F_PROFILE_LOCATION = 4,
	F_PROFILE_FUNCTION = 5,
	F_PROFILE_STRING_TABLE = 6,
	F_PROFILE_TIME_NANOS = 9,
	F_PROFILE_DURATION_NANOS = 10,
	F_PROFILE_PERIOD_TYPE = 11,
	F_PROFILE_PERIOD = 12,
	F_PROFILE_COMMENT = 13,
	F_PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};

#define TAG(field, wt) ((uint8_t)(((field) << 3) | (wt)))

struct pbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct pprof_str {
	uint32_t off; /* offset of the bytes in the string-table buffer */
	uint32_t len;
	uint32_t hash;
};

struct pprof_fn_key {
	uint32_t name;
	uint32_t system_name;
	uint32_t filename;
	uint32_t hash;
};

struct pprof_value_type {
	uint32_t type;
	uint32_t unit;
};

struct pprof_enc_label {
	uint32_t key;
	uint32_t str;
	uint32_t num_unit;
	int64_t num;
};

struct pprof_builder {
	size_t max_bytes;

	/* String table: encoded field-6 entries; strs[i] points at the bytes of entry i. */
	struct pbuf strtab;
	struct pprof_str *strs;
	size_t n_strs, cap_strs;
	uint32_t *str_slots; /* string index, 0 = empty */
	size_t n_str_slots;  /* power of two or 0 */

	struct pbuf samples;
	struct pbuf mappings;
	struct pbuf locations;
	struct pbuf functions;
	size_t n_samples, n_mappings, n_locations;

	struct pprof_fn_key *fns; /* fns[id - 1] */
	size_t n_fns, cap_fns;
	uint32_t *fn_slots; /* function id, 0 = empty */
	size_t n_fn_slots;

	struct pprof_value_type *sample_types;
	size_t n_sample_types, cap_sample_types;
	uint32_t *comments;
	size_t n_comments, cap_comments;
	struct pprof_value_type period_type;
	bool has_period_type;
	int64_t period;
	int64_t time_nanos;
	int64_t duration_nanos;
	uint32_t default_sample_type;
	size_t hdr_bytes; /* encoded size of everything but the five buffers above */

	/* Scratch: UTF-8 repair, header serialization, a sample's interned labels. */
	struct pbuf scratch;
	struct pprof_enc_label *labels;
	size_t cap_labels;
};

/* ---- protobuf primitives ---- */

static size_t varint_len(uint64_t v)
{
	/* 7 payload bits per byte: ceil(bits / 7) computed without a division. */
	unsigned bits = 64 - __builtin_clzll(v | 1);

	return (bits * 9 + 64) / 64;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Size of an optional varint field: proto3 omits zero values. */
static size_t field_varint_len(uint64_t v)
{
	return v ? 1 + varint_len(v) : 0;
}

static uint8_t *put_field_varint(uint8_t *p, unsigned field, uint64_t v)
{
	if (!v)
		return p;
	*p++ = TAG(field, WT_VARINT);
	return put_varint(p, v);
}

/* Size of a length-delimited field whose payload is body_len bytes. */
static size_t field_len_len(size_t body_len)
{
	return 1 + varint_len(body_len) + body_len;
}

static uint8_t *put_len_header(uint8_t *p, unsigned field, size_t body_len)
{
	*p++ = TAG(field, WT_LEN);
	return put_varint(p, body_len);
}

/* ---- growable storage ---- */

static int pbuf_reserve(struct pbuf *pb, size_t n)
{
	size_t cap;
	uint8_t *data;

	if (n <= pb->cap - pb->len)
		return 0;
	if (n > SIZE_MAX / 2 - pb->len)
		return -ENOMEM;
	cap = pb->cap ? pb->cap : 4096;
	while (cap - pb->len < n)
		cap *= 2;
	data = realloc(pb->data, cap);
	if (!data)
		return -ENOMEM;
	pb->data = data;
	pb->cap = cap;
	return 0;
}

/* Makes room for need elements of size elem in *array of capacity *cap. */
static int array_reserve(void **array, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*array, n * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

static uint32_t hash_bytes(const uint8_t *s, size_t len)
{
	/* FNV-1a: short symbol names dominate, where it is as good as anything. */
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t hash_mix(uint32_t h, uint32_t v)
{
	h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2);
	return h;
}

/*
 * Grows a slot table to hold one more entry at load <= 1/2. Slots hold nonzero indices (0 marks
 * an empty slot) whose cached hashes hash_of() returns, so rehashing never reads the keys.
 */
static int slots_reserve(uint32_t **slots, size_t *n_slots, size_t n_entries,
			 uint32_t (*hash_of)(const void *ctx, uint32_t idx), const void *ctx)
{
	size_t n = *n_slots ? *n_slots : 64;
	uint32_t *s;

	if ((n_entries + 1) * 2 <= *n_slots)
		return 0;
	while ((n_entries + 1) * 2 > n)
		n *= 2;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < *n_slots; i++) {
		uint32_t idx = (*slots)[i];
		size_t j;

		if (!idx)
			continue;
		for (j = hash_of(ctx, idx) & (n - 1); s[j]; j = (j + 1) & (n - 1))
			;
		s[j] = idx;
	}
	free(*slots);
	*slots = s;
	*n_slots = n;
	return 0;
}

static uint32_t str_hash_of(const void *ctx, uint32_t idx)
{
	const struct pprof_builder *b = ctx;

	return b->strs[idx].hash;
}

static uint32_t fn_hash_of(const void *ctx, uint32_t id)
{
	const struct pprof_builder *b = ctx;

	return b->fns[id - 1].hash;
}

/* ---- size accounting ---- */

static size_t value_type_len(const struct pprof_value_type *vt)
{
	return field_len_len(field_varint_len(vt->type) + field_varint_len(vt->unit));
}

static size_t comments_body_len(const struct pprof_builder *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_comments; i++)
		n += varint_len(b->comments[i]);
	return n;
}

/* Size of field 1 (sample_type), emitted before the buffers. */
static size_t hdr_head_len(const struct pprof_builder *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_sample_types; i++)
		n += value_type_len(&b->sample_types[i]);
	return n;
}

static void hdr_update(struct pprof_builder *b)
{
	size_t n = hdr_head_len(b);

	n += field_varint_len((uint64_t)b->time_nanos);
	n += field_varint_len((uint64_t)b->duration_nanos);
	if (b->has_period_type)
		n += value_type_len(&b->period_type);
	n += field_varint_len((uint64_t)b->period);
	if (b->n_comments)
		n += field_len_len(comments_body_len(b));
	n += field_varint_len(b->default_sample_type);
	b->hdr_bytes = n;
}

static size_t encoded_len(const struct pprof_builder *b)
{
	return b->hdr_bytes + b->samples.len + b->mappings.len + b->locations.len +
	       b->functions.len + b->strtab.len;
}

static bool fits(const struct pprof_builder *b, size_t extra)
{
	size_t cur = encoded_len(b);

	return cur <= b->max_bytes && extra <= b->max_bytes - cur;
}

/* ---- strings ---- */

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when ill-formed; then *bad_len is the length of
 * its maximal well-formed prefix (>= 1), the unit that one U+FFFD replaces (Unicode's
 * "maximal subpart" practice, which Python's errors="replace" follows too).
 */
static size_t utf8_seq_len(const uint8_t *s, size_t n, size_t *bad_len)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad_len = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad_len = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0, bad;

	while (i < n) {
		size_t l;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		l = utf8_seq_len(s + i, n - i, &bad);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

/* Copies s into b->scratch with every ill-formed subsequence replaced by U+FFFD. */
static int utf8_repair(struct pprof_builder *b, const uint8_t *s, size_t n)
{
	size_t i = 0, bad;
	uint8_t *p;
	int r;

	if (n > SIZE_MAX / 3)
		return -ENOMEM;
	b->scratch.len = 0;
	r = pbuf_reserve(&b->scratch, n * 3);
	if (r < 0)
		return r;
	p = b->scratch.data;
	while (i < n) {
		size_t l = utf8_seq_len(s + i, n - i, &bad);

		if (l) {
			memcpy(p, s + i, l);
			p += l;
			i += l;
		} else {
			*p++ = 0xef;
			*p++ = 0xbf;
			*p++ = 0xbd;
			i += bad;
		}
	}
	b->scratch.len = (size_t)(p - b->scratch.data);
	return 0;
}

/* Returns the index of s, interning it when insert is set; -ENOENT when absent and !insert. */
static int64_t str_intern(struct pprof_builder *b, const char *s, bool insert)
{
	const uint8_t *bytes = (const uint8_t *)s;
	struct pprof_str *e;
	size_t len, enc, mask, j;
	uint32_t h;
	uint8_t *p;
	int r;

	if (!s || !*s)
		return 0;
	len = strlen(s);
	if (!utf8_valid(bytes, len)) {
		r = utf8_repair(b, bytes, len);
		if (r < 0)
			return r;
		bytes = b->scratch.data;
		len = b->scratch.len;
	}
	if (len > b->max_bytes)
		return -E2BIG;
	h = hash_bytes(bytes, len);
	if (b->n_str_slots) {
		mask = b->n_str_slots - 1;
		for (j = h & mask; b->str_slots[j]; j = (j + 1) & mask) {
			e = &b->strs[b->str_slots[j]];
			if (e->hash == h && e->len == len &&
			    memcmp(b->strtab.data + e->off, bytes, len) == 0)
				return b->str_slots[j];
		}
	}
	if (!insert)
		return -ENOENT;

	enc = field_len_len(len);
	if (!fits(b, enc))
		return -E2BIG;
	r = array_reserve((void **)&b->strs, &b->cap_strs, b->n_strs + 1, sizeof(*b->strs));
	if (r < 0)
		return r;
	r = slots_reserve(&b->str_slots, &b->n_str_slots, b->n_strs, str_hash_of, b);
	if (r < 0)
		return r;
	r = pbuf_reserve(&b->strtab, enc);
	if (r < 0)
		return r;

	p = put_len_header(b->strtab.data + b->strtab.len, F_PROFILE_STRING_TABLE, len);
	e = &b->strs[b->n_strs];
	e->off = (uint32_t)(p - b->strtab.data);
	e->len = (uint32_t)len;
	e->hash = h;
	memcpy(p, bytes, len);
	b->strtab.len += enc;

	mask = b->n_str_slots - 1;
	for (j = h & mask; b->str_slots[j]; j = (j + 1) & mask)
		;
	b->str_slots[j] = (uint32_t)b->n_strs;
	return (int64_t)b->n_strs++;
}

int64_t pprof_builder_string(struct pprof_builder *b, const char *s)
{
	return str_intern(b, s, true);
}

/* ---- lifecycle ---- */

struct pprof_builder *pprof_builder_new(size_t max_bytes)
{
	struct pprof_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (!max_bytes)
		max_bytes = PPROF_DEFAULT_MAX_BYTES;
	b->max_bytes = max_bytes < PPROF_HARD_MAX_BYTES ? max_bytes : PPROF_HARD_MAX_BYTES;
	/* Never NULL from here on: reset() writes strtab and strs[0], encode() does pointer
	 * arithmetic on scratch even when the header is empty. */
	if (array_reserve((void **)&b->strs, &b->cap_strs, 1, sizeof(*b->strs)) < 0 ||
	    pbuf_reserve(&b->strtab, 2) < 0 || pbuf_reserve(&b->scratch, 1) < 0) {
		pprof_builder_free(b);
		return NULL;
	}
	pprof_builder_reset(b);
	return b;
}

void pprof_builder_free(struct pprof_builder *b)
{
	if (!b)
		return;
	free(b->strtab.data);
	free(b->strs);
	free(b->str_slots);
	free(b->samples.data);
	free(b->mappings.data);
	free(b->locations.data);
	free(b->functions.data);
	free(b->fns);
	free(b->fn_slots);
	free(b->sample_types);
	free(b->comments);
	free(b->scratch.data);
	free(b->labels);
	free(b);
}

void pprof_builder_reset(struct pprof_builder *b)
{
	/* string_table[0] must be "": decoders reject a profile without it. */
	b->strtab.data[0] = TAG(F_PROFILE_STRING_TABLE, WT_LEN);
	b->strtab.data[1] = 0;
	b->strtab.len = 2;
	b->strs[0] = (struct pprof_str){.off = 2, .len = 0, .hash = 0};
	b->n_strs = 1;
	if (b->n_str_slots)
		memset(b->str_slots, 0, b->n_str_slots * sizeof(*b->str_slots));

	b->samples.len = 0;
	b->mappings.len = 0;
	b->locations.len = 0;
	b->functions.len = 0;
	b->n_samples = b->n_mappings = b->n_locations = 0;
	b->n_fns = 0;
	if (b->n_fn_slots)
		memset(b->fn_slots, 0, b->n_fn_slots * sizeof(*b->fn_slots));

	b->n_sample_types = 0;
	b->n_comments = 0;
	b->period_type = (struct pprof_value_type){0, 0};
	b->has_period_type = false;
	b->period = 0;
	b->time_nanos = 0;
	b->duration_nanos = 0;
	b->default_sample_type = 0;
	hdr_update(b);
}

/* ---- profile-level fields ---- */

/*
 * The header setters apply their change, then call this: on -E2BIG the caller restores the
 * previous value, so a refused change leaves the profile as it was.
 */
static int hdr_commit(struct pprof_builder *b)
{
	hdr_update(b);
	return encoded_len(b) <= b->max_bytes ? 0 : -E2BIG;
}

int pprof_builder_add_sample_type(struct pprof_builder *b, const char *type, const char *unit)
{
	int64_t t, u;
	int r;

	if (!type || !*type || strchr(type, '-'))
		return -EINVAL;
	/* Existing samples carry one value per column: a new column would invalidate them. */
	if (b->n_samples)
		return -EBUSY;
	t = str_intern(b, type, true);
	if (t < 0)
		return (int)t;
	u = str_intern(b, unit, true);
	if (u < 0)
		return (int)u;
	r = array_reserve((void **)&b->sample_types, &b->cap_sample_types, b->n_sample_types + 1,
			  sizeof(*b->sample_types));
	if (r < 0)
		return r;
	b->sample_types[b->n_sample_types++] = (struct pprof_value_type){(uint32_t)t, (uint32_t)u};
	r = hdr_commit(b);
	if (r < 0) {
		b->n_sample_types--;
		hdr_update(b);
	}
	return r;
}

int pprof_builder_set_period(struct pprof_builder *b, const char *type, const char *unit,
			     int64_t period)
{
	struct pprof_value_type old_type = b->period_type;
	bool old_has = b->has_period_type;
	int64_t t, u, old_period = b->period;
	int r;

	t = str_intern(b, type, true);
	if (t < 0)
		return (int)t;
	u = str_intern(b, unit, true);
	if (u < 0)
		return (int)u;
	b->period_type = (struct pprof_value_type){(uint32_t)t, (uint32_t)u};
	b->has_period_type = true;
	b->period = period;
	r = hdr_commit(b);
	if (r < 0) {
		b->period_type = old_type;
		b->has_period_type = old_has;
		b->period = old_period;
		hdr_update(b);
	}
	return r;
}

void pprof_builder_set_time(struct pprof_builder *b, int64_t time_nanos, int64_t duration_nanos)
{
	/* Can push the header past the cap by a few bytes: encode() then reports -E2BIG. */
	b->time_nanos = time_nanos;
	b->duration_nanos = duration_nanos;
	hdr_update(b);
}

int pprof_builder_add_comment(struct pprof_builder *b, const char *comment)
{
	int64_t c;
	int r;

	c = str_intern(b, comment, true);
	if (c < 0)
		return (int)c;
	r = array_reserve((void **)&b->comments, &b->cap_comments, b->n_comments + 1,
			  sizeof(*b->comments));
	if (r < 0)
		return r;
	b->comments[b->n_comments++] = (uint32_t)c;
	r = hdr_commit(b);
	if (r < 0) {
		b->n_comments--;
		hdr_update(b);
	}
	return r;
}

int pprof_builder_set_default_sample_type(struct pprof_builder *b, const char *type)
{
	uint32_t old = b->default_sample_type;
	int64_t t;
	int r;

	if (!type || !*type)
		return -EINVAL;
	t = str_intern(b, type, false);
	if (t < 0)
		return (int)t;
	for (size_t i = 0; i < b->n_sample_types; i++) {
		if (b->sample_types[i].type != (uint32_t)t)
			continue;
		b->default_sample_type = (uint32_t)t;
		r = hdr_commit(b);
		if (r < 0) {
			b->default_sample_type = old;
			hdr_update(b);
		}
		return r;
	}
	return -ENOENT;
}

/* ---- mappings, functions, locations ---- */

int64_t pprof_builder_add_mapping(struct pprof_builder *b, const struct pprof_mapping *m)
{
	int64_t filename, build_id;
	uint64_t id;
	size_t body, enc;
	uint8_t *p;
	int r;

	if (!m)
		return -EINVAL;
	filename = str_intern(b, m->filename, true);
	if (filename < 0)
		return filename;
	build_id = str_intern(b, m->build_id, true);
	if (build_id < 0)
		return build_id;

	id = b->n_mappings + 1;
	body = field_varint_len(id) + field_varint_len(m->memory_start) +
	       field_varint_len(m->memory_limit) + field_varint_len(m->file_offset) +
	       field_varint_len((uint64_t)filename) + field_varint_len((uint64_t)build_id) +
	       field_varint_len(m->has_functions) + field_varint_len(m->has_filenames) +
	       field_varint_len(m->has_line_numbers) + field_varint_len(m->has_inline_frames);
	enc = field_len_len(body);
	if (!fits(b, enc))
		return -E2BIG;
	r = pbuf_reserve(&b->mappings, enc);
	if (r < 0)
		return r;

	p = b->mappings.data + b->mappings.len;
	p = put_len_header(p, F_PROFILE_MAPPING, body);
	p = put_field_varint(p, 1, id);
	p = put_field_varint(p, 2, m->memory_start);
	p = put_field_varint(p, 3, m->memory_limit);
	p = put_field_varint(p, 4, m->file_offset);
	p = put_field_varint(p, 5, (uint64_t)filename);
	p = put_field_varint(p, 6, (uint64_t)build_id);
	p = put_field_varint(p, 7, m->has_functions);
	p = put_field_varint(p, 8, m->has_filenames);
	p = put_field_varint(p, 9, m->has_line_numbers);
	p = put_field_varint(p, 10, m->has_inline_frames);
	b->mappings.len += enc;
	b->n_mappings++;
	return (int64_t)id;
}

int64_t pprof_builder_add_function(struct pprof_builder *b, const char *name,
				   const char *system_name, const char *filename)
{
	struct pprof_fn_key key;
	int64_t n, s, f;
	uint64_t id;
	size_t body, enc, mask, j;
	uint8_t *p;
	int r;

	n = str_intern(b, name, true);
	if (n < 0)
		return n;
	s = str_intern(b, system_name, true);
	if (s < 0)
		return s;
	f = str_intern(b, filename, true);
	if (f < 0)
		return f;
	key.name = (uint32_t)n;
	key.system_name = (uint32_t)s;
	key.filename = (uint32_t)f;
	key.hash = hash_mix(hash_mix(hash_mix(0, key.name), key.system_name), key.filename);

	if (b->n_fn_slots) {
		mask = b->n_fn_slots - 1;
		for (j = key.hash & mask; b->fn_slots[j]; j = (j + 1) & mask) {
			const struct pprof_fn_key *k = &b->fns[b->fn_slots[j] - 1];

			if (k->name == key.name && k->system_name == key.system_name &&
			    k->filename == key.filename)
				return b->fn_slots[j];
		}
	}

	id = b->n_fns + 1;
	body = field_varint_len(id) + field_varint_len(key.name) +
	       field_varint_len(key.system_name) + field_varint_len(key.filename);
	enc = field_len_len(body);
	if (!fits(b, enc))
		return -E2BIG;
	r = array_reserve((void **)&b->fns, &b->cap_fns, b->n_fns + 1, sizeof(*b->fns));
	if (r < 0)
		return r;
	r = slots_reserve(&b->fn_slots, &b->n_fn_slots, b->n_fns, fn_hash_of, b);
	if (r < 0)
		return r;
	r = pbuf_reserve(&b->functions, enc);
	if (r < 0)
		return r;

	p = b->functions.data + b->functions.len;
	p = put_len_header(p, F_PROFILE_FUNCTION, body);
	p = put_field_varint(p, 1, id);
	p = put_field_varint(p, 2, key.name);
	p = put_field_varint(p, 3, key.system_name);
	p = put_field_varint(p, 4, key.filename);
	b->functions.len += enc;

	b->fns[b->n_fns++] = key;
	mask = b->n_fn_slots - 1;
	for (j = key.hash & mask; b->fn_slots[j]; j = (j + 1) & mask)
		;
	b->fn_slots[j] = (uint32_t)id;
	return (int64_t)id;
}

static size_t line_body_len(const struct pprof_line *l)
{
	return field_varint_len(l->function_id) + field_varint_len((uint64_t)l->line);
}

int64_t pprof_builder_add_location(struct pprof_builder *b, uint64_t mapping_id, uint64_t address,
				   const struct pprof_line *lines, size_t n_lines)
{
	uint64_t id = b->n_locations + 1;
	size_t body, enc;
	uint8_t *p;
	int r;

	if (mapping_id > b->n_mappings || (n_lines && !lines))
		return -EINVAL;
	body = field_varint_len(id) + field_varint_len(mapping_id) + field_varint_len(address);
	for (size_t i = 0; i < n_lines; i++) {
		if (lines[i].function_id == 0 || lines[i].function_id > b->n_fns)
			return -EINVAL;
		body += field_len_len(line_body_len(&lines[i]));
	}
	enc = field_len_len(body);
	if (!fits(b, enc))
		return -E2BIG;
	r = pbuf_reserve(&b->locations, enc);
	if (r < 0)
		return r;

	p = b->locations.data + b->locations.len;
	p = put_len_header(p, F_PROFILE_LOCATION, body);
	p = put_field_varint(p, 1, id);
	p = put_field_varint(p, 2, mapping_id);
	p = put_field_varint(p, 3, address);
	for (size_t i = 0; i < n_lines; i++) {
		p = put_len_header(p, 4, line_body_len(&lines[i]));
		p = put_field_varint(p, 1, lines[i].function_id);
		p = put_field_varint(p, 2, (uint64_t)lines[i].line);
	}
	b->locations.len += enc;
	b->n_locations++;
	return (int64_t)id;
}

/* ---- samples ---- */

static size_t label_body_len(const struct pprof_enc_label *l)
{
	return field_varint_len(l->key) + field_varint_len(l->str) +
	       field_varint_len((uint64_t)l->num) + field_varint_len(l->num_unit);
}

int pprof_builder_add_sample(struct pprof_builder *b, const uint64_t *location_ids,
			     size_t n_locations, const int64_t *values, size_t n_values,
			     const struct pprof_label *labels, size_t n_labels)
{
	size_t locs_len = 0, vals_len = 0, body, enc;
	uint8_t *p;
	int r;

	/* A sample without a sample_type column is rejected by pprof's CheckValid. */
	if (!b->n_sample_types || n_values != b->n_sample_types || !values)
		return -EINVAL;
	if ((n_locations && !location_ids) || (n_labels && !labels))
		return -EINVAL;
	for (size_t i = 0; i < n_locations; i++) {
		if (location_ids[i] == 0 || location_ids[i] > b->n_locations)
			return -EINVAL;
		locs_len += varint_len(location_ids[i]);
	}
	for (size_t i = 0; i < n_labels; i++) {
		/* Parca rejects key 0; a string label with a unit is not representable. */
		if (!labels[i].key || !*labels[i].key || (labels[i].str && labels[i].num_unit))
			return -EINVAL;
	}

	/* Validation is done: from here on only -ENOMEM/-E2BIG, and interned label strings that
	 * end up unused are harmless. */
	r = array_reserve((void **)&b->labels, &b->cap_labels, n_labels, sizeof(*b->labels));
	if (r < 0)
		return r;
	body = 0;
	for (size_t i = 0; i < n_labels; i++) {
		struct pprof_enc_label *l = &b->labels[i];
		int64_t k, s = 0, u = 0;

		k = str_intern(b, labels[i].key, true);
		if (k < 0)
			return (int)k;
		if (labels[i].str) {
			s = str_intern(b, labels[i].str, true);
			if (s < 0)
				return (int)s;
		} else {
			u = str_intern(b, labels[i].num_unit, true);
			if (u < 0)
				return (int)u;
		}
		l->key = (uint32_t)k;
		l->str = (uint32_t)s;
		l->num_unit = (uint32_t)u;
		l->num = labels[i].str ? 0 : labels[i].num;
		body += field_len_len(label_body_len(l));
	}
	for (size_t i = 0; i < n_values; i++)
		vals_len += varint_len((uint64_t)values[i]);
	if (n_locations)
		body += field_len_len(locs_len);
	body += field_len_len(vals_len);
	enc = field_len_len(body);
	if (!fits(b, enc))
		return -E2BIG;
	r = pbuf_reserve(&b->samples, enc);
	if (r < 0)
		return r;

	p = b->samples.data + b->samples.len;
	p = put_len_header(p, F_PROFILE_SAMPLE, body);
	/* Repeated scalars are always packed: every decoder accepts both forms. */
	if (n_locations) {
		p = put_len_header(p, 1, locs_len);
		for (size_t i = 0; i < n_locations; i++)
			p = put_varint(p, location_ids[i]);
	}
	p = put_len_header(p, 2, vals_len);
	for (size_t i = 0; i < n_values; i++)
		p = put_varint(p, (uint64_t)values[i]);
	for (size_t i = 0; i < n_labels; i++) {
		const struct pprof_enc_label *l = &b->labels[i];

		p = put_len_header(p, 3, label_body_len(l));
		p = put_field_varint(p, 1, l->key);
		p = put_field_varint(p, 2, l->str);
		p = put_field_varint(p, 3, (uint64_t)l->num);
		p = put_field_varint(p, 4, l->num_unit);
	}
	b->samples.len += enc;
	b->n_samples++;
	return 0;
}

/* ---- serialization ---- */

static uint8_t *put_value_type(uint8_t *p, unsigned field, const struct pprof_value_type *vt)
{
	p = put_len_header(p, field, field_varint_len(vt->type) + field_varint_len(vt->unit));
	p = put_field_varint(p, 1, vt->type);
	return put_field_varint(p, 2, vt->unit);
}

/* Serializes the scalar fields into b->scratch: field 1 in [0, head), fields 9..14 after. */
static int hdr_serialize(struct pprof_builder *b, size_t *ret_head)
{
	size_t head = hdr_head_len(b);
	uint8_t *p;
	int r;

	b->scratch.len = 0;
	r = pbuf_reserve(&b->scratch, b->hdr_bytes);
	if (r < 0)
		return r;
	p = b->scratch.data;
	for (size_t i = 0; i < b->n_sample_types; i++)
		p = put_value_type(p, F_PROFILE_SAMPLE_TYPE, &b->sample_types[i]);
	p = put_field_varint(p, F_PROFILE_TIME_NANOS, (uint64_t)b->time_nanos);
	p = put_field_varint(p, F_PROFILE_DURATION_NANOS, (uint64_t)b->duration_nanos);
	if (b->has_period_type)
		p = put_value_type(p, F_PROFILE_PERIOD_TYPE, &b->period_type);
	p = put_field_varint(p, F_PROFILE_PERIOD, (uint64_t)b->period);
	if (b->n_comments) {
		p = put_len_header(p, F_PROFILE_COMMENT, comments_body_len(b));
		for (size_t i = 0; i < b->n_comments; i++)
			p = put_varint(p, b->comments[i]);
	}
	p = put_field_varint(p, F_PROFILE_DEFAULT_SAMPLE_TYPE, b->default_sample_type);
	b->scratch.len = (size_t)(p - b->scratch.data);
	*ret_head = head;
	return 0;
}

struct segment {
	const uint8_t *data;
	size_t len;
};

static int gzip_segments(const struct segment *seg, size_t n_seg, size_t total, uint8_t **ret_buf,
			 size_t *ret_len)
{
	z_stream zs = {0};
	uint8_t *out = NULL, *shrunk;
	size_t cap, produced;
	int zr, r = 0;

	/* 15 + 16: a 32 KiB window with a gzip header and trailer instead of zlib's. */
	zr = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	/* With Z_NO_FLUSH pieces and a final Z_FINISH, deflateBound() is a guaranteed upper
	 * bound, so the output never has to grow. */
	cap = deflateBound(&zs, total);
	out = malloc(cap);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (size_t i = 0; i < n_seg; i++) {
		const uint8_t *d = seg[i].data;
		size_t left = seg[i].len;

		while (left) {
			/* avail_in is 32 bits wide. */
			uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;

			zs.next_in = (Bytef *)d;
			zs.avail_in = chunk;
			zr = deflate(&zs, Z_NO_FLUSH);
			if (zr != Z_OK || zs.avail_in) {
				r = -EIO;
				goto out;
			}
			d += chunk;
			left -= chunk;
		}
	}
	zs.next_in = NULL;
	zs.avail_in = 0;
	zr = deflate(&zs, Z_FINISH);
	if (zr != Z_STREAM_END) {
		r = -EIO;
		goto out;
	}
	produced = cap - zs.avail_out;
	shrunk = realloc(out, produced ? produced : 1);
	if (shrunk)
		out = shrunk;
	*ret_buf = out;
	*ret_len = produced;
	out = NULL;
out:
	deflateEnd(&zs);
	free(out);
	return r;
}

int pprof_builder_encode(struct pprof_builder *b, bool gzip, uint8_t **ret_buf, size_t *ret_len)
{
	struct segment seg[7];
	size_t total = encoded_len(b), head, off = 0;
	uint8_t *out;
	int r;

	if (total > b->max_bytes)
		return -E2BIG;
	r = hdr_serialize(b, &head);
	if (r < 0)
		return r;
	seg[0] = (struct segment){b->scratch.data, head};
	seg[1] = (struct segment){b->samples.data, b->samples.len};
	seg[2] = (struct segment){b->mappings.data, b->mappings.len};
	seg[3] = (struct segment){b->locations.data, b->locations.len};
	seg[4] = (struct segment){b->functions.data, b->functions.len};
	seg[5] = (struct segment){b->strtab.data, b->strtab.len};
	seg[6] = (struct segment){b->scratch.data + head, b->scratch.len - head};

	if (gzip)
		return gzip_segments(seg, 7, total, ret_buf, ret_len);

	out = malloc(total);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < 7; i++) {
		if (seg[i].len)
			memcpy(out + off, seg[i].data, seg[i].len);
		off += seg[i].len;
	}
	*ret_buf = out;
	*ret_len = total;
	return 0;
}
