#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build goretain, start a Go
# program with a known heap, find it, take a core of it with gdb's gcore, and analyse the core.
# Output goes to ${DEMO_DIR:-out/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" >/dev/null   # also builds the Go fixtures
out=${DEMO_DIR:-out/demo}
mkdir -p "$out"
variant=${DEMO_VARIANT:-go1.26}
fixture=${DEMO_FIXTURE:-shapes}
bin="$build/fixtures/$variant/$fixture"
[[ -x $bin ]] || bin="$build/fixtures/$variant/idle"

echo "== starting $bin"
"$bin" >"$out/fixture.json" &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s $out/fixture.json ]] && break; sleep 0.1; done
echo "   the program reports: $(head -c 300 "$out/fixture.json")"

echo "== Go processes on this machine (goretain ps)"
"$build/cli/goretain" ps

echo "== taking a core with gcore"
rm -f "$out/core.$pid"
gcore -o "$out/core" "$pid" >/dev/null 2>&1
core="$out/core.$pid"
ls -l "$core"

for step in heap; do
  echo "== goretain $step"
  "$build/cli/goretain" "$step" "$core" --exe "$bin" || echo "   ($step: see the message above)"
done
echo "== demo files in $out"
