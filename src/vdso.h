/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vDSO's image, as a file. The kernel maps the same vDSO into every process (per
 * architecture and ABI), so the agent's own copy, found at getauxval(AT_SYSINFO_EHDR), has the
 * symbols and CFI of every profiled process's [vdso] mapping. Copied into a memfd so that the
 * ELF readers open it like any binary ("/proc/self/fd/N").
 */
#ifndef PA_VDSO_H
#define PA_VDSO_H

/* Returns an O_CLOEXEC memfd holding the image (owned by the caller), or -errno. */
int vdso_image_memfd(void);

#endif
