/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elfcfi: ELF files in, compiled CFI tables out (see elfcfi.h).
 *
 * libelf reads the file (ELF_C_READ_MMAP: nothing is copied but what is decompressed).
 * Before any section or segment is read its extent is checked against the file size, so a
 * truncated or hostile file ends in -ENOEXEC; the CFI bytes themselves are then parsed by
 * puw_cfi_compile(), which is bounds-checked on its own. The Elf handles live only for the
 * duration of one call; the compiled table references none of their memory.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcfi.h"
#include "puw.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif
#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif

/* One opened ELF file. */
struct elf_file {
	int fd;
	Elf *elf;
	uint64_t size;
	enum puw_arch arch;
};

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;
static bool elf_ok;

static void elf_init(void)
{
	elf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Headers, every segment and every section with contents inside the file. */
static int check_layout(struct elf_file *f)
{
	GElf_Ehdr eh;
	size_t phnum, shnum;

	if (elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &eh))
		return -ENOEXEC;
	if (gelf_getclass(f->elf) != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return -EOPNOTSUPP;
	if (eh.e_machine == EM_X86_64)
		f->arch = PUW_ARCH_X86_64;
	else if (eh.e_machine == EM_AARCH64)
		f->arch = PUW_ARCH_AARCH64;
	else
		return -EOPNOTSUPP;
	if (elf_getphdrnum(f->elf, &phnum) < 0 || elf_getshdrnum(f->elf, &shnum) < 0)
		return -ENOEXEC;
	/* libelf reports no headers when their table lies past the end: compare the counts. */
	if (eh.e_phnum != PN_XNUM && phnum != eh.e_phnum)
		return -ENOEXEC;
	if (eh.e_shoff != 0 && (shnum == 0 || (eh.e_shnum != 0 && shnum != eh.e_shnum)))
		return -ENOEXEC;
	if (phnum > 0 && !range_ok(eh.e_phoff, (uint64_t)phnum * eh.e_phentsize, f->size))
		return -ENOEXEC;
	if (shnum > 0 && !range_ok(eh.e_shoff, (uint64_t)shnum * eh.e_shentsize, f->size))
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(f->elf, (int)i, &ph))
			return -ENOEXEC;
		if ((ph.p_type == PT_LOAD || ph.p_type == PT_NOTE ||
		     ph.p_type == PT_GNU_EH_FRAME) &&
		    !range_ok(ph.p_offset, ph.p_filesz, f->size))
			return -ENOEXEC;
	}
	for (size_t i = 1; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(f->elf, i);
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    !range_ok(sh.sh_offset, sh.sh_size, f->size))
			return -ENOEXEC;
	}
	return 0;
}

static void file_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

static int file_open(const char *path, struct elf_file *f)
{
	struct stat st;
	int r;

	f->fd = -1;
	f->elf = NULL;
	pthread_once(&elf_once, elf_init);
	if (!elf_ok)
		return -ENOTSUP;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	if (fstat(f->fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOEXEC;
		goto fail;
	}
	f->size = (uint64_t)st.st_size;
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf) {
		r = -ENOEXEC;
		goto fail;
	}
	r = check_layout(f);
	if (r)
		goto fail;
	return 0;
fail:
	file_close(f);
	return r;
}

/* Section by name, or NULL. *ret_sh is filled when found. */
static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *ret_sh)
{
	size_t shstrndx, shnum;

	if (elf_getshdrstrndx(elf, &shstrndx) < 0 || elf_getshdrnum(elf, &shnum) < 0)
		return NULL;
	for (size_t i = 1; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(elf, i);
		const char *n;

		if (!scn || !gelf_getshdr(scn, ret_sh))
			return NULL;
		n = elf_strptr(elf, shstrndx, ret_sh->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

/* The raw bytes of a section with contents; decompressed when SHF_COMPRESSED. */
static int section_bytes(Elf_Scn *scn, const GElf_Shdr *sh, const uint8_t **ret, size_t *ret_size)
{
	Elf_Data *d;

	if (sh->sh_type == SHT_NOBITS || sh->sh_size == 0)
		return -ENOENT;
	if (sh->sh_flags & SHF_COMPRESSED) {
		/* Replaces the section's data with the inflated bytes (owned by libelf). */
		if (elf_compress(scn, 0, 0) < 0)
			return -ENOEXEC;
	}
	d = elf_rawdata(scn, NULL);
	if (!d || !d->d_buf || d->d_size == 0)
		return -ENOEXEC;
	*ret = d->d_buf;
	*ret_size = d->d_size;
	return 0;
}

/* File bytes at ELF virtual address vaddr, to the end of the PT_LOAD's file contents. */
static int vaddr_bytes(struct elf_file *f, uint64_t vaddr, const uint8_t **ret, size_t *ret_size)
{
	size_t phnum;

	if (elf_getphdrnum(f->elf, &phnum) < 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *d;
		uint64_t off;

		if (!gelf_getphdr(f->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= ph.p_filesz)
			continue;
		off = ph.p_offset + (vaddr - ph.p_vaddr);
		d = elf_getdata_rawchunk(f->elf, (int64_t)off, ph.p_filesz - (vaddr - ph.p_vaddr),
					 ELF_T_BYTE);
		if (!d || !d->d_buf)
			return -ENOEXEC;
		*ret = d->d_buf;
		*ret_size = d->d_size;
		return 0;
	}
	return -ENOENT;
}

/*
 * .eh_frame without section headers: PT_GNU_EH_FRAME is .eh_frame_hdr, whose eh_frame_ptr
 * (LSB "eh_frame_hdr": version 1, three encoding bytes, then the pointer) locates .eh_frame.
 * Its size is unknown; the rest of the segment is an upper bound the parser stops short of,
 * at the zero terminator.
 */
static int eh_frame_from_phdr(struct elf_file *f, struct puw_cfi_sections *s)
{
	size_t phnum;

	if (elf_getphdrnum(f->elf, &phnum) < 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		const uint8_t *hdr;
		size_t hdr_size;
		uint64_t ptr;
		int32_t rel;
		uint32_t u;
		int r;

		if (!gelf_getphdr(f->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_GNU_EH_FRAME)
			continue;
		r = vaddr_bytes(f, ph.p_vaddr, &hdr, &hdr_size);
		if (r)
			return r;
		if (hdr_size < 8 || hdr[0] != 1)
			return -ENOEXEC;
		memcpy(&u, hdr + 4, 4);
		u = le32toh(u);
		/* The two encodings toolchains emit: pcrel|sdata4 (GNU ld, lld) and udata4. */
		if (hdr[1] == 0x1b) {
			rel = (int32_t)u;
			ptr = ph.p_vaddr + 4 + (uint64_t)(int64_t)rel;
		} else if (hdr[1] == 0x03) {
			ptr = u;
		} else {
			return -ENOENT;
		}
		r = vaddr_bytes(f, ptr, &s->eh_frame, &s->eh_frame_size);
		if (r)
			return r;
		s->eh_frame_addr = ptr;
		return 0;
	}
	return -ENOENT;
}

/* Address and size of a function symbol named name in .symtab or .dynsym. */
static bool find_symbol(Elf *elf, const char *name, uint64_t *ret_addr, uint64_t *ret_size)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		if (sh.sh_entsize != sizeof(Elf64_Sym))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		n = d->d_size / sizeof(Elf64_Sym);
		for (size_t i = 1; i < n; i++) {
			GElf_Sym sym;
			const char *sn;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_value == 0 ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			sn = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (sn && strcmp(sn, name) == 0) {
				*ret_addr = sym.st_value;
				*ret_size = sym.st_size;
				return true;
			}
		}
	}
	return false;
}

/*
 * The signal-return trampoline. glibc's x86-64 __restore_rt is `mov $15, %rax; syscall`
 * (9 bytes) and a local symbol of size 0; arm64's vDSO __kernel_rt_sigreturn is `mov x8,
 * #139; svc #0` (8 bytes).
 */
static void find_sigreturn(Elf *elf, enum puw_arch arch, struct puw_cfi_sections *s)
{
	const char *name = arch == PUW_ARCH_X86_64 ? "__restore_rt" : "__kernel_rt_sigreturn";
	uint64_t addr, size;

	if (s->sigreturn_size || !find_symbol(elf, name, &addr, &size))
		return;
	s->sigreturn_addr = addr;
	s->sigreturn_size = size ? size : (arch == PUW_ARCH_X86_64 ? 9 : 8);
}

static void read_build_id_notes(Elf_Data *d, struct elfcfi_info *info)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!d || !d->d_buf)
		return;
	while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		off = next;
		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
		    memcmp((const char *)d->d_buf + name_off, "GNU", 4) != 0)
			continue;
		if (nh.n_descsz == 0 || nh.n_descsz > ELFCFI_BUILD_ID_MAX ||
		    !range_ok(desc_off, nh.n_descsz, d->d_size))
			continue;
		memcpy(info->build_id, (const uint8_t *)d->d_buf + desc_off, nh.n_descsz);
		info->build_id_size = nh.n_descsz;
		return;
	}
}

static int read_info(struct elf_file *f, struct elfcfi_info *info)
{
	size_t phnum;
	Elf_Scn *scn;
	GElf_Shdr sh;

	memset(info, 0, sizeof(*info));
	info->arch = f->arch;
	if (elf_getphdrnum(f->elf, &phnum) < 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(f->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type == PT_LOAD && info->n_loads < ELFCFI_MAX_LOADS)
			info->loads[info->n_loads++] = (struct elfcfi_segment){
				.vaddr = ph.p_vaddr,
				.memsz = ph.p_memsz,
				.offset = ph.p_offset,
				.filesz = ph.p_filesz,
				.align = ph.p_align,
				.flags = ph.p_flags,
			};
		else if (ph.p_type == PT_NOTE && ph.p_filesz && !info->build_id_size)
			read_build_id_notes(
				elf_getdata_rawchunk(f->elf, (int64_t)ph.p_offset, ph.p_filesz,
						     ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR),
				info);
		else if (ph.p_type == PT_GNU_EH_FRAME && ph.p_filesz)
			info->has_eh_frame = true;
	}
	scn = NULL;
	while (!info->build_id_size && (scn = elf_nextscn(f->elf, scn))) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_NOTE && sh.sh_size)
			read_build_id_notes(elf_getdata(scn, NULL), info);
	}
	scn = find_section(f->elf, ".gnu_debuglink", &sh);
	if (scn && sh.sh_type != SHT_NOBITS) {
		Elf_Data *d = elf_rawdata(scn, NULL);

		if (d && d->d_buf && d->d_size) {
			const char *name = d->d_buf;
			size_t len = strnlen(name, d->d_size);
			size_t crc_off = (len + 4) & ~(size_t)3;
			uint32_t crc;

			if (len > 0 && len < sizeof(info->debuglink) && crc_off + 4 <= d->d_size) {
				memcpy(info->debuglink, name, len);
				info->debuglink[len] = '\0';
				memcpy(&crc, (const uint8_t *)d->d_buf + crc_off, 4);
				info->debuglink_crc = le32toh(crc);
			}
		}
	}
	if ((scn = find_section(f->elf, ".eh_frame", &sh)) && sh.sh_type != SHT_NOBITS &&
	    sh.sh_size)
		info->has_eh_frame = true;
	if ((scn = find_section(f->elf, ".debug_frame", &sh)) && sh.sh_type != SHT_NOBITS &&
	    sh.sh_size)
		info->has_debug_frame = true;
	return 0;
}

int elfcfi_read_info(const char *path, struct elfcfi_info *ret)
{
	struct elf_file f;
	struct elfcfi_info info;
	int r;

	if (!path || !ret)
		return -EINVAL;
	r = file_open(path, &f);
	if (r)
		return r;
	r = read_info(&f, &info);
	file_close(&f);
	if (r)
		return r;
	*ret = info;
	return 0;
}

/* .debug_frame (or GNU-compressed .zdebug_frame) of f, into s. */
static int debug_frame_bytes(struct elf_file *f, struct puw_cfi_sections *s)
{
	Elf_Scn *scn;
	GElf_Shdr sh;

	scn = find_section(f->elf, ".debug_frame", &sh);
	if (scn)
		return section_bytes(scn, &sh, &s->debug_frame, &s->debug_frame_size);
	scn = find_section(f->elf, ".zdebug_frame", &sh);
	if (scn && sh.sh_type != SHT_NOBITS) {
		Elf_Data *d;

		if (elf_compress_gnu(scn, 0, 0) < 0)
			return -ENOEXEC;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf || !d->d_size)
			return -ENOEXEC;
		s->debug_frame = d->d_buf;
		s->debug_frame_size = d->d_size;
		return 0;
	}
	return -ENOENT;
}

int elfcfi_load(const char *path, const char *debug_path, struct puw_cfi **ret_cfi,
		struct elfcfi_info *ret_info)
{
	struct elf_file f, dbg = {.fd = -1, .elf = NULL};
	struct puw_cfi_sections s = {0};
	struct elfcfi_info info;
	Elf_Scn *scn;
	GElf_Shdr sh;
	bool have_dbg = false;
	int r;

	if (!path || !ret_cfi)
		return -EINVAL;
	r = file_open(path, &f);
	if (r)
		return r;
	r = read_info(&f, &info);
	if (r)
		goto out;
	s.arch = f.arch;

	scn = find_section(f.elf, ".eh_frame", &sh);
	if (scn && sh.sh_type != SHT_NOBITS) {
		r = section_bytes(scn, &sh, &s.eh_frame, &s.eh_frame_size);
		if (r && r != -ENOENT)
			goto out;
		s.eh_frame_addr = sh.sh_addr;
	} else {
		r = eh_frame_from_phdr(&f, &s);
		if (r && r != -ENOENT)
			goto out;
	}
	if ((scn = find_section(f.elf, ".text", &sh)))
		s.text_addr = sh.sh_addr;
	if ((scn = find_section(f.elf, ".got", &sh)))
		s.data_addr = sh.sh_addr;

	/*
	 * A separate debug file adds .debug_frame and a full .symtab. It must be this file's:
	 * same machine, and the same build-id when both have one (a stale debug package would
	 * describe other code at the same addresses).
	 */
	if (debug_path && file_open(debug_path, &dbg) == 0) {
		struct elfcfi_info di;

		if (dbg.arch == f.arch && read_info(&dbg, &di) == 0 &&
		    (!info.build_id_size || !di.build_id_size ||
		     (di.build_id_size == info.build_id_size &&
		      memcmp(di.build_id, info.build_id, info.build_id_size) == 0)))
			have_dbg = true;
		else
			file_close(&dbg);
	}
	r = debug_frame_bytes(have_dbg ? &dbg : &f, &s);
	if (r == -ENOENT && have_dbg)
		r = debug_frame_bytes(&f, &s);
	if (r && r != -ENOENT)
		goto out;

	find_sigreturn(f.elf, f.arch, &s);
	if (have_dbg)
		find_sigreturn(dbg.elf, f.arch, &s);

	if (!s.eh_frame && !s.debug_frame) {
		r = -ENOENT;
		goto out;
	}
	r = puw_cfi_compile(&s, ret_cfi);
	if (r == -EINVAL)
		r = -ENOEXEC;
	if (!r && ret_info)
		*ret_info = info;
out:
	file_close(&dbg);
	file_close(&f);
	return r;
}

/* Largest page size a mapping's offset may be rounded down by (arm64 64 KiB pages). */
#define MAX_PAGE_SIZE UINT64_C(0x10000)

int elfcfi_bias(const struct elfcfi_info *info, uint64_t map_start, uint64_t map_offset,
		uint64_t *ret_bias)
{
	if (!info || !ret_bias)
		return -EINVAL;
	for (unsigned i = 0; i < info->n_loads; i++) {
		const struct elfcfi_segment *seg = &info->loads[i];

		/*
		 * The loader maps a segment from its offset rounded down to a page, so the
		 * mapping's offset is at most a page below p_offset, or inside the segment when
		 * the kernel split the mapping.
		 */
		if (map_offset >= seg->offset + (seg->filesz ? seg->filesz : 1))
			continue;
		if (map_offset < seg->offset && seg->offset - map_offset >= MAX_PAGE_SIZE)
			continue;
		/* map_start holds file offset map_offset, at vaddr + (map_offset - p_offset). */
		*ret_bias = map_start - (seg->vaddr + map_offset - seg->offset);
		return 0;
	}
	return -ENOENT;
}

int elfcfi_build_id_path(const struct elfcfi_info *info, const char *root, char *buf, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	char hex[2 * ELFCFI_BUILD_ID_MAX + 1];
	int n;

	if (!info || !buf)
		return -EINVAL;
	if (info->build_id_size < 2)
		return -ENOENT;
	for (size_t i = 0; i < info->build_id_size; i++) {
		hex[2 * i] = digits[info->build_id[i] >> 4];
		hex[2 * i + 1] = digits[info->build_id[i] & 15];
	}
	hex[2 * info->build_id_size] = '\0';
	n = snprintf(buf, size, "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root ? root : "", hex,
		     hex + 2);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int elfcfi_debuglink_path(const struct elfcfi_info *info, const char *path, unsigned i, char *buf,
			  size_t size)
{
	const char *slash;
	int dirlen, n;

	if (!info || !path || !buf)
		return -EINVAL;
	if (!info->debuglink[0])
		return -ENOENT;
	slash = strrchr(path, '/');
	dirlen = slash ? (int)(slash - path) : 0;
	switch (i) {
	case 0:
		n = snprintf(buf, size, "%.*s%s%s", dirlen, path, slash ? "/" : "",
			     info->debuglink);
		break;
	case 1:
		n = snprintf(buf, size, "%.*s%s.debug/%s", dirlen, path, slash ? "/" : "",
			     info->debuglink);
		break;
	case 2:
		/* Absolute directories only: /usr/lib/debug mirrors the root. */
		if (!slash || path[0] != '/')
			return -ENOENT;
		n = snprintf(buf, size, "/usr/lib/debug%.*s/%s", dirlen, path, info->debuglink);
		break;
	default:
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

uint32_t elfcfi_crc32(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}
