/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The diagnostic subcommands, dispatched from main() before option parsing:
 *
 *   perfagent doctor [--pid PID]   can perfagent profile on this machine, and why not: one
 *                                  line per check (OK/WARN/FAIL) with the fix; exit 1 when
 *                                  any check FAILs.
 *   perfagent explain [--duration S] PID
 *                                  that process's mappings, which have CFI, symbols, debug
 *                                  info and frame pointers, and where its stacks stop during
 *                                  a short sampling run.
 *
 * Both print to stdout and run to completion on the calling thread.
 */
#ifndef PA_DOCTOR_H
#define PA_DOCTOR_H

int doctor_main(int argc, char **argv);
int explain_main(int argc, char **argv);

#endif
