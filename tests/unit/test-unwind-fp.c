/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame-pointer unwinding, both architectures on any host: synthetic stacks laid out in a
 * byte buffer that stands for user memory at a chosen address (frame records chained
 * through the frame pointer, known return addresses, a fake module table), then every stop
 * reason, the arm64 link-register and pointer-authentication cases, the perf -> DWARF
 * register conversion, and, on an x86-64 host, an unwind of this test's own live stack.
 */
#include "config.h"

/*
 * The self-unwind below walks this file's own frames, so they must have frame pointers
 * whatever CFLAGS say (the build files cannot be specialised per test). GCC honours the
 * pragma; for clang, each function of the chain takes __builtin_frame_address(0), which
 * forces a frame pointer in that function.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer", "no-optimize-sibling-calls")
#endif

#include <errno.h>
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "puw.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (UINT64_C(1) << (n))

/* ---- fake target: modules and stack ------------------------------------------------- */

struct fake_modules {
	const struct puw_module *ranges;
	size_t n;
	unsigned calls;
};

static int fake_find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	struct fake_modules *m = ctx;

	m->calls++;
	for (size_t i = 0; i < m->n; i++)
		if (pc >= m->ranges[i].start && pc < m->ranges[i].end) {
			*ret = m->ranges[i];
			return 0;
		}
	return -ENOENT;
}

#define PROG_END UINT64_C(0x480000)

/* Two executable "modules": a program and a library. */
static const struct puw_module test_ranges[] = {
	{0x400000, PROG_END},
	{0x7f0000001000, 0x7f0000200000},
};

#define PC0 UINT64_C(0x401010)
#define RA1 UINT64_C(0x7f0000001234)
#define RA2 UINT64_C(0x402345)
#define RA3 UINT64_C(0x403456)
#define RA4 UINT64_C(0x404567)
#define NOT_CODE UINT64_C(0x900000)

#define SYNTH_SIZE 2048
#define SYNTH_START UINT64_C(0x7ffd12340000)

/*
 * The copy of user memory [start, start + size). The bytes start one past an aligned
 * boundary when asked, so that any aligned load of a target address would be misaligned
 * here (the library must memcpy).
 */
struct synth_stack {
	uint8_t mem[SYNTH_SIZE + 16];
	uint8_t *bytes;
	uint64_t start;
	size_t size;
};

static void synth_init(struct synth_stack *s, size_t misalign)
{
	memset(s->mem, 0xa5, sizeof(s->mem));
	s->bytes = s->mem + misalign;
	s->start = SYNTH_START;
	s->size = SYNTH_SIZE;
}

/* Stores a little-endian word at target address addr, like the target would. */
static void synth_put(struct synth_stack *s, uint64_t addr, uint64_t v)
{
	uint64_t le = htole64(v);

	if (addr < s->start || addr - s->start > s->size - 8) {
		fprintf(stderr, "synth_put: 0x%" PRIx64 " outside the synthetic stack\n", addr);
		check_failures++;
		return;
	}
	memcpy(s->bytes + (addr - s->start), &le, 8);
}

static void synth_record(struct synth_stack *s, uint64_t fp, uint64_t next_fp, uint64_t ra)
{
	synth_put(s, fp, next_fp);
	synth_put(s, fp + 8, ra);
}

/* DWARF numbers of the registers that seed a walk. */
struct arch_regnums {
	unsigned pc, sp, fp;
	int lr;
};

static struct arch_regnums regnums(enum puw_arch arch)
{
	if (arch == PUW_ARCH_AARCH64)
		return (struct arch_regnums){.pc = 32, .sp = 31, .fp = 29, .lr = 30};
	return (struct arch_regnums){.pc = 16, .sp = 7, .fp = 6, .lr = -1};
}

static const char *arch_str(enum puw_arch arch)
{
	return arch == PUW_ARCH_AARCH64 ? "aarch64" : "x86_64";
}

static void reg_set(struct puw_regs *regs, unsigned dwarf, uint64_t v)
{
	regs->r[dwarf] = v;
	regs->valid |= BIT(dwarf);
}

static struct puw_regs regs_seed(enum puw_arch arch, uint64_t pc, uint64_t sp, uint64_t fp)
{
	struct arch_regnums rn = regnums(arch);
	struct puw_regs regs = {.valid = 0};

	reg_set(&regs, rn.pc, pc);
	reg_set(&regs, rn.sp, sp);
	reg_set(&regs, rn.fp, fp);
	return regs;
}

struct walk_case {
	const char *name;
	enum puw_arch arch;
	const struct synth_stack *stack;
	const struct puw_regs *regs;
	bool no_find_module;
	unsigned max;
	const uint64_t *want;
	size_t n_want;
	enum puw_stop want_stop;
};

/* Runs one unwind and compares PCs and stop reason; names the case on failure. */
static void check_walk(const struct walk_case *c)
{
	struct fake_modules mods = {test_ranges, ARRAY_SIZE(test_ranges), 0};
	struct puw_request req = {
		.arch = c->arch,
		.mode = PUW_MODE_FP,
		.regs = c->regs,
		.stack = c->stack ? c->stack->bytes : NULL,
		.stack_start = c->stack ? c->stack->start : 0,
		.stack_size = c->stack ? c->stack->size : 0,
		.find_module = c->no_find_module ? NULL : fake_find_module,
		.ctx = &mods,
	};
	uint64_t pcs[64 + 1];
	enum puw_stop stop = _PUW_STOP_MAX;
	int before = check_failures;
	unsigned max = c->max ? c->max : 64;
	int n;

	/* A sentinel past max catches any write beyond the caller's buffer. */
	for (size_t i = 0; i < ARRAY_SIZE(pcs); i++)
		pcs[i] = UINT64_C(0xdeadbeefdeadbeef);
	n = puw_unwind(&req, pcs, max, &stop);
	CHECK_EQ_U64(n, c->n_want);
	CHECK_STREQ(puw_stop_name(stop), puw_stop_name(c->want_stop));
	for (size_t i = 0; i < c->n_want && i < (size_t)(n > 0 ? n : 0); i++)
		CHECK_EQ_U64(pcs[i], c->want[i]);
	CHECK_EQ_U64(pcs[max], UINT64_C(0xdeadbeefdeadbeef));
	if (check_failures != before)
		fprintf(stderr, "  ... in case \"%s\" (%s)\n", c->name, arch_str(c->arch));
}

#define WALK(nm, ar, st, rg, mx, stp, ...)                                                         \
	do {                                                                                       \
		static const uint64_t want_[] = {__VA_ARGS__};                                     \
		struct walk_case c_ = {.name = (nm),                                               \
				       .arch = (ar),                                               \
				       .stack = (st),                                              \
				       .regs = (rg),                                               \
				       .max = (mx),                                                \
				       .want = want_,                                              \
				       .n_want = ARRAY_SIZE(want_),                                \
				       .want_stop = (stp)};                                        \
		check_walk(&c_);                                                                   \
	} while (0)

/* A walk that must return no PC at all. */
#define WALK_NONE(nm, ar, st, rg, stp)                                                             \
	do {                                                                                       \
		struct walk_case c_ = {.name = (nm),                                               \
				       .arch = (ar),                                               \
				       .stack = (st),                                              \
				       .regs = (rg),                                               \
				       .want_stop = (stp)};                                        \
		check_walk(&c_);                                                                   \
	} while (0)

/* ---- scenarios shared by both architectures ------------------------------------------ */

/*
 * The canonical chain: sp = start, records at +0x20, +0x80, +0x100, +0x400, the last one
 * ending the chain with a zero frame pointer.
 */
#define FP0 (SYNTH_START + 0x20)
#define FP1 (SYNTH_START + 0x80)
#define FP2 (SYNTH_START + 0x100)
#define FP3 (SYNTH_START + 0x400)

static void build_chain(struct synth_stack *s, size_t misalign)
{
	synth_init(s, misalign);
	synth_record(s, FP0, FP1, RA1);
	synth_record(s, FP1, FP2, RA2);
	synth_record(s, FP2, FP3, RA3);
	synth_record(s, FP3, 0, RA4);
}

static void test_common(enum puw_arch arch)
{
	struct synth_stack s;
	struct puw_regs regs = regs_seed(arch, PC0, SYNTH_START, FP0);

	/* Full chain, bytes misaligned on purpose, ending with fp == 0. */
	build_chain(&s, 1);
	WALK("full chain", arch, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);

	/* fp == sp is a valid first record (`mov %rsp, %rbp` just done / stp x29 at sp). */
	{
		struct puw_regs r = regs_seed(arch, PC0, FP0, FP0);

		WALK("fp equals sp", arch, &s, &r, 0, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);
	}

	/* A record right above its callee's record (next fp == fp + 16) is legal. */
	build_chain(&s, 0);
	synth_record(&s, FP0, FP0 + 16, RA1);
	synth_record(&s, FP0 + 16, 0, RA2);
	WALK("adjacent records", arch, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2);

	/* A zero return address ends the chain too. */
	build_chain(&s, 0);
	synth_record(&s, FP2, FP3, 0);
	WALK("ra zero", arch, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2);

	/* The chain leaves the copy: next record wholly above it, then straddling its end. */
	build_chain(&s, 0);
	synth_record(&s, FP3, SYNTH_START + SYNTH_SIZE + 0x100, RA4);
	WALK("leaves copy", arch, &s, &regs, 0, PUW_STOP_STACK_EXHAUSTED, PC0, RA1, RA2, RA3, RA4);
	synth_record(&s, FP3, SYNTH_START + SYNTH_SIZE - 8, RA4);
	WALK("straddles end", arch, &s, &regs, 0, PUW_STOP_STACK_EXHAUSTED, PC0, RA1, RA2, RA3,
	     RA4);
	synth_record(&s, FP3, UINT64_C(0xfffffffffffffff8), RA4);
	WALK("near 2^64", arch, &s, &regs, 0, PUW_STOP_STACK_EXHAUSTED, PC0, RA1, RA2, RA3, RA4);
	{
		struct puw_regs r = regs_seed(arch, PC0, SYNTH_START, SYNTH_START + 0x10000);

		WALK("first fp outside", arch, &s, &r, 0, PUW_STOP_STACK_EXHAUSTED, PC0);
	}

	/* Non-increasing frame pointers: back to an earlier record, to itself, overlapping. */
	build_chain(&s, 0);
	synth_record(&s, FP2, FP1, RA3);
	WALK("fp goes back", arch, &s, &regs, 0, PUW_STOP_BAD_FP, PC0, RA1, RA2, RA3);
	synth_record(&s, FP2, FP2, RA3);
	WALK("fp loops", arch, &s, &regs, 0, PUW_STOP_BAD_FP, PC0, RA1, RA2, RA3);
	synth_record(&s, FP2, FP2 + 8, RA3);
	WALK("records overlap", arch, &s, &regs, 0, PUW_STOP_BAD_FP, PC0, RA1, RA2, RA3);
	{
		struct puw_regs r = regs_seed(arch, PC0, FP1, FP0);

		WALK("first fp below sp", arch, &s, &r, 0, PUW_STOP_BAD_FP, PC0);
	}

	/* Misaligned frame pointers, in the chain and from the registers. */
	build_chain(&s, 0);
	synth_record(&s, FP2, FP3 + 4, RA3);
	WALK("misaligned fp", arch, &s, &regs, 0, PUW_STOP_BAD_FP, PC0, RA1, RA2, RA3);
	{
		struct puw_regs r = regs_seed(arch, PC0, SYNTH_START, FP0 + 1);

		WALK("misaligned first fp", arch, &s, &r, 0, PUW_STOP_BAD_FP, PC0);
	}

	/* A return address outside every module; accepted when nobody checks. */
	build_chain(&s, 0);
	synth_record(&s, FP1, FP2, NOT_CODE);
	WALK("bad pc", arch, &s, &regs, 0, PUW_STOP_BAD_PC, PC0, RA1);
	{
		struct walk_case c = {
			.name = "bad pc, no find_module",
			.arch = arch,
			.stack = &s,
			.regs = &regs,
			.no_find_module = true,
			.want = (const uint64_t[]){PC0, RA1, NOT_CODE, RA3, RA4},
			.n_want = 5,
			.want_stop = PUW_STOP_END,
		};

		check_walk(&c);
	}
	/* Module ends exactly at the return address: the call before it is inside. */
	synth_record(&s, FP1, FP2, PROG_END);
	WALK("ra at module end", arch, &s, &regs, 0, PUW_STOP_END, PC0, RA1, PROG_END, RA3, RA4);

	/* Depth: never more than max PCs; a buffer that fits exactly still reports END. */
	build_chain(&s, 0);
	WALK("max 1", arch, &s, &regs, 1, PUW_STOP_MAX_DEPTH, PC0);
	WALK("max 3", arch, &s, &regs, 3, PUW_STOP_MAX_DEPTH, PC0, RA1, RA2);
	WALK("max 4", arch, &s, &regs, 4, PUW_STOP_MAX_DEPTH, PC0, RA1, RA2, RA3);
	WALK("max 5 fits", arch, &s, &regs, 5, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);

	/* No stack copy at all: the PC, then the first read leaves the (empty) copy. */
	WALK("no stack", arch, NULL, &regs, 0, PUW_STOP_STACK_EXHAUSTED, PC0);
}

static void test_no_regs(enum puw_arch arch)
{
	struct arch_regnums rn = regnums(arch);
	struct synth_stack s;
	struct puw_regs none = {.valid = 0};
	struct puw_regs pc_only = {.valid = 0};
	struct puw_regs no_pc = regs_seed(arch, PC0, SYNTH_START, FP0);
	uint64_t pcs[4];
	enum puw_stop stop = PUW_STOP_END;
	struct puw_request req = {
		.arch = arch,
		.mode = PUW_MODE_FP,
		.regs = &none,
	};

	build_chain(&s, 0);
	WALK_NONE("no regs", arch, &s, &none, PUW_STOP_NO_REGS);
	reg_set(&pc_only, rn.pc, PC0);
	WALK("pc only", arch, &s, &pc_only, 0, PUW_STOP_NO_REGS, PC0);
	no_pc.valid &= ~BIT(rn.pc);
	WALK_NONE("no pc", arch, &s, &no_pc, PUW_STOP_NO_REGS);

	/* max == 0 with no registers: nothing to write either way. */
	CHECK_EQ_U64(puw_unwind(&req, pcs, 0, &stop), 0);
	CHECK(stop == PUW_STOP_NO_REGS);
}

/* ---- arm64 specifics ------------------------------------------------------------------- */

/* A PAC code in bits 48..54 and a tag in the top byte, as a signed pointer could carry. */
#define PAC_A UINT64_C(0x002a000000000000)
#define PAC_B UINT64_C(0x5a15000000000000)
#define RA_LR UINT64_C(0x405678)

static void test_aarch64_lr(void)
{
	const enum puw_arch a = PUW_ARCH_AARCH64;
	struct synth_stack s;
	struct puw_regs regs;

	build_chain(&s, 0);

	/* Leaf: the caller is only in LR; it comes second, then the x29 chain. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, RA_LR);
	WALK("leaf, caller in LR", a, &s, &regs, 0, PUW_STOP_END, PC0, RA_LR, RA1, RA2, RA3, RA4);

	/* Non-leaf: its record is stored and LR equals the saved x30: not reported twice. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, RA1);
	WALK("non-leaf, LR saved", a, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);

	/* LR not in any module: ignored, the chain still walks. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, NOT_CODE);
	WALK("LR not code", a, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);

	/* LR zero: ignored. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, 0);
	WALK("LR zero", a, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3, RA4);

	/* Outermost leaf: x29 == 0, LR still names the caller. */
	regs = regs_seed(a, PC0, SYNTH_START, 0);
	reg_set(&regs, 30, RA_LR);
	WALK("leaf, x29 zero", a, &s, &regs, 0, PUW_STOP_END, PC0, RA_LR);

	/* Record at x29 unreadable (outside the copy): LR is appended, then the walk stops. */
	regs = regs_seed(a, PC0, SYNTH_START, SYNTH_START + 0x10000);
	reg_set(&regs, 30, RA_LR);
	WALK("leaf, record outside", a, &s, &regs, 0, PUW_STOP_STACK_EXHAUSTED, PC0, RA_LR);

	/* Depth counts the LR frame like any other. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, RA_LR);
	WALK("leaf, max 2", a, &s, &regs, 2, PUW_STOP_MAX_DEPTH, PC0, RA_LR);
	WALK("leaf, max 1", a, &s, &regs, 1, PUW_STOP_MAX_DEPTH, PC0);

	/* PAC-signed return addresses in the records and in LR come out stripped. */
	synth_init(&s, 3);
	synth_record(&s, FP0, FP1, RA1 | PAC_A);
	synth_record(&s, FP1, FP2, RA2 | PAC_B);
	synth_record(&s, FP2, 0, RA3 | PAC_A);
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, RA_LR | PAC_B);
	WALK("PAC stripped", a, &s, &regs, 0, PUW_STOP_END, PC0, RA_LR, RA1, RA2, RA3);

	/* LR and the saved x30 equal once stripped, whatever their PAC bits: one frame. */
	regs = regs_seed(a, PC0, SYNTH_START, FP0);
	reg_set(&regs, 30, RA1 | PAC_B);
	WALK("PAC non-leaf", a, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3);

	/* x86-64 keeps the upper bits: a "signed" address there is just not code. */
	{
		struct puw_regs r = regs_seed(PUW_ARCH_X86_64, PC0, SYNTH_START, FP0);

		WALK("x86 no PAC", PUW_ARCH_X86_64, &s, &r, 0, PUW_STOP_BAD_PC, PC0);
	}
}

/* ---- perf register conversion ------------------------------------------------------- */

static void test_regs_x86_64(void)
{
	const uint64_t want_mask = BIT(1) | BIT(6) | BIT(7) | BIT(8) | BIT(18) | BIT(20) |
				   BIT(21) | BIT(22) | BIT(23);
	/* Values in ascending perf order: BX BP SP IP R10 R12 R13 R14 R15. */
	const uint64_t vals[] = {0xb0, 0xb9, 0x5b, 0x1b, 0x10, 0x12, 0x13, 0x14, 0x15};
	struct puw_regs regs, untouched;
	uint64_t all[24], big_mask;

	CHECK_EQ_U64(puw_arch_perf_regs_mask(PUW_ARCH_X86_64), want_mask);
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, want_mask, vals, ARRAY_SIZE(vals), &regs),
		     0);
	CHECK_EQ_U64(regs.valid, BIT(3) | BIT(6) | BIT(7) | BIT(10) | BIT(12) | BIT(13) | BIT(14) |
					 BIT(15) | BIT(16));
	CHECK_EQ_U64(regs.r[10], 0x10); /* r10: the DRAP register of realigning prologues */
	CHECK_EQ_U64(regs.r[3], 0xb0);	/* rbx */
	CHECK_EQ_U64(regs.r[6], 0xb9);	/* rbp */
	CHECK_EQ_U64(regs.r[7], 0x5b);	/* rsp */
	CHECK_EQ_U64(regs.r[16], 0x1b); /* rip in the return-address column */
	CHECK_EQ_U64(regs.r[12], 0x12);
	CHECK_EQ_U64(regs.r[15], 0x15);

	/* Every perf register: AX..GS, R8..R15; the ones DWARF renumbers land right. */
	for (unsigned i = 0; i < ARRAY_SIZE(all); i++)
		all[i] = 0x1000 + i;
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, BIT(24) - 1, all, 24, &regs), 0);
	CHECK_EQ_U64(regs.r[0], 0x1000); /* AX -> rax */
	CHECK_EQ_U64(regs.r[3], 0x1001); /* BX -> rbx */
	CHECK_EQ_U64(regs.r[2], 0x1002); /* CX -> rcx */
	CHECK_EQ_U64(regs.r[1], 0x1003); /* DX -> rdx */
	CHECK_EQ_U64(regs.r[4], 0x1004); /* SI -> rsi */
	CHECK_EQ_U64(regs.r[5], 0x1005); /* DI -> rdi */
	CHECK_EQ_U64(regs.r[16], 0x1008);
	CHECK_EQ_U64(regs.r[8], 0x1010);       /* R8 */
	CHECK_EQ_U64(regs.r[15], 0x1017);      /* R15 */
	CHECK_EQ_U64(regs.valid, BIT(17) - 1); /* flags and segments have no slot */

	/* A bit without a slot still consumes its value: order is kept after it. */
	big_mask = BIT(8) | BIT(9) | BIT(40);
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, big_mask, all, 3, &regs), 0);
	CHECK_EQ_U64(regs.valid, BIT(16));
	CHECK_EQ_U64(regs.r[16], 0x1000);

	/* Too few values: -EINVAL, output untouched. */
	memset(&untouched, 0x77, sizeof(untouched));
	regs = untouched;
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, want_mask, vals, 7, &regs), -EINVAL);
	CHECK(memcmp(&regs, &untouched, sizeof(regs)) == 0);
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, want_mask, NULL, 0, &regs), -EINVAL);
	CHECK_EQ_U64(puw_regs_from_perf(_PUW_ARCH_MAX, 0, NULL, 0, &regs), -EINVAL);

	/* Empty mask: nothing valid, and an unwind of it reports NO_REGS. */
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_X86_64, 0, NULL, 0, &regs), 0);
	CHECK_EQ_U64(regs.valid, 0);
	WALK_NONE("empty mask", PUW_ARCH_X86_64, NULL, &regs, PUW_STOP_NO_REGS);
}

static void test_regs_aarch64(void)
{
	uint64_t want_mask = 0, vals[14];
	struct puw_regs regs;
	struct synth_stack s;

	for (unsigned i = 19; i <= 32; i++)
		want_mask |= BIT(i);
	CHECK_EQ_U64(puw_arch_perf_regs_mask(PUW_ARCH_AARCH64), want_mask);

	/* x19..x30, sp, pc in ascending perf order; identity numbering into DWARF. */
	for (unsigned i = 0; i < ARRAY_SIZE(vals); i++)
		vals[i] = 0x2000 + 19 + i;
	vals[29 - 19] = FP0;
	vals[30 - 19] = RA1; /* LR == saved x30 of the record at x29 */
	vals[31 - 19] = SYNTH_START;
	vals[32 - 19] = PC0;
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_AARCH64, want_mask, vals, ARRAY_SIZE(vals), &regs),
		     0);
	CHECK_EQ_U64(regs.valid, want_mask);
	CHECK_EQ_U64(regs.r[19], 0x2000 + 19);
	CHECK_EQ_U64(regs.r[28], 0x2000 + 28);
	CHECK_EQ_U64(regs.r[29], FP0);
	CHECK_EQ_U64(regs.r[30], RA1);
	CHECK_EQ_U64(regs.r[31], SYNTH_START);
	CHECK_EQ_U64(regs.r[32], PC0);

	/* Straight from perf values to a walk. */
	build_chain(&s, 0);
	WALK("aarch64 from perf", PUW_ARCH_AARCH64, &s, &regs, 0, PUW_STOP_END, PC0, RA1, RA2, RA3,
	     RA4);

	/* Single low registers keep their slots: X0 and X1. */
	CHECK_EQ_U64(puw_regs_from_perf(PUW_ARCH_AARCH64, BIT(0) | BIT(1), vals, 2, &regs), 0);
	CHECK_EQ_U64(regs.valid, BIT(0) | BIT(1));
	CHECK_EQ_U64(regs.r[1], vals[1]);
}

/* ---- API edges ---------------------------------------------------------------------- */

static void test_api(void)
{
	struct synth_stack s;
	struct puw_regs regs = regs_seed(PUW_ARCH_X86_64, PC0, SYNTH_START, FP0);
	struct puw_request req = {
		.arch = PUW_ARCH_X86_64,
		.mode = PUW_MODE_FP,
		.regs = &regs,
	};
	struct puw_request bad;
	uint64_t pcs[8];
	enum puw_stop stop = PUW_STOP_BAD_CFA;

	build_chain(&s, 0);
	req.stack = s.bytes;
	req.stack_start = s.start;
	req.stack_size = s.size;

	CHECK_EQ_U64(puw_unwind(NULL, pcs, 8, &stop), -EINVAL);
	CHECK_EQ_U64(puw_unwind(&req, pcs, 8, NULL), -EINVAL);
	CHECK_EQ_U64(puw_unwind(&req, NULL, 8, &stop), -EINVAL);
	bad = req;
	bad.regs = NULL;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), -EINVAL);
	bad = req;
	bad.arch = _PUW_ARCH_MAX;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), -EINVAL);
	bad = req;
	bad.mode = _PUW_MODE_MAX;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), -EINVAL);
	bad = req;
	bad.stack = NULL;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), -EINVAL);
	bad = req;
	bad.stack_start = UINT64_MAX - 16;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), -EINVAL);
	CHECK(stop == PUW_STOP_BAD_CFA); /* ret_stop untouched on error */

	/* max == 0 with registers: the buffer is full before the first PC. */
	CHECK_EQ_U64(puw_unwind(&req, NULL, 0, &stop), 0);
	CHECK(stop == PUW_STOP_MAX_DEPTH);
	/* A copy whose last byte is at 2^64 - 1 is representable: allowed. */
	bad = req;
	bad.stack_start = UINT64_MAX - s.size;
	CHECK_EQ_U64(puw_unwind(&bad, pcs, 8, &stop), 1);
	CHECK(stop == PUW_STOP_STACK_EXHAUSTED); /* the record at rbp is far below the copy */

	CHECK_STREQ(puw_stop_name(PUW_STOP_END), "end");
	CHECK_STREQ(puw_stop_name(PUW_STOP_NO_REGS), "no-regs");
	CHECK_STREQ(puw_stop_name(PUW_STOP_STACK_EXHAUSTED), "stack-exhausted");
	CHECK_STREQ(puw_stop_name(PUW_STOP_BAD_FP), "bad-fp");
	CHECK_STREQ(puw_stop_name(PUW_STOP_BAD_PC), "bad-pc");
	CHECK_STREQ(puw_stop_name(PUW_STOP_MAX_DEPTH), "max-depth");
	CHECK_STREQ(puw_stop_name(PUW_STOP_NO_CFI), "no-cfi");
	CHECK_STREQ(puw_stop_name(PUW_STOP_BAD_CFA), "bad-cfa");
	CHECK_STREQ(puw_stop_name(_PUW_STOP_MAX), "unknown");
	CHECK_EQ_U64(puw_arch_perf_regs_mask(_PUW_ARCH_MAX), 0);

#if defined(__x86_64__)
	CHECK(puw_arch_host() == PUW_ARCH_X86_64);
#elif defined(__aarch64__)
	CHECK(puw_arch_host() == PUW_ARCH_AARCH64);
#else
	CHECK(puw_arch_host() == _PUW_ARCH_MAX);
#endif
}

/* ---- self-unwind on an x86-64 host ---------------------------------------------------- */

#if defined(__x86_64__)

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

/* What the chain outer -> a -> b -> c saw of itself. */
static struct {
	uint64_t ip, sp, bp;
	uint64_t ra_in_outer, ra_in_a, ra_in_b; /* __builtin_return_address of a, b, c */
	void *frames[4];
} self;

/* The stack copy lives outside the stack, so copying does not overwrite what it reads. */
static uint8_t self_stack[8192];

/* Text of this test binary, from the default linker script (GNU ld, gold, lld, mold). */
extern const char __executable_start[];
extern const char etext[];

static int self_find_module(void *ctx, uint64_t pc, struct puw_module *ret)
{
	const struct puw_module *text = ctx;

	if (pc < text->start || pc >= text->end)
		return -ENOENT;
	*ret = *text;
	return 0;
}

/*
 * Copies the live stack like the kernel's PERF_SAMPLE_STACK_USER would: bytes above SP,
 * read one by one through a volatile pointer so that neither the compiler nor a sanitizer
 * interceptor treats it as an access to the frames' objects (they are other frames'
 * locals, legitimately readable by an unwinder, not by the C abstract machine).
 */
__attribute__((no_sanitize_address)) static NOINLINE void self_copy_stack(uint64_t sp)
{
	const volatile uint8_t *src = (const volatile uint8_t *)(uintptr_t)sp;

	for (size_t i = 0; i < sizeof(self_stack); i++)
		self_stack[i] = src[i];
}

static NOINLINE int self_c(int x)
{
	uint64_t ip, sp, bp;

	self.frames[3] = __builtin_frame_address(0);
	/* rip of this instruction's neighbour, and the stack and frame pointers, in one go. */
	__asm__ volatile("lea 0(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	self.ip = ip;
	self.sp = sp;
	self.bp = bp;
	self.ra_in_b = (uint64_t)(uintptr_t)__builtin_return_address(0);
	self_copy_stack(sp);
	return x + 3;
}

static NOINLINE int self_b(int x)
{
	self.frames[2] = __builtin_frame_address(0);
	self.ra_in_a = (uint64_t)(uintptr_t)__builtin_return_address(0);
	return self_c(x * 5) + 2; /* work after the call: no tail call */
}

static NOINLINE int self_a(int x)
{
	self.frames[1] = __builtin_frame_address(0);
	self.ra_in_outer = (uint64_t)(uintptr_t)__builtin_return_address(0);
	return self_b(x * 7) - 1;
}

/*
 * 12 KiB of locals between a's frame and this frame's record: the 8 KiB copy ends inside
 * them, so the walk has a known end (the next record lies beyond the copy), and the copy
 * never reaches past the top of the real stack.
 */
static NOINLINE int self_outer(int x)
{
	volatile uint8_t pad[12 * 1024];

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = (uint8_t)i;
	self.frames[0] = __builtin_frame_address(0);
	return self_a(x + pad[1]) * 11;
}

/* True when pc lies in the function starting at fn (these functions are small). */
static bool in_function(uint64_t pc, uintptr_t fn)
{
	uint64_t start = fn;

	return pc > start && pc < start + 1024;
}

static void test_self_unwind(void)
{
	struct puw_module text = {
		.start = (uint64_t)(uintptr_t)__executable_start,
		.end = (uint64_t)(uintptr_t)etext,
	};
	struct puw_regs regs = {.valid = 0};
	struct puw_request req = {
		.arch = puw_arch_host(),
		.mode = PUW_MODE_FP,
		.regs = &regs,
		.stack = self_stack,
		.stack_size = sizeof(self_stack),
		.find_module = self_find_module,
		.ctx = &text,
	};
	uint64_t pcs[16];
	enum puw_stop stop = PUW_STOP_END;
	int n;

	CHECK_EQ_U64(self_outer(1), ((1 + 1) * 7 * 5 + 3 + 2 - 1) * 11);

	req.stack_start = self.sp;
	reg_set(&regs, 16, self.ip);
	reg_set(&regs, 7, self.sp);
	reg_set(&regs, 6, self.bp);
	CHECK_EQ_U64(self.bp, (uint64_t)(uintptr_t)self.frames[3]);

	n = puw_unwind(&req, pcs, ARRAY_SIZE(pcs), &stop);
	CHECK_EQ_U64(n, 4);
	CHECK_STREQ(puw_stop_name(stop), "stack-exhausted");
	if (n < 4)
		return;
	CHECK_EQ_U64(pcs[0], self.ip);
	CHECK(in_function(pcs[0], (uintptr_t)self_c));
	CHECK_EQ_U64(pcs[1], self.ra_in_b);
	CHECK(in_function(pcs[1], (uintptr_t)self_b));
	CHECK_EQ_U64(pcs[2], self.ra_in_a);
	CHECK(in_function(pcs[2], (uintptr_t)self_a));
	CHECK_EQ_U64(pcs[3], self.ra_in_outer);
	CHECK(in_function(pcs[3], (uintptr_t)self_outer));
}

#endif /* __x86_64__ */

int main(void)
{
	test_common(PUW_ARCH_X86_64);
	test_common(PUW_ARCH_AARCH64);
	test_no_regs(PUW_ARCH_X86_64);
	test_no_regs(PUW_ARCH_AARCH64);
	test_aarch64_lr();
	test_regs_x86_64();
	test_regs_aarch64();
	test_api();
#if defined(__x86_64__)
	test_self_unwind();
#endif
	return check_finish("test-unwind-fp");
}
