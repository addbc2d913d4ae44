#!/usr/bin/env bash
# Fuzzes goretain's parsers of untrusted files with libFuzzer + ASan + UBSan (clang), each target
# for FUZZ_SECONDS (default 60), seeded with real Go executables and cores of the fixtures.
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
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_buildinfo fuzz_elf)
cmake --build "$out" --target "${targets[@]}"
mkdir -p "$out/crashes"
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
  "$out/tests/fuzz/$t" "$corpus" "tests/fuzz/regressions/$t" -max_total_time="$seconds" -max_len=262144 \
    -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 2>&1 | tail -12
done
