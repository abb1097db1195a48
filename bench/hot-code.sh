#!/bin/sh
# Writes a hot-code linker script: the functions a lookup runs, as patterns
# of their sections, which the linker places together at the head of
# .text (one .text still, as valgrind and other tools expect), and their
# jump tables at the head of .rodata, so that a lookup touches fewer pages
# of code.
#
#   bench/hot-code.sh            rosterd/hot-code.ld: rosterd's code that
#                                uncached lookups run (README: "rosterd's
#                                lookup code linked together")
#   bench/hot-code.sh module     nss/hot-code.ld: the NSS module's code
#                                that a new process's first lookups run
#                                (README: "The first lookup of a new
#                                process")
#
# rosterd: it runs the paired benchmark's rows with rosterd under callgrind
# (its counts taken over the rows only). The module: the NSS benchmark's
# first lookups of new processes (by name, by UID, of a group by name and
# by GID, a user's groups; from the daemon, then from the memory cache),
# each process under callgrind (ROSTER_BENCH_MODULE_CALLGRIND). It lists
# every function of that file that ran. The patterns leave out what
# changes from build to build (the hash of a legacy symbol, the crate
# hashes of a v0 one, LLVM's numbered suffixes), so the file holds while
# the functions keep their names; run it again after the lookup path
# changes. Each pattern takes the function's section under each name
# LLVM gives it in these builds (`.text.NAME`, `.text.hot.NAME` for
# code rosterd's profile counts as hot, or `.text.unlikely.NAME` for
# code it deems cold); the same patterns place those functions' jump
# tables (LLVM's `.rodata.NAME`, `.rodata.hot.NAME`, or
# `.rodata.unlikely.NAME`: the tables
# of their `match`es, an async function's states among them) at the head
# of .rodata. The hidden symbol `__roster_hot_code` marks the head of
# .text: a binary linked with the script has it (the tests' code_layout
# checks what it holds). Needs what the benchmark it runs needs, and
# valgrind. Run as root.
set -eu
for tool in valgrind callgrind_control callgrind_annotate nm; do
    command -v "$tool" >/dev/null || {
        echo "hot-code.sh: $tool not found (Debian packages valgrind, binutils)" >&2
        exit 1
    }
done
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP
# (Open to every user: whatever runs under callgrind writes its counts
# here.)
chmod 0777 "$dir"
cd "$root"
fail() {
    echo "hot-code.sh: $1" >&2
    cat "$dir/bench.txt" >&2
    exit 1
}
case "${1:-rosterd}" in
rosterd)
    out="$root/rosterd/hot-code.ld"
    object=rosterd
    binary=rosterd
    what="rosterd's code that uncached lookups run"
    # Fewer functions than these: the run did not measure the lookups.
    least=50
    # Where the linker puts .text anyway.
    text_at="INSERT BEFORE .init;"
    VALGRIND_OPTS=--demangle=no ROSTER_BENCH_CALLGRIND="$dir" \
        PAIRED_ROWS=name,uid,group,initgroups PAIRED_COUNT=60 \
        cargo run --release -q -p roster-bench --bin paired >"$dir/bench.txt" 2>&1 ||
        fail "the paired benchmark failed (rosterd's lookups or its work after them)"
    # (It fails on rosterd's failures only: a lookup's, whose error paths
    # would be listed, or its work after the answers not done in time,
    # which would fall in the counted rows; nslcd's say nothing of
    # rosterd's code.)
    if grep -q 'callgrind_control -z' "$dir/bench.txt" ||
        ! grep -q "rosterd's instructions over the rows" "$dir/bench.txt"; then
        fail "the paired benchmark's rows did not all answer (or settle) under callgrind"
    fi
    # The rows' dump is the one the benchmark asked for:
    # callgrind.out.PID.N.
    dumps=$(ls -t "$dir"/callgrind.out.*.* 2>/dev/null | head -n 1)
    ;;
module)
    out="$root/nss/hot-code.ld"
    object='libnss_roster\.so\.2'
    binary=libnss_roster.so
    what="the NSS module's code that a new process's first lookups run"
    # (About 60 with LTO, which inlines most of the module's path.)
    least=30
    # Where the linker puts .text anyway: right after .init and .fini
    # (whose code loading the module runs too).
    text_at="INSERT AFTER .fini;"
    # (The benchmark fails when a lookup does: no error path is listed.)
    ROSTER_BENCH_MODULE_CALLGRIND="$dir" \
        cargo run --release -q -p roster-bench --bin nss >"$dir/bench.txt" 2>&1 ||
        fail "the NSS benchmark's lookups under callgrind failed"
    dumps=$(ls "$dir"/module.* 2>/dev/null || true)
    ;;
*)
    echo "usage: bench/hot-code.sh [rosterd|module]" >&2
    exit 2
    ;;
esac
[ -n "$dumps" ] || fail "no callgrind dump in $dir"
# Every function of the object's own file with a cost (--threshold=100:
# all of them; callgrind marks a recursion's levels with 'N): its exact
# name, and its section's name made a pattern: LLVM's suffixes (.llvm.N,
# .N) and a legacy symbol's hash (17h + 16 hex digits + E) made `*`, a v0
# symbol's crate hashes (Cs...) too. The exact names place the instances
# that ran before the other instances of a generic function's name.
for dump in $dumps; do
    callgrind_annotate --auto=no --threshold=100 "$dump" |
        sed -n "s/^ *[0-9,]* *([ 0-9.]*%) *[^ ]*:\([^ ]*\) \[.*\/$object\]\$/\1/p"
done |
    grep -E '^(_ZN|_R|ring_core|_nss_)' |
    sed -e "s/'[0-9]*\$//" |
    LC_ALL=C sort -u >"$dir/ran"
# A function known under several names (std's identical functions, merged
# into one under aliases: `<Socket as AsFd>::as_fd` is also PidFd's,
# PipeReader's and PipeWriter's) has one section, named after one of
# them, while callgrind may report another: every name at the address of
# a function that ran is listed, from the build the benchmark measured.
built="${CARGO_TARGET_DIR:-$root/target}/release/$binary"
[ -f "$built" ] || fail "$built not found"
nm "$built" | awk '$2 ~ /^[tTwW]$/ {print $1, $3}' >"$dir/symbols"
[ -s "$dir/symbols" ] || fail "no function symbols in $built"
# (A build other than the one measured lacks some of the names.)
awk 'NR == FNR {have[$2] = 1; next} !($1 in have) {print; exit 1}' "$dir/symbols" "$dir/ran" >/dev/null ||
    fail "$built is not the build the benchmark measured"
awk 'NR == FNR {ran[$1] = 1; next} ($2 in ran) {print $1}' "$dir/ran" "$dir/symbols" |
    LC_ALL=C sort -u >"$dir/addresses"
{
    cat "$dir/ran"
    awk 'NR == FNR {at[$1] = 1; next} ($1 in at) {print $2}' "$dir/addresses" "$dir/symbols" |
        grep -E '^(_ZN|_R|ring_core|_nss_)' || true
} | LC_ALL=C sort -u >"$dir/exact"
sed -e 's/\.llvm\.[0-9]*$/*/' \
    -e 's/\.[0-9][0-9]*$/*/' \
    -e 's/17h[0-9a-f]\{16\}E\**$/17h*/' \
    -e '/^_R/s/Cs[0-9A-Za-z]*_/Cs*_/g' "$dir/exact" |
    LC_ALL=C sort -u >"$dir/patterns"
count=$(wc -l <"$dir/patterns")
exact=$(wc -l <"$dir/exact")
[ "$count" -ge "$least" ] || fail "only $count functions found in $dumps"
{
    echo "/* $what, placed at the head of its"
    echo "   .text, before the rest of it, and its jump tables at the head of"
    echo "   .rodata (build.rs beside this file). Written by bench/hot-code.sh:"
    echo "   do not edit. The $exact exact names of the build it ran first, then"
    echo "   $count section patterns without the names' hashes: the exact"
    echo "   names place the instances that ran before a generic function's"
    echo "   other instances while the hashes hold (the toolchain, lock file"
    echo "   and features of that build); the patterns outlast them. */"
    echo "SECTIONS"
    echo "{"
    echo "  .text :"
    echo "  {"
    echo "    HIDDEN(__roster_hot_code = .);"
    sed 's/.*/    *(.text.& .text.hot.& .text.unlikely.&)/' "$dir/exact" "$dir/patterns"
    echo "    *(.text .text.*)"
    echo "  }"
    echo "}"
    echo "$text_at"
    echo "SECTIONS"
    echo "{"
    echo "  .rodata :"
    echo "  {"
    sed 's/.*/    *(.rodata.& .rodata.hot.& .rodata.unlikely.&)/' "$dir/exact" "$dir/patterns"
    echo "    *(.rodata .rodata.*)"
    echo "  }"
    echo "}"
    echo "INSERT BEFORE .eh_frame_hdr;"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "hot-code.sh: $exact exact names and $count patterns in $out"
