/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the pprof encoder. The encoded bytes are read back with a small protobuf
 * reader written here from the wire format alone (it shares no code with src/pprof.c), so
 * the exact fields are checked: string-table order, ids, packed encodings, labels, scalars.
 * The independent decoders (go tool pprof, protoc-generated Python) run in pprof-decoders.sh.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "check.h"
#include "pprof.h"

/* ---- a minimal protobuf reader ---- */

struct rd {
	const uint8_t *p, *end;
	bool err;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->err = true;
			return 0;
		}
		v |= (uint64_t)(*r->p & 0x7f) << shift;
		if (!(*r->p++ & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

/*
 * Reads the next field. Varints go to *v; length-delimited payloads to *sub. Returns false
 * at the end of input or on a malformed field (r->err set).
 */
static bool rd_field(struct rd *r, unsigned *field, unsigned *wt, uint64_t *v, struct rd *sub)
{
	uint64_t tag, len;

	if (r->err || r->p >= r->end)
		return false;
	tag = rd_varint(r);
	*field = (unsigned)(tag >> 3);
	*wt = (unsigned)(tag & 7);
	if (*wt == 0) {
		*v = rd_varint(r);
	} else if (*wt == 2) {
		len = rd_varint(r);
		if (r->err || len > (uint64_t)(r->end - r->p)) {
			r->err = true;
			return false;
		}
		sub->p = r->p;
		sub->end = r->p + len;
		sub->err = false;
		r->p += len;
	} else {
		/* The encoder only writes varints and length-delimited fields. */
		r->err = true;
	}
	return !r->err;
}

#define MAX_ITEMS 32
#define MAX_VALUES 4
#define MAX_LABELS 8

struct d_vt {
	int64_t type, unit;
};

struct d_label {
	int64_t key, str, num, num_unit;
};

struct d_sample {
	uint64_t locs[MAX_ITEMS];
	size_t n_locs;
	int64_t values[MAX_VALUES];
	size_t n_values;
	struct d_label labels[MAX_LABELS];
	size_t n_labels;
	bool locs_packed, values_packed;
};

struct d_mapping {
	uint64_t id, start, limit, offset;
	int64_t filename, build_id;
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct d_line {
	uint64_t function_id;
	int64_t line;
};

struct d_location {
	uint64_t id, mapping_id, address;
	struct d_line lines[MAX_ITEMS];
	size_t n_lines;
};

struct d_function {
	uint64_t id;
	int64_t name, system_name, filename;
};

struct d_profile {
	char **strings;
	size_t n_strings;
	struct d_vt sample_types[MAX_ITEMS];
	size_t n_sample_types;
	struct d_sample *samples;
	size_t n_samples;
	struct d_mapping *mappings;
	size_t n_mappings;
	struct d_location *locations;
	size_t n_locations;
	struct d_function *functions;
	size_t n_functions;
	int64_t time_nanos, duration_nanos, period, default_sample_type;
	struct d_vt period_type;
	bool has_period_type;
	int64_t comments[MAX_ITEMS];
	size_t n_comments;
	unsigned n_time_fields;
	unsigned last_field; /* to check that fields come in ascending order */
	bool ordered;
	bool err;
};

/* Appends one zeroed element to a growing array. */
static void *push(void **array, size_t *n, size_t elem)
{
	void *p;

	if ((*n & (*n - 1)) == 0) {
		p = realloc(*array, (*n ? *n * 2 : 1) * elem);
		if (!p)
			abort();
		*array = p;
	}
	p = (char *)*array + (*n)++ * elem;
	memset(p, 0, elem);
	return p;
}

/* Repeated scalar field: packed (wire type 2) or not. */
static void rd_repeated(unsigned wt, uint64_t v, struct rd *sub, uint64_t *out, size_t max,
			size_t *n, bool *packed, bool *err)
{
	if (wt == 0) {
		if (*n < max)
			out[(*n)++] = v;
		else
			*err = true;
		return;
	}
	*packed = true;
	while (sub->p < sub->end && !sub->err) {
		uint64_t x = rd_varint(sub);

		if (*n < max)
			out[(*n)++] = x;
		else
			*err = true;
	}
	if (sub->err)
		*err = true;
}

static void rd_vt(struct rd *r, struct d_vt *vt)
{
	unsigned f, wt;
	uint64_t v;
	struct rd sub;

	while (rd_field(r, &f, &wt, &v, &sub)) {
		if (f == 1)
			vt->type = (int64_t)v;
		else if (f == 2)
			vt->unit = (int64_t)v;
	}
}

static void rd_sample(struct rd *r, struct d_sample *s, bool *err)
{
	unsigned f, wt, lf, lwt;
	uint64_t v, lv, tmp[MAX_ITEMS];
	struct rd sub, lsub;
	size_t n;

	while (rd_field(r, &f, &wt, &v, &sub)) {
		if (f == 1) {
			rd_repeated(wt, v, &sub, s->locs, MAX_ITEMS, &s->n_locs, &s->locs_packed,
				    err);
		} else if (f == 2) {
			n = 0;
			rd_repeated(wt, v, &sub, tmp, MAX_ITEMS, &n, &s->values_packed, err);
			for (size_t i = 0; i < n && s->n_values < MAX_VALUES; i++)
				s->values[s->n_values++] = (int64_t)tmp[i];
		} else if (f == 3 && wt == 2 && s->n_labels < MAX_LABELS) {
			struct d_label *l = &s->labels[s->n_labels++];

			while (rd_field(&sub, &lf, &lwt, &lv, &lsub)) {
				if (lf == 1)
					l->key = (int64_t)lv;
				else if (lf == 2)
					l->str = (int64_t)lv;
				else if (lf == 3)
					l->num = (int64_t)lv;
				else if (lf == 4)
					l->num_unit = (int64_t)lv;
			}
			*err |= sub.err;
		}
	}
	*err |= r->err;
}

static void rd_mapping(struct rd *r, struct d_mapping *m)
{
	unsigned f, wt;
	uint64_t v;
	struct rd sub;

	while (rd_field(r, &f, &wt, &v, &sub)) {
		switch (f) {
		case 1:
			m->id = v;
			break;
		case 2:
			m->start = v;
			break;
		case 3:
			m->limit = v;
			break;
		case 4:
			m->offset = v;
			break;
		case 5:
			m->filename = (int64_t)v;
			break;
		case 6:
			m->build_id = (int64_t)v;
			break;
		case 7:
			m->has_functions = v;
			break;
		case 8:
			m->has_filenames = v;
			break;
		case 9:
			m->has_line_numbers = v;
			break;
		case 10:
			m->has_inline_frames = v;
			break;
		}
	}
}

static void rd_location(struct rd *r, struct d_location *loc, bool *err)
{
	unsigned f, wt, lf, lwt;
	uint64_t v, lv;
	struct rd sub, lsub;

	while (rd_field(r, &f, &wt, &v, &sub)) {
		if (f == 1) {
			loc->id = v;
		} else if (f == 2) {
			loc->mapping_id = v;
		} else if (f == 3) {
			loc->address = v;
		} else if (f == 4 && wt == 2 && loc->n_lines < MAX_ITEMS) {
			struct d_line *l = &loc->lines[loc->n_lines++];

			while (rd_field(&sub, &lf, &lwt, &lv, &lsub)) {
				if (lf == 1)
					l->function_id = lv;
				else if (lf == 2)
					l->line = (int64_t)lv;
			}
			*err |= sub.err;
		}
	}
	*err |= r->err;
}

static void rd_function(struct rd *r, struct d_function *fn)
{
	unsigned f, wt;
	uint64_t v;
	struct rd sub;

	while (rd_field(r, &f, &wt, &v, &sub)) {
		if (f == 1)
			fn->id = v;
		else if (f == 2)
			fn->name = (int64_t)v;
		else if (f == 3)
			fn->system_name = (int64_t)v;
		else if (f == 4)
			fn->filename = (int64_t)v;
	}
}

static void d_profile_free(struct d_profile *d)
{
	for (size_t i = 0; i < d->n_strings; i++)
		free(d->strings[i]);
	free(d->strings);
	free(d->samples);
	free(d->mappings);
	free(d->locations);
	free(d->functions);
	memset(d, 0, sizeof(*d));
}

static void decode(const uint8_t *buf, size_t len, struct d_profile *d)
{
	struct rd r = {buf, buf + len, false}, sub;
	unsigned f, wt;
	uint64_t v, tmp[MAX_ITEMS];
	bool packed = false;

	memset(d, 0, sizeof(*d));
	d->ordered = true;
	while (rd_field(&r, &f, &wt, &v, &sub)) {
		if (f < d->last_field)
			d->ordered = false;
		d->last_field = f;
		switch (f) {
		case 1:
			if (d->n_sample_types < MAX_ITEMS)
				rd_vt(&sub, &d->sample_types[d->n_sample_types++]);
			break;
		case 2:
			rd_sample(&sub,
				  push((void **)&d->samples, &d->n_samples, sizeof(*d->samples)),
				  &d->err);
			break;
		case 3:
			rd_mapping(&sub, push((void **)&d->mappings, &d->n_mappings,
					      sizeof(*d->mappings)));
			break;
		case 4:
			rd_location(&sub,
				    push((void **)&d->locations, &d->n_locations,
					 sizeof(*d->locations)),
				    &d->err);
			break;
		case 5:
			rd_function(&sub, push((void **)&d->functions, &d->n_functions,
					       sizeof(*d->functions)));
			break;
		case 6: {
			char **s = push((void **)&d->strings, &d->n_strings, sizeof(*d->strings));
			size_t n = (size_t)(sub.end - sub.p);

			*s = malloc(n + 1);
			if (!*s)
				abort();
			memcpy(*s, sub.p, n);
			(*s)[n] = 0;
			break;
		}
		case 9:
			d->time_nanos = (int64_t)v;
			d->n_time_fields++;
			break;
		case 10:
			d->duration_nanos = (int64_t)v;
			break;
		case 11:
			rd_vt(&sub, &d->period_type);
			d->has_period_type = true;
			break;
		case 12:
			d->period = (int64_t)v;
			break;
		case 13: {
			size_t n = 0;

			rd_repeated(wt, v, &sub, tmp, MAX_ITEMS, &n, &packed, &d->err);
			for (size_t i = 0; i < n && d->n_comments < MAX_ITEMS; i++)
				d->comments[d->n_comments++] = (int64_t)tmp[i];
			break;
		}
		case 14:
			d->default_sample_type = (int64_t)v;
			break;
		default:
			d->err = true;
		}
	}
	d->err |= r.err;
}

/* String at index i, or a marker that fails any comparison with real data. */
static const char *S(const struct d_profile *d, int64_t i)
{
	return i >= 0 && (size_t)i < d->n_strings ? d->strings[i] : "<out of range>";
}

static int64_t find_label(const struct d_sample *s, const struct d_profile *d, const char *key)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(S(d, s->labels[i].key), key) == 0)
			return (int64_t)i;
	return -1;
}

/* ---- helpers ---- */

static void encode_decode(struct pprof_builder *b, struct d_profile *d)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = pprof_builder_encode(b, false, &buf, &len);

	CHECK(r == 0);
	decode(buf, len, d);
	CHECK(!d->err);
	free(buf);
}

static int gunzip(const uint8_t *in, size_t in_len, uint8_t **ret, size_t *ret_len)
{
	z_stream zs = {0};
	size_t cap = in_len * 4 + 64, len = 0;
	uint8_t *out = malloc(cap);
	int zr;

	if (!out || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(out);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	do {
		if (len == cap) {
			uint8_t *n = realloc(out, cap * 2);

			if (!n) {
				zr = Z_MEM_ERROR;
				break;
			}
			out = n;
			cap *= 2;
		}
		zs.next_out = out + len;
		zs.avail_out = (uInt)(cap - len);
		zr = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
	} while (zr == Z_OK);
	inflateEnd(&zs);
	if (zr != Z_STREAM_END || zs.avail_in) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

/* ---- tests ---- */

static void test_empty(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	uint8_t *buf = NULL;
	size_t len = 0;

	CHECK(b != NULL);
	/* Only string_table = [""]: decoders reject a profile without it. */
	CHECK(pprof_builder_encode(b, false, &buf, &len) == 0);
	CHECK_EQ_U64(len, 2);
	CHECK(buf && buf[0] == 0x32 && buf[1] == 0x00);
	free(buf);
	CHECK(pprof_builder_string(b, NULL) == 0);
	CHECK(pprof_builder_string(b, "") == 0);
	pprof_builder_free(b);
	pprof_builder_free(NULL);
}

/* Builds the profile that several tests share. */
static void build_basic(struct pprof_builder *b)
{
	struct pprof_mapping m = {
		.memory_start = 0x400000,
		.memory_limit = 0x500000,
		.file_offset = 0x1000,
		.filename = "/usr/bin/demo",
		.build_id = "abcdef0123",
		.has_functions = true,
		.has_filenames = true,
	};
	struct pprof_line inl[2];
	struct pprof_line l1;
	uint64_t locs[2];
	int64_t values[2] = {2, 20000000};
	int64_t neg[2] = {-1, INT64_MAX};
	struct pprof_label labels[] = {
		{.key = "pid", .str = "4242"},
		{.key = "comm", .str = "demo"},
		{.key = "bytes", .num = 4096, .num_unit = "bytes"},
		{.key = "cpu", .num = 3},
	};

	CHECK(pprof_builder_add_sample_type(b, "samples", "count") == 0);
	CHECK(pprof_builder_add_sample_type(b, "cpu", "nanoseconds") == 0);
	CHECK(pprof_builder_set_period(b, "cpu", "nanoseconds", 10000000) == 0);
	pprof_builder_set_time(b, 1700000000123456789LL, 10000000000LL);
	CHECK(pprof_builder_add_comment(b, "made by test-pprof") == 0);
	CHECK(pprof_builder_set_default_sample_type(b, "cpu") == 0);
	CHECK(pprof_builder_add_mapping(b, &m) == 1);
	m.filename = "[vdso]";
	m.build_id = NULL;
	m.has_functions = false;
	m.has_filenames = false;
	CHECK(pprof_builder_add_mapping(b, &m) == 2);

	CHECK(pprof_builder_add_function(b, "main", NULL, "demo.c") == 1);
	CHECK(pprof_builder_add_function(b, "leaf", "_Z4leafv", "demo.c") == 2);
	/* Same triple: deduplicated. Different filename: a new function. */
	CHECK(pprof_builder_add_function(b, "main", NULL, "demo.c") == 1);
	CHECK(pprof_builder_add_function(b, "main", NULL, "other.c") == 3);
	CHECK(pprof_builder_add_function(b, "main", "", "demo.c") == 1);

	inl[0] = (struct pprof_line){.function_id = 2, .line = 7};
	inl[1] = (struct pprof_line){.function_id = 1, .line = 30};
	l1 = (struct pprof_line){.function_id = 1, .line = 0};
	CHECK(pprof_builder_add_location(b, 1, 0x401234, inl, 2) == 1);
	CHECK(pprof_builder_add_location(b, 1, 0x401000, &l1, 1) == 2);
	CHECK(pprof_builder_add_location(b, 0, 0xdead, NULL, 0) == 3);
	CHECK(pprof_builder_add_location(b, 2, 0x7fff0000, NULL, 0) == 4);

	locs[0] = 1;
	locs[1] = 2;
	CHECK(pprof_builder_add_sample(b, locs, 2, values, 2, labels, 4) == 0);
	locs[0] = 3;
	locs[1] = 4;
	CHECK(pprof_builder_add_sample(b, locs, 2, neg, 2, NULL, 0) == 0);
}

static void test_basic_fields(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	struct d_profile d;
	static const char *const want_strings[] = {
		"",
		"samples",
		"count",
		"cpu",
		"nanoseconds",
		"made by test-pprof",
		"/usr/bin/demo",
		"abcdef0123",
		"[vdso]",
		"main",
		"demo.c",
		"leaf",
		"_Z4leafv",
		"other.c",
		"pid",
		"4242",
		"comm",
		"demo",
		"bytes",
	};
	const struct d_sample *s;
	int64_t i;

	build_basic(b);
	encode_decode(b, &d);

	/* String table in interning order, "" first, no duplicates. */
	CHECK_EQ_U64(d.n_strings, sizeof(want_strings) / sizeof(want_strings[0]));
	for (size_t k = 0; k < d.n_strings && k < sizeof(want_strings) / sizeof(want_strings[0]);
	     k++)
		CHECK_STREQ(d.strings[k], want_strings[k]);
	CHECK(d.ordered);
	CHECK_EQ_U64(d.n_time_fields, 1);

	CHECK_EQ_U64(d.n_sample_types, 2);
	CHECK_STREQ(S(&d, d.sample_types[0].type), "samples");
	CHECK_STREQ(S(&d, d.sample_types[0].unit), "count");
	CHECK_STREQ(S(&d, d.sample_types[1].type), "cpu");
	CHECK_STREQ(S(&d, d.sample_types[1].unit), "nanoseconds");
	CHECK(d.has_period_type);
	CHECK_STREQ(S(&d, d.period_type.type), "cpu");
	CHECK_STREQ(S(&d, d.period_type.unit), "nanoseconds");
	CHECK_EQ_U64(d.period, 10000000);
	CHECK_EQ_U64(d.time_nanos, 1700000000123456789LL);
	CHECK_EQ_U64(d.duration_nanos, 10000000000LL);
	CHECK_STREQ(S(&d, d.default_sample_type), "cpu");
	CHECK_EQ_U64(d.n_comments, 1);
	CHECK_STREQ(S(&d, d.comments[0]), "made by test-pprof");

	CHECK_EQ_U64(d.n_mappings, 2);
	if (d.n_mappings == 2) {
		CHECK_EQ_U64(d.mappings[0].id, 1);
		CHECK_EQ_U64(d.mappings[0].start, 0x400000);
		CHECK_EQ_U64(d.mappings[0].limit, 0x500000);
		CHECK_EQ_U64(d.mappings[0].offset, 0x1000);
		CHECK_STREQ(S(&d, d.mappings[0].filename), "/usr/bin/demo");
		CHECK_STREQ(S(&d, d.mappings[0].build_id), "abcdef0123");
		CHECK(d.mappings[0].has_functions && d.mappings[0].has_filenames);
		CHECK(!d.mappings[0].has_line_numbers && !d.mappings[0].has_inline_frames);
		CHECK_EQ_U64(d.mappings[1].id, 2);
		CHECK_STREQ(S(&d, d.mappings[1].filename), "[vdso]");
		CHECK_EQ_U64(d.mappings[1].build_id, 0);
		CHECK(!d.mappings[1].has_functions);
	}

	CHECK_EQ_U64(d.n_functions, 3);
	if (d.n_functions == 3) {
		for (size_t k = 0; k < 3; k++)
			CHECK_EQ_U64(d.functions[k].id, k + 1);
		CHECK_STREQ(S(&d, d.functions[0].name), "main");
		CHECK_EQ_U64(d.functions[0].system_name, 0);
		CHECK_STREQ(S(&d, d.functions[0].filename), "demo.c");
		CHECK_STREQ(S(&d, d.functions[1].name), "leaf");
		CHECK_STREQ(S(&d, d.functions[1].system_name), "_Z4leafv");
		CHECK_STREQ(S(&d, d.functions[2].filename), "other.c");
	}

	CHECK_EQ_U64(d.n_locations, 4);
	if (d.n_locations == 4) {
		for (size_t k = 0; k < 4; k++)
			CHECK_EQ_U64(d.locations[k].id, k + 1);
		CHECK_EQ_U64(d.locations[0].mapping_id, 1);
		CHECK_EQ_U64(d.locations[0].address, 0x401234);
		CHECK_EQ_U64(d.locations[0].n_lines, 2);
		CHECK_EQ_U64(d.locations[0].lines[0].function_id, 2);
		CHECK_EQ_U64(d.locations[0].lines[0].line, 7);
		CHECK_EQ_U64(d.locations[0].lines[1].function_id, 1);
		CHECK_EQ_U64(d.locations[0].lines[1].line, 30);
		CHECK_EQ_U64(d.locations[1].n_lines, 1);
		CHECK_EQ_U64(d.locations[1].lines[0].line, 0);
		CHECK_EQ_U64(d.locations[2].mapping_id, 0);
		CHECK_EQ_U64(d.locations[2].n_lines, 0);
		CHECK_EQ_U64(d.locations[3].mapping_id, 2);
	}

	CHECK_EQ_U64(d.n_samples, 2);
	if (d.n_samples == 2) {
		s = &d.samples[0];
		CHECK(s->locs_packed && s->values_packed);
		CHECK_EQ_U64(s->n_locs, 2);
		CHECK_EQ_U64(s->locs[0], 1);
		CHECK_EQ_U64(s->locs[1], 2);
		CHECK_EQ_U64(s->n_values, 2);
		CHECK_EQ_U64(s->values[0], 2);
		CHECK_EQ_U64(s->values[1], 20000000);
		CHECK_EQ_U64(s->n_labels, 4);
		i = find_label(s, &d, "pid");
		CHECK(i == 0);
		if (i >= 0) {
			CHECK_STREQ(S(&d, s->labels[i].str), "4242");
			CHECK_EQ_U64(s->labels[i].num, 0);
			CHECK_EQ_U64(s->labels[i].num_unit, 0);
		}
		i = find_label(s, &d, "comm");
		CHECK(i == 1);
		if (i >= 0)
			CHECK_STREQ(S(&d, s->labels[i].str), "demo");
		i = find_label(s, &d, "bytes");
		CHECK(i == 2);
		if (i >= 0) {
			CHECK_EQ_U64(s->labels[i].str, 0);
			CHECK_EQ_U64(s->labels[i].num, 4096);
			CHECK_STREQ(S(&d, s->labels[i].num_unit), "bytes");
		}
		i = find_label(s, &d, "cpu");
		CHECK(i == 3);
		if (i >= 0) {
			CHECK_EQ_U64(s->labels[i].str, 0);
			CHECK_EQ_U64(s->labels[i].num, 3);
			CHECK_EQ_U64(s->labels[i].num_unit, 0);
		}

		s = &d.samples[1];
		CHECK_EQ_U64(s->locs[0], 3);
		CHECK_EQ_U64(s->locs[1], 4);
		CHECK(s->values[0] == -1);
		CHECK(s->values[1] == INT64_MAX);
		CHECK_EQ_U64(s->n_labels, 0);
	}
	d_profile_free(&d);
	pprof_builder_free(b);
}

static void test_errors(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	struct pprof_mapping m = {.filename = "/bin/x"};
	struct pprof_line bad_line = {.function_id = 2};
	struct pprof_line zero_line = {.function_id = 0};
	struct pprof_label bad_key[] = {{.key = "", .str = "x"}};
	struct pprof_label null_key[] = {{.key = NULL, .str = "x"}};
	struct pprof_label str_unit[] = {{.key = "k", .str = "x", .num_unit = "bytes"}};
	uint64_t loc = 1, loc0 = 0, loc2 = 2;
	int64_t v1[1] = {1}, v3[3] = {1, 2, 3}, v2[2] = {1, 2};
	struct d_profile d;

	/* No sample_type column yet: no sample is valid. */
	CHECK(pprof_builder_add_sample(b, NULL, 0, v1, 1, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_sample_type(b, "cpu-time", "nanoseconds") == -EINVAL);
	CHECK(pprof_builder_add_sample_type(b, "", "count") == -EINVAL);
	CHECK(pprof_builder_add_sample_type(b, NULL, "count") == -EINVAL);
	CHECK(pprof_builder_add_sample_type(b, "samples", "count") == 0);
	CHECK(pprof_builder_add_sample_type(b, "cpu", "nanoseconds") == 0);
	CHECK(pprof_builder_set_default_sample_type(b, "wall") == -ENOENT);
	CHECK(pprof_builder_set_default_sample_type(b, "count") == -ENOENT);
	CHECK(pprof_builder_set_default_sample_type(b, NULL) == -EINVAL);

	CHECK(pprof_builder_add_mapping(b, NULL) == -EINVAL);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, NULL, 0) == -EINVAL); /* no mapping 1 */
	CHECK(pprof_builder_add_mapping(b, &m) == 1);
	CHECK(pprof_builder_add_function(b, "f", NULL, NULL) == 1);
	CHECK(pprof_builder_add_location(b, 2, 0x1000, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, &bad_line, 1) == -EINVAL);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, &zero_line, 1) == -EINVAL);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, NULL, 1) == -EINVAL);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, NULL, 0) == 1);

	/* Value count must equal the number of sample_type columns. */
	CHECK(pprof_builder_add_sample(b, &loc, 1, v1, 1, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc, 1, v3, 3, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc, 1, NULL, 2, NULL, 0) == -EINVAL);
	/* Location ids must exist. */
	CHECK(pprof_builder_add_sample(b, &loc2, 1, v2, 2, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc0, 1, v2, 2, NULL, 0) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, NULL, 1, v2, 2, NULL, 0) == -EINVAL);
	/* Label keys must be non-empty; string labels carry no unit. */
	CHECK(pprof_builder_add_sample(b, &loc, 1, v2, 2, bad_key, 1) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc, 1, v2, 2, null_key, 1) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc, 1, v2, 2, str_unit, 1) == -EINVAL);
	CHECK(pprof_builder_add_sample(b, &loc, 1, v2, 2, NULL, 0) == 0);
	/* Columns cannot change once samples exist. */
	CHECK(pprof_builder_add_sample_type(b, "wall", "nanoseconds") == -EBUSY);

	/* The rejected calls left nothing behind. */
	encode_decode(b, &d);
	CHECK_EQ_U64(d.n_samples, 1);
	CHECK_EQ_U64(d.n_locations, 1);
	CHECK_EQ_U64(d.n_sample_types, 2);
	CHECK_EQ_U64(d.default_sample_type, 0);
	for (size_t i = 0; i < d.n_strings; i++)
		CHECK(strcmp(d.strings[i], "cpu-time") != 0 && strcmp(d.strings[i], "wall") != 0);
	d_profile_free(&d);
	pprof_builder_free(b);
}

static void test_cap(void)
{
	static uint8_t sentinel[1];
	const size_t cap = 512;
	struct pprof_builder *b = pprof_builder_new(cap);
	struct pprof_mapping m = {.filename = "/bin/x"};
	uint8_t *buf = NULL, *gz = NULL;
	size_t len = 0, gz_len = 0;
	int64_t v[1] = {1};
	uint64_t loc = 1;
	char name[32];
	int r = 0, n, k;
	struct d_profile d;

	CHECK(pprof_builder_add_sample_type(b, "samples", "count") == 0);
	CHECK(pprof_builder_add_mapping(b, &m) == 1);
	CHECK(pprof_builder_add_location(b, 1, 0x1000, NULL, 0) == 1);
	for (n = 0; n < 1000; n++) {
		r = pprof_builder_add_sample(b, &loc, 1, v, 1, NULL, 0);
		if (r < 0)
			break;
	}
	CHECK(r == -E2BIG);
	CHECK(n > 10 && n < 1000);
	/* A string that would not fit is refused too, but a short already-interned one is not. */
	for (k = 0; k < 100; k++) {
		snprintf(name, sizeof(name), "function_%d", k);
		if (pprof_builder_string(b, name) < 0)
			break;
	}
	CHECK(pprof_builder_string(b, "a string that cannot fit anymore") == -E2BIG);
	CHECK(pprof_builder_string(b, "samples") == 1);

	CHECK(pprof_builder_encode(b, false, &buf, &len) == 0);
	CHECK(len <= cap);
	CHECK(len > cap - 32);
	decode(buf, len, &d);
	CHECK(!d.err);
	CHECK_EQ_U64(d.n_samples, n);
	d_profile_free(&d);
	CHECK(pprof_builder_encode(b, true, &gz, &gz_len) == 0);
	free(gz);

	/* The header is accounted for exactly: comments fill the cap to the byte. */
	free(buf);
	buf = NULL;
	for (k = 0; k < 100; k++)
		if (pprof_builder_add_comment(b, "") < 0)
			break;
	CHECK(k < 100);
	CHECK(pprof_builder_add_comment(b, "") == -E2BIG);
	CHECK(pprof_builder_add_sample_type(b, "x", "") == -EBUSY);
	CHECK(pprof_builder_set_default_sample_type(b, "samples") == -E2BIG);
	CHECK(pprof_builder_encode(b, false, &buf, &len) == 0);
	CHECK(len <= cap && cap - len < 2);
	decode(buf, len, &d);
	CHECK(!d.err);
	CHECK_EQ_U64(d.n_comments, k);
	CHECK_EQ_U64(d.default_sample_type, 0);
	d_profile_free(&d);
	/* set_time() cannot fail: encode reports the overflow. */
	pprof_builder_set_time(b, INT64_MAX, INT64_MAX);
	gz = sentinel;
	gz_len = 12345;
	/* ret_* stay untouched on failure. */
	CHECK(pprof_builder_encode(b, true, &gz, &gz_len) == -E2BIG);
	CHECK(gz == sentinel);
	CHECK_EQ_U64(gz_len, 12345);
	free(buf);
	pprof_builder_free(b);
}

static void test_utf8(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	struct d_profile d;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"plain ascii", "plain ascii"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"ok\xffok", "ok\xef\xbf\xbdok"},
		/* A truncated sequence is one maximal subpart: one U+FFFD. */
		{"a\xe2\x82z", "a\xef\xbf\xbdz"},
		{"end\xf0\x9f\x98", "end\xef\xbf\xbd"},
		/* Overlong encodings, surrogates and > U+10FFFF are ill-formed byte by byte. */
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf4\x90\x80\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},
		{"\xe0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"lone \x80 cont", "lone \xef\xbf\xbd cont"},
	};
	int64_t idx[sizeof(cases) / sizeof(cases[0])];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		idx[i] = pprof_builder_string(b, cases[i].in);
		CHECK(idx[i] > 0);
	}
	/* The repaired form is what is interned: looking it up finds the same entry. */
	CHECK(pprof_builder_string(b, "ok\xef\xbf\xbdok") == idx[2]);
	CHECK(pprof_builder_string(b, "ok\xfeok") == idx[2]);
	encode_decode(b, &d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STREQ(S(&d, idx[i]), cases[i].want);
	d_profile_free(&d);
	pprof_builder_free(b);
}

static void test_reset_reuse(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	struct pprof_mapping m = {.filename = "/bin/other"};
	uint8_t *a1 = NULL, *a2 = NULL;
	size_t a1_len = 0, a2_len = 0;
	int64_t v[1] = {5};
	uint64_t loc = 1;
	struct d_profile d;

	build_basic(b);
	CHECK(pprof_builder_encode(b, false, &a1, &a1_len) == 0);

	/* A different profile after reset: nothing of the first one survives. */
	pprof_builder_reset(b);
	CHECK(pprof_builder_add_sample_type(b, "wall", "nanoseconds") == 0);
	CHECK(pprof_builder_add_mapping(b, &m) == 1);
	CHECK(pprof_builder_add_function(b, "main", NULL, "demo.c") == 1);
	CHECK(pprof_builder_add_location(b, 1, 0x10, &(struct pprof_line){1, 3}, 1) == 1);
	CHECK(pprof_builder_add_sample(b, &loc, 1, v, 1, NULL, 0) == 0);
	CHECK(pprof_builder_set_default_sample_type(b, "cpu") == -ENOENT);
	encode_decode(b, &d);
	CHECK_EQ_U64(d.n_strings, 6);
	if (d.n_strings == 6) {
		CHECK_STREQ(d.strings[0], "");
		CHECK_STREQ(d.strings[1], "wall");
		CHECK_STREQ(d.strings[3], "/bin/other");
		CHECK_STREQ(d.strings[4], "main");
	}
	CHECK_EQ_U64(d.n_sample_types, 1);
	CHECK_EQ_U64(d.n_mappings, 1);
	CHECK_EQ_U64(d.n_functions, 1);
	CHECK_EQ_U64(d.n_locations, 1);
	CHECK_EQ_U64(d.n_samples, 1);
	CHECK_EQ_U64(d.n_comments, 0);
	CHECK(!d.has_period_type);
	CHECK_EQ_U64(d.time_nanos, 0);
	CHECK_EQ_U64(d.period, 0);
	d_profile_free(&d);

	/* The same input after another reset gives the same bytes. */
	pprof_builder_reset(b);
	build_basic(b);
	CHECK(pprof_builder_encode(b, false, &a2, &a2_len) == 0);
	CHECK_EQ_U64(a1_len, a2_len);
	CHECK(a1 && a2 && a1_len == a2_len && memcmp(a1, a2, a1_len) == 0);
	free(a1);
	free(a2);
	pprof_builder_free(b);
}

static void test_gzip(void)
{
	struct pprof_builder *b = pprof_builder_new(0);
	uint8_t *raw = NULL, *gz = NULL, *out = NULL;
	size_t raw_len = 0, gz_len = 0, out_len = 0;

	build_basic(b);
	CHECK(pprof_builder_encode(b, false, &raw, &raw_len) == 0);
	CHECK(pprof_builder_encode(b, true, &gz, &gz_len) == 0);
	CHECK(gz_len > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
	CHECK(gunzip(gz, gz_len, &out, &out_len) == 0);
	CHECK_EQ_U64(out_len, raw_len);
	CHECK(out && out_len == raw_len && memcmp(out, raw, raw_len) == 0);
	free(raw);
	free(gz);
	free(out);
	pprof_builder_free(b);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tens of thousands of samples must encode in well under a second: nothing quadratic. */
static void test_scale(void)
{
	enum { N_FUNCS = 4000, N_LOCS = 20000, N_SAMPLES = 60000, DEPTH = 24 };
	struct pprof_builder *b = pprof_builder_new(0);
	struct pprof_mapping m = {.filename = "/usr/lib/libbig.so", .build_id = "00ff"};
	uint8_t *raw = NULL, *gz = NULL, *out = NULL;
	size_t raw_len = 0, gz_len = 0, out_len = 0;
	uint64_t stack[DEPTH];
	char name[64], tid[16];
	uint32_t seed = 12345;
	double t0, t1;
	int bad = 0;
	struct d_profile d;

	t0 = now_s();
	CHECK(pprof_builder_add_sample_type(b, "samples", "count") == 0);
	CHECK(pprof_builder_add_sample_type(b, "cpu", "nanoseconds") == 0);
	CHECK(pprof_builder_add_mapping(b, &m) == 1);
	for (int i = 0; i < N_FUNCS; i++) {
		snprintf(name, sizeof(name), "namespace::function_number_%d", i);
		if (pprof_builder_add_function(b, name, NULL, "big.cc") != i + 1)
			bad++;
	}
	for (int i = 0; i < N_LOCS; i++) {
		struct pprof_line l = {.function_id = (uint64_t)(i % N_FUNCS) + 1, .line = i};

		if (pprof_builder_add_location(b, 1, 0x10000 + (uint64_t)i * 16, &l, 1) != i + 1)
			bad++;
	}
	for (int i = 0; i < N_SAMPLES; i++) {
		int64_t v[2] = {1 + i % 7, (1 + i % 7) * 10000000LL};
		struct pprof_label l[2] = {{.key = "pid", .str = "100"}, {.key = "tid"}};

		for (int k = 0; k < DEPTH; k++) {
			seed = seed * 1103515245u + 12345u;
			stack[k] = (seed >> 8) % N_LOCS + 1;
		}
		snprintf(tid, sizeof(tid), "%d", 100 + i % 500);
		l[1].str = tid;
		if (pprof_builder_add_sample(b, stack, DEPTH, v, 2, l, 2) != 0)
			bad++;
	}
	CHECK(pprof_builder_encode(b, false, &raw, &raw_len) == 0);
	CHECK(pprof_builder_encode(b, true, &gz, &gz_len) == 0);
	t1 = now_s();
	CHECK(bad == 0);
	/* Generous bound (sanitizers, valgrind, slow CI): typically ~50 ms. */
	CHECK(t1 - t0 < 5.0);
	printf("test-pprof: %d samples, %zu bytes raw, %zu gzipped, %.1f ms\n", N_SAMPLES, raw_len,
	       gz_len, (t1 - t0) * 1e3);

	decode(raw, raw_len, &d);
	CHECK(!d.err);
	CHECK_EQ_U64(d.n_samples, N_SAMPLES);
	CHECK_EQ_U64(d.n_locations, N_LOCS);
	CHECK_EQ_U64(d.n_functions, N_FUNCS);
	/* "", samples, count, cpu, nanoseconds, path, build id, big.cc; the function names;
	 * pid, 100, tid, 101..599. */
	CHECK_EQ_U64(d.n_strings, 8 + N_FUNCS + 3 + 499);
	if (d.n_samples == N_SAMPLES) {
		CHECK_EQ_U64(d.samples[N_SAMPLES - 1].n_locs, DEPTH);
		CHECK_EQ_U64(d.samples[N_SAMPLES - 1].locs[DEPTH - 1], stack[DEPTH - 1]);
		CHECK_EQ_U64(d.samples[N_SAMPLES - 1].values[1],
			     (1 + (N_SAMPLES - 1) % 7) * 10000000LL);
	}
	d_profile_free(&d);
	CHECK(gunzip(gz, gz_len, &out, &out_len) == 0);
	CHECK(out && out_len == raw_len && memcmp(out, raw, raw_len) == 0);
	free(raw);
	free(gz);
	free(out);
	pprof_builder_free(b);
}

int main(void)
{
	test_empty();
	test_basic_fields();
	test_errors();
	test_cap();
	test_utf8();
	test_reset_reuse();
	test_gzip();
	test_scale();
	return check_finish("test-pprof");
}
