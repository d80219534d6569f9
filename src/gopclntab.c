/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gopclntab: see gopclntab.h for the layout. Reads are little-endian by construction (byte
 * by byte), so the parser is also correct on a big-endian host reading an x86-64 binary.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "gopclntab.h"

#define GO_MAGIC_116 0xfffffffau
#define GO_MAGIC_118 0xfffffff0u
#define GO_MAGIC_120 0xfffffff1u
/* More than any real program has; bounds the walk on a forged count. */
#define GO_MAX_FUNCS (1u << 24)
#define GO_MAX_NAME 4096

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool in(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

int gopclntab_walk(const uint8_t *data, size_t size, uint64_t text_vaddr, gopclntab_func_fn fn,
		   void *ctx)
{
	uint64_t nfunc, text_start = 0, funcname_off, pcln_off, ent_size;
	unsigned ptr, nwords;
	uint32_t magic;
	bool v118;
	int n = 0;

	if (!data || size < 8)
		return -ENOENT;
	magic = (uint32_t)rd(data, 4);
	if (magic == GO_MAGIC_118 || magic == GO_MAGIC_120)
		v118 = true;
	else if (magic == GO_MAGIC_116)
		v118 = false;
	else
		return -ENOENT;
	ptr = data[7];
	if (data[4] != 0 || data[5] != 0 || (ptr != 4 && ptr != 8))
		return -ENOENT;
	nwords = v118 ? 8 : 7;
	if (!in(8, (uint64_t)nwords * ptr, size))
		return -ENOEXEC;
	nfunc = rd(data + 8, ptr);
	if (v118) {
		text_start = rd(data + 8 + 2 * ptr, ptr);
		funcname_off = rd(data + 8 + 3 * ptr, ptr);
		pcln_off = rd(data + 8 + 7 * ptr, ptr);
	} else {
		funcname_off = rd(data + 8 + 2 * ptr, ptr);
		pcln_off = rd(data + 8 + 6 * ptr, ptr);
	}
	if (!text_start)
		text_start = text_vaddr;
	if (nfunc == 0 || nfunc > GO_MAX_FUNCS || funcname_off >= size || pcln_off >= size)
		return -ENOEXEC;
	ent_size = v118 ? 8 : 2 * (uint64_t)ptr;
	if (!in(pcln_off, (nfunc + 1) * ent_size, size))
		return -ENOEXEC;

	for (uint64_t i = 0; i < nfunc; i++) {
		const uint8_t *e = data + pcln_off + i * ent_size;
		unsigned w = v118 ? 4 : ptr;
		uint64_t start = rd(e, w), end = rd(e + ent_size, w), func_off = rd(e + w, w);
		uint64_t name_field, name_off;
		const char *name, *nul;
		size_t max;
		int r;

		if (v118) {
			start += text_start;
			end += text_start;
		}
		if (end <= start)
			continue; /* zero-sized or out of order: nothing to name */
		/* _func: entry (uint32 offset 1.18+, pointer before), then int32 nameOff. */
		name_field = pcln_off + func_off + (v118 ? 4 : ptr);
		if (!in(name_field, 4, size))
			return -ENOEXEC;
		name_off = funcname_off + (uint32_t)rd(data + name_field, 4);
		if (name_off >= size)
			return -ENOEXEC;
		name = (const char *)data + name_off;
		max = size - name_off < GO_MAX_NAME ? size - name_off : GO_MAX_NAME;
		nul = memchr(name, '\0', max);
		if (!nul || nul == name)
			continue;
		r = fn(ctx, start, end, name, (size_t)(nul - name));
		if (r < 0)
			return r;
		n++;
	}
	return n;
}
