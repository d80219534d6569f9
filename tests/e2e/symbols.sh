#!/bin/sh
# Symbols wherever they are: fixtures built here, each profiled by the real daemon, their
# names checked in the decoded profiles.
#   sym-buildid    stripped; its debug file under a test --debuginfo-dir by build-id
#   sym-debuglink  stripped; found through .gnu_debuglink next to it (CRC checked)
#   sym-minidebug  stripped; MiniDebugInfo made the way Fedora makes it (objcopy + xz)
#   sym-debugframe no .eh_frame, no frame pointers, stripped: only the .debug_frame of its
#                  debug file (by build-id) unwinds it
#   sym-inline     mix() inlined into caller_a() and caller_b(): two Lines, with lines
#   sym-cxx        C++ template member in nested namespaces, demangled (full and simplified)
#   sym-rust-*     Debian's rustc, legacy and v0 mangling, demangled without hashes
#   sym-go         Debian's Go, stripped (-s -w): named from .gopclntab
# Then --symbolize=none: no names, build-ids and offsets kept (binutils can name the leaf
# from them), and go tool pprof reads it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/e2e/e2e-lib.sh"

e2e_setup
e2e_require
require_cmd gcc g++ objcopy strip nm readelf xz go
# Debian's rustc (the test suite's dependency); a rustup toolchain earlier in PATH would do too.
RUSTC=rustc
[ -x /usr/bin/rustc ] && RUSTC=/usr/bin/rustc
require_cmd "$RUSTC"

src="$top_srcdir/tests/e2e/symbols"
F="$TEST_TMP/fix"
D="$TEST_TMP/debug-dir"
mkdir -p "$F" "$D" || exit 99
cflags="-O2 -g -fno-omit-frame-pointer -Wl,--build-id"

build_id() {
	readelf -n "$1" | awk '/Build ID/ { print $3 }'
}

echo "== building fixtures"
# 1. Debug file by build-id in the test debug directory.
gcc $cflags -DTAG=via_buildid -o "$F/sym-buildid" "$src/sym-c.c" || fail "build sym-buildid"
objcopy --only-keep-debug "$F/sym-buildid" "$F/sym-buildid.debug" || fail "objcopy"
strip --strip-all "$F/sym-buildid" || fail "strip"
id=$(build_id "$F/sym-buildid")
[ -n "$id" ] || fail "sym-buildid has no build-id"
head=$(echo "$id" | cut -c1-2)
rest=$(echo "$id" | cut -c3-)
mkdir -p "$D/.build-id/$head" && mv "$F/sym-buildid.debug" "$D/.build-id/$head/$rest.debug" ||
	exit 99

# 1b. No .eh_frame and no frame pointers: the debug file's .debug_frame is the only CFI.
d="$F/sym-debugframe"
gcc -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-Wl,--build-id -DTAG=via_debugframe -o "$d" "$src/sym-c.c" || fail "build sym-debugframe"
objcopy --only-keep-debug "$d" "$d.debug" || fail "objcopy"
strip --strip-all "$d" || fail "strip"
id=$(build_id "$d")
mkdir -p "$D/.build-id/$(echo "$id" | cut -c1-2)" &&
	mv "$d.debug" "$D/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug" ||
	exit 99

# 2. .gnu_debuglink to a debug file beside the binary.
gcc $cflags -DTAG=via_debuglink -o "$F/sym-debuglink" "$src/sym-c.c" || fail "build sym-debuglink"
objcopy --only-keep-debug "$F/sym-debuglink" "$F/sym-debuglink.debug" || fail "objcopy"
strip --strip-all "$F/sym-debuglink" || fail "strip"
(cd "$F" && objcopy --add-gnu-debuglink=sym-debuglink.debug sym-debuglink) || fail "debuglink"

# 3. MiniDebugInfo, as Fedora's find-debuginfo does: the function symbols .dynsym lacks, in
#    an xz-compressed ELF inside .gnu_debugdata.
m="$F/sym-minidebug"
gcc $cflags -DTAG=via_minidebug -o "$m" "$src/sym-c.c" || fail "build sym-minidebug"
nm -D "$m" --format=posix --defined-only | awk '{ print $1 }' | sort >"$F/dynsyms"
nm "$m" --format=posix --defined-only | awk '$2 == "T" || $2 == "t" { print $1 }' |
	sort >"$F/funcsyms"
comm -13 "$F/dynsyms" "$F/funcsyms" >"$F/keep_symbols"
objcopy --only-keep-debug "$m" "$F/mini.full" || fail "objcopy"
objcopy -S --remove-section .gdb_index --remove-section .comment \
	--keep-symbols="$F/keep_symbols" "$F/mini.full" "$F/mini_debuginfo" || fail "objcopy -S"
strip --strip-all --remove-section .comment "$m" || fail "strip"
xz -f "$F/mini_debuginfo" || fail "xz"
objcopy --add-section .gnu_debugdata="$F/mini_debuginfo.xz" "$m" || fail "add .gnu_debugdata"
rm -f "$F/mini.full"

# 4-5. Inlines (unstripped, -g) and C++.
gcc $cflags -o "$F/sym-inline" "$src/sym-inline.c" || fail "build sym-inline"
g++ -O2 -fno-omit-frame-pointer -o "$F/sym-cxx" "$src/sym-cxx.cc" || fail "build sym-cxx"

# 6. Rust, both manglings.
"$RUSTC" -O -C force-frame-pointers=yes -o "$F/sym-rust-legacy" "$src/sym-rust.rs" ||
	fail "build sym-rust-legacy"
"$RUSTC" -O -C force-frame-pointers=yes -C symbol-mangling-version=v0 -o "$F/sym-rust-v0" \
	"$src/sym-rust.rs" || fail "build sym-rust-v0"
nm "$F/sym-rust-v0" | grep -q ' _R.*spin_rust' || fail "sym-rust-v0 has no v0-mangled symbol"

# 7. Go, stripped, without modules or network.
mkdir -p "$TEST_TMP/go" || exit 99
(cd "$TEST_TMP/go" && cp "$src/sym-go.go" main.go &&
	GOCACHE="$TEST_TMP/go/cache" GOPATH="$TEST_TMP/go/path" GO111MODULE=off GOFLAGS= \
		go build -ldflags='-s -w' -o "$F/sym-go" main.go) || fail "build sym-go"
readelf -S "$F/sym-go" | grep -q '\.symtab' && fail "sym-go still has a .symtab"
for b in sym-buildid sym-debuglink sym-minidebug; do
	readelf -S "$F/$b" | grep -q '\.symtab' && fail "$b still has a .symtab"
done

list="sym-buildid sym-debugframe sym-debuglink sym-minidebug sym-inline sym-cxx sym-rust-legacy sym-rust-v0 sym-go"
echo "== profiling the fixtures"
run_perfagent 90 "$TEST_TMP/perfagent.log" -F 499 -i 30 -o "$TEST_TMP/out" \
	--summary-json "$TEST_TMP/summary.json" --debuginfo-dir "$D" \
	-- sh -c "for b in $list; do \"$F/\$b\" 0.7 || exit 1; done" ||
	fail "perfagent -- fixtures exited with $PA_RC"
pprof_json --detail "$TEST_TMP"/out/*.pb.gz >"$TEST_TMP/profiles.json" || fail "decode the profiles"
"$TESTS_PYTHON" "$top_srcdir/tests/lib/symbols_check.py" "$TEST_TMP/profiles.json" \
	--expect sym-buildid=via_buildid_leaf --expect sym-buildid=via_buildid_outer \
	--expect sym-debuglink=via_debuglink_leaf \
	--expect sym-debugframe=via_debugframe_leaf \
	--chain via_debugframe_leaf,via_debugframe_outer --chain via_buildid_leaf,via_buildid_outer \
	--expect sym-minidebug=via_minidebug_leaf \
	--expect sym-inline=caller_a --expect sym-inline=caller_b \
	--inline mix@caller_a --inline mix@caller_b --inline-mapping sym-inline \
	--expect 'sym-cxx=geo::detail::Grid<double>::relax(int)' \
	--system-prefix 'geo::detail::Grid<double>::relax(int)=_ZN' \
	--expect sym-rust-legacy=sym_rust::Spinner::spin_rust \
	--system-prefix 'sym_rust::Spinner::spin_rust=_' \
	--expect 'sym-rust-v0=<sym_rust::Spinner>::spin_rust' --no-hash-suffix \
	--expect sym-go=main.spinGo ||
	fail "symbol checks (see above)"
"$TESTS_PYTHON" - "$TEST_TMP/summary.json" <<'EOF' || fail "summary symbol counters"
import json, sys
s = json.load(open(sys.argv[1]))["symbols"]
print("summary symbols:", json.dumps({k: s[k] for k in ("hits", "misses", "loaded", "bytes",
      "max_bytes", "load_ms", "with_dwarf", "by_source", "locations", "locations_named",
      "inline_frames")}))
bad = [k for k in ("debug-build-id", "debuglink", "minidebuginfo", "gopclntab", "symtab")
       if s["by_source"][k] < 1]
if bad or s["inline_frames"] < 1 or s["with_dwarf"] < 3 or s["bytes"] > s["max_bytes"]:
    sys.exit(f"expected at least one binary from each of {bad}, inline frames, 3 with DWARF")
EOF

echo "== --demangle simplified"
run_perfagent 60 "$TEST_TMP/perfagent2.log" -F 499 -i 30 -o "$TEST_TMP/out2" \
	--demangle simplified -- "$F/sym-cxx" 0.5 || fail "perfagent -- sym-cxx exited with $PA_RC"
pprof_json --detail "$TEST_TMP"/out2/*.pb.gz >"$TEST_TMP/profiles2.json" || fail "decode the profiles"
"$TESTS_PYTHON" "$top_srcdir/tests/lib/symbols_check.py" "$TEST_TMP/profiles2.json" \
	--expect 'sym-cxx=geo::detail::Grid::relax' \
	--system-prefix 'geo::detail::Grid::relax=_ZN' || fail "simplified demangling"

echo "== --symbolize=none"
run_perfagent 60 "$TEST_TMP/perfagent3.log" -F 499 -i 30 -o "$TEST_TMP/out3" \
	--symbolize=none -- "$F/sym-cxx" 0.5 || fail "perfagent -- sym-cxx exited with $PA_RC"
pprof_json --detail "$TEST_TMP"/out3/*.pb.gz >"$TEST_TMP/profiles3.json" || fail "decode the profiles"
"$TESTS_PYTHON" "$top_srcdir/tests/lib/symbols_check.py" "$TEST_TMP/profiles3.json" \
	--no-names sym-cxx || fail "--symbolize=none profile"
cxx_id=$(build_id "$F/sym-cxx")
go tool pprof -raw -symbolize=none "$TEST_TMP"/out3/*.pb.gz >"$TEST_TMP/raw.txt" 2>&1 ||
	{ cat "$TEST_TMP/raw.txt"; fail "go tool pprof rejected the --symbolize=none profile"; }
grep -q "$cxx_id" "$TEST_TMP/raw.txt" || fail "go tool pprof -raw does not show build-id $cxx_id"
# The build-id and offsets are enough to symbolize: binutils, given only what the profile
# says (file offset = address - start + offset, then the PT_LOAD that holds it), names the
# leaf. (Go's own pprof symbolizer assumes a mapping's start is the file's load address, so it
# is not used for this check.)
"$TESTS_PYTHON" - "$TEST_TMP/profiles3.json" "$F/sym-cxx" <<'EOF' || fail "offsets do not symbolize"
import json, re, subprocess, sys
profiles, binary = json.load(open(sys.argv[1])), sys.argv[2]
loads = [tuple(int(x, 16) for x in m.groups()) for m in re.finditer(
    r"LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)",
    subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout)]
names = {}
for p in profiles:
    maps = {m["filename"]: m for m in p["mappings"]}
    m = maps[binary]
    for smp in p["samples"]:
        leaf = smp["frames"][0]
        if leaf["mapping"] != binary:
            continue
        fo = leaf["address"] - m["start"] + m["offset"]
        va = next(v + fo - o for o, v, fs in loads if o <= fo < o + fs)
        out = subprocess.run(["addr2line", "-f", "-C", "-e", binary, hex(va)],
                             capture_output=True, text=True).stdout.split("\n")[0]
        names[out] = names.get(out, 0) + smp["values"][0]
print("leaf functions from build-id + offsets:", names)
sys.exit(0 if any("Grid<double>::relax" in n for n in names) else 1)
EOF
echo "PASS"
