#!/usr/bin/env bash
# Snapshots the idle fixture of one Go variant: the core fuzz_heap damages.
# Usage: snapshot_idle.sh GORETAIN_BIN FIXTURES_DIR VARIANT OUT.core  (prints the executable's path)
set -euo pipefail
goretain=$1 fixtures=$2 variant=$3 out=$4
dir=$(awk -F'\t' -v v="$variant" '$1 == v { print $5 }' "$fixtures/manifest.tsv")
[[ -n $dir ]] || { echo "variant $variant not in $fixtures/manifest.tsv" >&2; exit 1; }
"$dir/idle" >"$out.idle-out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out.idle-out"' EXIT
for _ in $(seq 100); do [[ -s $out.idle-out ]] && break; sleep 0.05; done
"$goretain" snapshot --pid "$pid" -o "$out" >/dev/null
echo "$dir/idle"
