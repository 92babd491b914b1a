#!/bin/sh
# Runs every libFuzzer target built in $1 (a -Dfuzz=true build dir) for $2 seconds each,
# starting from the committed corpus; new inputs land in fuzz/out/<target>/ (not committed;
# minimise and copy interesting ones into fuzz/corpus/<target>/).
set -eu
dir=${1:-build-fuzz}
secs=${2:-30}
cd "$(dirname "$0")/.."
for bin in "$dir"/fuzz/fuzz_*; do
    case "$bin" in *_replay) continue ;; esac
    [ -x "$bin" ] || continue
    t=$(basename "$bin"); t=${t#fuzz_}
    mkdir -p "fuzz/out/$t"
    dict=""
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    echo "== fuzzing $t for ${secs}s"
    "$bin" $dict -max_total_time="$secs" -print_final_stats=1 "fuzz/out/$t" "fuzz/corpus/$t"
done
