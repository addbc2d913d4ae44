// Google Benchmark for goretain's hot paths: the heap index, marking/graph building and the
// dominator tree. Core-based benchmarks read GORETAIN_BENCH_CORE and GORETAIN_BENCH_EXE (bench/run
// and bench/heap_index.sh set them); without them those are skipped.
//
//   GORETAIN_BENCH_CORE=core.123 GORETAIN_BENCH_EXE=./shapes build/bench/hot_paths_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>

#include "analysis/dominators.h"
#include "gocore/graph.h"
#include "gocore/heap.h"
#include "gocore/loaded_core.h"
#include "gocore/program.h"
#include "gocore/rtype.h"

namespace {

using namespace goretain;

struct CoreInputs {
  std::unique_ptr<gocore::Program> program;
  std::unique_ptr<gocore::TypeTable> types;
};

CoreInputs* OpenCore(benchmark::State& state) {
  static CoreInputs* inputs = [] {
    const char* core = std::getenv("GORETAIN_BENCH_CORE");
    const char* exe = std::getenv("GORETAIN_BENCH_EXE");
    if (core == nullptr) return static_cast<CoreInputs*>(nullptr);
    auto p = gocore::Program::Open(core, {.exe_path = exe ? exe : ""});
    if (!p.ok()) return static_cast<CoreInputs*>(nullptr);
    auto t = gocore::TypeTable::Create(**p);
    if (!t.ok()) return static_cast<CoreInputs*>(nullptr);
    return new CoreInputs{std::move(*p), std::move(*t)};
  }();
  if (inputs == nullptr) state.SkipWithError("set GORETAIN_BENCH_CORE (and _EXE) to a Go core");
  return inputs;
}

void BM_HeapIndex(benchmark::State& state) {
  CoreInputs* in = OpenCore(state);
  if (in == nullptr) return;
  size_t objects = 0;
  for (auto _ : state) {
    gocore::DamageCounters damage;
    auto heap = gocore::HeapIndex::Build(*in->program, in->types.get(), &damage);
    objects = (*heap)->num_objects();
    benchmark::DoNotOptimize(heap);
  }
  state.SetItemsProcessed(state.iterations() * objects);
}
BENCHMARK(BM_HeapIndex)->Unit(benchmark::kMillisecond);

void BM_MarkAndGraph(benchmark::State& state) {
  CoreInputs* in = OpenCore(state);
  if (in == nullptr) return;
  gocore::DamageCounters damage;
  auto heap = gocore::HeapIndex::Build(*in->program, in->types.get(), &damage);
  auto funcs = gocore::FuncTable::Load(*in->program);
  auto roots = gocore::CollectRoots(*in->program, **funcs, **heap, &damage);
  for (auto _ : state) {
    auto g = gocore::ObjectGraph::Build(**heap, roots->roots);
    benchmark::DoNotOptimize(g);
  }
  state.SetItemsProcessed(state.iterations() * (*heap)->num_objects());
}
BENCHMARK(BM_MarkAndGraph)->Unit(benchmark::kMillisecond);

// Random graph shaped like a heap: a spanning tree (every node reachable) plus extra edges.
void BM_Dominators(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  std::mt19937 rng(42);
  std::vector<uint32_t> row(n + 1, 0), targets;
  std::vector<std::vector<uint32_t>> adj(n);
  for (uint32_t v = 1; v < n; v++) adj[rng() % v].push_back(v);
  for (uint32_t e = 0; e < n / 2; e++) adj[rng() % n].push_back(rng() % n);
  for (uint32_t v = 0; v < n; v++) {
    row[v + 1] = row[v] + static_cast<uint32_t>(adj[v].size());
    targets.insert(targets.end(), adj[v].begin(), adj[v].end());
  }
  adj.clear();
  for (auto _ : state) {
    auto t = analysis::DominatorTree::ComputeWith(n, 0, [&](uint32_t v, auto&& emit) {
      for (uint32_t k = row[v]; k < row[v + 1]; k++) emit(targets[k]);
    });
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Dominators)->Arg(1 << 20)->Arg(1 << 23)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
