/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for the daemon. One line per call on stderr; under systemd (JOURNAL_STREAM set)
 * each line starts with a <N> syslog priority so journald keeps the level.
 * The *_errno() variants format %m from -r and return r, so error paths read
 *     return log_error_errno(r, "open %s: %m", path);
 * Library-like modules (unwind/, pprof, ring parsing, symbolize) never log: they return
 * -errno and counters, and their callers log. Nothing logs per sample.
 * Thread safety: each call writes its line with one write(2).
 */
#ifndef PA_LOG_H
#define PA_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *ret);

int log_internal(enum log_level level, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) ((void)log_internal(LOG_LEVEL_ERROR, 0, __VA_ARGS__))
#define log_warn(...)  ((void)log_internal(LOG_LEVEL_WARN, 0, __VA_ARGS__))
#define log_info(...)  ((void)log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__))
#define log_debug(...) ((void)log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__))
#define log_error_errno(r, ...) log_internal(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...)  log_internal(LOG_LEVEL_WARN, (r), __VA_ARGS__)
#define log_info_errno(r, ...)  log_internal(LOG_LEVEL_INFO, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_internal(LOG_LEVEL_DEBUG, (r), __VA_ARGS__)

#endif
