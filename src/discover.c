/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery. The cgroup layouts recognized (each path component is looked at on its own):
 *
 *   docker      /docker/<id>                          (cgroupfs driver)
 *               /system.slice/docker-<id>.scope       (systemd driver)
 *   containerd  .../cri-containerd-<id>.scope         (CRI, systemd driver)
 *               /kubepods/.../pod<uid>/<id>           (CRI, cgroupfs driver: a bare 64-hex id)
 *   cri-o       .../crio-<id>.scope, .../crio-<id>    (crio-conmon-<id> is the monitor, skipped)
 *   podman      .../libpod-<id>.scope, /libpod_parent/libpod-<id>
 *   nspawn      /machine.slice/systemd-nspawn@<name>.service, machine-<name>.scope
 *   kubepods    kubepods[-<qos>].slice/kubepods-<qos>-pod<uid_with_underscores>.slice (systemd)
 *               /kubepods/<qos>/pod<uid> (cgroupfs); no QoS component = Guaranteed
 *
 * The innermost match wins (a docker container inside a pod is the pod's container).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "discover.h"
#include "util.h"

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return n > 0;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);

	return n >= p && memcmp(s, prefix, p) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* "<prefix><64 hex>[<suffix>]" → the id. */
static bool take_id(const char *s, size_t n, const char *prefix, const char *suffix,
		    struct cgroup_info *ci, const char *runtime)
{
	size_t p = strlen(prefix), k = suffix ? strlen(suffix) : 0;

	if (!has_prefix(s, n, prefix))
		return false;
	if (suffix && has_suffix(s, n, suffix))
		n -= k;
	else if (suffix && !has_suffix(s, n, suffix) && n - p != 64)
		return false;
	if (n - p != 64 || !is_hex(s + p, 64))
		return false;
	memcpy(ci->container_id, s + p, 64);
	ci->container_id[64] = '\0';
	ci->runtime = runtime;
	return true;
}

static void set_pod_uid(struct cgroup_info *ci, const char *s, size_t n)
{
	if (n >= sizeof(ci->pod_uid))
		return;
	for (size_t i = 0; i < n; i++)
		ci->pod_uid[i] = s[i] == '_' ? '-' : s[i];
	ci->pod_uid[n] = '\0';
}

static void component(const char *s, size_t n, struct cgroup_info *ci, bool *in_kubepods)
{
	if (n == 0)
		return;
	/* Kubernetes pods and QoS classes. */
	if (has_prefix(s, n, "kubepods")) {
		*in_kubepods = true;
		if (!ci->qos)
			ci->qos = "Guaranteed";
		if (has_prefix(s, n, "kubepods-burstable"))
			ci->qos = "Burstable";
		else if (has_prefix(s, n, "kubepods-besteffort"))
			ci->qos = "BestEffort";
		{
			/* kubepods[-qos]-pod<uid>.slice */
			const char *pod = NULL;

			for (size_t i = 0; i + 4 <= n; i++)
				if (memcmp(s + i, "-pod", 4) == 0)
					pod = s + i + 4;
			if (pod && has_suffix(s, n, ".slice"))
				set_pod_uid(ci, pod, (size_t)(s + n - 6 - pod));
		}
		return;
	}
	if (*in_kubepods) {
		if (n == 9 && memcmp(s, "burstable", 9) == 0) {
			ci->qos = "Burstable";
			return;
		}
		if (n == 10 && memcmp(s, "besteffort", 10) == 0) {
			ci->qos = "BestEffort";
			return;
		}
		if (has_prefix(s, n, "pod") && !has_suffix(s, n, ".slice")) {
			set_pod_uid(ci, s + 3, n - 3);
			return;
		}
	}
	if (take_id(s, n, "docker-", ".scope", ci, "docker") ||
	    take_id(s, n, "cri-containerd-", ".scope", ci, "containerd") ||
	    take_id(s, n, "crio-", ".scope", ci, "cri-o") ||
	    take_id(s, n, "libpod-", ".scope", ci, "podman"))
		return;
	if (has_prefix(s, n, "crio-conmon-") || has_prefix(s, n, "libpod-conmon-"))
		return;
	if (n == 64 && is_hex(s, 64)) {
		/* cgroupfs drivers: the parent tells whose id it is */
		memcpy(ci->container_id, s, 64);
		ci->container_id[64] = '\0';
		ci->runtime = *in_kubepods ? "containerd" : "docker";
		return;
	}
	if (has_prefix(s, n, "systemd-nspawn@") && has_suffix(s, n, ".service")) {
		size_t l = n - 15 - 8;

		if (l < sizeof(ci->container_id)) {
			memcpy(ci->container_id, s + 15, l);
			ci->container_id[l] = '\0';
			ci->runtime = "systemd-nspawn";
		}
	} else if (has_prefix(s, n, "machine-") && has_suffix(s, n, ".scope") &&
		   !has_prefix(s, n, "machine-qemu")) {
		size_t l = n - 8 - 6;

		if (l < sizeof(ci->container_id)) {
			memcpy(ci->container_id, s + 8, l);
			ci->container_id[l] = '\0';
			ci->runtime = "systemd-nspawn";
		}
	}
}

void cgroup_path_parse(const char *path, struct cgroup_info *ret)
{
	bool in_kubepods = false;
	const char *p = path;

	*ret = (struct cgroup_info){0};
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		/* cri-o's cgroupfs driver: "crio-<id>" without .scope */
		if (!take_id(p, n, "crio-", NULL, ret, "cri-o") &&
		    !(has_prefix(p, n, "libpod_parent")))
			component(p, n, ret, &in_kubepods);
		if ((has_suffix(p, n, ".service") || has_suffix(p, n, ".scope")) &&
		    n < sizeof(ret->systemd_unit)) {
			memcpy(ret->systemd_unit, p, n);
			ret->systemd_unit[n] = '\0';
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (!in_kubepods)
		ret->qos = NULL;
}

void cgroup_main_path(const char *text, char *ret, size_t size)
{
	const char *v2 = NULL, *sd = NULL, *cpu = NULL;
	size_t v2n = 0, sdn = 0, cpun = 0;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (c1 && c1 < line + len && (c2 = strchr(c1 + 1, ':')) && c2 < line + len) {
			const char *ctrl = c1 + 1, *path = c2 + 1;
			size_t cn = (size_t)(c2 - ctrl), pn = (size_t)(line + len - path);

			if (cn == 0) {
				v2 = path;
				v2n = pn;
			} else if (cn == 12 && memcmp(ctrl, "name=systemd", 12) == 0) {
				sd = path;
				sdn = pn;
			} else {
				/* "cpu", or a comma list holding cpu ("cpu,cpuacct") */
				for (const char *t = ctrl; t < c2;) {
					const char *comma = memchr(t, ',', (size_t)(c2 - t));
					size_t tn = comma ? (size_t)(comma - t) : (size_t)(c2 - t);

					if (tn == 3 && memcmp(t, "cpu", 3) == 0) {
						cpu = path;
						cpun = pn;
					}
					t = comma ? comma + 1 : c2;
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	/*
	 * Parca's order (the v1 cpu controller, else the v2 path, else name=systemd), except
	 * that a root path ("/") gives way to a more specific one: on hybrid hosts the v2
	 * hierarchy is where systemd and the runtimes place tasks, while cpu may stay at "/".
	 */
	if (cpu && !(cpun == 1 && v2 && v2n > 1)) {
		snprintf(ret, size, "%.*s", (int)cpun, cpu);
	} else if (v2 && !(v2n == 1 && sd)) {
		snprintf(ret, size, "%.*s", (int)v2n, v2);
	} else if (sd) {
		snprintf(ret, size, "%.*s", (int)sdn, sd);
	} else if (v2) {
		snprintf(ret, size, "%.*s", (int)v2n, v2);
	} else if (size) {
		ret[0] = '\0';
	}
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while (total < (ssize_t)size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

/* The GNU build-id of an ELF file, as hex; 0 or -errno. */
static int elf_build_id(const char *path, char *ret, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -ENOENT;
	Elf *e;
	size_t nphdr;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	/* ELF_C_READ: only the program headers and notes are read (pread); an mmap of the
	 * whole file would cost an munmap and its TLB shootdown per process. */
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e) {
		close(fd);
		return -EINVAL;
	}
	if (elf_getphdrnum(e, &nphdr) == 0) {
		for (size_t i = 0; i < nphdr && r < 0; i++) {
			GElf_Phdr ph;
			Elf_Data *d;
			GElf_Nhdr nh;
			size_t off = 0, noff, doff;

			if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_NOTE)
				continue;
			d = elf_getdata_rawchunk(e, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
			while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
				if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
				    memcmp((char *)d->d_buf + noff, "GNU", 4) == 0 &&
				    nh.n_descsz * 2 < size) {
					const uint8_t *b = (const uint8_t *)d->d_buf + doff;

					for (size_t k = 0; k < nh.n_descsz; k++)
						snprintf(ret + 2 * k, 3, "%02x", b[k]);
					r = 0;
					break;
				}
			}
		}
	}
	elf_end(e);
	close(fd);
	return r;
}

/* /var/log/containers/<pod>_<namespace>_<container>-<id>.log names a CRI container. */
static void kube_names_from_logs(const struct discover_config *c, const struct cgroup_info *ci,
				 struct labelset *ls)
{
	const char *dir = c->containers_log_dir ? c->containers_log_dir : "/var/log/containers";
	struct dirent *de;
	DIR *d;

	if (ci->container_id[0] && (d = opendir(dir))) {
		char suffix[96];

		snprintf(suffix, sizeof(suffix), "-%s.log", ci->container_id);
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name), k = strlen(suffix);
			char name[256], *u1, *u2;

			if (n <= k || n - k >= sizeof(name) || strcmp(de->d_name + n - k, suffix))
				continue;
			memcpy(name, de->d_name, n - k);
			name[n - k] = '\0';
			u1 = strchr(name, '_');
			u2 = u1 ? strchr(u1 + 1, '_') : NULL;
			if (!u2)
				continue;
			*u1 = *u2 = '\0';
			labelset_set(ls, "__meta_kubernetes_pod_name", name);
			labelset_set(ls, "__meta_kubernetes_namespace", u1 + 1);
			labelset_set(ls, "__meta_kubernetes_pod_container_name", u2 + 1);
			closedir(d);
			return;
		}
		closedir(d);
	}
	/* /var/log/pods/<namespace>_<pod>_<uid>/<container>/: the pod, and its container when
	 * it has only one. */
	dir = c->pods_log_dir ? c->pods_log_dir : "/var/log/pods";
	if (ci->pod_uid[0] && (d = opendir(dir))) {
		size_t k = strlen(ci->pod_uid);

		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);
			char name[256], *u1, path[PATH_MAX], only[256] = "";
			int count = 0;
			DIR *cd;
			struct dirent *ce;

			if (n <= k + 1 || n >= sizeof(name) || de->d_name[n - k - 1] != '_' ||
			    strcmp(de->d_name + n - k, ci->pod_uid))
				continue;
			memcpy(name, de->d_name, n - k - 1);
			name[n - k - 1] = '\0';
			u1 = strchr(name, '_');
			if (!u1)
				continue;
			*u1 = '\0';
			labelset_set(ls, "__meta_kubernetes_namespace", name);
			labelset_set(ls, "__meta_kubernetes_pod_name", u1 + 1);
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if ((cd = opendir(path))) {
				while ((ce = readdir(cd)))
					if (ce->d_name[0] != '.') {
						count++;
						snprintf(only, sizeof(only), "%s", ce->d_name);
					}
				closedir(cd);
			}
			if (count == 1)
				labelset_set(ls, "__meta_kubernetes_pod_container_name", only);
			break;
		}
		closedir(d);
	}
}

static void env_labels(const struct discover_config *c, const char *proc, uint32_t pid,
		       struct labelset *ls)
{
	static __thread char env[65536];
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/environ", proc, pid);
	n = read_file(path, env, sizeof(env));
	if (n <= 0)
		return;
	for (char *e = env; e < env + n; e += strlen(e) + 1) {
		char *eq = strchr(e, '=');

		if (!eq)
			continue;
		for (char *const *want = c->env_vars; *want; want++)
			if ((size_t)(eq - e) == strlen(*want) && memcmp(e, *want, eq - e) == 0) {
				char name[300];

				snprintf(name, sizeof(name), "__meta_env_var_%s", *want);
				labelset_set(ls, name, eq + 1);
			}
	}
}

int discover_process(const struct discover_config *c, uint32_t pid, const char *cgroup_path,
		     struct labelset *ls)
{
	const char *proc = c->proc_dir ? c->proc_dir : "/proc";
	char path[PATH_MAX], buf[8192], val[PATH_MAX];
	struct utsname u;
	struct cgroup_info ci;
	ssize_t n;

	snprintf(val, sizeof(val), "%u", pid);
	labelset_set(ls, "__meta_process_pid", val);
	if (uname(&u) == 0) {
		labelset_set(ls, "__meta_system_kernel_release", u.release);
		labelset_set(ls, "__meta_system_kernel_machine", u.machine);
	}
	if (c->node)
		labelset_set(ls, "node", c->node);

	/* ppid: the 4th field of stat, after the parenthesized comm (which may hold spaces) */
	snprintf(path, sizeof(path), "%s/%u/stat", proc, pid);
	if (read_file(path, buf, sizeof(buf)) > 0) {
		char *rp = strrchr(buf, ')');
		unsigned ppid;

		if (rp && sscanf(rp + 1, " %*c %u", &ppid) == 1) {
			snprintf(val, sizeof(val), "%u", ppid);
			labelset_set(ls, "__meta_process_ppid", val);
		}
	}
	snprintf(path, sizeof(path), "%s/%u/exe", proc, pid);
	n = readlink(path, val, sizeof(val) - 1);
	if (n > 0) {
		char id[128];
		const char *base;

		val[n] = '\0';
		if (n > 10 && strcmp(val + n - 10, " (deleted)") == 0)
			val[n - 10] = '\0';
		base = strrchr(val, '/');
		labelset_set(ls, "__meta_process_executable_name", base ? base + 1 : val);
		/* Through /proc/PID/exe: the process's own file, whatever its mount namespace. */
		if (elf_build_id(path, id, sizeof(id)) == 0)
			labelset_set(ls, "__meta_process_executable_build_id", id);
	}
	if (c->cmdline) {
		snprintf(path, sizeof(path), "%s/%u/cmdline", proc, pid);
		n = read_file(path, buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] == '\0')
					buf[i] = ' ';
			while (n > 0 && buf[n - 1] == ' ')
				buf[--n] = '\0';
			labelset_set(ls, "__meta_process_cmdline", buf);
		}
	}
	if (cgroup_path) {
		snprintf(val, sizeof(val), "%s", cgroup_path);
	} else {
		snprintf(path, sizeof(path), "%s/%u/cgroup", proc, pid);
		val[0] = '\0';
		if (read_file(path, buf, sizeof(buf)) > 0)
			cgroup_main_path(buf, val, sizeof(val));
	}
	if (val[0]) {
		labelset_set(ls, "__meta_process_cgroup", val);
		cgroup_path_parse(val, &ci);
		if (ci.container_id[0]) {
			labelset_set(ls, "__meta_container_id", ci.container_id);
			labelset_set(ls, "__meta_container_runtime", ci.runtime);
			if (strcmp(ci.runtime, "docker") == 0)
				labelset_set(ls, "__meta_docker_container_id", ci.container_id);
			if (strcmp(ci.runtime, "containerd") == 0)
				labelset_set(ls, "__meta_containerd_container_id", ci.container_id);
		}
		if (ci.qos) {
			if (ci.pod_uid[0])
				labelset_set(ls, "__meta_kubernetes_pod_uid", ci.pod_uid);
			labelset_set(ls, "__meta_kubernetes_pod_qos_class", ci.qos);
			if (ci.container_id[0]) {
				char cid[128];

				snprintf(cid, sizeof(cid), "%s://%s", ci.runtime, ci.container_id);
				labelset_set(ls, "__meta_kubernetes_pod_container_id", cid);
			}
			kube_names_from_logs(c, &ci, ls);
		}
		if (ci.systemd_unit[0])
			labelset_set(ls, "__meta_systemd_unit", ci.systemd_unit);
	}
	if (c->sidecar) {
		/* The downward API in our own environment names the pod we share. */
		static const char *const env[][2] = {
			{"POD_NAME", "__meta_kubernetes_pod_name"},
			{"POD_NAMESPACE", "__meta_kubernetes_namespace"},
			{"POD_UID", "__meta_kubernetes_pod_uid"},
			{"NODE_NAME", "__meta_kubernetes_pod_node_name"},
		};

		for (size_t i = 0; i < ARRAY_SIZE(env); i++) {
			const char *v = getenv(env[i][0]);

			if (v && v[0])
				labelset_set(ls, env[i][1], v);
		}
	}
	if (c->env_vars)
		env_labels(c, proc, pid, ls);
	return 0;
}
