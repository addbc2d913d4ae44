#!/usr/bin/env bash
# The full test suite: installs what is missing, builds, builds the Go fixtures, runs ctest.
# Usage: scripts/test.sh [ctest args...]   (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build"   # also builds the Go fixtures (target go_fixtures)
ctest --test-dir "$build" --output-on-failure -j2 "$@"
echo "test.sh: passed in $(( $(date +%s) - start )) s" >&2
