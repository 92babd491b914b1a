#!/bin/sh
# Installs exactly the Debian 12 packages kiln needs to build, test and benchmark, and nothing
# when they are all present already (idempotent). Run as root or with sudo available.
#
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --bench    also what the benchmarks compare against
set -eu

BUILD="meson ninja-build pkg-config gcc clang libclang-rt-14-dev clang-format
  libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev libyaml-dev
  libpq-dev libxgboost-dev"
TEST="libcmocka-dev valgrind python3 python3-numpy python3-scipy python3-sklearn
  python3-xgboost sqlite3 prometheus curl"
BENCH="wrk hyperfine"

want="$BUILD $TEST"
[ "${1:-}" = "--bench" ] && want="$want $BENCH"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps the set to what is named; prometheus is only here for promtool.
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
