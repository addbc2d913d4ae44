// goretain heap CORE [--exe BIN] [--json]: object and byte counts of a Go core.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "gocore/counters.h"
#include "gocore/heap.h"
#include "gocore/heap_summary.h"
#include "gocore/program.h"
#include "nlohmann/json.hpp"

namespace goretain::cli {
namespace {

struct HeapArgs {
  std::string core, exe;
  bool json = false;
  int top = 25;
};

std::string Human(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  } else if (b >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1ull << 20));
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)b);
  }
  return buf;
}

int RunHeap(const HeapArgs& a) {
  Progress progress("heap");
  progress.Phase("opening core and executable");
  auto program = gocore::Program::Open(a.core, {.exe_path = a.exe});
  if (!program.ok()) return Fail(program.status());
  auto types = gocore::TypeTable::Create(**program);
  if (!types.ok()) return Fail(types.status());
  gocore::DamageCounters damage;
  progress.Phase("indexing heap spans and objects");
  auto heap = gocore::HeapIndex::Build(**program, types->get(), &damage);
  if (!heap.ok()) return Fail(heap.status());
  auto counters = gocore::ReadRuntimeCounters(**program);
  if (!counters.ok()) return Fail(counters.status());
  progress.Done();
  gocore::HeapSummary sum = gocore::SummarizeHeap(**heap, **types);
  const auto& layout = (*heap)->layout();

  if (a.json) {
    nlohmann::ordered_json j;
    j["go_version"] = (*program)->build_info().go_version;
    j["executable"] = (*program)->exe().path();
    j["pie"] = (*program)->exe().is_pie();
    j["green_tea"] = layout.green_tea;
    j["objects"] = sum.objects;
    j["allocated_bytes"] = sum.bytes;
    j["spans"] = sum.spans;
    j["typed_objects"] = sum.typed_objects;
    j["typed_bytes"] = sum.typed_bytes;
    j["runtime"] = {{"heap_marked", counters->heap_marked},
                    {"heap_live", counters->heap_live},
                    {"numgc", counters->num_gc},
                    {"gc_phase", counters->gc_phase}};
    j["damage"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : damage) j["damage"][k] = v;
    j["types"] = nlohmann::ordered_json::array();
    for (const auto& t : sum.types) {
      j["types"].push_back({{"name", t.name}, {"objects", t.objects}, {"bytes", t.bytes}});
    }
    j["size_classes"] = nlohmann::ordered_json::array();
    for (const auto& c : sum.classes) {
      j["size_classes"].push_back({{"size_class", c.size_class},
                                   {"elemsize", c.elemsize},
                                   {"noscan", c.noscan},
                                   {"spans", c.spans},
                                   {"objects", c.objects},
                                   {"bytes", c.bytes}});
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s  %s%s\n", (*program)->build_info().go_version.c_str(),
                (*program)->exe().path().c_str(), (*program)->exe().is_pie() ? " (PIE)" : "");
    std::printf("heap objects     %llu in %llu spans\n", (unsigned long long)sum.objects,
                (unsigned long long)sum.spans);
    std::printf("allocated bytes  %llu (%s)\n", (unsigned long long)sum.bytes,
                Human(sum.bytes).c_str());
    std::printf("runtime says     heapMarked %llu (%s) after GC #%u, heapLive %llu (%s)%s\n",
                (unsigned long long)counters->heap_marked, Human(counters->heap_marked).c_str(),
                counters->num_gc, (unsigned long long)counters->heap_live,
                Human(counters->heap_live).c_str(),
                counters->gc_phase != 0 ? ", GC in progress" : "");
    std::printf("typed by heap    %.1f%% of bytes (allocation headers and large-object types)\n",
                sum.bytes ? 100.0 * sum.typed_bytes / sum.bytes : 0.0);
    std::printf("\n%14s %10s  %s\n", "BYTES", "OBJECTS", "TYPE");
    int n = 0;
    for (const auto& t : sum.types) {
      if (n++ >= a.top) break;
      std::printf("%14llu %10llu  %s\n", (unsigned long long)t.bytes,
                  (unsigned long long)t.objects, t.name.c_str());
    }
    std::printf("\n%5s %8s %6s %10s %14s\n", "CLASS", "ELEMSIZE", "SCAN", "OBJECTS", "BYTES");
    for (const auto& c : sum.classes) {
      std::printf("%5d %8llu %6s %10llu %14llu\n", c.size_class, (unsigned long long)c.elemsize,
                  c.noscan ? "noscan" : "scan", (unsigned long long)c.objects,
                  (unsigned long long)c.bytes);
    }
  }
  return ReportDamage(damage);
}

}  // namespace

void RegisterHeap(CLI::App& app, std::function<int()>* run) {
  auto args = std::make_shared<HeapArgs>();
  auto* cmd = app.add_subcommand("heap", "object and byte counts of a Go core by type and size class");
  cmd->add_option("core", args->core, "core file (gcore, kernel, or goretain snapshot)")->required();
  cmd->add_option("--exe", args->exe, "the executable the process ran (default: as the core names it)");
  cmd->add_flag("--json", args->json, "machine-readable output");
  cmd->add_option("--top", args->top, "types listed in text output")->capture_default_str();
  cmd->callback([run, args] { *run = [args] { return RunHeap(*args); }; });
}

}  // namespace goretain::cli
