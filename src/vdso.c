/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vDSO image copy. The extent comes from our own /proc/self/maps (the auxiliary vector only
 * gives the start); the mapping is checked to start where AT_SYSINFO_EHDR points.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"
#include "vdso.h"

struct vdso_range {
	uint64_t start, end;
};

static int find_vdso(void *ctx, const struct maps_entry *e)
{
	struct vdso_range *v = ctx;

	if (strcmp(e->path, "[vdso]") == 0) {
		v->start = e->start;
		v->end = e->end;
	}
	return 0;
}

int vdso_image_memfd(void)
{
	struct vdso_range v = {0};
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	int fd;

	if (!ehdr || maps_read(getpid(), NULL, find_vdso, &v) < 0 || v.start != ehdr)
		return -ENOENT;
	fd = memfd_create("perfagent-vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, (const void *)(uintptr_t)v.start, v.end - v.start) !=
	    (ssize_t)(v.end - v.start)) {
		close(fd);
		return -EIO;
	}
	return fd;
}
