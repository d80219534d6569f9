/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dwarfsym: libdw behind a three-call interface (see dwarfsym.h).
 *
 * dwarf_addrdie() finds the compile unit (through .debug_aranges, or libdw's own scan of the
 * units' ranges), dwarf_getscopes() the nest of DIEs covering the address, innermost first:
 * lexical blocks, DW_TAG_inlined_subroutine entries, and the DW_TAG_subprogram that ends the
 * chain. The line table gives the innermost frame's file and line; each inlined subroutine's
 * DW_AT_call_file and DW_AT_call_line give the position in the function it was inlined into.
 * Names come through dwarf_attr_integrate(), which follows DW_AT_abstract_origin (inlined
 * instances) and DW_AT_specification (out-of-class C++ member definitions).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>

#include "dwarfsym.h"

struct dwarfsym {
	int fd;
	Elf *elf;
	Dwarf *dw;
	size_t bytes;
};

/* Bytes libdw will hold for the debug sections: their (decompressed) sizes. */
static int debug_sections_bytes(Elf *elf, size_t *ret, int *ret_has_info)
{
	size_t shstrndx, total = 0;
	Elf_Scn *scn = NULL;

	*ret_has_info = 0;
	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		return -ENOEXEC;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		GElf_Chdr ch;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || (strncmp(name, ".debug_", 7) != 0 && strncmp(name, ".zdebug_", 8) != 0))
			continue;
		if (strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0)
			*ret_has_info = sh.sh_size > 0;
		if ((sh.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch))
			total += ch.ch_size;
		else
			total += sh.sh_size;
	}
	*ret = total;
	return 0;
}

int dwarfsym_open(const char *path, size_t max_bytes, struct dwarfsym **ret)
{
	struct dwarfsym *d;
	struct stat st;
	int has_info, r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (d->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -ENOEXEC;
		goto fail;
	}
	d->elf = elf_begin(d->fd, ELF_C_READ, NULL);
	if (!d->elf || elf_kind(d->elf) != ELF_K_ELF) {
		r = -ENOEXEC;
		goto fail;
	}
	r = debug_sections_bytes(d->elf, &d->bytes, &has_info);
	if (r < 0)
		goto fail;
	if (!has_info) {
		r = -ENOENT;
		goto fail;
	}
	if (max_bytes && d->bytes > max_bytes) {
		r = -EFBIG;
		goto fail;
	}
	d->dw = dwarf_begin_elf(d->elf, DWARF_C_READ, NULL);
	if (!d->dw) {
		r = -ENOEXEC;
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	dwarfsym_free(d);
	return r;
}

void dwarfsym_free(struct dwarfsym *d)
{
	if (!d)
		return;
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

size_t dwarfsym_bytes(const struct dwarfsym *d)
{
	return d ? d->bytes : 0;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *s = NULL;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		s = dwarf_formstring(&attr);
	return s ? s : dwarf_diename(die);
}

size_t dwarfsym_lookup(struct dwarfsym *d, uint64_t vaddr, struct dwarfsym_frame *ret,
		       size_t max)
{
	Dwarf_Die cudie, *scopes = NULL;
	Dwarf_Files *files = NULL;
	size_t nfiles = 0, n = 0;
	const char *file = NULL;
	uint32_t line = 0;
	Dwarf_Line *dl;
	int nscopes;

	if (!d || !max || !dwarf_addrdie(d->dw, vaddr, &cudie))
		return 0;
	dl = dwarf_getsrc_die(&cudie, vaddr);
	if (dl) {
		int l = 0;

		file = dwarf_linesrc(dl, NULL, NULL);
		if (dwarf_lineno(dl, &l) == 0 && l > 0)
			line = (uint32_t)l;
	}
	nscopes = dwarf_getscopes(&cudie, vaddr, &scopes);
	if (nscopes <= 0) {
		free(scopes);
		return 0;
	}
	if (dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0)
		files = NULL;

	for (int i = 0; i < nscopes && n < max; i++) {
		Dwarf_Die *s = &scopes[i], *up = NULL;
		int tag = dwarf_tag(s), nup;
		Dwarf_Attribute attr;
		Dwarf_Word w;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		ret[n++] = (struct dwarfsym_frame){ .name = die_name(s), .file = file,
						    .line = line };
		if (tag == DW_TAG_subprogram)
			break;
		/* The caller's position: where this instance was inlined. */
		file = NULL;
		line = 0;
		if (files && dwarf_attr(s, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &w) == 0 &&
		    w < nfiles)
			file = dwarf_filesrc(files, w, NULL, NULL);
		if (dwarf_attr(s, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0 &&
		    w <= UINT32_MAX)
			line = (uint32_t)w;
		/*
		 * Past an inlined instance, dwarf_getscopes() continues with the scopes of the
		 * abstract definition; the concrete caller is found from the instance's own DIE.
		 */
		nup = dwarf_getscopes_die(s, &up);
		if (nup <= 0) {
			free(up);
			break;
		}
		free(scopes);
		scopes = up;
		nscopes = nup;
		i = 0; /* up[0] is the instance itself: resume with its parent */
	}
	free(scopes);
	return n;
}
