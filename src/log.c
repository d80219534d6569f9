/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: level filter, journald priority prefixes (<N>, sd-daemon(3), when stderr is the
 * journal stream), %m from an explicit error.
 * The level is set once at start-up, before threads exist; reads race-free after that.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static enum log_level max_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN }, { "warning", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },   { "debug", LOG_LEVEL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*ret = names[i].level;
			return 0;
		}
	return -EINVAL;
}

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr goes to journald. A
 * child that inherited the variable but writes elsewhere (a pipe, a file) must not get the
 * prefixes: compare the variable with stderr itself (sd-daemon(3), systemd.exec(5)).
 */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_internal(enum log_level level, int error, const char *fmt, ...)
{
	static int journal = -1;
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (level > max_level)
		return error;
	if (journal < 0)
		journal = stderr_is_journal();
	if (journal)
		n += snprintf(line, sizeof(line), "<%d>", (int)level);
	else if (level <= LOG_LEVEL_WARN)
		n += snprintf(line, sizeof(line), "perfagent: %s: ",
			      level == LOG_LEVEL_ERROR ? "error" : "warning");
	else
		n += snprintf(line, sizeof(line), "perfagent: ");

	/* %m must describe the error passed in, not whatever errno happens to hold. */
	errno = error < 0 ? -error : error;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	return error;
}
