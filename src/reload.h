/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SIGHUP reload: the main loop calls reload_run() between two drain rounds when SIGHUP
 * arrives; the current window keeps filling and is flushed at its normal end, so a reload
 * never loses or splits a window. Settings that change apply from the next window.
 *
 * Modules that can re-read their settings register a hook at start-up (the configuration
 * file loader re-reads --config FILE, validates it completely, and only then applies what
 * can change live; on any error the previous settings stay and the error is logged). With
 * no hook registered there is nothing to reload, which is logged.
 *
 * Threads: main thread only.
 */
#ifndef PA_RELOAD_H
#define PA_RELOAD_H

/* Returns 0 when applied (or nothing changed), -errno when the old settings were kept. */
typedef int reload_fn(void *ctx);

/* At most RELOAD_MAX_HOOKS hooks; name appears in the log ("reloaded <name>"). */
#define RELOAD_MAX_HOOKS 8
int reload_register(const char *name, reload_fn *fn, void *ctx);
/* Runs every hook in registration order; returns 0, or the first hook's error. */
int reload_run(void);

#endif
