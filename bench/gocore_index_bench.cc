// Times gocore's heap index on a real core: opening (ELF, DWARF), then indexing every span and
// object. Prints one JSON object. Memory is measured as the peak of the process's anonymous
// resident memory above its level before indexing (mapped core and executable pages excluded),
// sampled every millisecond.
//
// usage: gocore_index_bench CORE EXE [RUNS]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>
#include <algorithm>

#include "gocore/heap.h"
#include "gocore/program.h"
#include "gocore/rtype.h"
#include "gocore/loaded_core.h"

namespace {

uint64_t RssAnonBytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  uint64_t kb = 0;
  while (f >> key) {
    if (key == "RssAnon:") {
      f >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(f, rest);
  }
  return 0;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CORE EXE [RUNS]\n", argv[0]);
    return 2;
  }
  int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::vector<double> open_s, index_s;
  uint64_t objects = 0, bytes = 0, spans = 0, index_bytes = 0, peak_anon = 0;
  for (int r = 0; r < runs; r++) {
    auto t0 = std::chrono::steady_clock::now();
    auto program = goretain::gocore::Program::Open(argv[1], {.exe_path = argv[2]});
    if (!program.ok()) {
      std::fprintf(stderr, "%s\n", program.status().ToString().c_str());
      return 1;
    }
    auto types = goretain::gocore::TypeTable::Create(**program);
    if (!types.ok()) return 1;
    auto t1 = std::chrono::steady_clock::now();
    uint64_t base = RssAnonBytes();
    std::atomic<bool> done{false};
    std::atomic<uint64_t> peak{base};
    std::thread sampler([&] {
      while (!done.load()) {
        uint64_t v = RssAnonBytes();
        if (v > peak.load()) peak.store(v);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    goretain::gocore::DamageCounters damage;
    auto heap = goretain::gocore::HeapIndex::Build(**program, types->get(), &damage);
    auto t2 = std::chrono::steady_clock::now();
    done = true;
    sampler.join();
    if (!heap.ok()) {
      std::fprintf(stderr, "%s\n", heap.status().ToString().c_str());
      return 1;
    }
    objects = (*heap)->num_objects();
    bytes = (*heap)->total_bytes();
    spans = (*heap)->spans().size();
    index_bytes = (*heap)->MemoryBytes();
    peak_anon = std::max(peak_anon, std::max(peak.load(), RssAnonBytes()) - base);
    open_s.push_back(Seconds(t1 - t0));
    index_s.push_back(Seconds(t2 - t1));
  }
  // The whole gocore pipeline: index, roots and goroutines, mark and graph, type inference.
  std::vector<double> roots_s, mark_s, typing_s, load_s;
  uint64_t graph_peak = 0, edges = 0, reachable = 0, typed = 0, goroutines = 0, nroots = 0;
  for (int r = 0; r < runs; r++) {
    uint64_t base = RssAnonBytes();
    std::atomic<bool> done{false};
    std::atomic<uint64_t> peak{base};
    std::thread sampler([&] {
      while (!done.load()) {
        uint64_t v = RssAnonBytes();
        if (v > peak.load()) peak.store(v);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    auto t0 = std::chrono::steady_clock::now();
    auto lc = goretain::gocore::LoadCore(argv[1], {.exe_path = argv[2]});
    auto t1 = std::chrono::steady_clock::now();
    done = true;
    sampler.join();
    if (!lc.ok()) {
      std::fprintf(stderr, "%s\n", lc.status().ToString().c_str());
      return 1;
    }
    graph_peak = std::max(graph_peak, std::max(peak.load(), RssAnonBytes()) - base);
    roots_s.push_back((*lc)->roots_s);
    mark_s.push_back((*lc)->mark_s);
    typing_s.push_back((*lc)->typing_s);
    load_s.push_back(Seconds(t1 - t0));
    edges = (*lc)->graph->num_edges();
    reachable = (*lc)->graph->reachable_bytes;
    typed = (*lc)->typing->typed_bytes;
    goroutines = (*lc)->roots.goroutines.size();
    nroots = (*lc)->roots.roots.size();
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double idx = median(index_s);
  std::printf(
      "{\"objects\": %llu, \"bytes\": %llu, \"spans\": %llu, \"runs\": %d, \"open_s_median\": %.4f, "
      "\"index_s_median\": %.4f, \"index_s_min\": %.4f, \"index_s_max\": %.4f, "
      "\"objects_per_s\": %.0f, \"index_array_bytes\": %llu, \"peak_anon_bytes\": %llu, "
      "\"peak_anon_bytes_per_object\": %.2f, \"roots_s_median\": %.4f, \"mark_s_median\": %.4f, "
      "\"typing_s_median\": %.4f, \"load_s_median\": %.4f, \"load_peak_anon_bytes\": %llu, "
      "\"edges\": %llu, \"reachable_bytes\": %llu, \"typed_bytes\": %llu, \"goroutines\": %llu, "
      "\"roots\": %llu}\n",
      (unsigned long long)objects, (unsigned long long)bytes, (unsigned long long)spans, runs, median(open_s), idx,
      *std::min_element(index_s.begin(), index_s.end()),
      *std::max_element(index_s.begin(), index_s.end()), objects / idx,
      (unsigned long long)index_bytes, (unsigned long long)peak_anon,
      double(peak_anon) / objects, median(roots_s), median(mark_s), median(typing_s),
      median(load_s), (unsigned long long)graph_peak, (unsigned long long)edges,
      (unsigned long long)reachable, (unsigned long long)typed, (unsigned long long)goroutines,
      (unsigned long long)nroots);
  return 0;
}
