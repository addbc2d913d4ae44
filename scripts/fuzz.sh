#!/usr/bin/env bash
# Fuzzes goretain's parsers of untrusted files with libFuzzer + ASan + UBSan (clang), each target
# for FUZZ_SECONDS (default 60), seeded with real Go executables and cores of the fixtures
# (fuzz_heap: damage laid over a snapshot of the idle fixture, see tests/fuzz/fuzz_heap.cc).
# Crashes are saved in build-fuzz/crashes/; copy each one, once fixed, into
# tests/fuzz/regressions/<target>/ where ctest replays it. Usage: scripts/fuzz.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds=${FUZZ_SECONDS:-60}
out=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGORETAIN_FUZZ=ON -DGORETAIN_TESTS=OFF -DGORETAIN_BENCH=OFF >/dev/null
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_buildinfo fuzz_elf fuzz_heap)
cmake --build "$out" --target "${targets[@]}"
mkdir -p "$out/crashes"
# fuzz_heap damages a real core: a snapshot of the idle fixture (newest Go), taken once.
if [[ " ${targets[*]} " == *" fuzz_heap "* && ! -s $out/fuzz_heap.core ]]; then
  cmake -S . -B build -G Ninja >/dev/null
  cmake --build build --target goretain go_fixtures >/dev/null
  idle=$(tests/fuzz/snapshot_idle.sh build/cli/goretain build/fixtures go1.26 "$out/fuzz_heap.core")
  cp "$idle" "$out/fuzz_heap.exe"
fi
export GORETAIN_FUZZ_CORE=$PWD/$out/fuzz_heap.core GORETAIN_FUZZ_EXE=$PWD/$out/fuzz_heap.exe
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  # Seeds: the headers of real Go programs (the first 64 KiB holds ELF header, program headers,
  # notes; .go.buildinfo is searched across the file for the build-info target).
  for bin in build/fixtures/go1.2{2,6}/version; do
    [[ -f $bin ]] || continue
    if [[ $t == fuzz_buildinfo ]]; then
      # An ELF holding only the build-info section: small enough for the fuzzer to mutate.
      objcopy --only-section=.go.buildinfo "$bin" "$corpus/buildinfo-$(basename "$(dirname "$bin")")" 2>/dev/null
    fi
    head -c 65536 "$bin" >"$corpus/head-$(basename "$(dirname "$bin")")"
  done
  echo "== $t for $seconds s"
  max_len=262144
  [[ $t == fuzz_heap ]] && max_len=4096  # patches: a few hundred are plenty
  "$out/tests/fuzz/$t" "$corpus" "tests/fuzz/regressions/$t" -max_total_time="$seconds" -max_len=$max_len \
    -timeout=20 -rss_limit_mb=4096 -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 2>&1 | tail -12
done
