#!/bin/sh
# Writes rosterd/hot-code.ld: the functions of rosterd that uncached
# lookups run (by name, by UID, of a group, a user's groups), as patterns
# of their sections, which the linker places together at the head of
# rosterd's .text (rosterd/build.rs; one .text still, as valgrind and
# other tools expect), so that a lookup after idleness touches fewer
# pages of code (README: "rosterd's lookup code linked together").
#
# It runs the paired benchmark's rows with rosterd under callgrind (its
# counts taken over the rows only) and lists every function of rosterd
# that ran. The patterns leave out what changes from build to build (the
# hash of a legacy symbol, the crate hashes of a v0 one, LLVM's numbered
# suffixes), so the file holds while the functions keep their names; run
# it again after the lookup path changes. Each pattern takes the
# function's section under either name LLVM gives it (`.text.NAME`, or
# `.text.unlikely.NAME` for code it deems cold); the same patterns place
# those functions' jump tables (LLVM's `.rodata.NAME`, or
# `.rodata.unlikely.NAME` beside cold code: the tables of their
# `match`es, an async function's states among them) at the head of
# .rodata. Needs what `cargo run --release -p roster-bench --bin paired`
# needs, and valgrind. Run as root.
set -eu
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || {
        echo "hot-code.sh: $tool not found (Debian package valgrind)" >&2
        exit 1
    }
done
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/rosterd/hot-code.ld"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP
# (rosterd runs as its own user: it writes the counts.)
chmod 0777 "$dir"
cd "$root"
fail() {
    echo "hot-code.sh: $1" >&2
    cat "$dir/paired.txt" >&2
    exit 1
}
VALGRIND_OPTS=--demangle=no ROSTER_BENCH_CALLGRIND="$dir" \
    PAIRED_ROWS=name,uid,group,initgroups PAIRED_COUNT=60 \
    cargo run --release -q -p roster-bench --bin paired >"$dir/paired.txt" 2>&1 ||
    fail "the paired benchmark failed"
# A run whose lookups failed would list their error paths.
if grep -qE 'lookup (before )?[0-9]+ failed|\*\*[0-9]+ failed|callgrind_control -z' "$dir/paired.txt" ||
    ! grep -q "rosterd's instructions over the rows" "$dir/paired.txt"; then
    fail "the paired benchmark's rows did not all answer under callgrind"
fi
# The rows' dump is the one the benchmark asked for: callgrind.out.PID.N.
dump=$(ls -t "$dir"/callgrind.out.*.* 2>/dev/null | head -n 1)
[ -n "$dump" ] || fail "no callgrind dump of the rows in $dir"
# Every function of rosterd's own file with a cost (--threshold=100: all
# of them; callgrind marks a recursion's levels with 'N): its exact name,
# and its section's name made a pattern: LLVM's suffixes (.llvm.N, .N)
# and a legacy symbol's hash (17h + 16 hex digits + E) made `*`, a v0
# symbol's crate hashes (Cs...) too. The exact names place the instances
# that ran before the other instances of a generic function's name.
callgrind_annotate --auto=no --threshold=100 "$dump" |
    sed -n 's/^ *[0-9,]* *([ 0-9.]*%) *[^ ]*:\([^ ]*\) \[.*\/rosterd\]$/\1/p' |
    grep -E '^(_ZN|_R|ring_core)' |
    sed -e "s/'[0-9]*\$//" |
    LC_ALL=C sort -u >"$dir/exact"
sed -e 's/\.llvm\.[0-9]*$/*/' \
    -e 's/\.[0-9][0-9]*$/*/' \
    -e 's/17h[0-9a-f]\{16\}E\**$/17h*/' \
    -e '/^_R/s/Cs[0-9A-Za-z]*_/Cs*_/g' "$dir/exact" |
    LC_ALL=C sort -u >"$dir/patterns"
count=$(wc -l <"$dir/patterns")
exact=$(wc -l <"$dir/exact")
[ "$count" -ge 100 ] || fail "only $count functions found in $dump"
{
    echo "/* rosterd's code that uncached lookups run, placed at the head of its"
    echo "   .text, before the rest of it, and its jump tables at the head of"
    echo "   .rodata (rosterd/build.rs). Written by bench/hot-code.sh: do not"
    echo "   edit. The $exact exact names of the build it ran first, then"
    echo "   $count section patterns without the names' hashes: the exact"
    echo "   names place the instances that ran before a generic function's"
    echo "   other instances while the hashes hold (the toolchain, lock file"
    echo "   and features of that build); the patterns outlast them. */"
    echo "SECTIONS"
    echo "{"
    echo "  .text :"
    echo "  {"
    sed 's/.*/    *(.text.& .text.unlikely.&)/' "$dir/exact" "$dir/patterns"
    echo "    *(.text .text.*)"
    echo "  }"
    echo "}"
    echo "INSERT BEFORE .init;"
    echo "SECTIONS"
    echo "{"
    echo "  .rodata :"
    echo "  {"
    sed 's/.*/    *(.rodata.& .rodata.unlikely.&)/' "$dir/exact" "$dir/patterns"
    echo "    *(.rodata .rodata.*)"
    echo "  }"
    echo "}"
    echo "INSERT BEFORE .eh_frame_hdr;"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "hot-code.sh: $exact exact names and $count patterns in $out"
