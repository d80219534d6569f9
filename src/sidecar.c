/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sidecar mode checks. In a pod whose containers share one PID namespace, the pod's
 * processes are visible in our /proc beside us; when the namespace is not shared we see
 * only ourselves and our ancestors (the container's init). Reading the other containers'
 * binaries through /proc/PID/root takes CAP_SYS_PTRACE when they run as other users.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "sidecar.h"
#include "util.h"

/* Bit 19 of CapEff: CAP_SYS_PTRACE. */
static bool have_cap_sys_ptrace(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long caps = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps & (1ULL << 19);
}

int sidecar_check(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	pid_t self = getpid(), anc[64];
	size_t n_anc = 0;
	int others = 0;

	for (pid_t p = getppid(); p > 0 && n_anc < ARRAY_SIZE(anc);) {
		char path[64];
		FILE *f;
		int pp = 0;

		anc[n_anc++] = p;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
		f = fopen(path, "re");
		if (!f || fscanf(f, "%*d (%*[^)]) %*c %d", &pp) != 1)
			pp = 0;
		if (f)
			fclose(f);
		p = pp;
	}
	if (!d)
		return log_error_errno(-errno, "--sidecar: read /proc: %m — mount the pod's /proc");
	while ((de = readdir(d))) {
		uint64_t pid;
		bool mine = false;

		if (parse_u64(de->d_name, 1, INT32_MAX, &pid) < 0 || (pid_t)pid == self)
			continue;
		for (size_t i = 0; i < n_anc; i++)
			mine |= anc[i] == (pid_t)pid;
		others += !mine;
	}
	closedir(d);
	if (!others) {
		log_error("--sidecar: no other process is visible in this PID namespace — the pod "
			  "does not share its PID namespace: set shareProcessNamespace: true in "
			  "the pod "
			  "spec");
		return -ESRCH;
	}
	if (!have_cap_sys_ptrace())
		log_warn("--sidecar: no CAP_SYS_PTRACE: the binaries of other containers (through "
			 "/proc/PID/root) may be unreadable, and their frames unsymbolized — add "
			 "SYS_PTRACE to securityContext.capabilities.add");
	return 0;
}
