#!/bin/sh
# `make check`: everything CI runs. Installs what is missing, builds with gcc (warnings are
# errors), runs the style checks and every test suite, then rebuilds with clang ASan+UBSan and
# runs the unit and end-to-end tests again.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh

step() { printf '\n== %s\n' "$*"; }

step "build (gcc, -Werror)"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build

step "lint"
scripts/lint.sh

step "tests (gcc build)"
meson test -C build --no-rebuild --print-errorlogs --num-processes 2

step "unit tests under valgrind"
meson test -C build --no-rebuild --print-errorlogs --num-processes 2 --setup valgrind --suite unit

step "build (clang, ASan + UBSan)"
[ -f build-asan/build.ninja ] || CC=clang meson setup build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug >/dev/null
ninja -C build-asan

step "tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 2 \
    --suite unit --suite e2e

printf '\nall checks passed\n'
