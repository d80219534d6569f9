/* SPDX-License-Identifier: Apache-2.0 */
/*
 * demangle: readable names for C++ (Itanium ABI, "_Z...") and Rust (legacy "_ZN...17h<hash>E"
 * and v0 "_R...") symbols, through libiberty's demangler (the one binutils and GDB use).
 *
 * Modes: full keeps parameter lists and template arguments ("ns::f<int>(int)"); simplified
 * drops both ("ns::f"), which merges template instances and overloads into one function the
 * way flame graph users usually want; none passes names through. Names that are not mangled,
 * or that the demangler rejects, come back unchanged.
 *
 * A demangler memoizes its answers in a bounded table (demangling is slow next to a hash
 * probe, and a window repeats names). Results are borrowed until demangler_trim() frees them.
 * Not thread-safe; never logs.
 */
#ifndef PA_DEMANGLE_H
#define PA_DEMANGLE_H

#include <stddef.h>

enum demangle_mode {
	DEMANGLE_FULL,
	DEMANGLE_SIMPLIFIED,
	DEMANGLE_NONE,
};

/* Returns 0 and sets *ret, or -EINVAL for a word other than full, simplified or none. */
int demangle_mode_from_string(const char *s, enum demangle_mode *ret);
const char *demangle_mode_name(enum demangle_mode m);

/*
 * Demangles name into a malloc'ed string (owned by the caller), or returns NULL when name is
 * not mangled, cannot be demangled, or mode is DEMANGLE_NONE.
 */
char *demangle_name(const char *name, enum demangle_mode mode);

struct demangler;
/* max_bytes bounds the memo (0 = 16 MiB). NULL on allocation failure. */
struct demangler *demangler_new(enum demangle_mode mode, size_t max_bytes);
void demangler_free(struct demangler *d); /* accepts NULL */
/* The readable form of name: borrowed from d (or name itself) until demangler_trim(). */
const char *demangler_get(struct demangler *d, const char *name);
/* Forgets everything when over budget; call where no result is held (between windows). */
void demangler_trim(struct demangler *d);

#endif
