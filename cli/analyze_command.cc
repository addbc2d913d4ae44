// goretain analyze CORE: the reference flame graph and retention paths of a Go core.
// goretain diff-cores A B: the retention paths that grew between two cores.
#include <algorithm>
#include <cstdio>
#include <latch>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analysis/flame_svg.h"
#include "analysis/folded.h"
#include "analysis/frame_format.h"
#include "analysis/json_export.h"
#include "analysis/pprof.h"
#include "analysis/reference_tree.h"
#include "analysis/streaming_tree.h"
#include "analysis/tree_diff.h"
#include "analysis/tree_fold.h"
#include "cli/commands.h"
#include "gocore/loaded_core.h"
#include "nlohmann/json.hpp"

namespace goretain::cli {
namespace {

struct AnalyzeArgs {
  std::string core, exe;
  std::vector<std::string> outputs;
  std::string tree = "bfs";
  double min_width = 0.1;  // percent
  int max_depth = 32;
  int top = 10;
  bool low_memory = false;
  double queue_memory_mib = 4;  // --low-memory: frontier kept in memory before spilling
};

using analysis::TypeTotal;

// What the summary reports about the whole heap.
struct Totals {
  uint64_t reachable_objects = 0, reachable_bytes = 0;
  uint64_t unreachable_objects = 0, unreachable_bytes = 0;
  uint64_t typed_bytes = 0, untyped_bytes = 0;
};

// One analysed core: the loaded heap and its retention-path tree.
struct Analysis {
  std::unique_ptr<gocore::LoadedCore> core;
  std::unique_ptr<analysis::HeapGraph> graph;
  analysis::HeapGraph::Retention retention;
  analysis::PathTree tree;  // unfolded
  std::vector<TypeTotal> types;  // largest first, then by name
  Totals totals;
  bool retained = true;  // false with --low-memory: no dominators, no retained sizes
};

std::vector<TypeTotal> TypeTotals(const gocore::LoadedCore& c) {
  // Aggregate by (type, slot size) first: names are made once per key, not per object.
  struct Agg {
    uint32_t sample;
    uint64_t bytes = 0, count = 0;
  };
  absl::flat_hash_map<uint64_t, Agg> by_key;
  for (uint32_t o = 0; o < c.heap->num_objects(); o++) {
    if (!c.graph->reachable(o)) continue;
    uint64_t size = c.heap->object_size(o);
    auto [it, fresh] = by_key.try_emplace((uint64_t{c.typing->object_type(o)} << 40) | size, Agg{o});
    it->second.bytes += size;
    it->second.count++;
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> types;
  for (const auto& [key, agg] : by_key) {
    auto& t = types[c.typing->ObjectTypeName(agg.sample)];
    t.first += agg.bytes;
    t.second += agg.count;
  }
  std::vector<TypeTotal> out;
  for (const auto& [name, v] : types) out.push_back({name, v.first, v.second});
  std::stable_sort(out.begin(), out.end(),
                   [](const TypeTotal& x, const TypeTotal& y) { return x.bytes > y.bytes; });
  return out;
}

absl::StatusOr<Analysis> Analyze(const std::string& core_path, const std::string& exe,
                                 const AnalyzeArgs& a, Progress& progress) {
  Analysis out;
  analysis::ReferenceTreeOptions ro;
  ro.kind = a.tree == "dominator" ? analysis::TreeKind::kDominator : analysis::TreeKind::kBfs;
  ro.max_depth = a.max_depth;
  // Dominators need only the graph's edges: they are computed on a second thread from the moment
  // the edges are known (while the mark runs, then types are inferred), followed there by the
  // dominator-tree walk and, once types are known, the per-type totals; the main thread assigns
  // each object its path meanwhile.
  std::latch graph_ready(1);
  analysis::PathAssignment bfs;
  auto lc = gocore::LoadCore(
      core_path, {.exe_path = exe}, [&](const std::string& p) { progress.Phase(p); },
      [&out, &graph_ready, &progress](const gocore::LoadedCore& c,
                                      const gocore::WaitForTypes& wait_for_types) {
        out.graph = std::make_unique<analysis::HeapGraph>(*c.heap, *c.graph, c.roots.roots);
        graph_ready.count_down();
        out.retention = out.graph->ComputeRetention();
        out.retention.walk = out.retention.tree.MakeWalk();
        progress.Note("dominators and retained sizes done");
        if (wait_for_types()) out.types = TypeTotals(c);
      },
      [&](const gocore::LoadedCore& c) {
        progress.Note("types done");
        // LoadCore gave the core's pages back after the edge scan; type inference read a few
        // again, and nothing after it reads the core: give those back too.
        c.program->core().file().ReleaseResidentPages();
        if (ro.kind == analysis::TreeKind::kBfs) {
          graph_ready.wait();
          progress.Phase("assigning each object its path (dominators alongside)");
          bfs = analysis::AssignBfsPaths(c, *out.graph, ro.max_depth);
          progress.Note("paths assigned");
        }
      });
  if (!lc.ok()) return lc.status();
  out.core = std::move(*lc);
  progress.Phase("building retention paths");
  out.tree = analysis::BuildReferenceTree(*out.core, *out.graph, out.retention, ro, std::move(bfs));
  const gocore::LoadedCore& c = *out.core;
  out.totals = {c.graph->reachable_objects, c.graph->reachable_bytes,
                c.graph->unreachable_objects, c.graph->unreachable_bytes,
                c.typing->typed_bytes, c.typing->untyped_bytes};
  return out;
}

// --low-memory: the breadth-first tree in one pass over the heap, no graph, no dominators.
absl::StatusOr<Analysis> AnalyzeLowMemory(const std::string& core_path, const std::string& exe,
                                          const AnalyzeArgs& a, Progress& progress) {
  Analysis out;
  out.retained = false;
  auto lc = gocore::LoadCoreSpansOnly(core_path, {.exe_path = exe},
                                      [&](const std::string& p) { progress.Phase(p); });
  if (!lc.ok()) return lc.status();
  out.core = std::move(*lc);
  const uint64_t total = out.core->heap->num_objects();
  progress.Phase("walking the heap from the roots");
  analysis::StreamingOptions so;
  so.max_depth = a.max_depth;
  so.queue_memory = static_cast<size_t>(a.queue_memory_mib * (1 << 20));
  so.progress = [&progress, total](uint64_t reached) {
    progress.Update(absl::StrCat("walking the heap from the roots: ", reached * 100 / std::max<uint64_t>(total, 1),
                                 "% of ", total, " objects"));
  };
  auto r = analysis::BuildStreamingBfsTree(*out.core, so);
  if (!r.ok()) return r.status();
  progress.Note(absl::StrCat("walk done: frontier at most ", r->max_frontier, " objects, ",
                             r->spilled_bytes, " bytes spilled"));
  out.tree = std::move(r->tree);
  out.types = std::move(r->types);
  out.totals = {r->reachable_objects, r->reachable_bytes, r->unreachable_objects,
                r->unreachable_bytes, r->typed_bytes, r->untyped_bytes};
  return out;
}

std::string PathText(const analysis::PathTree& t, uint32_t i) {
  std::vector<std::string> frames;
  for (uint32_t j = i; j != analysis::TreeNode::kNoParent; j = t.nodes[j].parent) {
    frames.push_back(analysis::FrameLabel(t.nodes[j].frame));
  }
  std::reverse(frames.begin(), frames.end());
  return absl::StrJoin(frames, " → ");
}

nlohmann::ordered_json Summary(const Analysis& an, const analysis::PathTree& tree, size_t max_paths) {
  const gocore::LoadedCore& c = *an.core;
  nlohmann::ordered_json j;
  j["go_version"] = c.program->build_info().go_version;
  j["executable"] = c.program->exe().path();
  j["objects"] = c.heap->num_objects();
  j["allocated_bytes"] = c.heap->total_bytes();
  const Totals& t = an.totals;
  j["reachable_objects"] = t.reachable_objects;
  j["reachable_bytes"] = t.reachable_bytes;
  j["unreachable_objects"] = t.unreachable_objects;
  j["unreachable_bytes"] = t.unreachable_bytes;
  j["typed_bytes"] = t.typed_bytes;
  j["untyped_bytes"] = t.untyped_bytes;
  // Without dominators (--low-memory) retained sizes are unknown: null, and lists by tree bytes.
  if (!an.retained) j["retained_computed"] = false;
  j["runtime"] = {{"heap_marked", c.counters.heap_marked},
                  {"heap_live", c.counters.heap_live},
                  {"numgc", c.counters.num_gc}};
  j["damage"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : c.damage) j["damage"][k] = v;
  std::vector<uint32_t> tops = tree.tops;
  std::stable_sort(tops.begin(), tops.end(), [&](uint32_t x, uint32_t y) {
    return an.retained ? tree.nodes[x].retained_bytes > tree.nodes[y].retained_bytes
                       : tree.nodes[x].cum_bytes > tree.nodes[y].cum_bytes;
  });
  j["roots"] = nlohmann::ordered_json::array();
  for (uint32_t i : tops) {
    const auto& n = tree.nodes[i];
    j["roots"].push_back(
        {{"name", n.frame.name},
         {"kind", std::string(analysis::FrameKindName(n.frame.kind))},
         {"retained_bytes", an.retained ? nlohmann::ordered_json(n.retained_bytes) : nullptr},
         {"tree_bytes", n.cum_bytes},
         {"objects", n.cum_count}});
  }
  j["paths"] = analysis::PathsToJson(tree, max_paths);
  if (!an.retained) {
    for (auto& p : j["paths"]) p["retained_bytes"] = nullptr;
  }
  return j;
}

int WriteOutputs(const Analysis& an, const analysis::PathTree& folded, const AnalyzeArgs& a) {
  for (const std::string& o : a.outputs) {
    absl::Status s;
    if (absl::EndsWith(o, ".svg")) {
      analysis::SvgOptions so;
      so.title = "Reference flame graph: who keeps the heap alive";
      so.subtitle = absl::StrCat(a.core, " — ", an.core->program->build_info().go_version);
      s = analysis::WriteFlameSvgFile(folded, o, so);
    } else if (absl::EndsWith(o, ".folded")) {
      s = analysis::WriteFoldedFile(folded, o);
    } else if (absl::EndsWith(o, ".pb.gz")) {
      analysis::PprofOptions po;
      po.comments = {a.core, an.core->program->build_info().go_version};
      s = analysis::WritePprofFile(folded, o, po);
    } else if (absl::EndsWith(o, ".json")) {
      std::string text = Summary(an, folded, 1000).dump(2) + "\n";
      FILE* f = std::fopen((o + ".tmp").c_str(), "w");
      if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() ||
          std::fclose(f) != 0 || std::rename((o + ".tmp").c_str(), o.c_str()) != 0) {
        s = absl::UnavailableError(absl::StrCat("cannot write ", o));
      }
    } else {
      s = absl::InvalidArgumentError(
          absl::StrCat(o, ": unknown output type (use .svg, .folded, .pb.gz or .json)"));
    }
    if (!s.ok()) return Fail(s);
    std::fprintf(stderr, "wrote %s\n", o.c_str());
  }
  return kExitOk;
}

void PrintSummary(const Analysis& an, const analysis::PathTree& tree, int top) {
  const gocore::LoadedCore& c = *an.core;
  const Totals& g = an.totals;
  std::printf("%s  %s\n", c.program->build_info().go_version.c_str(),
              c.program->exe().path().c_str());
  std::printf("heap        %s in %llu objects; runtime heapMarked %s after GC #%u\n",
              analysis::HumanBytes(c.heap->total_bytes()).c_str(),
              (unsigned long long)c.heap->num_objects(),
              analysis::HumanBytes(c.counters.heap_marked).c_str(), c.counters.num_gc);
  std::printf("reachable   %s in %llu objects; unreachable %s (garbage since the last GC)\n",
              analysis::HumanBytes(g.reachable_bytes).c_str(),
              (unsigned long long)g.reachable_objects,
              analysis::HumanBytes(g.unreachable_bytes).c_str());
  std::printf("typed       %.2f%% of reachable bytes (untyped %s)\n",
              g.reachable_bytes ? 100.0 * g.typed_bytes / g.reachable_bytes : 100.0,
              analysis::HumanBytes(g.untyped_bytes).c_str());
  if (!an.retained) {
    std::printf("low-memory  breadth-first tree only: no retained sizes (run without --low-memory "
                "for dominators)\n");
  }
  // Without retained sizes, the tables are by bytes reached in the tree.
  auto key = [&](uint32_t i) {
    return an.retained ? tree.nodes[i].retained_bytes : tree.nodes[i].cum_bytes;
  };
  const char* by = an.retained ? "retained" : "reached";
  std::vector<uint32_t> tops = tree.tops;
  std::stable_sort(tops.begin(), tops.end(), [&](uint32_t x, uint32_t y) { return key(x) > key(y); });
  if (an.retained) {
    std::printf("\nTop roots by retained bytes\n%12s %12s  %s\n", "RETAINED", "REACHED", "ROOT");
  } else {
    std::printf("\nTop roots by reached bytes\n%12s  %s\n", "REACHED", "ROOT");
  }
  for (size_t k = 0; k < tops.size() && int(k) < top; k++) {
    const auto& n = tree.nodes[tops[k]];
    if (an.retained) {
      std::printf("%12s %12s  %s\n", analysis::HumanBytes(n.retained_bytes).c_str(),
                  analysis::HumanBytes(n.cum_bytes).c_str(), analysis::FrameLabel(n.frame).c_str());
    } else {
      std::printf("%12s  %s\n", analysis::HumanBytes(n.cum_bytes).c_str(),
                  analysis::FrameLabel(n.frame).c_str());
    }
  }
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < tree.nodes.size(); i++) {
    if (tree.nodes[i].parent != analysis::TreeNode::kNoParent) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return key(x) > key(y); });
  std::printf("\nTop retention paths by %s bytes\n%12s %10s  %s\n", by,
              an.retained ? "RETAINED" : "REACHED", "OBJECTS", "PATH");
  for (size_t k = 0; k < order.size() && int(k) < top; k++) {
    const auto& n = tree.nodes[order[k]];
    std::printf("%12s %10llu  %s\n", analysis::HumanBytes(key(order[k])).c_str(),
                (unsigned long long)n.cum_count, PathText(tree, order[k]).c_str());
  }
  std::printf("\nTop types by reachable bytes\n%12s  %s\n", "BYTES", "TYPE");
  for (size_t k = 0; k < an.types.size() && int(k) < top; k++) {
    std::printf("%12s  %s\n", analysis::HumanBytes(an.types[k].bytes).c_str(),
                an.types[k].name.c_str());
  }
}

int RunAnalyze(const AnalyzeArgs& a) {
  if (a.tree != "bfs" && a.tree != "dominator") {
    std::fprintf(stderr, "goretain: --tree must be bfs or dominator\n");
    return kExitUsage;
  }
  if (a.low_memory && a.tree != "bfs") {
    std::fprintf(stderr,
                 "goretain: --low-memory builds the breadth-first tree only (dominators need the "
                 "whole graph): drop --tree dominator or --low-memory\n");
    return kExitUsage;
  }
  Progress progress("analyze");
  auto an = a.low_memory ? AnalyzeLowMemory(a.core, a.exe, a, progress)
                         : Analyze(a.core, a.exe, a, progress);
  if (!an.ok()) return Fail(an.status());
  progress.Phase("folding and writing");
  analysis::PathTree folded = analysis::FoldSmall(an->tree, {.min_fraction = a.min_width / 100});
  int rc = WriteOutputs(*an, folded, a);
  if (rc != kExitOk) return rc;
  progress.Phase("summarising");
  progress.Done();
  PrintSummary(*an, folded, a.top);
  progress.Phase("releasing memory");
  return ReportDamage(an->core->damage);
}

struct DiffArgs {
  std::string base, current, exe;
  std::string output;
  int top = 15;
  bool low_memory = false;
};

int RunDiff(const DiffArgs& d) {
  Progress progress("diff-cores");
  AnalyzeArgs a;
  auto analyze = d.low_memory ? AnalyzeLowMemory : Analyze;
  auto base = analyze(d.base, d.exe, a, progress);
  if (!base.ok()) return Fail(base.status());
  auto cur = analyze(d.current, d.exe, a, progress);
  if (!cur.ok()) return Fail(cur.status());
  analysis::TreeDiff diff = analysis::DiffTrees(base->tree, cur->tree);
  progress.Done();
  if (!d.output.empty()) {
    analysis::SvgOptions so;
    so.title = "Differential reference flame graph (red grew, blue shrank)";
    so.subtitle = absl::StrCat(d.base, " → ", d.current);
    absl::Status s = analysis::WriteDiffFlameSvgFile(diff, d.output, so);
    if (!s.ok()) return Fail(s);
    std::fprintf(stderr, "wrote %s\n", d.output.c_str());
  }
  std::printf("reachable %s → %s (%+lld bytes)\n",
              analysis::HumanBytes(diff.base_total_bytes).c_str(),
              analysis::HumanBytes(diff.current_total_bytes).c_str(),
              (long long)diff.delta_total_bytes());
  std::printf("\nPaths that grew most\n%14s %10s  %s\n", "GREW BY", "OBJECTS", "PATH");
  int shown = 0;
  for (uint32_t i : diff.by_growth) {
    const auto& n = diff.nodes[i];
    if (n.delta_cum_bytes() <= 0 || shown >= d.top) break;
    std::vector<std::string> frames;
    for (uint32_t j = i; j != analysis::TreeNode::kNoParent; j = diff.nodes[j].parent) {
      frames.push_back(analysis::FrameLabel(diff.nodes[j].frame));
    }
    std::reverse(frames.begin(), frames.end());
    std::printf("%+14lld %+10lld  %s\n", (long long)n.delta_cum_bytes(),
                (long long)n.delta_cum_count(), absl::StrJoin(frames, " → ").c_str());
    shown++;
  }
  if (shown == 0) std::printf("(no path grew)\n");
  int rc = ReportDamage(base->core->damage);
  int rc2 = ReportDamage(cur->core->damage);
  return rc != kExitOk ? rc : rc2;
}

}  // namespace

void RegisterAnalyze(CLI::App& app, std::function<int()>* run) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* cmd = app.add_subcommand(
      "analyze", "reference flame graph and retention paths of a Go core (who keeps what alive)");
  cmd->add_option("core", args->core, "core file")->required();
  cmd->add_option("--exe", args->exe, "the executable (default: as the core names it)");
  cmd->add_option("-o,--output", args->outputs,
                  "write FILE.svg, FILE.folded, FILE.pb.gz (pprof) or FILE.json (repeatable)");
  cmd->add_option("--tree", args->tree, "bfs (first path that reaches an object) or dominator")
      ->capture_default_str();
  cmd->add_option("--min-width", args->min_width,
                  "fold subtrees below this percent of the heap into (other)")
      ->capture_default_str();
  cmd->add_option("--max-depth", args->max_depth, "frames per path after the root")
      ->capture_default_str();
  cmd->add_option("--top", args->top, "rows in each summary table")->capture_default_str();
  cmd->add_flag("--low-memory", args->low_memory,
                "breadth-first tree in one pass without the reference graph: a few bytes per "
                "object instead of about 70, no retained sizes");
  // For tests of the spill file; not a tuning knob users need.
  cmd->add_option("--queue-memory", args->queue_memory_mib,
                  "--low-memory: MiB of the frontier kept in memory before it spills to $TMPDIR")
      ->group("");
  cmd->callback([run, args] { *run = [args] { return RunAnalyze(*args); }; });

  auto dargs = std::make_shared<DiffArgs>();
  auto* diff = app.add_subcommand("diff-cores",
                                  "retention paths that grew between two cores of one program");
  diff->add_option("base", dargs->base, "the older core")->required();
  diff->add_option("current", dargs->current, "the newer core")->required();
  diff->add_option("--exe", dargs->exe, "the executable (default: as the cores name it)");
  diff->add_option("-o,--output", dargs->output, "write a differential flame graph (.svg)");
  diff->add_option("--top", dargs->top, "paths listed")->capture_default_str();
  diff->add_flag("--low-memory", dargs->low_memory,
                 "analyse each core as analyze --low-memory does (breadth-first tree, one pass)");
  diff->callback([run, dargs] { *run = [dargs] { return RunDiff(*dargs); }; });
}

}  // namespace goretain::cli
