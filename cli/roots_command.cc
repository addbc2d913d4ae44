// goretain roots CORE [--exe BIN] [--json]: GC roots by the bytes they keep alive, and every
// goroutine with its state and stack trace.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "analysis/heap_graph.h"
#include "cli/commands.h"
#include "gocore/loaded_core.h"
#include "nlohmann/json.hpp"

namespace goretain::cli {
namespace {

struct RootsArgs {
  std::string core, exe;
  bool json = false;
  int top = 30;
  bool all_goroutines = false;
};

int RunRoots(const RootsArgs& a) {
  Progress progress("roots");
  auto lc = gocore::LoadCore(a.core, {.exe_path = a.exe},
                             [&](const std::string& p) { progress.Phase(p); });
  if (!lc.ok()) return Fail(lc.status());
  const gocore::LoadedCore& c = **lc;
  progress.Phase("computing dominators");
  analysis::HeapGraph hg(*c.heap, *c.graph, c.roots.roots);
  auto retention = hg.ComputeRetention();
  auto tree_bytes = hg.FirstReachBytesPerRoot();
  progress.Done();

  const auto& roots = c.roots.roots;
  std::vector<uint32_t> order(roots.size());
  for (uint32_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
    uint64_t rx = retention.retained(hg.RootNode(x)), ry = retention.retained(hg.RootNode(y));
    if (rx != ry) return rx > ry;
    return tree_bytes[x] > tree_bytes[y];
  });
  const gocore::ObjectGraph& g = *c.graph;
  uint64_t reachable = g.reachable_bytes;
  double typed_pct = reachable ? 100.0 * c.typing->typed_bytes / reachable : 100.0;

  if (a.json) {
    nlohmann::ordered_json j;
    j["go_version"] = c.program->build_info().go_version;
    j["objects"] = c.heap->num_objects();
    j["allocated_bytes"] = c.heap->total_bytes();
    j["reachable_objects"] = g.reachable_objects;
    j["reachable_bytes"] = g.reachable_bytes;
    j["unreachable_objects"] = g.unreachable_objects;
    j["unreachable_bytes"] = g.unreachable_bytes;
    j["typed_bytes"] = c.typing->typed_bytes;
    j["untyped_bytes"] = c.typing->untyped_bytes;
    j["runtime"] = {{"heap_marked", c.counters.heap_marked},
                    {"heap_live", c.counters.heap_live},
                    {"numgc", c.counters.num_gc}};
    j["damage"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : c.damage) j["damage"][k] = v;
    j["roots"] = nlohmann::ordered_json::array();
    for (uint32_t r : order) {
      const gocore::Root& root = roots[r];
      nlohmann::ordered_json jr = {{"name", root.name},
                                   {"kind", gocore::RootKindName(root.kind)},
                                   {"retained_bytes", retention.retained(hg.RootNode(r))},
                                   {"tree_bytes", tree_bytes[r]},
                                   {"pointers", root.pointers.size()}};
      if (root.goroutine >= 0) jr["goroutine"] = root.goroutine;
      j["roots"].push_back(std::move(jr));
    }
    j["goroutines"] = nlohmann::ordered_json::array();
    for (const gocore::Goroutine& gr : c.roots.goroutines) {
      nlohmann::ordered_json jg = {{"id", gr.id},
                                   {"status", gr.status_name},
                                   {"wait_reason", gr.wait_reason},
                                   {"thread", gr.thread},
                                   {"created_by", gr.created_by},
                                   {"unwind_incomplete", gr.unwind_incomplete}};
      jg["frames"] = nlohmann::ordered_json::array();
      for (const auto& fr : gr.frames) {
        for (const auto& call : fr.calls) {
          jg["frames"].push_back(
              {{"function", call.function}, {"file", call.file}, {"line", call.line}});
        }
      }
      j["goroutines"].push_back(std::move(jg));
    }
    std::printf("%s\n", j.dump(2).c_str());
    return ReportDamage(c.damage);
  }

  std::printf("%s  %s\n", c.program->build_info().go_version.c_str(),
              c.program->exe().path().c_str());
  std::printf("reachable   %llu bytes in %llu objects (runtime heapMarked %llu after GC #%u)\n",
              (unsigned long long)g.reachable_bytes, (unsigned long long)g.reachable_objects,
              (unsigned long long)c.counters.heap_marked, c.counters.num_gc);
  std::printf("unreachable %llu bytes in %llu objects (allocated, garbage since the last GC)\n",
              (unsigned long long)g.unreachable_bytes, (unsigned long long)g.unreachable_objects);
  std::printf("typed       %.2f%% of reachable bytes (untyped: %llu bytes)\n", typed_pct,
              (unsigned long long)c.typing->untyped_bytes);
  std::printf("\n%14s %14s  %-22s %s\n", "RETAINED", "FIRST-REACHED", "KIND", "ROOT");
  int n = 0;
  for (uint32_t r : order) {
    if (n++ >= a.top) break;
    const gocore::Root& root = roots[r];
    std::string name = root.name;
    if (root.goroutine >= 0) name += " (goroutine " + std::to_string(root.goroutine) + ")";
    std::printf("%14llu %14llu  %-22s %s\n",
                (unsigned long long)retention.retained(hg.RootNode(r)),
                (unsigned long long)tree_bytes[r], gocore::RootKindName(root.kind), name.c_str());
  }
  std::printf("\n%zu goroutines\n", c.roots.goroutines.size());
  for (const gocore::Goroutine& gr : c.roots.goroutines) {
    bool runtime_only = !gr.frames.empty();
    for (const auto& fr : gr.frames) {
      if (fr.function.rfind("runtime.", 0) != 0) runtime_only = false;
    }
    if (runtime_only && !a.all_goroutines) continue;
    std::string state = gr.wait_reason.empty() ? gr.status_name : gr.wait_reason;
    std::printf("\ngoroutine %lld [%s]%s:\n", (long long)gr.id, state.c_str(),
                gr.unwind_incomplete ? " (stack partly unreadable)" : "");
    for (const auto& fr : gr.frames) {
      for (const auto& call : fr.calls) {
        std::printf("%s(...)\n\t%s:%d\n", call.function.c_str(), call.file.c_str(), call.line);
      }
    }
    if (!gr.created_by.empty()) std::printf("created by %s\n", gr.created_by.c_str());
  }
  return ReportDamage(c.damage);
}

}  // namespace

void RegisterRoots(CLI::App& app, std::function<int()>* run) {
  auto args = std::make_shared<RootsArgs>();
  auto* cmd = app.add_subcommand(
      "roots", "GC roots of a Go core by the bytes they keep alive; goroutines with traces");
  cmd->add_option("core", args->core, "core file")->required();
  cmd->add_option("--exe", args->exe, "the executable (default: as the core names it)");
  cmd->add_flag("--json", args->json, "machine-readable output");
  cmd->add_option("--top", args->top, "roots listed in text output")->capture_default_str();
  cmd->add_flag("--all-goroutines", args->all_goroutines,
                "also list goroutines that run only runtime code");
  cmd->callback([run, args] { *run = [args] { return RunRoots(*args); }; });
}

}  // namespace goretain::cli
