/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ELF images for the replay tools (see elfimage.h). The file is mapped once and parsed with
 * libelf over the mapping; section and segment contents are then plain pointers into it.
 */
#include "config.h"

#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfimage.h"
#include "symbolize.h"

#define ELF_IMAGE_MAX_LOADS 64

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* .eh_frame_hdr by section header (PT_GNU_EH_FRAME, read before, covers stripped headers). */
static int parse_sections(struct elf_image *img, Elf *elf)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".eh_frame_hdr") != 0 || sh.sh_type == SHT_NOBITS ||
		    !range_ok(sh.sh_offset, sh.sh_size, img->size))
			continue;
		img->eh_frame_hdr = img->data + sh.sh_offset;
		img->eh_frame_hdr_size = sh.sh_size;
		img->eh_frame_hdr_addr = sh.sh_addr;
	}
	return 0;
}

static int parse(struct elf_image *img)
{
	GElf_Ehdr eh;
	size_t phnum;
	Elf *elf;
	int r = -ENOEXEC;

	elf = elf_memory((char *)img->data, img->size);
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    elf_getphdrnum(elf, &phnum) < 0)
		goto out;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		goto out;
	img->type = eh.e_type;
	img->entry = eh.e_entry;
	img->arch = eh.e_machine == EM_X86_64	 ? PUW_ARCH_X86_64
		    : eh.e_machine == EM_AARCH64 ? PUW_ARCH_AARCH64
						 : _PUW_ARCH_MAX;
	img->loads = calloc(ELF_IMAGE_MAX_LOADS, sizeof(*img->loads));
	if (!img->loads) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			goto out;
		if (ph.p_type == PT_INTERP)
			img->has_interp = true;
		if (ph.p_type == PT_GNU_EH_FRAME && range_ok(ph.p_offset, ph.p_filesz, img->size)) {
			img->eh_frame_hdr = img->data + ph.p_offset;
			img->eh_frame_hdr_size = ph.p_filesz;
			img->eh_frame_hdr_addr = ph.p_vaddr;
		}
		if (ph.p_type != PT_LOAD)
			continue;
		if (img->n_loads == ELF_IMAGE_MAX_LOADS ||
		    !range_ok(ph.p_offset, ph.p_filesz, img->size) || ph.p_filesz > ph.p_memsz ||
		    ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			goto out;
		img->loads[img->n_loads++] = (struct elf_image_load){
			.vaddr = ph.p_vaddr,
			.memsz = ph.p_memsz,
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.flags = ph.p_flags,
		};
	}
	if (img->n_loads == 0)
		goto out;
	r = parse_sections(img, elf);
out:
	elf_end(elf);
	return r;
}

static int sym_cmp(const void *pa, const void *pb)
{
	const struct elf_image_sym *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/*
 * The sized function symbols of a separate debug file's .symtab, if it has the binary's
 * build-id. Its program headers describe the binary, not itself: only sections are read.
 */
static int load_debug_symbols(struct elf_image *img, const char *path)
{
	Elf_Scn *scn = NULL;
	size_t n = 0, names = 0;
	Elf *elf = NULL;
	int fd, r = -ENOENT;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data, *str;
		size_t count;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		str = elf_getdata(elf_getscn(elf, sh.sh_link), NULL);
		if (!data || !str || !str->d_buf)
			continue;
		count = data->d_size / sh.sh_entsize;
		img->debug_syms = calloc(count ? count : 1, sizeof(*img->debug_syms));
		img->debug_names = malloc(str->d_size + 1);
		if (!img->debug_syms || !img->debug_names) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(img->debug_names, str->d_buf, str->d_size);
		img->debug_names[str->d_size] = '\0';
		names = str->d_size;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_size ||
			    sym.st_shndx == SHN_UNDEF || sym.st_name >= names)
				continue;
			img->debug_syms[n++] = (struct elf_image_sym){
				.addr = sym.st_value,
				.size = sym.st_size,
				.name = img->debug_names + sym.st_name,
			};
		}
		break;
	}
	qsort(img->debug_syms, n, sizeof(*img->debug_syms), sym_cmp);
	img->n_debug_syms = n;
	r = 0;
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return r;
}

static int image_new(struct symcache *syms, const char *path, const char *name, int fd,
		     struct elf_image **ret)
{
	struct elf_image *img;
	struct stat st;
	void *p;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -ENOEXEC;
	}
	img = calloc(1, sizeof(*img));
	if (!img) {
		close(fd);
		return -ENOMEM;
	}
	img->fd = fd;
	img->build_id = "";
	img->path = strdup(path);
	img->name = strdup(name);
	if (!img->path || !img->name) {
		r = -ENOMEM;
		goto fail;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	img->data = p;
	img->size = (size_t)st.st_size;
	r = parse(img);
	if (r < 0)
		goto fail;
	if (syms && symcache_get(syms, path, &img->sym) == 0)
		img->build_id = sym_binary_build_id(img->sym);
	if (strlen(img->build_id) > 2) {
		char dbg[256];

		snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", img->build_id,
			 img->build_id + 2);
		(void)load_debug_symbols(img, dbg); /* names only: optional */
	}
	*ret = img;
	return 0;
fail:
	elf_image_free(img);
	return r;
}

int elf_image_open(struct symcache *syms, const char *path, struct elf_image **ret)
{
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOTSUP;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return image_new(syms, path, path, fd, ret);
}

/* Size of an ELF image in memory: up to the end of its furthest header table or segment. */
static size_t vdso_size(const uint8_t *p)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(p + eh->e_phoff);
	uint64_t end = eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;

	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
			end = ph[i].p_offset + ph[i].p_filesz;
	return end < (1u << 20) ? (size_t)end : 0;
}

int elf_image_vdso(struct symcache *syms, struct elf_image **ret)
{
	const uint8_t *p = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
	char path[64];
	size_t n;
	int fd, r;

	if (!p || memcmp(p, ELFMAG, SELFMAG) != 0)
		return -ENOENT;
	n = vdso_size(p);
	if (!n)
		return -ENOEXEC;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOTSUP;
	fd = memfd_create("vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, p, n) != (ssize_t)n) {
		r = -EIO;
		close(fd);
		return r;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return image_new(syms, path, "[vdso]", fd, ret);
}

void elf_image_free(struct elf_image *img)
{
	if (!img)
		return;
	sym_binary_unref(img->sym);
	free(img->debug_syms);
	free(img->debug_names);
	if (img->data)
		munmap((void *)img->data, img->size);
	if (img->fd >= 0)
		close(img->fd);
	free(img->loads);
	free(img->path);
	free(img->name);
	free(img);
}

int elf_image_bias(const struct elf_image *img, uint64_t start, uint64_t pgoff, uint64_t *ret_bias)
{
	/*
	 * The kernel maps file page pgoff at start; the segment whose file range holds pgoff
	 * was linked at p_vaddr for file offset p_offset, and p_vaddr == p_offset modulo the
	 * page size, so runtime = vaddr + (start - pgoff) - (p_vaddr - p_offset).
	 */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < img->n_loads; i++) {
			const struct elf_image_load *l = &img->loads[i];
			uint64_t page_off = l->offset & ~(uint64_t)0xfff;

			/* Snapshots hold executable mappings: an executable segment first, as
			 * segments may share the page at their boundary. */
			if (pass == 0 && !(l->flags & PF_X))
				continue;
			if (pgoff < page_off || pgoff >= l->offset + (l->filesz ? l->filesz : 1))
				continue;
			*ret_bias = start - pgoff + l->offset - l->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

const uint8_t *elf_image_at(const struct elf_image *img, uint64_t vaddr, size_t *ret_avail)
{
	for (size_t i = 0; i < img->n_loads; i++) {
		const struct elf_image_load *l = &img->loads[i];

		if (vaddr < l->vaddr || vaddr - l->vaddr >= l->filesz)
			continue;
		*ret_avail = (size_t)(l->filesz - (vaddr - l->vaddr));
		return img->data + l->offset + (vaddr - l->vaddr);
	}
	return NULL;
}

uint64_t elf_image_file_offset(const struct elf_image *img, uint64_t vaddr)
{
	size_t avail;
	const uint8_t *p = elf_image_at(img, vaddr, &avail);

	return p ? (uint64_t)(p - img->data) : UINT64_MAX;
}

const char *elf_image_symbol(const struct elf_image *img, uint64_t vaddr, uint64_t *ret_off)
{
	uint64_t off = elf_image_file_offset(img, vaddr);
	size_t lo = 0, hi = img->n_debug_syms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (img->debug_syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && vaddr - img->debug_syms[lo - 1].addr < img->debug_syms[lo - 1].size) {
		*ret_off = vaddr - img->debug_syms[lo - 1].addr;
		return img->debug_syms[lo - 1].name;
	}
	if (!img->sym || off == UINT64_MAX)
		return NULL;
	return sym_binary_lookup(img->sym, off, ret_off);
}
