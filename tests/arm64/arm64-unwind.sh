#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# arm64 unwinding on any host: runs the cross-compiled fixtures (tests/arm64/arm64.mk) under
# qemu-aarch64 — natively on an arm64 host — and replays their snapshots with puw as
# PUW_ARCH_AARCH64 (replay-arm64), against the chains libgcc's unwinder recorded.
#
# Gates (at least 99.9 % of the expected frames must agree):
#   cfi, auto  every fixture, every scenario;
#   fp         the fixtures built with frame pointers, on the scenarios a frame-pointer walk
#              can get right. The others are printed as figures, not judged: stale-lr and
#              same-site (x30 is ambiguous without CFI), signal (the frame record in an arm64
#              signal frame holds the interrupted x30, not its pc: a frame-pointer walk loses
#              the interrupted function), sampled (all of these at arbitrary instructions,
#              plus prologues and epilogues).
#
# The PAC variants (*-pac) run on "-cpu max", which implements pointer authentication; the
# others on a Cortex-A72 (ARMv8.0, where PACIASP/AUTIASP are NOPs: qemu-aarch64's default CPU
# is "max" too). The cfi and auto runs check that the PAC variants' stacks hold signed return
# addresses and the others' do not. ARM64_UNWIND_KEEP=DIR keeps the snapshots there.
#
# The second oracle, libdw: diff-unwind (tests/diff/) replays every snapshot with puw (cfi)
# and elfutils' libdwfl, which unwinds arm64 on this x86-64 host (its aarch64 backend is
# built in): the fixture and the sysroot's libc and loader reported at the snapshot's
# mapping addresses, registers and stack from the snapshot. Gated at the same 99.9 % of
# frames where libdw completes; every disagreement is listed, and so are the first samples
# libdw does not complete. libdw 0.188 (Debian 12) does not complete two kinds of sample,
# which are then not compared (its chain is cut at the impossible PC, stop bad-pc):
#   - PAC-signed return addresses (the *-pac fixtures, once a frame with a signed RA is
#     crossed): libdw returns them with the signature bits above bit 47 still set, a PC in
#     no mapping; puw and libgcc strip them (DW_CFA_AARCH64_negate_ra_state);
#   - qemu-user's signal trampoline ("[sigtramp]", below): no file, so no CFI for libdw; its
#     frame-pointer fallback (elfutils backends/aarch64_unwind.c) cannot cross a signal
#     frame and ends on a stack address.
# libunwind is not an oracle here: Debian's libunwind-dev is built for the host only
# (libunwind-x86_64; no libunwind for a remote aarch64 target in the archive —
# `apt-cache search libunwind` lists LLVM's libunwind-NN, which has no remote API, and
# android-libunwind, built for the host too), so diff-unwind reports it "n/a".
#
# qemu-user's trampoline: qemu before 8.1 returns from a guest signal handler through
# "movz x8, #139; svc #0" written at the start of an anonymous page of its own, where Linux
# uses __kernel_rt_sigreturn in the vDSO. The fixture names that page "[sigtramp]" after
# checking the two instructions, and the replays (replay-arm64, tests/diff/replay.c) give it
# CFI compiled from the trampoline alone (puw's sigreturn row: the kernel's rt_sigframe
# layout, which qemu reproduces). That stays test code on purpose: the daemon never sees an
# emulated guest's trampoline (perf samples qemu-user's own x86-64 registers and stack), and
# on a real arm64 kernel the trampoline is the vDSO's, whose CFI the daemon loads from the
# vDSO image like any binary's.
#
# Skips (fails under CI=true) without the cross compilers (the fixtures are then not built),
# without qemu-aarch64 on a non-arm64 host, or without the arm64 sysroot.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

B=$top_builddir/tests/arm64
REPLAY=$B/replay-arm64
DIFF=$top_builddir/tests/diff/diff-unwind
QEMU=${QEMU_AARCH64:-qemu-aarch64}
SYSROOT=${ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
FP_LIMITS="stale-lr same-site signal sampled"
MIN=99.9

[ -x "$REPLAY" ] || fail "$REPLAY not built"
[ -x "$DIFF" ] || fail "$DIFF not built"
FIXTURES=""
for f in fixture-fp fixture-nofp fixture-fp-pac fixture-nofp-pac fixture-eh-fp fixture-eh-nofp-pac; do
	[ -x "$B/$f" ] || skip "arm64 fixture $B/$f not built: install gcc-aarch64-linux-gnu and g++-aarch64-linux-gnu (make check then builds them)"
	FIXTURES="$FIXTURES $f"
done

# Whether the PAC variants sign: on qemu's "-cpu max" they do; natively only on a CPU with
# address authentication (the "paca" hwcap).
PAC_SIGNS=yes
if [ "$(uname -m)" = aarch64 ]; then
	# Natively: the files in the snapshots are this machine's own.
	run() { shift; "$@"; }
	SYSROOT=/
	grep -qw paca /proc/cpuinfo 2>/dev/null || PAC_SIGNS=no
else
	require_cmd "$QEMU"
	[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] ||
		skip "no arm64 sysroot at $SYSROOT: install libc6-dev-arm64-cross (comes with gcc-aarch64-linux-gnu) or set ARM64_SYSROOT"
	run() { cpu=$1; shift; "$QEMU" -cpu "$cpu" -L "$SYSROOT" "$@"; }
fi

if [ -n "${ARM64_UNWIND_KEEP:-}" ]; then
	OUT=$ARM64_UNWIND_KEEP
	mkdir -p "$OUT" || exit 99
else
	make_tmpdir
	OUT=$TEST_TMP
fi

echo "== fixtures (qemu: $QEMU, sysroot: $SYSROOT)"
for f in $FIXTURES; do
	case $f in
	*-pac) cpu=max ;;
	*) cpu=cortex-a72 ;;
	esac
	rm -rf "${OUT:?}/$f"
	mkdir -p "$OUT/$f" || exit 99
	echo "-- $f (-cpu $cpu)"
	run "$cpu" "$B/$f" "$OUT/$f" || fail "$f exited with status $?"
done

failed=0
SUMMARY=""
# replay LABEL MODE GATED [REPLAY-OPTION...] -- FILE...: one replay run, summed up at the end.
replay() {
	label=$1 mode=$2 gated=$3
	shift 3
	opts=""
	while [ "$1" != -- ]; do
		opts="$opts $1"
		shift
	done
	shift
	[ $# -gt 0 ] || return 0
	if [ "$gated" = yes ]; then
		echo "== $label [$mode], gated at $MIN %"
		# shellcheck disable=SC2086 # $opts: several words
		"$REPLAY" --mode "$mode" --sysroot "$SYSROOT" --min-agreement "$MIN" $opts "$@" \
			>"$OUT/replay.out"
	else
		echo "== $label [$mode], figures only"
		"$REPLAY" --mode "$mode" --sysroot "$SYSROOT" --min-agreement 0 --quiet "$@" \
			>"$OUT/replay.out"
	fi
	rc=$?
	sed "s|$OUT/||g" "$OUT/replay.out"
	total=$(sed -n 's/^total \[[a-z]*\]: \(.*\); [0-9]* frames beyond.*/\1/p' "$OUT/replay.out")
	note=""
	[ "$gated" = yes ] || note=" (not gated)"
	SUMMARY="$SUMMARY
$label [$mode]$note: $total"
	case $rc in
	0) ;;
	99)
		echo "replay-arm64 could not read its input" >&2
		exit 99
		;;
	*) [ "$gated" = yes ] && failed=1 ;;
	esac
}

is_limit() {
	for l in $FP_LIMITS; do
		[ "$1" = "$l" ] && return 0
	done
	return 1
}

fp_gated="" fp_limits="" nofp=""
for f in $FIXTURES; do
	for s in "$OUT/$f"/*.snap; do
		case $f in
		*-nofp*) nofp="$nofp $s" ;;
		*)
			if is_limit "$(basename "$s" .snap)"; then
				fp_limits="$fp_limits $s"
			else
				fp_gated="$fp_gated $s"
			fi
			;;
		esac
	done
done

# shellcheck disable=SC2086 # word splitting of the file lists is wanted
{
	replay "frame-pointer fixtures" fp yes -- $fp_gated
	replay "frame-pointer fixtures, FP limits" fp no -- $fp_limits
	replay "no-frame-pointer fixtures" fp no -- $nofp
	for mode in cfi auto; do
		for f in $FIXTURES; do
			case $f in
			*-pac) pac=$PAC_SIGNS ;;
			*) pac=no ;;
			esac
			replay "$f" $mode yes --expect-pac $pac -- "$OUT/$f"/*.snap
		done
	done
}

all=""
for f in $FIXTURES; do
	all="$all $OUT/$f/*.snap"
done
echo "== libdw: every fixture [cfi], gated at $MIN % of the frames where libdw completes"
# shellcheck disable=SC2086 # $all: several globs
"$DIFF" --mode cfi --sysroot "$SYSROOT" --min-agreement "$MIN" --list-incomplete --max-list 4 \
	$all >"$OUT/diff.out"
drc=$?
sed "s|$OUT/||g" "$OUT/diff.out"
[ $drc = 99 ] && exit 99
dw=$(sed -n 's/^ *puw vs libdw *\([0-9.]* % of [0-9]* frames\).*/\1/p' "$OUT/diff.out" | tail -1)
dwc=$(sed -n '/^== all files/,$s/^ *complete (end|stack-end) *[0-9]* *[0-9]* *\([0-9]*\)$/\1/p' \
	"$OUT/diff.out")
SUMMARY="$SUMMARY
libdw [cfi]: puw agrees on $dw; libdw completed ${dwc:-?} samples"

echo "== summary$SUMMARY"
[ $drc = 0 ] || fail "puw's arm64 chains agree with libdw's (where it completes) or libgcc's on fewer than $MIN % of the frames (diff-unwind's verdict above)"
[ $failed = 0 ] || fail "puw's arm64 chains agree with libgcc's on fewer than $MIN % of the frames (mismatches above)"
exit 0
