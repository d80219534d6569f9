/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sidecar mode (--sidecar): checks that the pod shares its PID namespace with us and that
 * we can read the other containers' binaries.
 */
#ifndef PA_SIDECAR_H
#define PA_SIDECAR_H

/*
 * Returns 0, or -ESRCH after logging what to set in the pod spec when no other process is
 * visible. Warns (and returns 0) without CAP_SYS_PTRACE.
 */
int sidecar_check(void);

#endif
