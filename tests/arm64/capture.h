/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot capture inside the arm64 fixtures (tests/arm64/fixture*.c*), cross-compiled and
 * run under qemu-user or on a real arm64 machine. A capture records what a perf sample would
 * carry — the interrupted context's x0..x30, sp and pc, a copy of the stack above sp and the
 * executable mappings — plus the chain libgcc's unwinder (_Unwind_Backtrace) reports from
 * the same point, and appends it to the current scenario's snapshot file in the format of
 * tests/lib/snapshot.h (written here byte for byte: the host's snapshot.c is not built for
 * arm64).
 *
 * Two kinds of capture point, both taken in a signal handler from the ucontext, so the
 * registers are the interrupted code's own and not those of a capture function:
 *  - explicit: CAPTURE_HERE() executes a BRK; the SIGTRAP handler captures and resumes after
 *    the BRK. The point is exact and repeatable (a leaf with its caller still in x30, the
 *    entry of a function before its prologue, the inside of a signal handler, ...).
 *  - sampled: capture_sampling_start() arms ITIMER_PROF; each SIGPROF captures wherever the
 *    program happened to be, prologues, epilogues, PLT stubs and libc included.
 *
 * The expected chain is the part of _Unwind_Backtrace's answer after the capturing handler's
 * own signal frame: the frame after the one whose IP is the handler's return address (the
 * rt_sigreturn trampoline) must be the interrupted pc, else the snapshot has no expected
 * chain and the replay does not judge it. _Unwind_Backtrace is not async-signal-safe in
 * general: the fixtures only interrupt code that holds no lock it takes (it takes none with
 * glibc 2.35's _dl_find_object; dl_iterate_phdr's loader lock before that is recursive).
 *
 * Not thread-safe: one capturing thread, one scenario file at a time.
 */
#ifndef PA_TESTS_ARM64_CAPTURE_H
#define PA_TESTS_ARM64_CAPTURE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BRK #0x7d0: A64 "brk #imm16" is 0xd4200000 | imm16 << 5. The handler checks the word. */
#define CAPTURE_BRK_INSN 0xd420fa00u
#define CAPTURE_HERE() __asm__ volatile("brk #0x7d0" ::: "memory")

/* Installs the SIGTRAP and SIGPROF handlers; stack_bytes: how much stack each capture copies. */
int capture_init(size_t stack_bytes);

/* Starts a scenario: later captures go to DIR/NAME.snap (created, truncated). */
int capture_begin(const char *dir, const char *name);
/* Ends it; prints "NAME: N snapshots, M without an expected chain" on stdout. */
int capture_end(void);

/* SIGPROF at hz of process CPU time; each tick captures until max captures were taken. */
int capture_sampling_start(unsigned hz, unsigned max);
void capture_sampling_stop(void);

/* Captures written in the current scenario. */
unsigned capture_count(void);

#ifdef __cplusplus
}
#endif

#endif
