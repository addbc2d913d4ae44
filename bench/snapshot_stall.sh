#!/usr/bin/env bash
# Snapshot pause as the target feels it: gdb's gcore against goretain snapshot (copy and fork
# modes) on the stall-meter fixture with a large live heap. The fixture's own 1 ms ticker
# measures the longest stall; each tool runs RUNS times on a fresh fixture and the median is
# reported, with the core's size on disk and the tool's wall time.
#
# Usage: bench/snapshot_stall.sh [--runs N] [--heap-mib MiB] [--write-docs]
#   BUILD_DIR (default build) holds cli/goretain and fixtures/ (tests/fixtures/build.sh).
#   --write-docs replaces the "Snapshot pause" section of docs/BENCHMARKS.md with the results.
# Needs root (ptrace of a process we did not start as our child is fine too), gdb, ~3x the heap
# in free memory and ~2x in free disk under TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=3
heap_mib=1024
write_docs=0
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --heap-mib) heap_mib=$2; shift 2 ;;
    --write-docs) write_docs=1; shift ;;
    *) echo "usage: $0 [--runs N] [--heap-mib MiB] [--write-docs]" >&2; exit 2 ;;
  esac
done
build=${BUILD_DIR:-build}
goretain=$root/$build/cli/goretain
manifest=$root/$build/fixtures/manifest.tsv
[[ -x $goretain ]] || { echo "snapshot_stall: no $goretain; build first" >&2; exit 1; }
[[ -f $manifest ]] || { echo "snapshot_stall: no $manifest; run tests/fixtures/build.sh" >&2; exit 1; }
command -v gcore >/dev/null || { echo "snapshot_stall: gcore (gdb) is not installed" >&2; exit 1; }
# The newest Go, plain build: the last non-PIE variant without an experiment.
variant_dir=$(awk -F'\t' '$3 == "0" && $4 == "-" { d = $5; v = $2 } END { print d }' "$manifest")
go_version=$(awk -F'\t' '$3 == "0" && $4 == "-" { v = $2 } END { print v }' "$manifest")
fixture=$variant_dir/stallmeter

work=$(mktemp -d "${TMPDIR:-/tmp}/snapshot-stall.XXXXXX")
fixture_pid=
cleanup() {
  [[ -n $fixture_pid ]] && kill -9 "$fixture_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Starts the fixture; sets fixture_pid once it printed its ready line.
start_fixture() {
  : >"$work/meter.out"
  "$fixture" -heap-mib "$heap_mib" >"$work/meter.out" 2>"$work/meter.err" &
  fixture_pid=$!
  for _ in $(seq 600); do
    grep -q '"pid"' "$work/meter.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '"pid"' "$work/meter.out" || { echo "snapshot_stall: fixture did not start" >&2; exit 1; }
  sleep 1  # let the heap build's GC finish
}

# Asks the meter for its longest stall since the last request (and resets it).
meter() {
  local before
  before=$(grep -c max_stall_ms "$work/meter.out" || true)
  kill -USR1 "$fixture_pid"
  for _ in $(seq 300); do
    (($(grep -c max_stall_ms "$work/meter.out" || true) > before)) && break
    sleep 0.05
  done
  grep max_stall_ms "$work/meter.out" | tail -1 | sed -E 's/.*"max_stall_ms":([0-9.]+).*/\1/'
}

stop_fixture() {
  kill -9 "$fixture_pid" 2>/dev/null || true
  wait "$fixture_pid" 2>/dev/null || true
  fixture_pid=
}

median() {
  sort -g | awk '{ a[NR] = $1 }
    END { if (NR == 0) print "-"; else printf "%.1f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

declare -A stalls walls sizes disks pauses
tools=(gcore copy fork)
# Rounds interleave the tools so that drift (page cache, writeback) hits them alike; every run
# starts after a sync so that no earlier core is still being written back.
for ((i = 1; i <= runs; i++)); do
  for tool in "${tools[@]}"; do
    sync
    start_fixture
    meter >/dev/null
    core=$work/core
    start=$(now_ms)
    case $tool in
      gcore)
        gcore -o "$work/gcore" "$fixture_pid" >"$work/tool.out" 2>&1
        core=$work/gcore.$fixture_pid
        pause=-
        ;;
      *)
        "$goretain" snapshot --pid "$fixture_pid" -o "$core" --mode "$tool" --json \
          --max-pause 60000 >"$work/tool.out"
        pause=$(sed -E 's/.*"pause_ms":([0-9.]+).*/\1/' "$work/tool.out")
        mode=$(sed -E 's/.*"mode":"([a-z]+)".*/\1/' "$work/tool.out")
        [[ $mode == "$tool" ]] || { echo "snapshot_stall: asked for $tool, got $mode" >&2; exit 1; }
        ;;
    esac
    wall=$(($(now_ms) - start))
    sleep 0.2
    stall=$(meter)
    size=$(stat -c %s "$core")
    disk=$(($(stat -c %b "$core") * $(stat -c %B "$core")))
    stop_fixture
    rm -f "$core"
    printf '%-6s run %d: stall %8.1f ms, our pause %8s ms, wall %6d ms, core %5d MiB (%5d MiB on disk)\n' \
      "$tool" "$i" "$stall" "$pause" "$wall" $((size >> 20)) $((disk >> 20)) >&2
    stalls[$tool]+="$stall "
    pauses[$tool]+="$pause "
    walls[$tool]+="$wall "
    sizes[$tool]=$size
    disks[$tool]=$disk
  done
done

med() { tr ' ' '\n' <<<"$1" | { grep -v '^-\?$' || true; } | median; }
table="| tool | longest stall felt, median (ms) | all runs (ms) | pause we measured, median (ms) | wall time, median (ms) | core size | on disk |
| --- | ---: | --- | ---: | ---: | ---: | ---: |"
for tool in "${tools[@]}"; do
  name=$tool
  [[ $tool == gcore ]] && name="gdb gcore"
  [[ $tool != gcore ]] && name="goretain snapshot --mode $tool"
  p=$(med "${pauses[$tool]}")
  table+="
| $name | $(med "${stalls[$tool]}") | $(printf '%.0f ' ${stalls[$tool]} | sed 's/ $//') | $p | $(med "${walls[$tool]}") | $((sizes[$tool] >> 20)) MiB | $((disks[$tool] >> 20)) MiB |"
done
gcore_stall=$(med "${stalls[gcore]}")
copy_stall=$(med "${stalls[copy]}")
fork_stall=$(med "${stalls[fork]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
summary="gcore stalled the target $(ratio "$gcore_stall" "$copy_stall")x longer than copy mode and $(ratio "$gcore_stall" "$fork_stall")x longer than fork mode."
echo "$table"
echo "$summary"

if ((write_docs)); then
  cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
  mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  thp=$(sed -E 's/.*\[([a-z]+)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "?")
  fs=$(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')
  section="## Snapshot pause

The pause a snapshot inflicts, as the target feels it: the stall-meter fixture
(\`tests/fixtures/go/stallmeter\`, $go_version, \`-heap-mib $heap_mib\`: a live heap of many small
pointerful objects) records the longest gap of its own 1 ms ticker. Each tool ran $runs times
(interleaved rounds, a \`sync\` before each run), each time on a fresh fixture, writing the core to
${TMPDIR:-/tmp} ($fs). Copy mode copied with $(nproc) threads (one per CPU, at most 4).

Command: \`BUILD_DIR=$build bench/snapshot_stall.sh --runs $runs --heap-mib $heap_mib --write-docs\`  
Machine: $cpu, $(nproc) vCPU, $mem RAM, Linux $(uname -r), THP $thp; $(date -u +%Y-%m-%d).

$table

$summary
The machine may be shared with other work, and its load and disk speed move these figures from
run to run (docs/snapshot.md lists the spread seen); the rounds interleave the tools so that a
run compares them fairly.
gcore stops the target for its whole run (attach, reading memory, writing the file); copy mode
stops it while the memory is copied into the snapshotter; fork mode only while the kernel copies
the page tables for the copy-on-write child (docs/snapshot.md).
"
  docs=$root/docs/BENCHMARKS.md
  [[ -f $docs ]] || printf '# Benchmarks\n\nMeasured results; each section says how to reproduce it.\n' >"$docs"
  # Replace the section (from its heading to the next "## " heading), or append it.
  printf '%s\n' "${section%$'\n'}" >"$work/section.md"
  awk -v section="$work/section.md" '
    function emit() { while ((getline line < section) > 0) print line; done = 1 }
    /^## Snapshot pause$/ { skipping = 1; emit(); next }
    skipping && /^## / { skipping = 0; print "" }
    !skipping { print }
    END { if (!done) { print ""; emit() } }
  ' "$docs" >"$work/docs.md"
  mv "$work/docs.md" "$docs"
  echo "snapshot_stall: wrote the Snapshot pause section of $docs" >&2
fi
