#!/bin/sh
# Writes rosterd/pgo.profdata, the profile `make release` optimizes
# rosterd with (README: "Profile-guided optimization"), and
# rosterd/pgo.rustc, the `rustc -V` of the toolchain that wrote it (the
# Makefile gives the profile to that rustc only).
#
#   bench/pgo.sh
#
# It builds what `make release` builds, instrumented
# (`-Cprofile-generate`), in a target directory of its own, and runs the
# paired benchmark's rows with its rosterd: rosterd answers first lookups
# of every kind from the directory (by name, by UID, groups, a user's
# groups, 5,000-member groups, users in 1,000 groups, new processes'
# first lookups) and takes its census; then the scale benchmark's, rosterd
# alone: the census of 100,000 users and 10,000 groups, the first listing
# from a cold start, a 50,000-member group, 100,000 lookups, the
# enumerations. Their counts, merged
# (`llvm-profdata merge --sparse`: functions that never ran are left out,
# and the build optimizes them as it would without a profile; the paired
# rows' weighted to twice the scale benchmark's), are the profile, which
# rosterd and rosterctl build with (the modules without it). Run it again
# after the lookup path changes (a function whose code changed since
# loses its counts, and `make release` does not warn of it) or the
# toolchain or Cargo.lock does (the crates' symbol hashes change); then
# run bench/hot-code.sh (rosterd and module), whose names are those of
# the build with the profile. Needs what the paired and scale benchmarks
# need, and rustup's llvm-tools (`rustup component add llvm-tools`) for
# llvm-profdata. Run as root.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# (In the tree: a toolchain it overrides is the one to record.)
cd "$root"
rustc=${RUSTC:-rustc}
sysroot=$("$rustc" --print sysroot)
profdata=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-profdata 2>/dev/null | head -n 1)
[ -n "$profdata" ] || {
    echo "pgo.sh: llvm-profdata not found: rustup component add llvm-tools" >&2
    exit 1
}
version=$("$rustc" -V)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP
fail() {
    echo "pgo.sh: $1" >&2
    [ ! -f "$dir/bench.txt" ] || cat "$dir/bench.txt" >&2
    exit 1
}
# (rosterd runs as its own user in the benchmark: it writes its counts
# here too.)
chmod 0755 "$dir"
mkdir "$dir/counts"
chmod 1777 "$dir/counts"
# The benchmark, uninstrumented, built as `make bench` builds it.
cargo build --release -q -p roster-bench --bin paired --bin scale ||
    fail "building the benchmarks failed"
CARGO_TARGET_DIR="$dir/target" make -s --no-print-directory release \
    RELEASE_RUSTFLAGS="-Cprofile-generate=$dir/counts" ||
    fail "the instrumented build failed"
# (Build scripts and procedural macros ran instrumented during the build.)
rm -f "$dir"/counts/*
# Beside the instrumented rosterd, which it then measures (`make release`
# builds the modules without the profile's flags: they write no counts).
cp "${CARGO_TARGET_DIR:-$root/target}/release/paired" \
    "${CARGO_TARGET_DIR:-$root/target}/release/scale" "$dir/target/release/"
# (It fails on rosterd's failures only, a lookup's or its work after a
# row not done in time; nslcd's, "ldap lookup N failed", say nothing of
# the counts.)
PAIRED_COUNT=150 "$dir/target/release/paired" >"$dir/bench.txt" 2>&1 ||
    fail "the paired benchmark failed (rosterd's lookups or its work after them)"
# counts (directory of .profraw files) -> NAME: merged into
# $dir/NAME.profdata; prints their total count.
merge_counts() {
    [ -n "$(ls "$dir/counts")" ] || fail "rosterd wrote no counts in $2"
    "$profdata" merge --sparse -o "$dir/$1.profdata" "$dir"/counts/*.profraw ||
        fail "llvm-profdata merge of $2's counts failed"
    rm -f "$dir"/counts/*
    "$profdata" show "$dir/$1.profdata" >"$dir/$1.summary" ||
        fail "llvm-profdata show of $2's counts failed"
    total=$(sed -n 's/^Total count: //p' "$dir/$1.summary")
    case $total in
    '' | *[!0-9]* | 0) fail "$2's counts have no total count" ;;
    esac
    echo "$total"
}
paired_total=$(merge_counts paired "the paired benchmark")
# The scale benchmark, rosterd alone: the census of 100,000 users and
# 10,000 groups and the first listing from a cold start, which the
# sample directory of the paired benchmark hardly runs.
# (It fails when one of rosterd's drivers failed, its lookups' or
# rosterd's.)
ROSTER_BENCH_PEERS=roster "$dir/target/release/scale" >"$dir/bench.txt" 2>&1 ||
    fail "the scale benchmark failed"
grep -q 'a first listing from a cold start) | [0-9]' "$dir/bench.txt" ||
    fail "the scale benchmark took no first listing"
scale_total=$(merge_counts scale "the scale benchmark")
# The paired rows weigh twice the scale benchmark's counts: where both
# run a function (parsing entries, the store), the lookups' branches
# weigh most in its layout. (LLVM's hot blocks, those that make up 99%
# of all counts, are then the census's per-entry blocks, run for each of
# 110,000 entries, and the lookups' most run ones; the rest of the
# lookups' code is warm: README, "The profile trained on the large
# directory too".)
weight=$(((2 * scale_total + paired_total - 1) / paired_total))
"$profdata" merge --sparse -o "$dir/pgo.profdata" \
    --weighted-input="$weight,$dir/paired.profdata" "$dir/scale.profdata" ||
    fail "llvm-profdata merge failed"
# (rosterd's own functions, legacy-mangled: `_ZN7rosterd...`.)
"$profdata" show --all-functions "$dir/pgo.profdata" | grep -q '_ZN7rosterd' ||
    fail "the counts hold none of rosterd's functions"
mv "$dir/pgo.profdata" "$root/rosterd/pgo.profdata"
echo "$version" >"$root/rosterd/pgo.rustc"
echo "pgo.sh: rosterd/pgo.profdata written ($(wc -c <"$root/rosterd/pgo.profdata") bytes, $version; the paired rows' counts weighted $weight)"
