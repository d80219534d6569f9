/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery from cgroup paths, table-driven (tests/data/cgroup/paths.json): each fixture
 * gives a path and the container id, runtime, pod uid, QoS class and systemd unit expected
 * from it. Also the choice of the main cgroup in /proc/PID/cgroup texts (v1, v2, hybrid).
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "discover.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void fixtures(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	json_error_t je;
	json_t *all, *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/tests/data/cgroup/paths.json", top ? top : ".");
	all = json_load_file(path, 0, &je);
	CHECK(all != NULL);
	if (!all) {
		fprintf(stderr, "%s: %s\n", path, je.text);
		return;
	}
	json_array_foreach(all, i, f)
	{
		struct cgroup_info ci;
		const char *p = str(f, "path");

		cgroup_path_parse(p, &ci);
		if (strcmp(ci.container_id, str(f, "container_id")) ||
		    strcmp(ci.runtime ? ci.runtime : "", str(f, "runtime")) ||
		    strcmp(ci.pod_uid, str(f, "pod_uid")) ||
		    strcmp(ci.qos ? ci.qos : "", str(f, "qos")) ||
		    strcmp(ci.systemd_unit, str(f, "unit"))) {
			fprintf(stderr,
				"%s (%s):\n  got  id=%s runtime=%s pod=%s qos=%s unit=%s\n"
				"  want id=%s runtime=%s pod=%s qos=%s unit=%s\n",
				p, str(f, "note"), ci.container_id, ci.runtime ? ci.runtime : "",
				ci.pod_uid, ci.qos ? ci.qos : "", ci.systemd_unit,
				str(f, "container_id"), str(f, "runtime"), str(f, "pod_uid"),
				str(f, "qos"), str(f, "unit"));
			CHECK(0);
		} else {
			CHECK(1);
		}
	}
	printf("%zu cgroup path fixtures\n", json_array_size(all));
	CHECK(json_array_size(all) >= 25);
	json_decref(all);
}

static void main_path(void)
{
	char buf[256];

	cgroup_main_path("0::/system.slice/nginx.service\n", buf, sizeof(buf));
	CHECK_STREQ(buf, "/system.slice/nginx.service");
	cgroup_main_path("12:pids:/a\n4:cpu,cpuacct:/docker/x\n1:name=systemd:/docker/x\n0::/\n",
			 buf, sizeof(buf));
	CHECK_STREQ(buf, "/docker/x");
	cgroup_main_path("3:memory:/m\n1:name=systemd:/system.slice/s.service\n0::/\n", buf,
			 sizeof(buf));
	CHECK_STREQ(buf, "/system.slice/s.service");
	/* hybrid: the task moved in the unified hierarchy only */
	cgroup_main_path("4:cpu,cpuacct:/\n1:name=systemd:/\n0::/kubepods.slice/x.scope\n", buf,
			 sizeof(buf));
	CHECK_STREQ(buf, "/kubepods.slice/x.scope");
	cgroup_main_path("", buf, sizeof(buf));
	CHECK_STREQ(buf, "");
}

int main(void)
{
	fixtures();
	main_path();
	return check_finish("test-discover");
}
