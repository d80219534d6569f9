/* SPDX-License-Identifier: Apache-2.0 */
/* SIGHUP reload hooks (see reload.h). */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "log.h"
#include "reload.h"

static struct {
	const char *name;
	reload_fn *fn;
	void *ctx;
} hooks[RELOAD_MAX_HOOKS];
static unsigned n_hooks;

int reload_register(const char *name, reload_fn *fn, void *ctx)
{
	if (n_hooks == RELOAD_MAX_HOOKS)
		return -E2BIG;
	hooks[n_hooks].name = name;
	hooks[n_hooks].fn = fn;
	hooks[n_hooks].ctx = ctx;
	n_hooks++;
	return 0;
}

int reload_run(void)
{
	int ret = 0;

	if (n_hooks == 0) {
		log_info(
			"received SIGHUP: nothing to reload (no --config file); profiling goes on");
		return 0;
	}
	for (unsigned i = 0; i < n_hooks; i++) {
		int r = hooks[i].fn(hooks[i].ctx);

		if (r < 0) {
			log_error_errno(r, "reload %s: %m; the previous settings stay",
					hooks[i].name);
			if (ret == 0)
				ret = r;
		} else {
			log_info("reloaded %s; changes apply from the next window", hooks[i].name);
		}
	}
	return ret;
}
