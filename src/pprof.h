/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof encoder: builds one perftools.profiles.Profile (see ../shared/protos/
 * pprof_profile.proto) and serializes it, optionally gzipped.
 *
 * The builder owns everything it is given (strings are copied and interned). Ids of
 * mappings, functions and locations are 1..N in the order they were added, which is what
 * the strictest backend (Parca: "id == index + 1") requires. The string table starts with
 * "" and every string is valid UTF-8 (invalid bytes are replaced with U+FFFD on the way in).
 * Functions are deduplicated by (name, system_name, filename); locations are not (the caller
 * interns them, since it knows its own keys).
 *
 * Not thread-safe: one builder per thread. Library-like: never logs.
 */
#ifndef PA_PPROF_H
#define PA_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pprof_builder;

struct pprof_mapping {
	uint64_t memory_start;
	uint64_t memory_limit;
	uint64_t file_offset;
	const char *filename; /* absolute path or pseudo name such as "[vdso]"; NULL = "" */
	const char *build_id; /* hex of the GNU build-id, NULL = "" */
	bool has_functions;   /* set only when every location of this mapping was symbolized */
	bool has_filenames;
	bool has_line_numbers;
	bool has_inline_frames;
};

struct pprof_line {
	uint64_t function_id;
	int64_t line; /* 0 = unknown */
};

struct pprof_label {
	const char *key;
	const char *str;      /* string label when non-NULL */
	int64_t num;          /* numeric label when str is NULL */
	const char *num_unit; /* optional, numeric labels only */
};

/* Returns NULL on allocation failure. max_bytes caps the encoded size (0 = 64 MiB). */
struct pprof_builder *pprof_builder_new(size_t max_bytes);
void pprof_builder_free(struct pprof_builder *b); /* accepts NULL */
/* Drops all content but keeps allocated memory, for the next window. */
void pprof_builder_reset(struct pprof_builder *b);

/* Interns s; returns its string-table index (>= 0; "" and NULL are 0) or -ENOMEM/-E2BIG. */
int64_t pprof_builder_string(struct pprof_builder *b, const char *s);

/* Appends a sample_type column. Column names must not contain '-' (Pyroscope rejects it). */
int pprof_builder_add_sample_type(struct pprof_builder *b, const char *type, const char *unit);
int pprof_builder_set_period(struct pprof_builder *b, const char *type, const char *unit,
			     int64_t period);
void pprof_builder_set_time(struct pprof_builder *b, int64_t time_nanos, int64_t duration_nanos);
int pprof_builder_add_comment(struct pprof_builder *b, const char *comment);
/* Sets default_sample_type to the column named type. */
int pprof_builder_set_default_sample_type(struct pprof_builder *b, const char *type);

/* Each returns the new id (>= 1) or -errno. */
int64_t pprof_builder_add_mapping(struct pprof_builder *b, const struct pprof_mapping *m);
int64_t pprof_builder_add_function(struct pprof_builder *b, const char *name,
				   const char *system_name, const char *filename);
/* lines[0] is the innermost (inlined) function; lines[n-1] the one it was inlined into. */
int64_t pprof_builder_add_location(struct pprof_builder *b, uint64_t mapping_id,
				   uint64_t address, const struct pprof_line *lines, size_t n_lines);

/*
 * Adds a sample: location_ids leaf first; exactly one value per sample_type column (else
 * -EINVAL); ids must have been returned by this builder (else -EINVAL).
 */
int pprof_builder_add_sample(struct pprof_builder *b, const uint64_t *location_ids,
			     size_t n_locations, const int64_t *values, size_t n_values,
			     const struct pprof_label *labels, size_t n_labels);

/*
 * Serializes the profile. On success *ret_buf is a malloc'ed buffer owned by the caller
 * (free()) of *ret_len bytes. gzip selects a gzip member (what pprof files on disk are).
 */
int pprof_builder_encode(struct pprof_builder *b, bool gzip, uint8_t **ret_buf, size_t *ret_len);

#endif
