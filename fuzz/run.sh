#!/bin/bash
# fuzz/run.sh BIN_DIR TARGET SECONDS CORPUS_DIR: runs one fuzz target (built
# by `make fuzz-build`) for SECONDS. New inputs go to CORPUS_DIR; the
# committed seeds (fuzz/corpus/TARGET) and regression inputs
# (fuzz/regressions/TARGET, all run first) are only read. A crash, a panic
# or a hang (10 s) fails the run; the input is kept in fuzz/target/artifacts/.
set -u
bin=$1 target=$2 seconds=$3 corpus=$4
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
mkdir -p "$corpus" fuzz/target/artifacts
# Absolute paths: a target may change its working directory.
dirs=("$(cd "$corpus" && pwd)")
for d in "fuzz/corpus/$target" "fuzz/regressions/$target"; do
    [ -d "$d" ] && dirs+=("$top/$d")
done
log=fuzz/target/$target.log
echo "fuzz $target: ${seconds}s"
"$bin/$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$top/fuzz/target/artifacts/$target-" "${dirs[@]}" 2>"$log"
rc=$?
grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|DONE' "$log"
if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz $target FAILED (exit $rc, log $log)"
    exit 1
fi
