#!/bin/sh
# `make bench`: runs every benchmark program registered with benchmark() in bench/meson.build
# on the release build in $1 (default build-release), one after another (they measure, so they
# must not share the two cores with each other). Each program prints its figures, compares
# against the tool a user would otherwise pick where one runs here, and appends raw results to
# bench/results/*.json; bench/RESULTS.md holds the latest figures.
set -eu
dir=${1:-build-release}
cd "$(dirname "$0")/.."
mkdir -p bench/results
exec meson test -C "$dir" --benchmark --verbose --num-processes 1 --timeout-multiplier 0 \
    ${BENCH:+"$BENCH"}
