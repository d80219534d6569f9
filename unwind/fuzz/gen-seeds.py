#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes seed inputs for the puw fuzz targets (unwind/fuzz/fuzz-*.c), in their formats.

  gen-seeds.py OUTDIR [--max-bytes N] [ELF...]

OUTDIR receives corpus-cfi-compile/, corpus-unwind/ and corpus-expr/:

  cfi-compile  windows of the .eh_frame/.debug_frame of the ELF files given (whole entries,
               re-encoded so that every FDE still finds its CIE and its address), plus
               truncated and byte-flipped variants, and .debug_frame built here by the
               host and cross compilers when they are installed
  unwind       hand-assembled CFI blobs with stacks that walk through them (x86-64 and
               arm64: frame pointers, CFI, a signal frame, a PLT entry, perf registers)
  expr         DWARF expressions in each place fuzz-expr puts them

Deterministic: the same files give the same seeds. The committed corpora (small: a few KiB
per file) come from `gen-seeds.py unwind/fuzz --max-bytes 3072` with the binaries listed in
unwind/fuzz/README.md; the stack captures of fuzz-unwind's own process are written by the
target itself (PUW_FUZZ_UNWIND_SEED=DIR).
"""
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

# ---- little encoders -------------------------------------------------------------------


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


def uleb(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def sleb(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        done = (v == 0 and not b & 0x40) or (v == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


# ---- ELF sections ----------------------------------------------------------------------


def elf_sections(path):
    """{name: (addr, bytes)} of a 64-bit little-endian ELF file, and its machine."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        return None, {}
    machine = struct.unpack_from('<H', data, 18)[0]
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
    hdrs = []
    for i in range(shnum):
        name, typ, flags, addr, off, size = struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize)
        hdrs.append((name, typ, addr, off, size))
    stroff = hdrs[shstrndx][3]
    out = {}
    for name, typ, addr, off, size in hdrs:
        end = data.index(b'\0', stroff + name)
        sname = data[stroff + name:end].decode()
        body = b'' if typ == 8 else data[off:off + size]  # SHT_NOBITS
        out[sname] = (addr, body)
    return machine, out


EM_X86_64 = 62
EM_AARCH64 = 183

# ---- CFI entries -----------------------------------------------------------------------


def entries(sec, eh):
    """(offset, total length, is_cie, cie_offset) of each 32-bit-format entry."""
    pos = 0
    while pos + 4 <= len(sec):
        length, = struct.unpack_from('<I', sec, pos)
        if length == 0:
            if eh:
                return
            pos += 4
            continue
        if length >= 0xfffffff0 or pos + 4 + length > len(sec):
            return
        cid, = struct.unpack_from('<I', sec, pos + 4)
        if eh:
            is_cie = cid == 0
            cie = pos + 4 - cid if not is_cie else pos
        else:
            is_cie = cid == 0xffffffff
            cie = cid if not is_cie else pos
        yield pos, 4 + length, is_cie, cie
        pos += 4 + length


def cie_fde_enc(sec, off):
    """The FDE pointer encoding of the CIE at off ('R' augmentation), absptr without."""
    p = off + 9
    aug_end = sec.index(b'\0', p)
    aug = sec[p:aug_end].decode('latin-1')
    p = aug_end + 1
    for _ in range(3):  # code align, data align (LEBs), return address column
        while sec[p] & 0x80:
            p += 1
        p += 1
    if not aug.startswith('z'):
        return 0
    while sec[p] & 0x80:
        p += 1
    p += 1
    for c in aug[1:]:
        if c == 'R':
            return sec[p]
        if c == 'L':
            p += 1
        elif c == 'P':
            return None  # not needed by the windows: skip such CIEs
        elif c in 'SBG':
            continue
        else:
            return None
    return 0


def eh_window(sec, sec_addr, start, max_bytes):
    """Whole entries from the first FDE at or after start, each with its CIE copied in front
    of it once, rewritten for a section placed at sec_addr: CIE pointers and pcrel sdata4
    begin addresses re-encoded. Returns the bytes with a zero terminator."""
    out = bytearray()
    placed = {}  # old CIE offset -> new offset
    for off, length, is_cie, cie in entries(sec, True):
        if off < start or is_cie:
            continue
        enc = cie_fde_enc(sec, cie) if 0 <= cie < len(sec) else None
        if enc != 0x1b:
            continue
        cie_len = struct.unpack_from('<I', sec, cie)[0] + 4
        need = length + (0 if cie in placed else cie_len)
        if len(out) + need + 4 > max_bytes:
            break
        if cie not in placed:
            placed[cie] = len(out)
            out += sec[cie:cie + cie_len]
        new = len(out)
        fde = bytearray(sec[off:off + length])
        struct.pack_into('<I', fde, 4, new + 4 - placed[cie])
        # pc_begin: pcrel sdata4 at entry + 8 in the old and the new section.
        rel, = struct.unpack_from('<i', fde, 8)
        target = sec_addr + off + 8 + rel
        struct.pack_into('<i', fde, 8, (target - (sec_addr + new + 8) + 2**31) % 2**32 - 2**31)
        out += fde
    return bytes(out + u32(0))


def cfi_compile_input(arch, eh=b'', eh_addr=0, dbg=b'', text=0, data=0, sig_addr=0, sig_size=0):
    ctl = (1 if arch == 'arm64' else 0) | (0 if eh else 2) | (0 if dbg else 4) | (8 if sig_size else 0)
    return (u8(ctl) + u64(eh_addr) + u64(text) + u64(data) + u64(sig_addr) + u16(sig_size) +
            u32(len(eh)) + eh + dbg)


# ---- a small CFI assembler -------------------------------------------------------------

DW_CFA_nop = b'\x00'


def adv(n):
    return u8(0x40 | n)


def offset(reg, n):
    return u8(0x80 | reg) + uleb(n) if reg < 64 else b'\x05' + uleb(reg) + uleb(n)


def def_cfa(reg, off):
    return b'\x0c' + uleb(reg) + uleb(off)


def def_cfa_offset(off):
    return b'\x0e' + uleb(off)


def def_cfa_register(reg):
    return b'\x0d' + uleb(reg)


def def_cfa_expr(expr):
    return b'\x0f' + uleb(len(expr)) + expr


def undefined(reg):
    return b'\x07' + uleb(reg)


class EhFrame:
    """An .eh_frame at address addr: CIEs with "zR" (or "zRS") and pcrel sdata4 pointers."""

    def __init__(self, addr):
        self.addr = addr
        self.b = bytearray()

    def _entry(self, body):
        while (len(body) + 4) % 8:
            body += DW_CFA_nop
        at = len(self.b)
        self.b += u32(len(body)) + body
        return at

    def cie(self, ra, code_align, data_align, insns, signal=False):
        aug = b'zRS\0' if signal else b'zR\0'
        body = u32(0) + u8(1) + aug + uleb(code_align) + sleb(data_align) + u8(ra)
        body += uleb(1) + u8(0x1b) + insns
        return self._entry(bytearray(body))

    def fde(self, cie, begin, length, insns):
        at = len(self.b)
        ptr = at + 4 - cie
        field = self.addr + at + 8
        body = u32(ptr) + u32(begin - field) + u32(length) + uleb(0) + insns
        return self._entry(bytearray(body))

    def bytes(self):
        return bytes(self.b + u32(0))


# ---- fuzz-unwind inputs ----------------------------------------------------------------


class Stack:
    def __init__(self, start, size):
        self.start = start
        self.b = bytearray(size)

    def put(self, addr, v):
        struct.pack_into('<Q', self.b, addr - self.start, v & 0xffffffffffffffff)


def unwind_input(arch, mode, regs, stack, blob=b'', blob_mod=(0, 0, 0), blob_eh_addr=0,
                 jit=(0, 0), self_mod=False, no_find=False, cache=False, small=4,
                 perf=False, no_stats=False, debug_frame=False, sigreturn=(0, 0)):
    modes = {'fp': 0, 'auto': 1, 'cfi': 2}
    ctl = (1 if arch == 'arm64' else 0) | modes[mode] << 1 | (8 if no_find else 0)
    ctl |= (16 if cache else 0) | (32 if self_mod else 0) | (64 if blob_mod[1] else 0)
    ctl |= 128 if jit[1] else 0
    ctl2 = (small & 15) | (16 if perf else 0) | (32 if no_stats else 0) | (64 if debug_frame else 0)
    ctl2 |= 128 if sigreturn[1] else 0
    valid = 0
    for r in regs:
        valid |= 1 << r
    out = u8(ctl) + u8(ctl2) + u64(valid) + u64(stack.start)
    out += u64(blob_mod[0]) + u32(blob_mod[1]) + u64(blob_mod[2]) + u64(blob_eh_addr)
    out += u64(jit[0]) + u32(jit[1]) + u16(len(blob)) + u64(sigreturn[0]) + u16(sigreturn[1])
    for r in sorted(regs):
        out += u64(regs[r])
    return out + blob + bytes(stack.b)


X86_CIE = def_cfa(7, 8) + offset(16, 1)  # CFA rsp + 8, return address at CFA - 8


def x86_blob(addr):
    """F [0x1000, 0x1100): push rbp; mov rbp, rsp.  G [0x1100, 0x1200): sub rsp, 24 without
    a frame pointer.  S [0x1200, 0x1300): _start, return address undefined.  P [0x1300,
    0x1340): a PLT.  T [0x1380, 0x13c0): a signal trampoline ("S", glibc's CFA rule)."""
    eh = EhFrame(addr)
    cie = eh.cie(16, 1, -8, X86_CIE)
    eh.fde(cie, 0x1000, 0x100, adv(1) + def_cfa_offset(16) + offset(6, 2) + adv(3) + def_cfa_register(6))
    eh.fde(cie, 0x1100, 0x100, adv(4) + def_cfa_offset(32))
    eh.fde(cie, 0x1200, 0x100, undefined(16))
    plt = b'\x77\x08\x80\x00\x3f\x1a\x3b\x2a\x33\x24\x22'
    eh.fde(cie, 0x1300, 0x40, def_cfa_offset(16) + adv(6) + def_cfa_expr(plt))
    sig = eh.cie(16, 1, -8, b'', signal=True)
    eh.fde(sig, 0x137f, 0x41, def_cfa_expr(b'\x77\xa0\x01\x06'))
    return eh.bytes()


def arm64_blob(addr):
    """A [0x2000, 0x2100): stp x29, x30, [sp, -32]!; mov x29, sp.  B [0x2100, 0x2200): a
    leaf, the return address still in x30.  C [0x2200, 0x2300): signed return address
    (negate_ra_state), then a frame like A's."""
    eh = EhFrame(addr)
    cie = eh.cie(30, 4, -8, def_cfa(31, 0))
    eh.fde(cie, 0x2000, 0x100, adv(1) + def_cfa_offset(32) + offset(29, 4) + offset(30, 3) + adv(1) + def_cfa_register(29))
    eh.fde(cie, 0x2100, 0x100, b'')
    eh.fde(cie, 0x2200, 0x100, b'\x2d' + adv(1) + def_cfa_offset(16) + offset(29, 2) + offset(30, 1))
    return eh.bytes()


def unwind_seeds():
    seeds = {}
    S = 0x7ffe0000
    # x86-64 through the blob: G (sp-based) -> F (rbp-based) -> _start.
    st = Stack(S, 512)
    st.put(S + 24, 0x1010)          # G's return address: into F after its prologue
    st.put(S + 40, S + 96)          # F's saved rbp
    st.put(S + 48, 0x1210)          # F's return address: into _start
    regs = {16: 0x1110, 7: S, 6: S + 40, 3: 1, 12: 2, 13: 3, 14: 4, 15: 5}
    blob = x86_blob(0x800)
    for mode in ('cfi', 'auto', 'fp'):
        seeds['x86-blob-' + mode] = unwind_input('x86', mode, regs, st, blob, (0x1000, 0x1000, 0), 0x800)
    seeds['x86-blob-cache'] = unwind_input('x86', 'cfi', regs, st, blob, (0x1000, 0x1000, 0), 0x800,
                                           cache=True, small=1)
    # The same at a load bias, with a JIT mapping the frame-pointer fallback walks through.
    bias = 0x555555550000
    st = Stack(S, 512)
    st.put(S + 24, bias + 0x1010)
    st.put(S + 40, S + 64)
    st.put(S + 48, 0x7f0000001234)  # into the JIT code
    st.put(S + 64, S + 128)
    st.put(S + 72, 0x7f0000005678)
    st.put(S + 128, 0)
    regs = {16: bias + 0x1110, 7: S, 6: S + 40}
    seeds['x86-bias-jit-auto'] = unwind_input('x86', 'auto', regs, st, blob, (bias + 0x1000, 0x1000, bias),
                                              0x800, jit=(0x7f0000000000, 0x10000), small=2)
    # Interrupted in a PLT entry after its push: CFA = rsp + 16.
    st = Stack(S, 256)
    st.put(S + 8, 0x1010)
    regs = {16: 0x130b, 7: S, 6: S + 128}
    seeds['x86-plt'] = unwind_input('x86', 'cfi', regs, st, blob, (0x1000, 0x1000, 0), 0x800)
    # A signal trampoline: the interrupted context from the kernel's rt_sigframe at rsp
    # (uc_mcontext at +40: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
    st = Stack(S, 1024)
    order = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx',
             'rax', 'rcx', 'rsp', 'rip']
    vals = {'rbp': S + 0x200, 'rsp': S + 0x300, 'rip': 0x1110}
    for i, name in enumerate(order):
        st.put(S + 40 + 8 * i, vals.get(name, 0))
    st.put(S + 0x300 + 24, 0x1210)
    regs = {16: 0x1380, 7: S, 6: 0}
    seeds['x86-sigframe'] = unwind_input('x86', 'auto', regs, st, blob, (0x1000, 0x1000, 0), 0x800)
    # Frame pointers only, registers the way perf delivers them (mask bits: bp 6, sp 7, ip 8).
    st = Stack(S, 256)
    st.put(S + 16, S + 48)
    st.put(S + 24, 0x401234)
    st.put(S + 48, 0)
    st.put(S + 56, 0x401000)
    perf = {6: S + 16, 7: S, 8: 0x400100}
    seeds['x86-fp-perf'] = unwind_input('x86', 'fp', perf, st, jit=(0x400000, 0x10000), perf=True, small=1)
    seeds['x86-fp-nofind'] = unwind_input('x86', 'fp', {16: 0x400100, 7: S, 6: S + 16}, st, no_find=True,
                                          no_stats=True)
    seeds['x86-noregs'] = unwind_input('x86', 'auto', {}, Stack(S, 16))
    # arm64: leaf B (return address in x30) -> A (frame record) -> JIT, by frame pointer.
    st = Stack(S, 512)
    st.put(S + 0, S + 64)             # A's frame record at its sp: saved x29, x30
    st.put(S + 8, 0x3000010)
    st.put(S + 64, 0)
    st.put(S + 72, 0x3000100)
    regs = {32: 0x2110, 31: S, 29: S, 30: 0x2008, 19: 7}
    blob = arm64_blob(0x1800)
    for mode in ('cfi', 'auto', 'fp'):
        seeds['arm64-blob-' + mode] = unwind_input('arm64', mode, regs, st, blob, (0x2000, 0x1000, 0), 0x1800,
                                                   jit=(0x3000000, 0x10000))
    # A signed return address in the saved x30 (PAC bits above bit 48).
    st = Stack(S, 256)
    st.put(S + 8, 0x002d000000002008)
    regs = {32: 0x2208, 31: S, 29: S + 128, 30: 0x002d000000002008}
    seeds['arm64-pac'] = unwind_input('arm64', 'cfi', regs, st, blob, (0x2000, 0x1000, 0), 0x1800,
                                      cache=True)
    # The vDSO's __kernel_rt_sigreturn, named by the caller: the interrupted context from the
    # kernel's rt_sigframe at sp (x0..x30, sp, pc at sp + 312), then the leaf B it interrupted.
    st = Stack(S, 2048)
    for i in range(31):
        st.put(S + 312 + 8 * i, 0)
    st.put(S + 312 + 8 * 29, S + 0x700)
    st.put(S + 312 + 8 * 30, 0x2008)
    st.put(S + 312 + 8 * 31, S + 0x700)
    st.put(S + 312 + 8 * 32, 0x2110)
    st.put(S + 0x700, 0)
    st.put(S + 0x708, 0x3000010)
    regs = {32: 0x2304, 31: S, 29: 0, 30: 0x1234}
    seeds['arm64-sigframe'] = unwind_input('arm64', 'auto', regs, st, blob, (0x2000, 0x1000, 0), 0x1800,
                                           jit=(0x3000000, 0x10000), sigreturn=(0x2304, 8))
    # perf registers: x0..x30, sp, pc all present.
    st = Stack(S, 128)
    st.put(S, 0)
    st.put(S + 8, 0x2004)
    perf = {i: 0 for i in range(31)}
    perf.update({29: S, 30: 0x2104, 31: S, 32: 0x2008})
    seeds['arm64-perf'] = unwind_input('arm64', 'auto', perf, st, blob, (0x2000, 0x1000, 0), 0x1800, perf=True)
    return seeds


# ---- fuzz-expr inputs ------------------------------------------------------------------


def expr_input(arch, place, regs, stack, expr, pc_off=0x10, auto=False, cache=False):
    ctl = (1 if arch == 'arm64' else 0) | place << 1 | (8 if auto else 0) | (16 if cache else 0)
    pc = 16 if arch == 'x86' else 32
    valid = 0
    for r in regs:
        valid |= 1 << r
    out = u8(ctl) + u64(valid) + u64(stack.start) + u16(pc_off) + u16(len(expr))
    for r in sorted(regs):
        if r != pc:
            out += u64(regs[r])
    return out + expr + bytes(stack.b)


def expr_seeds():
    S = 0x7ffd0000
    seeds = {}
    st = Stack(S, 256)
    st.put(S + 8, 0x10100)      # a return address inside the FDE
    st.put(S + 24, 0x400010)    # one inside the module without CFI
    st.put(S + 32, S + 16)      # a saved CFA (DRAP)
    st.put(S + 40, 0x10200)
    x86 = {7: S, 6: S + 32, 3: 0}
    arm = {31: S, 29: S + 32, 19: 0, 30: 0x10040}
    exprs = {
        'breg-sp': b'\x77\x10',                                 # rsp + 16
        'drap': b'\x76\x00\x06',                                # *(rbp + 0)
        'bregx-deref': b'\x92\x07\x20\x06',                     # *(bregx 7 32)
        'plt': b'\x77\x08\x80\x00\x3f\x1a\x3b\x2a\x33\x24\x22',
        'arith': b'\x77\x00\x08\x20\x22\x31\x1c\x10\x0f\x1a\x20\x1a',
        'stack-ops': b'\x77\x10\x12\x14\x16\x17\x13\x13\x15\x00\x13',
        'consts': b'\x08\xff\x09\xff\x0a\xff\xff\x0b\x00\x80\x0c\x01\x00\x00\x00\x0d\xff\xff\xff\xff'
                  b'\x0e' + u64(S + 16) + b'\x0f' + u64(-1) + b'\x10\x80\x01\x11\x7f\x13\x13\x13\x13\x13\x13\x13\x13',
        'compare': b'\x77\x10\x31\x30\x29\x31\x2a\x22\x31\x2b\x22\x31\x2c\x22\x31\x2d\x22\x31\x2e\x22'
                   b'\x1c\x1c\x1c\x1c\x1c\x1c',
        'div-mod': b'\x77\x10\x12\x32\x1b\x32\x1e\x1c\x12\x30\x1d\x1c',
        'div-zero': b'\x77\x10\x30\x1b',
        'shifts': b'\x77\x10\x31\x24\x31\x25\x31\x26\x40\x24\x22',
        'branch': b'\x77\x10\x31\x28\x02\x00\x30\x30\x2f\x00\x00\x96',
        'loop': b'\x30\x2f\xfd\xff',                             # skip back forever: the op limit
        'overflow': b'\x30' * 17,                               # the stack limit
        'underflow': b'\x13',
        'deref-size': b'\x77\x08\x94\x04\x77\x08\x94\x08\x22',
        'deref-out': b'\x77\x80\x7f\x06',
        'call-frame-cfa': b'\x9c\x38\x1c',
        'unknown-op': b'\x03' + u64(S),
        'reg-op': b'\x57',
        'abs-neg-not': b'\x77\x10\x1f\x19\x20\x20',
        'long-sleb': b'\x77\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00',
        'bad-reg': b'\x92\x40\x00',
        # Regressions: a 9-byte sleb128 offset reaching bit 63 in the patterns the compiler
        # matches (undefined signed shifts in match_deref() and match_plt()).
        'deref-sleb63': b'\x77' + b'\x80' * 8 + b'\x40\x06',
        'plt-sleb63': b'\x77' + b'\xff' * 8 + b'\x7f\x80\x00\x3f\x1a\x3b\x2a\x33\x24\x22',
    }
    for name, e in exprs.items():
        seeds['x86-cfa-' + name] = expr_input('x86', 0, x86, st, e)
    for name in ('call-frame-cfa', 'breg-sp', 'deref-size', 'loop'):
        e = exprs[name]
        seeds['x86-ra-at-' + name] = expr_input('x86', 1, x86, st, e)
        seeds['x86-ra-val-' + name] = expr_input('x86', 2, x86, st, e, auto=True)
        seeds['x86-reg-at-' + name] = expr_input('x86', 3, x86, st, e, cache=True)
    for name in ('breg-sp', 'drap', 'bregx-deref', 'call-frame-cfa', 'arith'):
        e = exprs[name].replace(b'\x77', b'\x8f').replace(b'\x76', b'\x8d')  # sp 31, x29
        if name == 'bregx-deref':
            e = b'\x92\x1f\x20\x06'
        for place in range(4):
            seeds['arm64-%d-%s' % (place, name)] = expr_input('arm64', place, arm, st, e)
    seeds['x86-cfa-too-long'] = expr_input('x86', 0, x86, st, b'\x77\x10' + b'\x96' * 520)
    return seeds


# ---- cfi-compile inputs ----------------------------------------------------------------


def debug_frame_objects(tmp):
    """Shared objects with .debug_frame only, built by whatever compilers are installed."""
    src = os.path.join(tmp, 'df.c')
    with open(src, 'w') as f:
        f.write('int g(int);\n'
                'int f(int x) { int a[8]; for (int i = 0; i < 8; i++) a[i] = g(x + i);\n'
                '  return a[x & 7]; }\n'
                'int h(int x) { return x > 0 ? h(x - 1) + f(x) : 0; }\n')
    out = []
    for cc, arch in (('gcc', 'x86'), ('aarch64-linux-gnu-gcc', 'arm64')):
        if not shutil.which(cc):
            continue
        so = os.path.join(tmp, 'df-%s.so' % arch)
        subprocess.run([cc, '-O2', '-g', '-fPIC', '-shared', '-nostdlib', '-fno-asynchronous-unwind-tables',
                        '-fno-unwind-tables', '-o', so, src], check=True)
        out.append(so)
    return out


def cfi_compile_seeds(files, max_bytes):
    seeds = {}
    rnd = random.Random(1)
    for path in files:
        machine, secs = elf_sections(path)
        if machine not in (EM_X86_64, EM_AARCH64):
            continue
        arch = 'x86' if machine == EM_X86_64 else 'arm64'
        base = os.path.basename(path).replace('.', '_')
        text = secs.get('.text', (0, b''))[0]
        got = secs.get('.got', (0, b''))[0]
        if '.eh_frame' in secs:
            addr, sec = secs['.eh_frame']
            offs = [off for off, _, is_cie, _ in entries(sec, True) if not is_cie]
            picks = [0] + [offs[len(offs) * k // 4] for k in (1, 2, 3)] if offs else []
            for k, start in enumerate(picks):
                win = eh_window(sec, addr, start, max_bytes)
                if len(win) <= 4:
                    continue
                name = '%s-%s-eh%d' % (arch, base, k)
                seeds[name] = cfi_compile_input(arch, win, addr, text=text, data=got)
                if k == 0:
                    # Cut inside an entry, and a few bytes flipped.
                    seeds[name + '-cut'] = cfi_compile_input(arch, win[:len(win) * 2 // 3], addr)
                    flip = bytearray(win)
                    for _ in range(max(1, len(flip) // 256)):
                        flip[rnd.randrange(len(flip))] ^= 1 << rnd.randrange(8)
                    seeds[name + '-flip'] = cfi_compile_input(arch, bytes(flip), addr)
        if '.debug_frame' in secs:
            _, sec = secs['.debug_frame']
            out = bytearray()
            for off, length, is_cie, cie in entries(sec, False):
                if len(out) + length > max_bytes:
                    break
                out += sec[off:off + length]
            if out:
                seeds['%s-%s-debug' % (arch, base)] = cfi_compile_input(arch, dbg=bytes(out))
    # glibc's x86-64 __restore_rt named as the trampoline, over an FDE of its shape.
    eh = EhFrame(0x800)
    sig = eh.cie(16, 1, -8, b'', signal=True)
    eh.fde(sig, 0x1000, 0x10, def_cfa_expr(b'\x77\xa0\x01\x06'))
    seeds['x86-sigreturn'] = cfi_compile_input('x86', eh.bytes(), 0x800, sig_addr=0x1001, sig_size=9)
    # Regressions: CFA patterns whose sleb128 offset reaches bit 63 (undefined signed shifts
    # in match_deref() and match_plt(), found by fuzz-expr).
    for arch, name, e in (('x86', 'deref-sleb63', b'\x77' + b'\x80' * 8 + b'\x40\x06'),
                          ('arm64', 'deref-sleb63', b'\x8f' + b'\x80' * 8 + b'\x40\x06'),
                          ('x86', 'plt-sleb63', b'\x77' + b'\xff' * 8 + b'\x7f\x80\x00\x3f\x1a\x3b\x2a\x33\x24\x22')):
        eh = EhFrame(0x800)
        cie = eh.cie(16 if arch == 'x86' else 30, 1, -8, X86_CIE if arch == 'x86' else def_cfa(31, 0))
        eh.fde(cie, 0x1000, 0x10, adv(1) + def_cfa_expr(e))
        seeds['%s-regress-%s' % (arch, name)] = cfi_compile_input(arch, eh.bytes(), 0x800)
    seeds['x86-blob'] = cfi_compile_input('x86', x86_blob(0x800), 0x800)
    seeds['arm64-blob'] = cfi_compile_input('arm64', arm64_blob(0x1800), 0x1800, sig_addr=0x3004, sig_size=8)
    return seeds


def write(outdir, sub, seeds):
    d = os.path.join(outdir, sub)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
    print('%s: %d seeds, %d bytes' % (d, len(seeds), sum(len(v) for v in seeds.values())))


def main(argv):
    args = argv[1:]
    max_bytes = 3072
    if '--max-bytes' in args:
        i = args.index('--max-bytes')
        max_bytes = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    outdir, files = args[0], args[1:]
    with tempfile.TemporaryDirectory() as tmp:
        files = files + debug_frame_objects(tmp)
        write(outdir, 'corpus-cfi-compile', cfi_compile_seeds(files, max_bytes))
    write(outdir, 'corpus-unwind', unwind_seeds())
    write(outdir, 'corpus-expr', expr_seeds())
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
