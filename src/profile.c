/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Window aggregation with four interning tables (series, mappings, locations, stacks), all
 * open addressing with linear probing over preallocated arrays at twice their caps.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

void profile_limits_default(struct profile_limits *ret)
{
	*ret = (struct profile_limits){
		.max_series = 1000,
		.max_threads = 16384,
		.max_mappings = 65536,
		.max_locations = 1u << 20,
		.max_stacks = 1u << 18,
		.max_frames = 1u << 22,
	};
}

static uint32_t slots_for(uint32_t cap)
{
	uint32_t n = 16;

	while (n < cap * 2u)
		n *= 2;
	return n;
}

void profile_window_free(struct profile_window *w)
{
	if (!w)
		return;
	free(w->series);
	free(w->threads);
	free(w->thread_slots);
	free(w->mappings);
	free(w->locations);
	free(w->stacks);
	free(w->frames);
	free(w->series_slots);
	free(w->mapping_slots);
	free(w->location_slots);
	free(w->stack_slots);
	free(w);
}

struct profile_window *profile_window_new(const struct profile_limits *lim)
{
	struct profile_window *w = calloc(1, sizeof(*w));
	uint32_t ns, nt, nm, nl, nst;

	if (!w)
		return NULL;
	w->lim = *lim;
	ns = slots_for(lim->max_series + 1);
	nt = slots_for(lim->max_threads);
	nm = slots_for(lim->max_mappings);
	nl = slots_for(lim->max_locations);
	nst = slots_for(lim->max_stacks);
	w->series = calloc(lim->max_series + 1, sizeof(*w->series));
	w->threads = calloc(lim->max_threads, sizeof(*w->threads));
	w->thread_slots = calloc(nt, sizeof(uint32_t));
	w->mappings = calloc(lim->max_mappings, sizeof(*w->mappings));
	w->locations = calloc(lim->max_locations, sizeof(*w->locations));
	w->stacks = calloc(lim->max_stacks, sizeof(*w->stacks));
	w->frames = calloc(lim->max_frames, sizeof(*w->frames));
	w->series_slots = calloc(ns, sizeof(uint32_t));
	w->mapping_slots = calloc(nm, sizeof(uint32_t));
	w->location_slots = calloc(nl, sizeof(uint32_t));
	w->stack_slots = calloc(nst, sizeof(uint32_t));
	if (!w->series || !w->threads || !w->thread_slots || !w->mappings || !w->locations ||
	    !w->stacks || !w->frames || !w->series_slots || !w->mapping_slots ||
	    !w->location_slots || !w->stack_slots) {
		profile_window_free(w);
		return NULL;
	}
	w->series_mask = ns - 1;
	w->thread_mask = nt - 1;
	w->mapping_mask = nm - 1;
	w->location_mask = nl - 1;
	w->stack_mask = nst - 1;
	return w;
}

/* Label sets are interned: the pointer is the identity. */
static uint64_t series_hash(const struct labelset *labels)
{
	return hash_u64(HASH_INIT, (uintptr_t)labels);
}

static uint64_t thread_hash(const struct profile_thread *t)
{
	uint64_t h = hash_u64(hash_u64(hash_u64(HASH_INIT, t->pid), t->tid), t->cpu);

	h = hash_u64(h, t->series);
	h = hash_bytes(h, t->comm, strnlen(t->comm, sizeof(t->comm)));
	h = hash_bytes(h, t->thread_name, strnlen(t->thread_name, sizeof(t->thread_name)));
	return hash_u64(h, (uintptr_t)t->exe);
}

static bool thread_eq(const struct profile_thread *a, const struct profile_thread *b)
{
	return a->pid == b->pid && a->tid == b->tid && a->cpu == b->cpu && a->series == b->series &&
	       a->exe == b->exe && strncmp(a->comm, b->comm, sizeof(a->comm)) == 0 &&
	       strncmp(a->thread_name, b->thread_name, sizeof(a->thread_name)) == 0;
}

static uint64_t mapping_hash(const struct profile_mapping *m)
{
	return hash_u64(hash_u64(hash_u64(HASH_INIT, m->pid), m->start), (uintptr_t)m->path);
}

static bool mapping_eq(const struct profile_mapping *a, const struct profile_mapping *b)
{
	return a->pid == b->pid && a->start == b->start && a->end == b->end &&
	       a->pgoff == b->pgoff && a->path == b->path;
}

static uint64_t location_hash(uint32_t map, uint64_t addr)
{
	return hash_u64(hash_u64(HASH_INIT, map), addr);
}

static uint64_t stack_hash(uint32_t thread, const uint32_t *locs, uint32_t n)
{
	uint64_t h = hash_u64(HASH_INIT, thread);

	for (uint32_t i = 0; i < n; i++)
		h = hash_u64(h, locs[i]);
	return h;
}

void profile_window_reset(struct profile_window *w, uint64_t start_mono_ns, uint64_t start_real_ns)
{
	/* Zero exactly the slots in use: entries know their keys, so re-probe for each. */
	for (uint32_t i = 0; i < w->n_series; i++) {
		uint64_t j = series_hash(w->series[i].labels) & w->series_mask;

		while (w->series_slots[j] != i + 1)
			j = (j + 1) & w->series_mask;
		w->series_slots[j] = 0;
	}
	for (uint32_t i = 0; i < w->n_threads; i++) {
		uint64_t j = thread_hash(&w->threads[i]) & w->thread_mask;

		while (w->thread_slots[j] != i + 1)
			j = (j + 1) & w->thread_mask;
		w->thread_slots[j] = 0;
	}
	/*
	 * Linear probing: deleting in arbitrary order is only safe because every entry goes;
	 * an entry's probe may pass slots already zeroed, so search for its index, not a hole.
	 */
	for (uint32_t i = 0; i < w->n_mappings; i++) {
		uint64_t j = mapping_hash(&w->mappings[i]) & w->mapping_mask;

		while (w->mapping_slots[j] != i + 1)
			j = (j + 1) & w->mapping_mask;
		w->mapping_slots[j] = 0;
	}
	for (uint32_t i = 0; i < w->n_locations; i++) {
		const struct profile_location *l = &w->locations[i];
		uint64_t j = location_hash(l->map, l->addr) & w->location_mask;

		while (w->location_slots[j] != i + 1)
			j = (j + 1) & w->location_mask;
		w->location_slots[j] = 0;
	}
	for (uint32_t i = 0; i < w->n_stacks; i++) {
		const struct profile_stack *s = &w->stacks[i];
		uint64_t j = stack_hash(s->thread, w->frames + s->frames, s->n_frames) & w->stack_mask;

		while (w->stack_slots[j] != i + 1)
			j = (j + 1) & w->stack_mask;
		w->stack_slots[j] = 0;
	}
	w->n_series = w->n_threads = w->n_mappings = w->n_locations = w->n_stacks = w->n_frames = 0;
	w->samples = w->dropped = w->overflow_samples = 0;
	w->start_mono_ns = start_mono_ns;
	w->end_mono_ns = start_mono_ns;
	w->start_real_ns = start_real_ns;
}

int64_t profile_window_series(struct profile_window *w, const struct labelset *labels,
			      bool *ret_overflow)
{
	uint64_t j = series_hash(labels) & w->series_mask;

	*ret_overflow = labels == NULL;
	for (; w->series_slots[j]; j = (j + 1) & w->series_mask)
		if (w->series[w->series_slots[j] - 1].labels == labels)
			return w->series_slots[j] - 1;
	if (labels && w->n_series >= w->lim.max_series)
		return profile_window_series(w, NULL, ret_overflow);
	/* The overflow series may take the one slot past the cap. */
	if (w->n_series >= w->lim.max_series + 1)
		return -ENOSPC;
	w->series[w->n_series].labels = labels;
	w->series_slots[j] = ++w->n_series;
	return w->n_series - 1;
}

int64_t profile_window_thread(struct profile_window *w, const struct profile_thread *t)
{
	uint64_t j = thread_hash(t) & w->thread_mask;

	for (; w->thread_slots[j]; j = (j + 1) & w->thread_mask)
		if (thread_eq(&w->threads[w->thread_slots[j] - 1], t))
			return w->thread_slots[j] - 1;
	if (w->n_threads >= w->lim.max_threads)
		return -ENOSPC;
	w->threads[w->n_threads] = *t;
	w->thread_slots[j] = ++w->n_threads;
	return w->n_threads - 1;
}

int64_t profile_window_mapping(struct profile_window *w, const struct profile_mapping *m)
{
	uint64_t j = mapping_hash(m) & w->mapping_mask;

	for (; w->mapping_slots[j]; j = (j + 1) & w->mapping_mask)
		if (mapping_eq(&w->mappings[w->mapping_slots[j] - 1], m))
			return w->mapping_slots[j] - 1;
	if (w->n_mappings >= w->lim.max_mappings)
		return -ENOSPC;
	w->mappings[w->n_mappings] = *m;
	w->mapping_slots[j] = ++w->n_mappings;
	return w->n_mappings - 1;
}

int64_t profile_window_location(struct profile_window *w, uint32_t map, uint64_t addr)
{
	uint64_t j = location_hash(map, addr) & w->location_mask;

	for (; w->location_slots[j]; j = (j + 1) & w->location_mask) {
		const struct profile_location *l = &w->locations[w->location_slots[j] - 1];

		if (l->map == map && l->addr == addr)
			return w->location_slots[j] - 1;
	}
	if (w->n_locations >= w->lim.max_locations)
		return -ENOSPC;
	w->locations[w->n_locations] = (struct profile_location){ .map = map, .addr = addr };
	w->location_slots[j] = ++w->n_locations;
	return w->n_locations - 1;
}

int profile_window_add(struct profile_window *w, uint32_t thread, const uint32_t *locs,
		       uint32_t n_locs, uint64_t cpu_ns)
{
	uint64_t j = stack_hash(thread, locs, n_locs) & w->stack_mask;
	struct profile_stack *s;

	for (; w->stack_slots[j]; j = (j + 1) & w->stack_mask) {
		s = &w->stacks[w->stack_slots[j] - 1];
		if (s->thread == thread && s->n_frames == n_locs &&
		    memcmp(w->frames + s->frames, locs, n_locs * sizeof(*locs)) == 0) {
			s->count++;
			s->cpu_ns += cpu_ns;
			w->samples++;
			return 0;
		}
	}
	if (w->n_stacks >= w->lim.max_stacks || w->lim.max_frames - w->n_frames < n_locs) {
		w->dropped++;
		return -ENOSPC;
	}
	s = &w->stacks[w->n_stacks];
	*s = (struct profile_stack){
		.thread = thread,
		.n_frames = n_locs,
		.frames = w->n_frames,
		.count = 1,
		.cpu_ns = cpu_ns,
	};
	memcpy(w->frames + w->n_frames, locs, n_locs * sizeof(*locs));
	w->n_frames += n_locs;
	w->stack_slots[j] = ++w->n_stacks;
	w->samples++;
	return 0;
}
