#!/usr/bin/env bash
# ctest for fuzz_heap without libFuzzer: snapshots the idle fixture of the oldest and newest Go
# variants, then replays the regression inputs and a few hundred seeded random inputs over each
# core. Usage: replay_heap.sh REPLAY_BIN GORETAIN_BIN FIXTURES_DIR INPUTS_DIR
set -euo pipefail
replay=$1 goretain=$2 fixtures=$3 inputs=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for variant in go1.22 go1.26; do
  exe=$("$(dirname "$0")/snapshot_idle.sh" "$goretain" "$fixtures" "$variant" "$tmp/$variant.core")
  echo "== $variant"
  GORETAIN_FUZZ_CORE=$tmp/$variant.core GORETAIN_FUZZ_EXE=$exe "$replay" "$inputs" --random 400 1
done
