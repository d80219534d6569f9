/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replaying unwind snapshots offline with three unwinders: puw (the unit under test) and the
 * two oracles, libunwind's remote API and elfutils' libdwfl, all fed exactly what a perf
 * sample carries — the snapshot's registers and stack copy — plus the binaries the snapshot
 * names, read from disk.
 *
 * The target's memory, as the oracles see it: the stack copy, and the file contents of every
 * PT_LOAD segment of every module at its load bias (what a read of text or read-only data
 * would return). Nothing else: anonymous memory, .bss and the heap read as faults. puw reads
 * only the stack copy. Every fault is remembered with its address so a stop can be told
 * apart: a read just past the end of the copy is "ran off the stack copy", not an error.
 *
 * Results are normalised to one stop vocabulary (enum replay_stop) with the unwinder's own
 * reason kept in a detail string.
 *
 * Test code: single-threaded, returns -errno, never logs.
 */
#ifndef PA_TESTS_REPLAY_H
#define PA_TESTS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfimage.h"
#include "puw.h"
#include "snapshot.h"

#define REPLAY_MAX_FRAMES 512
/* A read this far above the copy's end is taken for "the rest of the stack". */
#define REPLAY_STACK_SLACK_BYTES ((uint64_t)16 << 20)

enum replay_unwinder {
	REPLAY_PUW,
	REPLAY_LIBUNWIND,
	REPLAY_LIBDW,
	_REPLAY_UNWINDER_MAX,
};

enum replay_stop {
	REPLAY_STOP_END,       /* the outermost frame (return address undefined, FP chain end) */
	REPLAY_STOP_STACK_END, /* needed a word past the end of the stack copy */
	REPLAY_STOP_BAD_READ,  /* needed memory outside the copy and every mapped file */
	REPLAY_STOP_NO_INFO,   /* no unwind information covers a PC */
	REPLAY_STOP_BAD_PC,    /* a return address outside every module */
	REPLAY_STOP_BAD_FRAME, /* a CFA or frame pointer that does not move up the stack */
	REPLAY_STOP_NO_REGS,   /* registers missing to start or continue */
	REPLAY_STOP_MAX_DEPTH,
	REPLAY_STOP_ERROR, /* anything else: see detail */
	_REPLAY_STOP_MAX,
};

const char *replay_unwinder_name(enum replay_unwinder u);
const char *replay_stop_name(enum replay_stop s);
/* The unwinder finished: reached the outermost frame or the end of the stack copy. */
static inline bool replay_stop_complete(enum replay_stop s)
{
	return s == REPLAY_STOP_END || s == REPLAY_STOP_STACK_END;
}

struct replay_chain {
	uint64_t pcs[REPLAY_MAX_FRAMES]; /* innermost first; [0] the sampled PC, then RAs */
	unsigned n;
	enum replay_stop stop;
	char detail[128]; /* the unwinder's own words for the stop */
};

/* The binaries every snapshot refers to, loaded once (keyed by path and build-id). */
struct replay_ctx;

struct replay_ctx_stats {
	unsigned binaries;	    /* loaded */
	unsigned missing;	    /* could not be opened or parsed */
	unsigned build_id_mismatch; /* the file on disk is not the one sampled */
	unsigned cfi_failed;	    /* elfcfi_load() found no usable CFI or failed */
	unsigned with_debug_file;   /* CFI compiled with a separate debug file's .debug_frame */
	unsigned bias_mismatch;	    /* mappings where elfcfi_bias() and our own bias disagree */
};

/*
 * want_cfi: compile every binary's CFI with src/elfcfi.c, as the daemon's CFI store does
 * (separate debug file by build-id, then .gnu_debuglink); false for frame-pointer replays.
 */
int replay_ctx_new(bool want_cfi, struct replay_ctx **ret);
void replay_ctx_free(struct replay_ctx *c); /* accepts NULL */
void replay_ctx_get_stats(const struct replay_ctx *c, struct replay_ctx_stats *ret);
/*
 * Snapshots from another machine (arm64 fixtures): absolute paths are looked for under dir
 * too (copied; NULL: host paths only); and "[vdso]" is vdso.so in the directory of the
 * snapshot file being replayed when that file exists with the recorded build-id (else this
 * host's vDSO). Name each snapshot file before replaying its snapshots.
 */
int replay_ctx_set_sysroot(struct replay_ctx *c, const char *dir);
int replay_ctx_set_snapshot_file(struct replay_ctx *c, const char *path);
bool replay_ctx_has_cfi(const struct replay_ctx *c);

/* One loaded binary, for reports: index 0.. while it returns 0. */
struct replay_binary_info {
	const char *path;	     /* as the snapshots name it */
	const char *build_id;	     /* as the snapshots recorded it */
	const struct elf_image *img; /* NULL when unusable */
	const char *problem;	   /* NULL, or why it is not used: "missing", "build-id mismatch" */
	const struct puw_cfi *cfi; /* NULL without CFI */
	int cfi_error;		   /* elfcfi_load()'s error when cfi is NULL */
	const char *debug_file;	   /* the separate debug file the CFI came with, NULL when none */
	size_t cfi_bytes;	   /* 0 without CFI */
	size_t cfi_rows;
	uint64_t cfi_load_ns; /* elfcfi_load(): read the sections and compile, once */
};
/*
 * Loads binary i's CFI again with elfcfi_load() iterations times (reading the sections and
 * compiling them) and returns the median time in ns; -ENOENT when it has no CFI.
 */
int64_t replay_ctx_time_cfi_load(const struct replay_ctx *c, unsigned i, unsigned iterations);
int replay_ctx_binary(const struct replay_ctx *c, unsigned i, struct replay_binary_info *ret);

/* A snapshot's executable mapping, resolved. */
struct replay_module {
	uint64_t start, end, pgoff;
	uint64_t map_start;	   /* the mapping's; start is lower for qemu's "[sigtramp]" */
	uint64_t bias;		   /* elfcfi_bias()'s when CFI is loaded, else elf_image_bias()'s */
	const char *path;	   /* the snapshot's */
	struct elf_image *img;	   /* NULL: unusable (missing, mismatched, no segment) */
	const struct puw_cfi *cfi; /* NULL: none */
};

/* A file-backed range of target memory. */
struct replay_range {
	uint64_t lo, hi;
	const uint8_t *bytes;
};

/* A snapshot ready to replay. */
struct replay_target {
	const struct snapshot *snap;
	struct replay_module *mods; /* sorted by start */
	unsigned n_mods;
	struct replay_range *ranges; /* sorted by lo */
	unsigned n_ranges;
	uint64_t stack_end;
	/* the last failed read of an oracle, reset by each unwinder */
	bool faulted;
	uint64_t fault_addr;
	/* set by replay_target_init: the set of modules, to tell whether two targets match */
	uint64_t modules_hash;
};

/* Resolves s's modules against c's binaries. s must outlive the target. */
int replay_target_init(struct replay_ctx *c, const struct snapshot *s, struct replay_target *t);
void replay_target_done(struct replay_target *t);

/* The module holding pc, NULL when none. */
const struct replay_module *replay_target_module(const struct replay_target *t, uint64_t pc);
/* puw's find_module callback over a struct replay_target (ctx), as the daemon's. */
int replay_find_module(void *ctx, uint64_t pc, struct puw_module *ret);
/* Reads a little-endian u64 of target memory. false (and the fault noted) when unreadable. */
bool replay_target_read(struct replay_target *t, uint64_t addr, uint64_t *ret);
/* How a fault at addr ends an unwind: past the stack copy, or a bad read. */
enum replay_stop replay_target_fault_stop(const struct replay_target *t, uint64_t addr);

/*
 * "function+0xoff" (or "module+0xoff", or "?") for pc in buf. A return address (caller
 * frame) is looked up at pc - 1, inside the call.
 */
const char *replay_symbolize(const struct replay_target *t, uint64_t pc, bool caller, char *buf,
			     size_t size);
/* The function holding pc (pc - 1 for callers), NULL when unknown. Borrowed. */
const char *replay_function(const struct replay_target *t, uint64_t pc, bool caller);

/* ---- puw: cache may be NULL (every row lookup searches the table) ---- */
int replay_puw(const struct replay_target *t, enum puw_mode mode, struct puw_cache *cache,
	       struct replay_chain *ret, struct puw_stats *stats);
/* The same into pcs[max]: puw_unwind()'s result (a count or -errno) and stop reason. */
int replay_puw_pcs(const struct replay_target *t, enum puw_mode mode, struct puw_cache *cache,
		   uint64_t *pcs, unsigned max, enum puw_stop *ret_stop, struct puw_stats *stats);

/* ---- libunwind: a session is one address space, with its caching policy ---- */
struct replay_unw;
/* cache: false = UNW_CACHE_NONE, true = UNW_CACHE_GLOBAL */
int replay_unw_new(bool cache, struct replay_unw **ret);
void replay_unw_free(struct replay_unw *u);
void replay_unw_flush(struct replay_unw *u);
int replay_unw_run(struct replay_unw *u, struct replay_target *t, struct replay_chain *ret);

/*
 * ---- libdw: a session is one Dwfl holding t's modules, attached once (dwfl_attach_state);
 * it serves every target with the same modules_hash ----
 */
struct replay_dw;
int replay_dw_new(struct replay_target *t, struct replay_dw **ret);
void replay_dw_free(struct replay_dw *d);
bool replay_dw_matches(const struct replay_dw *d, const struct replay_target *t);
int replay_dw_run(struct replay_dw *d, struct replay_target *t, struct replay_chain *ret);

/* Library versions, for reports. */
const char *replay_libdw_version(void);

#endif
