/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symbolization: ELF function symbols behind a build-id keyed, byte-bounded cache, and the
 * kernel's symbols from /proc/kallsyms.
 *
 * A sym_binary is immutable once built. Symbol start addresses sit in one dense sorted array
 * (the binary search touches few cache lines); a parallel array holds each symbol's extent,
 * name offset and "parent"; all names live in one string arena; the PT_LOAD segments turn a
 * file offset into an ELF virtual address. Aliases (several names at one address) are reduced
 * to one symbol when the table is built, preferring global over weak over local names, so a
 * lookup is a binary search plus, for a symbol nested inside a larger one, a short walk up the
 * parent chain (the parent is the nearest earlier symbol whose extent covers this one's start).
 *
 * The cache tries the cheapest key first: (st_dev, st_ino, size, mtime) of the opened file,
 * then the GNU build-id from the notes, and parses symbols only when both miss. Every entry is
 * in the file index (under the key of the file it was read from) and, when it has a build-id,
 * in the build-id index, so two paths to one file, or two copies of one build, share an entry.
 * Referenced entries are never freed. An entry whose last reference is dropped goes to the tail
 * of the LRU list; entries are evicted from its head while the cache is over its byte budget,
 * so the budget is exceeded only by what callers hold.
 *
 * Input files are untrusted (any binary a profiled process maps). The file layout is checked
 * against the file size before the build-id is trusted (a truncated copy must not hit the
 * entry of the intact binary), every offset and size taken from the file is bounds-checked,
 * and files are read with pread (ELF_C_READ), not mmap, so a file truncated while we read it
 * is a read error, not a SIGBUS.
 *
 * Threading: a symcache has one owner thread (see symbolize.h); a loaded ksyms table is
 * immutable and may be read from any thread.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <lzma.h>

#include "dwarfsym.h"
#include "gopclntab.h"
#include "symbolize.h"

#define SYMCACHE_DEFAULT_MAX_BYTES ((size_t)256 << 20)
#define SYMCACHE_MIN_BUCKETS 64

/* Build-ids are 8 (xxhash), 16 (md5, uuid) or 20 (sha1) bytes; longer ones are not ids. */
#define BUILD_ID_MAX_BYTES 64
#define BUILD_ID_HEX_SIZE (2 * BUILD_ID_MAX_BYTES + 1)

#define SYM_NO_PARENT UINT32_MAX
/* Nesting deeper than this only occurs in crafted files; it must not make lookups O(n). */
#define SYM_PARENT_WALK_MAX 64

/*
 * Kernel symbols have no sizes: a symbol extends to the next one, and the last one (or one
 * followed by a gap, such as the end of a module's text) is capped so that an address far
 * past every symbol is not blamed on it. No kernel function comes near 256 KiB.
 */
#define KSYM_MAX_EXTENT ((uint64_t)256 << 10)
#define KSYMS_MAX_SYMBOLS ((size_t)16 << 20)
#define KSYMS_MAX_ARENA_BYTES ((size_t)1 << 30)
#define KSYMS_MAX_LINE 4096

/* MiniDebugInfo is a few MiB even for the largest libraries; a bigger claim is a bomb. */
#define MINIDEBUG_MAX_BYTES ((size_t)256 << 20)
/* Inlined frames per address kept by sym_binary_frames() callers at most. */
#define DWARF_MAX_SHARE 2 /* DWARF of one binary may take at most 1/2 of the budget */

struct file_key {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
};

struct sym_load {
	uint64_t offset; /* p_offset */
	uint64_t filesz; /* p_filesz: bytes past it are not in the file */
	uint64_t vaddr;	 /* p_vaddr */
};

struct sym_info {
	uint32_t size;	 /* extent in bytes from the start address, >= 1 */
	uint32_t name;	 /* offset into the name arena */
	uint32_t parent; /* index of the enclosing symbol, or SYM_NO_PARENT */
};

struct sym_binary {
	struct symcache *cache; /* NULL once orphaned by symcache_free() */
	unsigned long refs;
	struct file_key fkey;
	char build_id[BUILD_ID_HEX_SIZE];
	struct sym_binary *next_by_file;
	struct sym_binary *next_by_id;
	struct sym_binary *lru_prev; /* LRU links, valid only while refs == 0 */
	struct sym_binary *lru_next;
	bool debug_pending; /* built without the provider's debug file, which may still come */
	size_t bytes; /* everything below plus the struct itself */

	struct sym_load *loads;
	size_t n_loads;
	uint64_t *addrs; /* sorted, unique */
	struct sym_info *info;
	size_t n_syms;
	char *names;
	enum sym_source source;
	struct dwarfsym *dw; /* NULL without DWARF */
};

struct symcache {
	struct symcache_config cfg;
	size_t max_bytes;
	size_t n_buckets; /* power of two, shared by both indexes */
	size_t n_entries;
	struct sym_binary **by_file;
	struct sym_binary **by_id;
	struct sym_binary *lru_head; /* unreferenced entries, least recently released first */
	struct sym_binary *lru_tail;
	struct symcache_stats stats;
};

/* A symbol while the table is built; name points into libelf's copy of the string table. */
struct raw_sym {
	uint64_t addr;
	uint64_t size;	/* st_size, 0 when the symbol does not say */
	uint64_t bound; /* end of its section (or segment), 0 when unknown */
	const char *name;
	uint32_t name_len;
	uint8_t rank; /* 0 global, 1 weak, 2 local, 3 other */
};

struct sec_range {
	uint64_t start;
	uint64_t end; /* 0 for sections that are not loaded */
};

/* The symbols collected so far, from one or several tables. */
struct raw_vec {
	struct raw_sym *v;
	size_t n, cap;
};

static int raw_reserve(struct raw_vec *rv, size_t more)
{
	size_t cap = rv->cap ? rv->cap : 256;
	struct raw_sym *v;

	if (more <= rv->cap - rv->n)
		return 0;
	if (more >= INT32_MAX || rv->n >= INT32_MAX - more)
		return -EFBIG;
	while (cap - rv->n < more)
		cap *= 2;
	v = realloc(rv->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rv->v = v;
	rv->cap = cap;
	return 0;
}

/* The sections of one ELF file that symbol reading needs. */
struct elf_secs {
	struct sec_range *ranges; /* by section index */
	size_t shnum;
	Elf_Scn *symtab, *dynsym, *gnu_debugdata, *gopclntab, *text;
	GElf_Shdr symtab_sh, dynsym_sh, gnu_debugdata_sh, gopclntab_sh, text_sh;
	bool has_debug_info;
};

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

static size_t leading_underscores(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[n] == '_')
		n++;
	return n;
}

/*
 * Order among aliases of equal binding: the public name first (fewer leading underscores,
 * "malloc" over "__libc_malloc"), then the shorter, then bytewise, so the choice does not
 * depend on symbol table order or on the sort algorithm.
 */
static int alias_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t ua = leading_underscores(a, alen), ub = leading_underscores(b, blen);
	int r;

	if (ua != ub)
		return ua < ub ? -1 : 1;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	r = memcmp(a, b, alen);
	return r < 0 ? -1 : r > 0;
}

/* ---- ELF reading ---- */

/*
 * Checks that the headers, every segment we may read and every section with file contents lie
 * inside the file. A truncated binary fails here even when its notes are intact.
 */
static int elf_check_layout_kind(Elf *elf, uint64_t file_size, bool debug_file)
{
	GElf_Ehdr eh;
	size_t phnum, shnum;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		return -ENOEXEC;
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return -ENOEXEC;
	if (elf_getphdrnum(elf, &phnum) < 0 || elf_getshdrnum(elf, &shnum) < 0)
		return -ENOEXEC;
	/*
	 * With ELF_C_READ, libelf quietly reports no headers when their table lies past the end
	 * of the file: compare with the counts the ELF header announces (0xffff/0 mean the real
	 * count is in section header 0, which libelf then had to read).
	 */
	if (eh.e_phnum != PN_XNUM && phnum != eh.e_phnum)
		return -ENOEXEC;
	if (eh.e_shoff != 0 && (shnum == 0 || (eh.e_shnum != 0 && shnum != eh.e_shnum)))
		return -ENOEXEC;
	if (phnum > 0 && (eh.e_phentsize != gelf_fsize(elf, ELF_T_PHDR, 1, EV_CURRENT) ||
			  !range_ok(eh.e_phoff, (uint64_t)phnum * eh.e_phentsize, file_size)))
		return -ENOEXEC;
	if (shnum > 0 && (eh.e_shentsize != gelf_fsize(elf, ELF_T_SHDR, 1, EV_CURRENT) ||
			  !range_ok(eh.e_shoff, (uint64_t)shnum * eh.e_shentsize, file_size)))
		return -ENOEXEC;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		/* A separate debug file keeps the program headers of a binary it does not hold. */
		if (!debug_file && (ph.p_type == PT_LOAD || ph.p_type == PT_NOTE) &&
		    !range_ok(ph.p_offset, ph.p_filesz, file_size))
			return -ENOEXEC;
	}

	/* By index, not elf_nextscn(): that one ends the walk the same way on EOF and error. */
	for (size_t i = 1; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(elf, i);
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    !range_ok(sh.sh_offset, sh.sh_size, file_size))
			return -ENOEXEC;
	}
	return 0;
}

/* Looks for an NT_GNU_BUILD_ID note in data. Returns 1 when found, 0 when not, or -ENOEXEC. */
static int notes_find_build_id(Elf_Data *data, char hex[BUILD_ID_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!data->d_buf)
		return data->d_size ? -ENOEXEC : 0;

	/* gelf_getnote() checks that name and descriptor lie inside data; 0 ends the walk. */
	while (off < data->d_size &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const unsigned char *desc = (const unsigned char *)data->d_buf + desc_off;

		off = next;
		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != sizeof(ELF_NOTE_GNU) ||
		    memcmp((const char *)data->d_buf + name_off, ELF_NOTE_GNU,
			   sizeof(ELF_NOTE_GNU)) != 0)
			continue;
		if (nh.n_descsz == 0 || nh.n_descsz > BUILD_ID_MAX_BYTES ||
		    !range_ok(desc_off, nh.n_descsz, data->d_size))
			continue;
		for (size_t i = 0; i < nh.n_descsz; i++) {
			hex[2 * i] = digits[desc[i] >> 4];
			hex[2 * i + 1] = digits[desc[i] & 15];
		}
		hex[2 * nh.n_descsz] = '\0';
		return 1;
	}
	return 0;
}

/*
 * Reads the GNU build-id into hex ("" when there is none). PT_NOTE first: it is what the
 * loader maps and what stripped binaries keep; SHT_NOTE sections cover files without program
 * headers for notes (separate debug files).
 */
static int elf_check_layout(Elf *elf, uint64_t file_size)
{
	return elf_check_layout_kind(elf, file_size, false);
}

static int elf_read_build_id_from(Elf *elf, char hex[BUILD_ID_HEX_SIZE], bool phdrs)
{
	Elf_Scn *scn = NULL;
	size_t phnum;
	int r;

	hex[0] = '\0';
	if (elf_getphdrnum(elf, &phnum) < 0)
		return -ENOEXEC;
	for (size_t i = 0; phdrs && i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
			continue;
		/* Notes in an 8-aligned segment (GNU properties) are padded to 8, not 4. */
		data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!data)
			return -ENOEXEC;
		r = notes_find_build_id(data, hex);
		if (r != 0)
			return r < 0 ? r : 0;
	}

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (sh.sh_type != SHT_NOTE || sh.sh_size == 0)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			return -ENOEXEC;
		r = notes_find_build_id(data, hex);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return 0;
}

static int elf_read_build_id(Elf *elf, char hex[BUILD_ID_HEX_SIZE])
{
	return elf_read_build_id_from(elf, hex, true);
}

static int binary_read_loads(Elf *elf, struct sym_binary *b)
{
	size_t phnum, n = 0;

	if (elf_getphdrnum(elf, &phnum) < 0)
		return -ENOEXEC;
	b->loads = calloc(phnum ? phnum : 1, sizeof(*b->loads));
	if (!b->loads)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
			continue;
		b->loads[n++] = (struct sym_load){
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.vaddr = ph.p_vaddr,
		};
	}
	b->n_loads = n;
	return 0;
}

/* End of the loaded section, else of the segment, holding addr; 0 when none does. */
static uint64_t sym_bound(const struct sym_binary *b, const struct sec_range *secs, size_t shnum,
			  size_t shndx, uint64_t addr)
{
	/* Indexes from SHN_LORESERVE up are special (SHN_ABS, SHN_COMMON), not sections. */
	if (shndx < shnum && shndx < SHN_LORESERVE) {
		const struct sec_range *sec = &secs[shndx];

		if (sec->end && addr >= sec->start && addr < sec->end)
			return sec->end;
	}
	for (size_t i = 0; i < b->n_loads; i++) {
		const struct sym_load *l = &b->loads[i];

		if (addr >= l->vaddr && addr - l->vaddr < l->filesz)
			return l->vaddr + l->filesz;
	}
	return 0;
}

/* Global names first, then weak, then local: the name other code links against wins. */
static uint8_t binding_rank(unsigned bind)
{
	switch (bind) {
	case STB_GLOBAL:
		return 0;
	case STB_WEAK:
		return 1;
	case STB_LOCAL:
		return 2;
	default:
		return 3;
	}
}

/*
 * Appends the defined function symbols of one symbol table to raw (sized for the table by the
 * caller). Returns the number appended, or -errno.
 */
static int collect_symbols(Elf *elf, Elf_Scn *scn, const GElf_Shdr *symsh,
			   const struct sym_binary *b, const struct sec_range *secs, size_t shnum,
			   bool thumb, struct raw_vec *rv)
{
	size_t entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT), count, n = 0;
	struct raw_sym *raw;
	int r;
	Elf_Data *data, *strdata;
	Elf_Scn *strscn;
	GElf_Shdr strsh;

	data = elf_getdata(scn, NULL);
	if (!data || entsize == 0 || symsh->sh_link == 0 || symsh->sh_link >= shnum)
		return -ENOEXEC;
	strscn = elf_getscn(elf, symsh->sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strsh) || strsh.sh_type != SHT_STRTAB)
		return -ENOEXEC;
	strdata = elf_getdata(strscn, NULL);
	if (!strdata || (!strdata->d_buf && strdata->d_size))
		return -ENOEXEC;

	count = data->d_size / entsize;
	r = raw_reserve(rv, count);
	if (r < 0)
		return r;
	raw = rv->v + rv->n;
	/* Index 0 is the reserved undefined symbol. */
	for (size_t i = 1; i < count; i++) {
		const char *name, *end;
		unsigned type;
		GElf_Sym sym;
		uint64_t addr;
		size_t len;

		if (!gelf_getsym(data, (int)i, &sym))
			return -ENOEXEC;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0 || sym.st_name == 0)
			continue;
		if (sym.st_name >= strdata->d_size)
			return -ENOEXEC;
		name = (const char *)strdata->d_buf + sym.st_name;
		end = memchr(name, '\0', strdata->d_size - sym.st_name);
		if (!end)
			return -ENOEXEC;
		len = (size_t)(end - name);
		/*
		 * The linker writes versioned definitions into .symtab as "memcpy@@GLIBC_2.14";
		 * the version is noise in a profile and would split one function into several.
		 */
		end = memchr(name, '@', len);
		if (end && end != name)
			len = (size_t)(end - name);
		if (len == 0 || len >= UINT32_MAX)
			continue;

		/* On 32-bit ARM the low bit of a function address selects Thumb mode. */
		addr = thumb ? sym.st_value & ~(uint64_t)1 : sym.st_value;
		raw[n++] = (struct raw_sym){
			.addr = addr,
			.size = sym.st_size,
			.bound = sym_bound(b, secs, shnum, sym.st_shndx, addr),
			.name = name,
			.name_len = (uint32_t)len,
			.rank = binding_rank(GELF_ST_BIND(sym.st_info)),
		};
	}
	rv->n += n;
	return (int)n;
}

static int raw_sym_cmp(const void *pa, const void *pb)
{
	const struct raw_sym *a = pa, *b = pb;
	int r;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	/* A sized symbol is a real function; an unsized one at the same place is a label. */
	if (!a->size != !b->size)
		return a->size ? -1 : 1;
	r = alias_name_cmp(a->name, a->name_len, b->name, b->name_len);
	if (r)
		return r;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return 0;
}

/* Extent of a deduplicated symbol: st_size, else up to the next symbol or its section end. */
static uint64_t raw_extent(const struct raw_sym *r, const struct raw_sym *next)
{
	uint64_t ext;

	if (r->size) {
		ext = r->size;
	} else {
		ext = next ? next->addr - r->addr : UINT64_MAX;
		if (r->bound > r->addr && r->bound - r->addr < ext)
			ext = r->bound - r->addr;
		if (ext == UINT64_MAX) /* nothing bounds it: claim only its first byte */
			ext = 1;
	}
	return ext > UINT32_MAX ? UINT32_MAX : ext;
}

/* Turns raw (sorted in place here) into the final tables of b. */
static int binary_build_table(struct sym_binary *b, struct raw_sym *raw, size_t nraw)
{
	size_t n = 0, arena = 0, depth = 0, pos = 0;
	uint32_t *stack;

	if (nraw)
		qsort(raw, nraw, sizeof(*raw), raw_sym_cmp);

	/* One symbol per address: the sort put the preferred alias first. */
	for (size_t i = 0; i < nraw; i++) {
		if (n > 0 && raw[n - 1].addr == raw[i].addr) {
			if (raw[i].size > raw[n - 1].size)
				raw[n - 1].size = raw[i].size;
			if (raw[i].bound > raw[n - 1].bound)
				raw[n - 1].bound = raw[i].bound;
			continue;
		}
		raw[n++] = raw[i];
	}
	for (size_t i = 0; i < n; i++)
		arena += (size_t)raw[i].name_len + 1;
	if (n >= SYM_NO_PARENT || arena > UINT32_MAX)
		return -EFBIG;

	b->addrs = malloc((n ? n : 1) * sizeof(*b->addrs));
	b->info = malloc((n ? n : 1) * sizeof(*b->info));
	b->names = malloc(arena ? arena : 1);
	stack = malloc((n ? n : 1) * sizeof(*stack));
	if (!b->addrs || !b->info || !b->names || !stack) {
		free(stack);
		return -ENOMEM;
	}

	for (size_t i = 0; i < n; i++) {
		b->addrs[i] = raw[i].addr;
		b->info[i].size = (uint32_t)raw_extent(&raw[i], i + 1 < n ? &raw[i + 1] : NULL);
		b->info[i].name = (uint32_t)pos;
		memcpy(b->names + pos, raw[i].name, raw[i].name_len);
		pos += raw[i].name_len;
		b->names[pos++] = '\0';

		/*
		 * The stack holds the symbols whose extent may still cover later starts, innermost
		 * on top; a symbol covering this start is on it, so the parent chain finds it.
		 */
		while (depth &&
		       b->addrs[i] - b->addrs[stack[depth - 1]] >= b->info[stack[depth - 1]].size)
			depth--;
		b->info[i].parent = depth ? stack[depth - 1] : SYM_NO_PARENT;
		stack[depth++] = (uint32_t)i;
	}
	free(stack);
	b->n_syms = n;
	b->bytes = sizeof(*b) + b->n_loads * sizeof(*b->loads) +
		   n * (sizeof(*b->addrs) + sizeof(*b->info)) + arena;
	return 0;
}

/*
 * The bytes after a program's entry point that add_entry_symbol() names "_start": glibc's
 * _start is 38 bytes on x86-64 and 52 on arm64, and the call into __libc_start_main, the
 * only place a stack can show it, comes at its end.
 */
#define ENTRY_SYMBOL_BYTES 64

/*
 * A stripped program (Debian's xz, say) has no symbol at its entry point, yet that is the
 * outermost frame of every stack of its main thread. Names it "_start" when it is a program
 * (ET_EXEC, or ET_DYN with an interpreter) and no symbol starts there; a shared library's
 * entry point is left alone. Returns the new count.
 */
static int add_entry_symbol(Elf *elf, const GElf_Ehdr *eh, struct raw_vec *rv)
{
	static const char name[] = "_start";
	bool program = eh->e_type == ET_EXEC;
	struct raw_sym *raw = rv->v;
	size_t phnum, n = rv->n;

	if (eh->e_entry == 0)
		return 0;
	if (!program && eh->e_type == ET_DYN && elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum && !program; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
				program = true;
		}
	}
	if (!program)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (raw[i].addr == eh->e_entry)
			return 0;
	if (raw_reserve(rv, 1) < 0)
		return -ENOMEM;
	raw = rv->v;
	raw[n] = (struct raw_sym){
		.addr = eh->e_entry,
		.size = 0,
		.bound = eh->e_entry + ENTRY_SYMBOL_BYTES,
		.name = name,
		.name_len = sizeof(name) - 1,
		.rank = binding_rank(STB_LOCAL),
	};
	rv->n++;
	return 0;
}

/* Indexes the sections of elf that symbol reading uses. */
static int elf_secs_read(Elf *elf, struct elf_secs *es)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	memset(es, 0, sizeof(*es));
	if (elf_getshdrnum(elf, &es->shnum) < 0)
		return -ENOEXEC;
	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		shstrndx = 0;
	es->ranges = calloc(es->shnum ? es->shnum : 1, sizeof(*es->ranges));
	if (!es->ranges)
		return -ENOMEM;
	while ((scn = elf_nextscn(elf, scn))) {
		size_t idx = elf_ndxscn(scn);
		const char *name;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || idx >= es->shnum)
			return -ENOEXEC;
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_size &&
		    sh.sh_addr <= UINT64_MAX - sh.sh_size)
			es->ranges[idx] = (struct sec_range){sh.sh_addr, sh.sh_addr + sh.sh_size};
		if (sh.sh_type == SHT_SYMTAB && !es->symtab) {
			es->symtab = scn;
			es->symtab_sh = sh;
		} else if (sh.sh_type == SHT_DYNSYM && !es->dynsym) {
			es->dynsym = scn;
			es->dynsym_sh = sh;
		}
		name = shstrndx ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (!name || sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
			continue;
		if (strcmp(name, ".gnu_debugdata") == 0) {
			es->gnu_debugdata = scn;
			es->gnu_debugdata_sh = sh;
		} else if (strcmp(name, ".gopclntab") == 0) {
			es->gopclntab = scn;
			es->gopclntab_sh = sh;
		} else if (strcmp(name, ".text") == 0) {
			es->text = scn;
			es->text_sh = sh;
		} else if (strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0) {
			es->has_debug_info = true;
		}
	}
	return 0;
}

static void elf_secs_done(struct elf_secs *es)
{
	free(es->ranges);
	es->ranges = NULL;
}

/* Function symbols of elf's .symtab (and .dynsym when with_dynsym) appended to rv. */
static int collect_from(Elf *elf, const struct elf_secs *es, const struct sym_binary *b,
			bool thumb, bool symtab, bool dynsym, struct raw_vec *rv)
{
	int n = 0, r;

	if (symtab && es->symtab) {
		r = collect_symbols(elf, es->symtab, &es->symtab_sh, b, es->ranges, es->shnum,
				    thumb, rv);
		if (r < 0)
			return r;
		n += r;
	}
	if (dynsym && es->dynsym) {
		r = collect_symbols(elf, es->dynsym, &es->dynsym_sh, b, es->ranges, es->shnum,
				    thumb, rv);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}

/* .gnu_debugdata decompressed (xz) into a malloc'ed buffer. */
static int minidebug_decompress(Elf *elf, const struct elf_secs *es, uint8_t **ret_buf,
				size_t *ret_size)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	Elf_Data *d = elf_rawdata(es->gnu_debugdata, NULL);
	size_t cap = 1 << 20;
	uint8_t *out = NULL, *grown;
	lzma_ret lr;
	int r = 0;

	if (!d || !d->d_buf || !d->d_size)
		return -ENOEXEC;
	if (lzma_stream_decoder(&strm, MINIDEBUG_MAX_BYTES, 0) != LZMA_OK)
		return -ENOMEM;
	out = malloc(cap);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	strm.next_in = d->d_buf;
	strm.avail_in = d->d_size;
	strm.next_out = out;
	strm.avail_out = cap;
	for (;;) {
		lr = lzma_code(&strm, LZMA_FINISH);
		if (lr == LZMA_STREAM_END)
			break;
		if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
			r = lr == LZMA_MEM_ERROR ? -ENOMEM : -ENOEXEC;
			goto out;
		}
		if (strm.avail_out == 0) {
			if (cap >= MINIDEBUG_MAX_BYTES) {
				r = -EFBIG;
				goto out;
			}
			grown = realloc(out, cap * 2);
			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			out = grown;
			strm.next_out = out + cap;
			strm.avail_out = cap;
			cap *= 2;
		} else if (lr == LZMA_BUF_ERROR) {
			r = -ENOEXEC; /* input ended before the stream did */
			goto out;
		}
	}
	*ret_size = cap - strm.avail_out;
	*ret_buf = out;
	out = NULL;
out:
	lzma_end(&strm);
	free(out);
	return r;
}

struct go_ctx {
	struct raw_vec *rv;
	int n;
};

static int go_add(void *ctx, uint64_t start, uint64_t end, const char *name, size_t len)
{
	struct go_ctx *g = ctx;
	int r;

	if (len >= UINT32_MAX)
		return 0;
	r = raw_reserve(g->rv, 1);
	if (r < 0)
		return r;
	g->rv->v[g->rv->n++] = (struct raw_sym){
		.addr = start,
		.size = end - start,
		.bound = end,
		.name = name,
		.name_len = (uint32_t)len,
		.rank = 0,
	};
	g->n++;
	return 0;
}

/* Go function names from .gopclntab (a Go binary stripped with -s). */
static int collect_gopclntab(Elf *elf, const struct elf_secs *es, struct raw_vec *rv)
{
	struct go_ctx g = { .rv = rv };
	Elf_Data *d = elf_rawdata(es->gopclntab, NULL);
	int r;

	if (!d || !d->d_buf)
		return 0;
	r = gopclntab_walk(d->d_buf, d->d_size, es->text ? es->text_sh.sh_addr : 0, go_add, &g);
	if (r == -ENOENT || r == -ENOEXEC)
		return 0; /* not a pclntab we read: other sources may still name things */
	return r < 0 ? r : g.n;
}

/* The in-namespace root of a path the daemon reaches as "/proc/PID/root/...", else "". */
static void path_root(const char *path, char *buf, size_t size)
{
	const char *p = path;

	buf[0] = '\0';
	if (strncmp(p, "/proc/", 6) != 0)
		return;
	p += 6;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == path + 6 || strncmp(p, "/root/", 6) != 0)
		return;
	snprintf(buf, size, "%.*s", (int)(p + 5 - path), path);
}

/* .gnu_debuglink of elf: file name and CRC. Returns true when present and well-formed. */
static bool read_debuglink(Elf *elf, char *name, size_t size, uint32_t *ret_crc)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *n, *s;
		Elf_Data *d;
		size_t len, crc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, ".gnu_debuglink") != 0)
			continue;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf)
			return false;
		s = d->d_buf;
		len = strnlen(s, d->d_size);
		/* Name, NUL, padding to 4, then the CRC in the file's byte order. */
		crc_off = (len + 4) & ~(size_t)3;
		if (len == 0 || len >= size || crc_off + 4 > d->d_size)
			return false;
		memcpy(name, s, len);
		name[len] = '\0';
		{
			const uint8_t *c = (const uint8_t *)d->d_buf + crc_off;
			GElf_Ehdr eh;
			bool be = gelf_getehdr(elf, &eh) && eh.e_ident[EI_DATA] == ELFDATA2MSB;

			*ret_crc = be ? (uint32_t)c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3]
				      : (uint32_t)c[3] << 24 | c[2] << 16 | c[1] << 8 | c[0];
		}
		return true;
	}
	return false;
}

/* An opened separate debug file. */
struct debug_file {
	int fd;
	Elf *elf;
	struct elf_secs es;
	enum debuginfo_how how;
	char path[PATH_MAX];
};

static void debug_file_close(struct debug_file *df)
{
	elf_secs_done(&df->es);
	if (df->elf)
		elf_end(df->elf);
	if (df->fd >= 0)
		close(df->fd);
	df->elf = NULL;
	df->fd = -1;
}


/*
 * Finds and opens the separate debug file of the binary at path (build-id, debuglink,
 * provider, then the cache's asynchronous debug provider). Returns 1 when one was opened into
 * *df, 0 when there is none usable; *ret_pending tells whether the asynchronous provider may
 * still bring one.
 */
static int debug_file_open(const struct symcache *c, Elf *elf, const char *path,
			   const char *build_id, struct debug_file *df, bool *ret_pending)
{
	struct debuginfo_query q = { .path = path, .build_id = build_id };
	char root[64], link[256], id[BUILD_ID_HEX_SIZE];
	struct stat st;
	int r;

	df->fd = -1;
	df->elf = NULL;
	memset(&df->es, 0, sizeof(df->es));
	path_root(path, root, sizeof(root));
	q.root = root;
	if (read_debuglink(elf, link, sizeof(link), &q.debuglink_crc))
		q.debuglink = link;
	r = debuginfo_find(&c->cfg.debuginfo, &q, df->path, sizeof(df->path), &df->how);
	*ret_pending = r == -EAGAIN;
	if (r <= 0)
		return 0;
	df->fd = open(df->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (df->fd < 0 || fstat(df->fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto unusable;
	df->elf = elf_begin(df->fd, ELF_C_READ, NULL);
	if (!df->elf || elf_check_layout_kind(df->elf, (uint64_t)st.st_size, true) < 0)
		goto unusable;
	/* A debug file for another build would name other code at the same addresses. */
	if (elf_read_build_id_from(df->elf, id, false) < 0 ||
	    (build_id[0] && id[0] && strcmp(id, build_id) != 0))
		goto unusable;
	if (elf_secs_read(df->elf, &df->es) < 0)
		goto unusable;
	return 1;
unusable:
	debug_file_close(df);
	return 0;
}

/*
 * Reads the PT_LOAD segments and the function symbols of the first source that has any (see
 * symbolize.h for the order), and opens DWARF when wanted. Linkers copy every dynamic symbol
 * into .symtab too, so .dynsym is read only when no full symbol table is left, and merged
 * with MiniDebugInfo, which by design holds just the symbols .dynsym lacks.
 */
static int binary_build(const struct symcache *c, Elf *elf, const char *path,
			const char *build_id, struct sym_binary *b)
{
	struct debug_file df = { .fd = -1 };
	struct elf_secs es = { 0 };
	struct raw_vec rv = { 0 };
	uint8_t *mini = NULL;
	Elf *mini_elf = NULL;
	bool thumb, have_df = false, need_df;
	GElf_Ehdr eh;
	int r, n = 0;

	if (!gelf_getehdr(elf, &eh))
		return -ENOEXEC;
	thumb = eh.e_machine == EM_ARM;
	r = binary_read_loads(elf, b);
	if (r < 0)
		return r;
	b->source = SYM_SOURCE_NONE;
	if (c->cfg.build_ids_only)
		return binary_build_table(b, rv.v, 0);

	r = elf_secs_read(elf, &es);
	if (r < 0)
		goto out;
	n = collect_from(elf, &es, b, thumb, true, false, &rv);
	if (n < 0) {
		r = n;
		goto out;
	}
	if (n > 0)
		b->source = SYM_SOURCE_SYMTAB;

	need_df = n == 0 || (c->cfg.dwarf && !es.has_debug_info);
	if (need_df)
		have_df = debug_file_open(c, elf, path, build_id, &df, &b->debug_pending) > 0;
	if (n == 0 && have_df) {
		/* A broken debug file is not the binary's fault: fall through to other sources. */
		n = collect_from(df.elf, &df.es, b, thumb, true, false, &rv);
		if (n > 0)
			b->source = df.how == DEBUGINFO_BY_BUILD_ID	 ? SYM_SOURCE_DEBUG_BUILD_ID
				    : df.how == DEBUGINFO_BY_DEBUGLINK ? SYM_SOURCE_DEBUGLINK
								       : SYM_SOURCE_DEBUG_PROVIDER;
		else
			rv.n = 0, n = 0;
	}
	if (n == 0 && es.gnu_debugdata) {
		size_t mini_size = 0;
		struct elf_secs mes = { 0 };

		if (minidebug_decompress(elf, &es, &mini, &mini_size) == 0 &&
		    (mini_elf = elf_memory((char *)mini, mini_size)) != NULL &&
		    elf_kind(mini_elf) == ELF_K_ELF &&
		    elf_check_layout_kind(mini_elf, mini_size, true) == 0 &&
		    elf_secs_read(mini_elf, &mes) == 0) {
			n = collect_from(mini_elf, &mes, b, thumb, true, false, &rv);
			if (n > 0) {
				int d = collect_from(elf, &es, b, thumb, false, true, &rv);

				b->source = SYM_SOURCE_MINIDEBUGINFO;
				if (d > 0)
					n += d;
			} else {
				rv.n = 0, n = 0;
			}
		}
		elf_secs_done(&mes);
	}
	if (n == 0) {
		n = collect_from(elf, &es, b, thumb, false, true, &rv);
		if (n < 0) {
			r = n;
			goto out;
		}
		if (n > 0)
			b->source = SYM_SOURCE_DYNSYM;
	}
	if (n == 0 && es.gopclntab) {
		n = collect_gopclntab(elf, &es, &rv);
		if (n < 0) {
			r = n;
			goto out;
		}
		if (n > 0)
			b->source = SYM_SOURCE_GOPCLNTAB;
	}
	r = add_entry_symbol(elf, &eh, &rv);
	if (r < 0)
		goto out;
	r = binary_build_table(b, rv.v, rv.n);
	if (r < 0)
		goto out;

	if (c->cfg.dwarf) {
		const char *dpath = es.has_debug_info		  ? path
				    : have_df && df.es.has_debug_info ? df.path
								      : NULL;

		if (dpath && dwarfsym_open(dpath, c->max_bytes / DWARF_MAX_SHARE, &b->dw) == 0)
			b->bytes += dwarfsym_bytes(b->dw);
	}
out:
	free(rv.v);
	elf_secs_done(&es);
	debug_file_close(&df);
	if (mini_elf)
		elf_end(mini_elf);
	free(mini);
	return r;
}

static void binary_free(struct sym_binary *b)
{
	if (!b)
		return;
	free(b->loads);
	free(b->addrs);
	free(b->info);
	free(b->names);
	dwarfsym_free(b->dw);
	free(b);
}

/* ---- cache ---- */

static size_t file_key_bucket(const struct symcache *c, const struct file_key *k)
{
	return fnv1a(k, sizeof(*k), FNV_OFFSET) & (c->n_buckets - 1);
}

static size_t build_id_bucket(const struct symcache *c, const char *id)
{
	return fnv1a(id, strlen(id), FNV_OFFSET) & (c->n_buckets - 1);
}

static bool file_key_eq(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

static struct sym_binary *cache_find_file(const struct symcache *c, const struct file_key *k)
{
	struct sym_binary *b = c->by_file[file_key_bucket(c, k)];

	while (b && !file_key_eq(&b->fkey, k))
		b = b->next_by_file;
	return b;
}

static struct sym_binary *cache_find_id(const struct symcache *c, const char *id)
{
	struct sym_binary *b = c->by_id[build_id_bucket(c, id)];

	while (b && strcmp(b->build_id, id) != 0)
		b = b->next_by_id;
	return b;
}

static void cache_insert_buckets(struct symcache *c, struct sym_binary *b)
{
	size_t i = file_key_bucket(c, &b->fkey);

	b->next_by_file = c->by_file[i];
	c->by_file[i] = b;
	if (b->build_id[0]) {
		i = build_id_bucket(c, b->build_id);
		b->next_by_id = c->by_id[i];
		c->by_id[i] = b;
	}
}

/* Doubles both indexes; on allocation failure the chains just get longer. */
static void cache_grow(struct symcache *c)
{
	struct sym_binary **old = c->by_file;
	size_t old_n = c->n_buckets;
	struct sym_binary **by_file, **by_id;

	if (old_n > SIZE_MAX / 2 / sizeof(*by_file))
		return;
	by_file = calloc(old_n * 2, sizeof(*by_file));
	by_id = calloc(old_n * 2, sizeof(*by_id));
	if (!by_file || !by_id) {
		free(by_file);
		free(by_id);
		return;
	}
	free(c->by_id);
	c->by_file = by_file;
	c->by_id = by_id;
	c->n_buckets = old_n * 2;
	/* Every entry is in the file index, so walking it finds them all. */
	for (size_t i = 0; i < old_n; i++) {
		struct sym_binary *b = old[i], *next;

		for (; b; b = next) {
			next = b->next_by_file;
			cache_insert_buckets(c, b);
		}
	}
	free(old);
}

static void cache_link(struct symcache *c, struct sym_binary *b)
{
	if (c->n_entries >= c->n_buckets)
		cache_grow(c);
	cache_insert_buckets(c, b);
	c->n_entries++;
}

static void cache_unlink(struct symcache *c, struct sym_binary *b)
{
	struct sym_binary **p = &c->by_file[file_key_bucket(c, &b->fkey)];

	while (*p && *p != b)
		p = &(*p)->next_by_file;
	if (*p)
		*p = b->next_by_file;
	if (b->build_id[0]) {
		p = &c->by_id[build_id_bucket(c, b->build_id)];
		while (*p && *p != b)
			p = &(*p)->next_by_id;
		if (*p)
			*p = b->next_by_id;
	}
	c->n_entries--;
}

static void lru_remove(struct symcache *c, struct sym_binary *b)
{
	if (b->lru_prev)
		b->lru_prev->lru_next = b->lru_next;
	else
		c->lru_head = b->lru_next;
	if (b->lru_next)
		b->lru_next->lru_prev = b->lru_prev;
	else
		c->lru_tail = b->lru_prev;
	b->lru_prev = b->lru_next = NULL;
}

static void lru_append(struct symcache *c, struct sym_binary *b)
{
	b->lru_next = NULL;
	b->lru_prev = c->lru_tail;
	if (c->lru_tail)
		c->lru_tail->lru_next = b;
	else
		c->lru_head = b;
	c->lru_tail = b;
}

/*
 * Evicts until reserve more bytes fit in the budget. Only unreferenced entries are on the LRU
 * list, so only they can be evicted.
 */
static void cache_evict_for(struct symcache *c, size_t reserve)
{
	while (c->lru_head &&
	       (c->stats.bytes > c->max_bytes || reserve > c->max_bytes - c->stats.bytes)) {
		struct sym_binary *b = c->lru_head;

		lru_remove(c, b);
		cache_unlink(c, b);
		c->stats.bytes -= b->bytes;
		c->stats.evictions++;
		binary_free(b);
	}
}

static void cache_evict(struct symcache *c)
{
	cache_evict_for(c, 0);
}

struct symcache *symcache_new_config(const struct symcache_config *cfg)
{
	struct symcache *c;

	/* Tells libelf which ELF version we speak; needed once before any elf_begin(). */
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (cfg)
		c->cfg = *cfg;
	c->max_bytes = c->cfg.max_bytes ? c->cfg.max_bytes : SYMCACHE_DEFAULT_MAX_BYTES;
	c->stats.max_bytes = c->max_bytes;
	c->n_buckets = SYMCACHE_MIN_BUCKETS;
	c->by_file = calloc(c->n_buckets, sizeof(*c->by_file));
	c->by_id = calloc(c->n_buckets, sizeof(*c->by_id));
	if (!c->by_file || !c->by_id) {
		free(c->by_file);
		free(c->by_id);
		free(c);
		return NULL;
	}
	return c;
}

struct symcache *symcache_new(size_t max_bytes)
{
	struct symcache_config cfg = { .max_bytes = max_bytes };

	return symcache_new_config(&cfg);
}

/* Keeps the SYMCACHE_SLOWEST slowest loads, slowest first. */
static void stats_note_load(struct symcache_stats *st, const char *path,
			    const struct sym_binary *b, uint64_t ns)
{
	unsigned i = st->n_slowest;

	st->load_ns += ns;
	st->by_source[b->source]++;
	if (b->dw)
		st->with_dwarf++;
	if (i == SYMCACHE_SLOWEST) {
		if (ns <= st->slowest[i - 1].ns)
			return;
		i--;
	} else {
		st->n_slowest++;
	}
	while (i > 0 && st->slowest[i - 1].ns < ns) {
		st->slowest[i] = st->slowest[i - 1];
		i--;
	}
	st->slowest[i] = (struct symcache_load){
		.ns = ns,
		.bytes = b->bytes,
		.source = b->source,
		.dwarf = b->dw != NULL,
	};
	snprintf(st->slowest[i].path, sizeof(st->slowest[i].path), "%s", path);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void symcache_free(struct symcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct sym_binary *b = c->by_file[i], *next;

		for (; b; b = next) {
			next = b->next_by_file;
			/* Still held (a caller bug): the last unref frees it instead. */
			if (b->refs)
				b->cache = NULL;
			else
				binary_free(b);
		}
	}
	free(c->by_file);
	free(c->by_id);
	free(c);
}

static void file_key_from_stat(const struct stat *st, struct file_key *k)
{
	memset(k, 0, sizeof(*k)); /* hashed as bytes: no stray padding */
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = (uint64_t)st->st_size;
	k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void symcache_set_debug_provider(struct symcache *c, debuginfo_provider_fn fn, void *ctx)
{
	c->cfg.debuginfo.provider = fn;
	c->cfg.debuginfo.provider_ctx = ctx;
}

/*
 * An entry built while its debug file was still being fetched is dropped from the cache
 * once the provider has an answer, so that the caller builds it again (holders of the old
 * entry keep it until they release it). Returns true when b was dropped.
 */
static bool cache_drop_if_debug_ready(struct symcache *c, struct sym_binary *b)
{
	char path[4096];

	/* Only a provider's -EAGAIN sets debug_pending. */
	if (!b->debug_pending || c->cfg.debuginfo.provider(c->cfg.debuginfo.provider_ctx,
							  b->build_id, path, sizeof(path)) == -EAGAIN)
		return false;
	cache_unlink(c, b);
	c->stats.bytes -= b->bytes;
	if (b->refs == 0) {
		lru_remove(c, b);
		binary_free(b);
	} else {
		b->cache = NULL; /* the last sym_binary_unref() frees it */
	}
	return true;
}

int symcache_get(struct symcache *c, const char *path, struct sym_binary **ret)
{
	return symcache_get_named(c, path, path, ret);
}

int symcache_get_named(struct symcache *c, const char *path, const char *name,
		       struct sym_binary **ret)
{
	char build_id[BUILD_ID_HEX_SIZE];
	struct sym_binary *b = NULL;
	struct file_key key;
	Elf *elf = NULL;
	struct stat st;
	bool hit = false;
	uint64_t t0 = 0;
	int fd, r;

	if (!c || !path || !ret)
		return -EINVAL;

	/* O_NONBLOCK: opening a FIFO put in place of a binary must not hang the caller. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOEXEC;
		goto out;
	}

	file_key_from_stat(&st, &key);
	b = cache_find_file(c, &key);
	if (b && cache_drop_if_debug_ready(c, b))
		b = NULL;
	if (b) {
		hit = true;
		r = 0;
		goto out;
	}

	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf) {
		r = -ENOEXEC;
		goto out;
	}
	r = elf_check_layout(elf, (uint64_t)st.st_size);
	if (r < 0)
		goto out;
	r = elf_read_build_id(elf, build_id);
	if (r < 0)
		goto out;
	if (build_id[0]) {
		b = cache_find_id(c, build_id);
		if (b && cache_drop_if_debug_ready(c, b))
			b = NULL;
		if (b) {
			hit = true;
			goto out;
		}
	}

	t0 = mono_ns();
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(b->build_id, build_id, sizeof(build_id));
	r = binary_build(c, elf, name ? name : path, build_id, b);
	if (r < 0) {
		binary_free(b);
		b = NULL;
		goto out;
	}
	b->fkey = key;
out:
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		c->stats.binaries_failed++;
		c->stats.misses++;
		return r;
	}
	if (hit) {
		if (b->refs == 0)
			lru_remove(c, b);
		c->stats.hits++;
	} else {
		b->cache = c;
		/* Room first, so that the cache peaks within its budget too. */
		cache_evict_for(c, b->bytes);
		cache_link(c, b);
		c->stats.bytes += b->bytes;
		if (c->stats.bytes > c->stats.peak_bytes)
			c->stats.peak_bytes = c->stats.bytes;
		c->stats.binaries_loaded++;
		c->stats.misses++;
		stats_note_load(&c->stats, name ? name : path, b, mono_ns() - t0);
	}
	b->refs++;
	/* The new entry is referenced, so this only makes room among released ones. */
	cache_evict(c);
	*ret = b;
	return 0;
}

size_t sym_binary_bytes(const struct sym_binary *b)
{
	return b ? b->bytes : 0;
}

struct sym_binary *sym_binary_ref(struct sym_binary *b)
{
	if (b)
		b->refs++;
	return b;
}

void sym_binary_unref(struct sym_binary *b)
{
	if (!b || b->refs == 0)
		return;
	if (--b->refs)
		return;
	if (!b->cache) {
		binary_free(b);
		return;
	}
	lru_append(b->cache, b);
	cache_evict(b->cache);
}

void symcache_get_stats(const struct symcache *c, struct symcache_stats *ret)
{
	*ret = c->stats;
}

bool sym_binary_debug_pending(const struct sym_binary *b)
{
	return b && b->debug_pending;
}

const char *sym_binary_build_id(const struct sym_binary *b)
{
	return b->build_id;
}

enum sym_source sym_binary_source(const struct sym_binary *b)
{
	return b ? b->source : SYM_SOURCE_NONE;
}

bool sym_binary_has_dwarf(const struct sym_binary *b)
{
	return b && b->dw;
}

const char *sym_source_name(enum sym_source s)
{
	static const char *const names[_SYM_SOURCE_MAX] = {
		[SYM_SOURCE_NONE] = "none",
		[SYM_SOURCE_SYMTAB] = "symtab",
		[SYM_SOURCE_DEBUG_BUILD_ID] = "debug-build-id",
		[SYM_SOURCE_DEBUGLINK] = "debuglink",
		[SYM_SOURCE_DEBUG_PROVIDER] = "debug-provider",
		[SYM_SOURCE_MINIDEBUGINFO] = "minidebuginfo",
		[SYM_SOURCE_DYNSYM] = "dynsym",
		[SYM_SOURCE_GOPCLNTAB] = "gopclntab",
	};

	return (unsigned)s < _SYM_SOURCE_MAX ? names[s] : "?";
}

/* The ELF virtual address of a file offset, through the PT_LOAD that holds it. */
static bool file_offset_vaddr(const struct sym_binary *b, uint64_t file_offset,
			      uint64_t *ret_vaddr)
{
	for (size_t k = 0; k < b->n_loads; k++) {
		if (file_offset >= b->loads[k].offset &&
		    file_offset - b->loads[k].offset < b->loads[k].filesz) {
			*ret_vaddr = file_offset - b->loads[k].offset + b->loads[k].vaddr;
			return true;
		}
	}
	return false;
}

size_t sym_binary_frames(const struct sym_binary *b, uint64_t file_offset, struct sym_frame *ret,
			 size_t max)
{
	struct dwarfsym_frame df[32];
	const char *name;
	uint64_t vaddr;
	size_t n = 0;

	if (!b || !max)
		return 0;
	name = sym_binary_lookup(b, file_offset, NULL);
	if (b->dw && file_offset_vaddr(b, file_offset, &vaddr)) {
		n = dwarfsym_lookup(b->dw, vaddr, df, max < 32 ? max : 32);
		for (size_t i = 0; i < n; i++)
			ret[i] = (struct sym_frame){ df[i].name, df[i].file, df[i].line };
		/* The outermost frame is the real function: the symbol table names it as every
		 * other lookup does (DWARF may lack a linkage name, or describe it differently). */
		if (n && name)
			ret[n - 1].name = name;
		for (size_t i = 0, w = 0; i < n; i++) {
			if (ret[i].name)
				ret[w++] = ret[i];
			if (i + 1 == n)
				n = w;
		}
	}
	if (n == 0 && name) {
		ret[0] = (struct sym_frame){ .name = name };
		n = 1;
	}
	return n;
}

const char *sym_binary_lookup(const struct sym_binary *b, uint64_t file_offset,
			      uint64_t *ret_offset)
{
	const struct sym_load *load = NULL;
	size_t lo = 0, hi, i;
	uint64_t vaddr;

	if (!b)
		return NULL;
	for (size_t k = 0; k < b->n_loads; k++) {
		if (file_offset >= b->loads[k].offset &&
		    file_offset - b->loads[k].offset < b->loads[k].filesz) {
			load = &b->loads[k];
			break;
		}
	}
	if (!load)
		return NULL;
	vaddr = file_offset - load->offset + load->vaddr;

	/* The last symbol starting at or before vaddr. */
	hi = b->n_syms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->addrs[mid] <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	i = lo - 1;
	for (unsigned steps = 0; i != SYM_NO_PARENT && steps < SYM_PARENT_WALK_MAX; steps++) {
		if (vaddr - b->addrs[i] < b->info[i].size) {
			if (ret_offset)
				*ret_offset = vaddr - b->addrs[i];
			return b->names + b->info[i].name;
		}
		i = b->info[i].parent;
	}
	return NULL;
}

/* ---- kallsyms ---- */

struct ksyms {
	uint64_t *addrs; /* sorted, unique */
	uint32_t *names; /* offsets into arena */
	char *arena;
	size_t n;
};

struct ksym_raw {
	uint64_t addr;
	uint32_t name;
	uint16_t len;
	uint8_t rank;
};

struct ksyms_builder {
	struct ksym_raw *raw;
	size_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
};

static int ksym_raw_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct ksym_raw *a = pa, *b = pb;
	const char *arena = ctx;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return alias_name_cmp(arena + a->name, a->len, arena + b->name, b->len);
}

/* Appends "name" or "name [module]" with its NUL. */
static int ksyms_builder_add(struct ksyms_builder *kb, uint64_t addr, uint8_t rank,
			     const char *name, size_t name_len, const char *mod, size_t mod_len)
{
	size_t len = name_len + (mod_len ? mod_len + 1 : 0);

	if (len > UINT16_MAX)
		return 0; /* no real symbol is this long; skip it rather than fail the table */
	if (kb->n == kb->cap) {
		size_t cap = kb->cap ? kb->cap * 2 : 4096;
		struct ksym_raw *raw;

		if (kb->cap >= KSYMS_MAX_SYMBOLS)
			return -EFBIG;
		raw = realloc(kb->raw, cap * sizeof(*raw));
		if (!raw)
			return -ENOMEM;
		kb->raw = raw;
		kb->cap = cap;
	}
	if (kb->arena_cap - kb->arena_len < len + 1) {
		size_t cap = kb->arena_cap ? kb->arena_cap : 65536;
		char *arena;

		while (cap - kb->arena_len < len + 1)
			cap *= 2;
		if (cap > KSYMS_MAX_ARENA_BYTES)
			return -EFBIG;
		arena = realloc(kb->arena, cap);
		if (!arena)
			return -ENOMEM;
		kb->arena = arena;
		kb->arena_cap = cap;
	}
	kb->raw[kb->n++] = (struct ksym_raw){
		.addr = addr,
		.name = (uint32_t)kb->arena_len,
		.len = (uint16_t)len,
		.rank = rank,
	};
	memcpy(kb->arena + kb->arena_len, name, name_len);
	kb->arena_len += name_len;
	if (mod_len) {
		kb->arena[kb->arena_len++] = ' ';
		memcpy(kb->arena + kb->arena_len, mod, mod_len);
		kb->arena_len += mod_len;
	}
	kb->arena[kb->arena_len++] = '\0';
	return 0;
}

/*
 * Parses "ffffffff81000000 T _text" with an optional "\t[module]". Returns false for a line
 * in another format.
 */
static bool ksyms_parse_line(char *line, size_t len, uint64_t *addr, char *type, const char **name,
			     size_t *name_len, const char **mod, size_t *mod_len)
{
	char *p = line, *end;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (!isxdigit((unsigned char)*p))
		return false;
	errno = 0;
	*addr = strtoull(p, &end, 16);
	if (errno || end == p || *end != ' ' || !end[1] || end[2] != ' ')
		return false;
	*type = end[1];
	p = end + 3;
	end = strchr(p, '\t');
	*name = p;
	*name_len = end ? (size_t)(end - p) : strlen(p);
	if (*name_len == 0)
		return false;
	*mod = NULL;
	*mod_len = 0;
	if (end) {
		p = end + 1;
		*mod_len = strlen(p);
		if (*mod_len < 3 || p[0] != '[' || p[*mod_len - 1] != ']')
			return false;
		*mod = p;
	}
	return true;
}

/* Sorts, keeps one name per address, and copies the winners into exact-size arrays. */
static int ksyms_finish(struct ksyms_builder *kb, struct ksyms *k)
{
	size_t n = 0, arena = 0, pos = 0;

	qsort_r(kb->raw, kb->n, sizeof(*kb->raw), ksym_raw_cmp, kb->arena);
	for (size_t i = 0; i < kb->n; i++) {
		if (n > 0 && kb->raw[n - 1].addr == kb->raw[i].addr)
			continue;
		kb->raw[n++] = kb->raw[i];
		arena += (size_t)kb->raw[i].len + 1;
	}
	k->addrs = malloc((n ? n : 1) * sizeof(*k->addrs));
	k->names = malloc((n ? n : 1) * sizeof(*k->names));
	k->arena = malloc(arena ? arena : 1);
	if (!k->addrs || !k->names || !k->arena)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		k->addrs[i] = kb->raw[i].addr;
		k->names[i] = (uint32_t)pos;
		memcpy(k->arena + pos, kb->arena + kb->raw[i].name, kb->raw[i].len);
		pos += kb->raw[i].len;
		k->arena[pos++] = '\0';
	}
	k->n = n;
	return 0;
}

int ksyms_load(const char *path, struct ksyms **ret)
{
	struct ksyms_builder kb = {0};
	bool parsed = false, nonzero = false;
	struct ksyms *k = NULL;
	size_t line_cap = 0;
	char *line = NULL;
	ssize_t len;
	FILE *f;
	int r = 0;

	if (!path || !ret)
		return -EINVAL;
	f = fopen(path, "re");
	if (!f)
		return -errno;

	while ((len = getline(&line, &line_cap, f)) >= 0) {
		const char *name, *mod;
		size_t name_len, mod_len;
		uint64_t addr;
		char type;
		uint8_t rank;

		if (len > KSYMS_MAX_LINE || !ksyms_parse_line(line, (size_t)len, &addr, &type,
							      &name, &name_len, &mod, &mod_len))
			continue;
		parsed = true;
		if (addr)
			nonzero = true;
		/* Text symbols only: T global, W/w weak, t local (nm's letters). */
		if (type == 'T')
			rank = 0;
		else if (type == 'W' || type == 'w')
			rank = 1;
		else if (type == 't')
			rank = 2;
		else
			continue;
		if (!addr)
			continue;
		r = ksyms_builder_add(&kb, addr, rank, name, name_len, mod, mod_len);
		if (r < 0)
			goto out;
	}
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (!parsed) {
		r = -EINVAL; /* not in kallsyms format */
		goto out;
	}
	/* kernel.kptr_restrict hides addresses from readers without CAP_SYSLOG as zeros. */
	if (!nonzero) {
		r = -EPERM;
		goto out;
	}

	k = calloc(1, sizeof(*k));
	if (!k) {
		r = -ENOMEM;
		goto out;
	}
	r = ksyms_finish(&kb, k);
	if (r < 0) {
		ksyms_free(k);
		goto out;
	}
	*ret = k;
out:
	free(line);
	free(kb.raw);
	free(kb.arena);
	fclose(f);
	return r;
}

void ksyms_free(struct ksyms *k)
{
	if (!k)
		return;
	free(k->addrs);
	free(k->names);
	free(k->arena);
	free(k);
}

const char *ksyms_lookup(const struct ksyms *k, uint64_t addr, uint64_t *ret_offset)
{
	size_t lo = 0, hi, i;
	uint64_t extent;

	if (!k)
		return NULL;
	hi = k->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->addrs[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	i = lo - 1;
	extent = i + 1 < k->n ? k->addrs[i + 1] - k->addrs[i] : KSYM_MAX_EXTENT;
	if (extent > KSYM_MAX_EXTENT)
		extent = KSYM_MAX_EXTENT;
	if (addr - k->addrs[i] >= extent)
		return NULL;
	if (ret_offset)
		*ret_offset = addr - k->addrs[i];
	return k->arena + k->names[i];
}
