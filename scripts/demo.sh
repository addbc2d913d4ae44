#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build goretain, start a Go
# program with a known heap, snapshot it without stopping it for long, analyse the core into a
# reference flame graph, pprof profile and JSON; then catch a growing cache between two snapshots.
# Output goes to ${DEMO_DIR:-out/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" >/dev/null   # also builds the Go fixtures
goretain="$build/cli/goretain"
out=${DEMO_DIR:-out/demo}
rm -rf "$out"
mkdir -p "$out"
variant=${DEMO_VARIANT:-go1.26}
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT

wait_line() {  # wait_line FILE [LINES]: until FILE has LINES lines (default 1), at most 2 minutes
  for _ in $(seq 1200); do
    [[ $(wc -l <"$1" 2>/dev/null || echo 0) -ge ${2:-1} ]] && return 0
    sleep 0.1
  done
  echo "demo: the program did not start (see $1)" >&2
  exit 1
}

echo "== 1. a Go program with a known heap ($variant tests/fixtures/go/shapes)"
bin="$build/fixtures/$variant/shapes"
"$bin" >"$out/shapes.json" &
pid=$!
pids+=("$pid")
wait_line "$out/shapes.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('   pid %d, %s, runtime says HeapAlloc %d bytes in %d objects' % (d['pid'], d['go_version'], d['heap_alloc'], d['heap_objects']))" "$out/shapes.json"

echo "== 2. Go processes on this machine (goretain ps)"
"$goretain" ps

echo "== 3. a low-pause snapshot of it (goretain snapshot)"
"$goretain" snapshot --pid "$pid" -o "$out/shapes.core"

echo "== 4. who keeps its heap alive (goretain analyze)"
"$goretain" analyze "$out/shapes.core" --exe "$bin" --top 8 \
  -o "$out/shapes.svg" -o "$out/shapes.pb.gz" -o "$out/shapes.folded" -o "$out/shapes.summary.json"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true

echo "== 5. a cache that grows: two snapshots, then goretain diff-cores"
grower="$build/fixtures/$variant/grower"
mkfifo "$out/grower.in"
"$grower" <"$out/grower.in" >"$out/grower.out" &
gpid=$!
pids+=("$gpid")
exec 3>"$out/grower.in"
wait_line "$out/grower.out" 1
echo "grow 2000" >&3
wait_line "$out/grower.out" 2
"$goretain" snapshot --pid "$gpid" -o "$out/before.core" >/dev/null
echo "grow 20000" >&3
wait_line "$out/grower.out" 3
"$goretain" snapshot --pid "$gpid" -o "$out/after.core" >/dev/null
"$goretain" diff-cores "$out/before.core" "$out/after.core" --exe "$grower" --top 5 \
  -o "$out/growth.svg"
exec 3>&-

echo "== demo files in $out:"
ls -l "$out" | grep -v grower
echo "Open $out/shapes.svg and $out/growth.svg in a browser; try: go tool pprof -top $out/shapes.pb.gz"
