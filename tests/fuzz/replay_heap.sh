#!/usr/bin/env bash
# ctest for fuzz_heap without libFuzzer: snapshots the idle fixture of the oldest and newest Go
# variants with `goretain snapshot`, then replays the regression inputs and a few hundred seeded
# random inputs over each core. Usage: replay_heap.sh REPLAY_BIN GORETAIN_BIN FIXTURES_DIR INPUTS_DIR
set -euo pipefail
replay=$1 goretain=$2 fixtures=$3 inputs=$4
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
for variant in go1.22 go1.26; do
  dir=$(awk -F'\t' -v v="$variant" '$1 == v { print $5 }' "$fixtures/manifest.tsv")
  [[ -n $dir ]] || { echo "variant $variant not in $fixtures/manifest.tsv" >&2; exit 1; }
  "$dir/idle" >"$tmp/$variant.out" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [[ -s $tmp/$variant.out ]] && break; sleep 0.05; done
  "$goretain" snapshot --pid "$pid" -o "$tmp/$variant.core" >/dev/null
  kill "$pid"
  echo "== $variant"
  GORETAIN_FUZZ_CORE=$tmp/$variant.core GORETAIN_FUZZ_EXE=$dir/idle \
    "$replay" "$inputs" --random 400 1
done
