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
# first lookups) and takes its census. Its counts, merged (`llvm-profdata
# merge --sparse`: functions that never ran are left out, and the build
# optimizes them as it would without a profile), are the profile, which
# rosterd and rosterctl build with (the modules without it). Run it again
# after the lookup path changes (a function whose code changed since
# loses its counts, and `make release` does not warn of it) or the
# toolchain or Cargo.lock does (the crates' symbol hashes change); then
# run bench/hot-code.sh (rosterd and module), whose names are those of
# the build with the profile. Needs what the paired benchmark needs, and rustup's llvm-tools
# (`rustup component add llvm-tools`) for llvm-profdata. Run as root.
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
cargo build --release -q -p roster-bench --bin paired ||
    fail "building the paired benchmark failed"
CARGO_TARGET_DIR="$dir/target" make -s --no-print-directory release \
    RELEASE_RUSTFLAGS="-Cprofile-generate=$dir/counts" ||
    fail "the instrumented build failed"
# (Build scripts and procedural macros ran instrumented during the build.)
rm -f "$dir"/counts/*
# Beside the instrumented rosterd, which it then measures (`make release`
# builds the modules without the profile's flags: they write no counts).
cp "${CARGO_TARGET_DIR:-$root/target}/release/paired" "$dir/target/release/paired"
PAIRED_COUNT=150 "$dir/target/release/paired" >"$dir/bench.txt" 2>&1 ||
    fail "the paired benchmark failed"
if grep -qE 'lookup (before )?[0-9]+ failed|\*\*[0-9]+ failed' "$dir/bench.txt"; then
    fail "some of the paired benchmark's lookups failed"
fi
[ -n "$(ls "$dir/counts")" ] || fail "rosterd wrote no counts"
"$profdata" merge --sparse -o "$dir/pgo.profdata" "$dir"/counts/*.profraw ||
    fail "llvm-profdata merge failed"
# (rosterd's own functions, legacy-mangled: `_ZN7rosterd...`.)
"$profdata" show --all-functions "$dir/pgo.profdata" | grep -q '_ZN7rosterd' ||
    fail "the counts hold none of rosterd's functions"
mv "$dir/pgo.profdata" "$root/rosterd/pgo.profdata"
echo "$version" >"$root/rosterd/pgo.rustc"
echo "pgo.sh: rosterd/pgo.profdata written ($(wc -c <"$root/rosterd/pgo.profdata") bytes, $version)"
