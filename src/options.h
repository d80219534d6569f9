/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven options. Each option is declared once — long name, optional short letter,
 * value kind, whether it repeats, and a setter — and that one table drives getopt_long for
 * the command line and the keys of the configuration file (config.h): an option added to the
 * table is accepted in both, with the same validation and the same messages.
 *
 * The command line is parsed first into a list of occurrences (nothing applied), so the
 * file's keys can be applied before them and the command line overrides the file: a key is
 * skipped when its option appears on the command line (for repeatable options the command
 * line's values replace the file's list).
 */
#ifndef PA_OPTIONS_H
#define PA_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum opt_kind {
	OPT_FLAG,   /* no argument; a JSON boolean in the file (true sets it) */
	OPT_STRING, /* a JSON string in the file */
	OPT_NUMBER, /* a JSON integer in the file, handed to the setter as its decimal text */
};

struct opt_def {
	const char *name; /* the long name, and the key in the configuration file */
	int short_name;	  /* 0 = none */
	enum opt_kind kind;
	bool repeatable; /* may be given several times; a JSON array (or one value) in the file */
	bool cli_only;	 /* not a file key (--config, --help, --version) */
	/*
	 * Validates and stores value (NULL for flags). Returns 0, 1 to stop and exit
	 * successfully (--help), or -EINVAL after logging what is wrong with the value.
	 */
	int (*set)(void *ctx, const char *value);
	const char *metavar; /* for messages: "PATH", "HZ"... */
};

struct opt_occurrence {
	const struct opt_def *def;
	const char *value; /* borrowed from argv; NULL for flags */
};

struct opt_parse {
	struct opt_occurrence *v;
	size_t n;
	int first_arg; /* argv index of the first non-option (the command), or argc */
};

/*
 * Parses argv against defs (n_defs entries) without applying anything. Stops at the first
 * non-option (so "perfagent -- cmd -x" keeps cmd's options). Returns 0, or -EINVAL after
 * telling the user (unknown option, missing argument). ret owns its array: opt_parse_done.
 */
int opt_parse_argv(const struct opt_def *defs, size_t n_defs, int argc, char **argv,
		   struct opt_parse *ret);
void opt_parse_done(struct opt_parse *p);
bool opt_given(const struct opt_parse *p, const struct opt_def *def);
/* The last value given for the option named name, or NULL. */
const char *opt_value(const struct opt_parse *p, const char *name);
/* Runs the setters of every occurrence, in order. Returns 0, 1 (stop, success) or -EINVAL. */
int opt_apply(const struct opt_parse *p, void *ctx);
const struct opt_def *opt_find(const struct opt_def *defs, size_t n_defs, const char *name);

#endif
