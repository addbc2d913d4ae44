#!/usr/bin/env bash
# Benchmark of gocore's heap index (issue: heap index): builds the shapes fixture scaled to more
# than 5 million objects, takes a core with gcore, times indexing, and rewrites the "Heap index"
# section of docs/BENCHMARKS.md.
# Usage: bench/heap_index.sh [SCALE (default 10)] [VARIANT (default go1.26)]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
variant=${2:-go1.26}
build=${BUILD_DIR:-build}
cmake --build "$build" --target gocore_index_bench hot_paths_bench go_fixtures >/dev/null
work=$(mktemp -d /tmp/goretain-bench.XXXXXX)
trap 'kill -9 ${pid:-0} 2>/dev/null || true; rm -rf "$work"' EXIT
bin="$build/fixtures/$variant/shapes"
"$bin" -scale "$scale" >"$work/fixture.json" &
pid=$!
for _ in $(seq 600); do [[ -s $work/fixture.json ]] && break; sleep 0.5; done
gcore -o "$work/core" "$pid" >/dev/null 2>&1
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
core="$work/core.$pid"
result=$("$build/bench/gocore_index_bench" "$core" "$bin" 5)
echo "$result"
GORETAIN_BENCH_CORE="$core" GORETAIN_BENCH_EXE="$bin" "$build/bench/hot_paths_bench" \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$work/hot.json"
python3 - "$result" "$work/fixture.json" "$scale" "$variant" "$(nproc)" "$work/hot.json" <<'PY'
import json, sys, re, platform, subprocess, datetime
r = json.loads(sys.argv[1]); fx = json.load(open(sys.argv[2]))
hot = json.load(open(sys.argv[6]))["benchmarks"]
scale, variant, ncpu = sys.argv[3], sys.argv[4], sys.argv[5]
cpu = next((l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
mem = int(open('/proc/meminfo').readline().split()[1]) // 1024 // 1024
section = f"""## Heap index (gocore)

Command: `bench/heap_index.sh {scale} {variant}` — the `shapes` fixture (`-scale {scale}`, {fx['go_version']})
cored by `gcore`, then `gocore_index_bench` opens the core (ELF, DWARF) and indexes every span and
object, {r['runs']} runs, one thread. Machine: {cpu}, {ncpu} cores, {mem} GiB, measured {datetime.date.today()}.

| measure | value |
| --- | --- |
| objects: ours / runtime `HeapObjects` | {r['objects']:,} / {fx['heap_objects']:,} |
| bytes: ours / runtime `HeapAlloc` | {r['bytes']:,} / {fx['heap_alloc']:,} |
| spans | {r['spans']:,} |
| open core + executable + DWARF, median | {r['open_s_median']*1000:.0f} ms |
| index, median (min–max) | {r['index_s_median']*1000:.0f} ms ({r['index_s_min']*1000:.0f}–{r['index_s_max']*1000:.0f}) |
| **objects per second** (target ≥ 5 M) | **{r['objects_per_s']/1e6:.1f} M** |
| index arrays | {r['index_array_bytes']/r['objects']:.1f} bytes per object |
| **peak anonymous memory while indexing** (target ≤ 16 B/object) | **{r['peak_anon_bytes']/1e6:.1f} MB = {r['peak_anon_bytes_per_object']:.1f} bytes per object** |

Peak memory excludes the mapped core and executable (file pages); it is the rise of `RssAnon`,
sampled every millisecond. No peer indexes a heap without also analysing it; whole-analysis
comparisons with goref and viewcore are in the peer section.

## Roots, mark and types (gocore)

Same core and command: the whole gocore pipeline (`LoadCore`: index, roots and goroutine stacks,
mark and reference graph on two threads, type inference), {r['runs']} runs.

| measure | value |
| --- | --- |
| roots / goroutines | {r['roots']:,} / {r['goroutines']:,} |
| edges | {r['edges']:,} |
| reachable bytes / runtime `HeapAlloc` | {r['reachable_bytes']:,} / {fx['heap_alloc']:,} |
| typed share of reachable bytes | {100.0 * r['typed_bytes'] / r['reachable_bytes']:.2f}% |
| roots (median) | {r['roots_s_median']*1000:.0f} ms |
| mark + graph (median) | {r['mark_s_median']*1000:.0f} ms |
| type inference (median) | {r['typing_s_median']*1000:.0f} ms |
| **whole pipeline (median)** | **{r['load_s_median']:.2f} s = {r['objects']/r['load_s_median']/1e6:.2f} M objects/s** |
| **peak anonymous memory** | **{r['load_peak_anon_bytes']/1e6:.0f} MB = {r['load_peak_anon_bytes']/r['objects']:.1f} bytes per object** |

## Hot paths (Google Benchmark)

Same core: `bench/hot_paths_bench` (heap index and mark + graph on the core above; dominators on
random heap-shaped graphs: a spanning tree plus n/2 extra edges), 3 repetitions, median.

| benchmark | time | items per second |
| --- | ---: | ---: |
""" + "".join(f"| {b['run_name']} | {b['real_time']:.0f} {b['time_unit']} | {b.get('items_per_second', 0)/1e6:.1f} M |\n"
              for b in hot if b.get('aggregate_name') == 'median')
import os; os.makedirs('docs', exist_ok=True)
path = 'docs/BENCHMARKS.md'
try:
    doc = open(path).read()
except FileNotFoundError:
    doc = "# Benchmarks\n\nEvery figure here was produced by the command shown with it; re-run it to regenerate its section.\n\n"
pat = re.compile(r"## Heap index \(gocore\)\n.*?(?=\n## (?!Roots, mark|Hot paths)|\Z)", re.S)
if pat.search(doc):
    doc = pat.sub(section.rstrip('\n') + '\n', doc)
else:
    doc = doc.rstrip('\n') + "\n\n" + section
open(path, 'w').write(doc)
PY
