/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: the __meta_* labels of a process, read from /proc and the cgroup path, with
 * Parca's names where Parca has them (__meta_process_*, __meta_kubernetes_*, __meta_env_var_*,
 * __meta_system_*), plus __meta_container_id/_runtime and __meta_systemd_unit.
 *
 * cgroup_path_parse() is pure (no I/O) so the layouts of every runtime are unit tested from
 * fixtures: docker (cgroupfs and systemd drivers), containerd/CRI and cri-o under kubepods
 * (v1 and v2, each QoS class), podman, systemd-nspawn, systemd units.
 *
 * discover_process() does I/O (/proc/PID/{stat,exe,cmdline,cgroup,environ}, the
 * executable's build-id, /var/log/containers): it runs once per process and again on exec
 * or a cgroup change, never per sample.
 */
#ifndef PA_DISCOVER_H
#define PA_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"

struct cgroup_info {
	char container_id[80];
	const char *runtime; /* "docker", "containerd", "cri-o", "podman", "systemd-nspawn" */
	char pod_uid[40];    /* with dashes, as the API server shows it */
	const char *qos;     /* "Guaranteed", "Burstable", "BestEffort", NULL outside kubepods */
	char systemd_unit[256];
};

/* Fills ret from a cgroup path ("/kubepods.slice/..."); fields not found stay empty. */
void cgroup_path_parse(const char *path, struct cgroup_info *ret);

/*
 * The "main" cgroup of a /proc/PID/cgroup text, as Parca picks it: the v1 cpu controller's
 * path, else the v2 (0::) path, else the name=systemd one. Writes "" when none.
 */
void cgroup_main_path(const char *proc_cgroup_text, char *ret, size_t size);

struct discover_config {
	bool cmdline;		  /* __meta_process_cmdline (opt-in: may hold secrets) */
	char *const *env_vars;	  /* names for __meta_env_var_<NAME>; NULL-terminated or NULL */
	const char *node;	  /* "node" */
	const char *pods_log_dir; /* NULL = /var/log/pods */
	const char *containers_log_dir; /* NULL = /var/log/containers */
	const char *proc_dir;		/* NULL = /proc */
	bool sidecar;			/* pod names from our own downward-API environment */
};

/*
 * Adds the discovery labels of pid to ls. cgroup_path, when not NULL, is the exact cgroup of
 * the sample that triggered the evaluation (PERF_SAMPLE_CGROUP); else /proc/PID/cgroup is
 * read. Returns 0 (a process that vanished still gets its pid and the system labels).
 */
int discover_process(const struct discover_config *c, uint32_t pid, const char *cgroup_path,
		     struct labelset *ls);

#endif
