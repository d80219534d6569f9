/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pieces behind the symbol lookup order, without ELF files on disk where possible:
 * demangling (C++, Rust legacy and v0; full, simplified, none; the memo), the Go pclntab
 * walker on hand-built 1.18 and 1.16 tables and on truncated and forged ones, and the debug
 * file finder (build-id under extra directories, .gnu_debuglink with a CRC that must match,
 * the provider asked last).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "debuginfo.h"
#include "demangle.h"
#include "gopclntab.h"

static void check_demangled(const char *in, enum demangle_mode m, const char *want)
{
	char *out = demangle_name(in, m);

	if (!want)
		CHECK(out == NULL);
	else
		CHECK_STREQ(out ? out : "(null)", want);
	free(out);
}

static void test_demangle(void)
{
	struct demangler *d;
	const char *a, *b;

	check_demangled("_ZN3geo6detail4GridIdE5relaxEi", DEMANGLE_FULL,
			"geo::detail::Grid<double>::relax(int)");
	check_demangled("_ZN3geo6detail4GridIdE5relaxEi", DEMANGLE_SIMPLIFIED,
			"geo::detail::Grid::relax");
	check_demangled("_ZN3geo6detail4GridIdE5relaxEi", DEMANGLE_NONE, NULL);
	/* Rust legacy: the hash goes. */
	check_demangled("_ZN8sym_rust7Spinner9spin_rust17h4c2ba9d21ec500ffE", DEMANGLE_FULL,
			"sym_rust::Spinner::spin_rust");
	/* Rust v0: an inherent method, and generic arguments in simplified mode. */
	check_demangled("_RNvMCsjWuZ2HiPqgj_8sym_rustNtB2_7Spinner9spin_rust", DEMANGLE_FULL,
			"<sym_rust::Spinner>::spin_rust");
	check_demangled("_RINvCs1234_7mycrate4workmEB2_", DEMANGLE_SIMPLIFIED, "mycrate::work");
	/* Operators with angle brackets survive simplification. */
	check_demangled("_ZN2ns1AIiEltERKS1_", DEMANGLE_SIMPLIFIED, "ns::A::operator<");
	check_demangled("_ZlsRSoRKSs", DEMANGLE_SIMPLIFIED, "operator<<");
	/* Not mangled, or not valid: passed through. */
	check_demangled("main", DEMANGLE_FULL, NULL);
	check_demangled("_Zgarbage", DEMANGLE_FULL, NULL);

	d = demangler_new(DEMANGLE_FULL, 0);
	CHECK(d != NULL);
	a = demangler_get(d, "_ZN3foo3barEv");
	b = demangler_get(d, "_ZN3foo3barEv");
	CHECK_STREQ(a, "foo::bar()");
	CHECK(a == b); /* memoized */
	CHECK_STREQ(demangler_get(d, "plain_c"), "plain_c");
	demangler_trim(d);
	demangler_free(d);
}

/* ---- gopclntab ---- */

struct go_seen {
	char names[4][32];
	uint64_t start[4], end[4];
	int n;
};

static int go_cb(void *ctx, uint64_t start, uint64_t end, const char *name, size_t len)
{
	struct go_seen *s = ctx;

	if (s->n < 4 && len < sizeof(s->names[0])) {
		memcpy(s->names[s->n], name, len);
		s->names[s->n][len] = '\0';
		s->start[s->n] = start;
		s->end[s->n] = end;
	}
	s->n++;
	return 0;
}

static void put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A Go 1.18 table: header, funcnametab, functab of 2 functions + end, two _func records. */
static size_t build_go118(uint8_t *t, uint64_t text)
{
	const unsigned ptr = 8, hdr = 8 + 8 * ptr;
	const size_t names = hdr, functab = names + 32, funcs = functab + 3 * 8;

	memset(t, 0, 512);
	put(t, 0xfffffff0u, 4);
	t[6] = 1;
	t[7] = ptr;
	put(t + 8, 2, ptr);              /* nfunc */
	put(t + 8 + 2 * ptr, text, ptr); /* textStart */
	put(t + 8 + 3 * ptr, names, ptr);
	put(t + 8 + 7 * ptr, functab, ptr);
	memcpy(t + names, "main.alpha\0main.beta\0", 21);
	put(t + functab, 0x0, 4);              /* alpha at text + 0 */
	put(t + functab + 4, funcs - functab, 4);
	put(t + functab + 8, 0x40, 4);         /* beta at text + 0x40 */
	put(t + functab + 12, funcs + 8 - functab, 4);
	put(t + functab + 16, 0x100, 4);       /* end of text */
	put(t + funcs + 4, 0, 4);              /* alpha's nameOff */
	put(t + funcs + 8 + 4, 11, 4);         /* beta's nameOff */
	return funcs + 16;
}

static void test_gopclntab(void)
{
	uint8_t t[512];
	struct go_seen s = { 0 };
	size_t n = build_go118(t, 0x401000);

	CHECK_EQ_U64(gopclntab_walk(t, n, 0, go_cb, &s), 2);
	CHECK_STREQ(s.names[0], "main.alpha");
	CHECK_STREQ(s.names[1], "main.beta");
	CHECK_EQ_U64(s.start[0], 0x401000);
	CHECK_EQ_U64(s.end[0], 0x401040);
	CHECK_EQ_U64(s.end[1], 0x401100);

	/* textStart 0 (position-independent): .text's address is used. */
	memset(&s, 0, sizeof(s));
	n = build_go118(t, 0);
	CHECK_EQ_U64(gopclntab_walk(t, n, 0x500000, go_cb, &s), 2);
	CHECK_EQ_U64(s.start[1], 0x500040);

	/* Truncated, forged counts, another magic: errors, never a read out of bounds. */
	CHECK_EQ_U64(gopclntab_walk(t, 40, 0, go_cb, &s), -ENOEXEC);
	put(t + 8, 1u << 30, 8);
	CHECK_EQ_U64(gopclntab_walk(t, n, 0, go_cb, &s), -ENOEXEC);
	put(t, 0xfffffffbu, 4);
	CHECK_EQ_U64(gopclntab_walk(t, n, 0, go_cb, &s), -ENOENT);
	for (size_t cut = 0; cut < n; cut++) {
		n = build_go118(t, 0x401000);
		(void)gopclntab_walk(t, cut, 0, go_cb, &s);
	}
	CHECK(1);
}

/* ---- debuginfo ---- */

static char tmpdir[128];

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "we");

	CHECK(f != NULL);
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static int provider(void *ctx, const char *id, char *buf, size_t size)
{
	int *calls = ctx;

	(*calls)++;
	snprintf(buf, size, "%s/from-provider", tmpdir);
	return strcmp(id, "feedfacecafe") == 0;
}

static void test_debuginfo(void)
{
	char dir[256], path[512], bin[256], got[512];
	const char *dirs[1] = { dir };
	int calls = 0;
	struct debuginfo_config c = { .dirs = dirs, .n_dirs = 1, .provider = provider,
				      .provider_ctx = &calls };
	struct debuginfo_query q = { 0 };
	enum debuginfo_how how;
	uint32_t crc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-symsrc.XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	snprintf(dir, sizeof(dir), "%s/dbg", tmpdir);
	snprintf(path, sizeof(path), "%s/.build-id/ab", dir);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK(snprintf(got, sizeof(got), "%s/.build-id", dir) > 0 && mkdir(got, 0755) == 0);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/.build-id/ab/cdef01.debug", dir);
	write_file(path, "debug by id");
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	write_file(bin, "binary");

	/* By build-id under the extra directory. */
	q = (struct debuginfo_query){ .path = bin, .build_id = "abcdef01" };
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 1);
	CHECK_STREQ(got, path);
	CHECK(how == DEBUGINFO_BY_BUILD_ID);

	/* By debuglink next to the binary: only with the right CRC. */
	snprintf(path, sizeof(path), "%s/prog.debug", tmpdir);
	write_file(path, "debug by link");
	CHECK(debuginfo_file_crc32(path, &crc) == 0);
	CHECK_EQ_U64(crc, crc32(0, (const Bytef *)"debug by link", 13));
	q = (struct debuginfo_query){ .path = bin, .build_id = "00112233",
				      .debuglink = "prog.debug", .debuglink_crc = crc };
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 1);
	CHECK_STREQ(got, path);
	CHECK(how == DEBUGINFO_BY_DEBUGLINK);
	q.debuglink_crc = crc ^ 1;
	calls = 0;
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 0);
	CHECK_EQ_U64(calls, 1); /* ... and the provider was asked, had nothing */

	/* The provider, last; its answer must be a readable file. */
	snprintf(path, sizeof(path), "%s/from-provider", tmpdir);
	q = (struct debuginfo_query){ .path = bin, .build_id = "feedfacecafe" };
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 0);
	write_file(path, "provided");
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 1);
	CHECK(how == DEBUGINFO_BY_PROVIDER);

	/* No build-id, no link: nothing, without asking the provider. */
	calls = 0;
	q = (struct debuginfo_query){ .path = bin };
	CHECK_EQ_U64(debuginfo_find(&c, &q, got, sizeof(got), &how), 0);
	CHECK_EQ_U64(calls, 0);

	snprintf(got, sizeof(got), "rm -rf '%s'", tmpdir);
	CHECK(system(got) == 0);
}

int main(void)
{
	test_demangle();
	test_gopclntab();
	test_debuginfo();
	return check_finish("test-symbol-sources");
}
