#include "gocore/loaded_core.h"

#include <chrono>
#include <latch>
#include <thread>

#include "base/status_macros.h"

namespace goretain::gocore {
namespace {
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Program, runtime types, functions, counters, heap index and roots: what both loaders need.
absl::StatusOr<std::unique_ptr<LoadedCore>> LoadUpToRoots(
    const std::string& core_path, const OpenOptions& opts,
    const std::function<void(const std::string&)>& progress, bool per_object) {
  auto phase = [&](const char* name) {
    if (progress) progress(name);
    return std::chrono::steady_clock::now();
  };
  auto c = std::make_unique<LoadedCore>();
  auto t = phase("opening core, executable and DWARF");
  ASSIGN_OR_RETURN(c->program, Program::Open(core_path, opts));
  ASSIGN_OR_RETURN(c->rtypes, TypeTable::Create(*c->program));
  ASSIGN_OR_RETURN(c->funcs, FuncTable::Load(*c->program));
  ASSIGN_OR_RETURN(c->counters, ReadRuntimeCounters(*c->program));
  c->open_s = Since(t);
  t = phase(per_object ? "indexing heap spans and objects" : "indexing heap spans");
  ASSIGN_OR_RETURN(c->heap,
                   HeapIndex::Build(*c->program, c->rtypes.get(), &c->damage, per_object));
  c->index_s = Since(t);
  t = phase("collecting roots and unwinding goroutines");
  ASSIGN_OR_RETURN(c->roots, CollectRoots(*c->program, *c->funcs, *c->heap, &c->damage));
  c->roots_s = Since(t);
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoadedCore>> LoadCore(
    const std::string& core_path, const OpenOptions& opts,
    const std::function<void(const std::string&)>& progress,
    const std::function<void(const LoadedCore&, const WaitForTypes&)>& beside_graph,
    const std::function<void(const LoadedCore&)>& after_typing) {
  auto phase = [&](const char* name) {
    if (progress) progress(name);
    return std::chrono::steady_clock::now();
  };
  ASSIGN_OR_RETURN(auto c, LoadUpToRoots(core_path, opts, progress, /*per_object=*/true));
  auto t = phase("marking and building the reference graph");
  ASSIGN_OR_RETURN(c->graph, ObjectGraph::BuildEdges(*c->heap, c->roots.roots));
  // The edge scan read every object; what comes next reads little of the core's memory (type
  // inference a few words): give its pages back now rather than keep them, as large as the heap,
  // resident beside the arrays of the mark, types and dominators. Pages read again fault back in.
  c->program->core().file().ReleaseResidentPages();
  std::latch types_done(1);
  bool types_ok = false;  // written before types_done counts down, read after it opens
  std::thread side;
  if (beside_graph) {
    side = std::thread([&] {
      beside_graph(*c, [&] {
        types_done.wait();
        return types_ok;
      });
    });
  }
  c->graph->Mark(*c->heap);
  c->mark_s = Since(t);
  t = phase("inferring types");
  auto typing = Typing::Infer(*c->program, *c->heap, *c->rtypes, *c->funcs, c->roots.roots,
                              *c->graph);
  if (!typing.ok()) {
    types_done.count_down();
    if (side.joinable()) side.join();
    return typing.status();
  }
  c->typing = std::move(*typing);
  c->typing_s = Since(t);
  types_ok = true;
  types_done.count_down();
  if (after_typing) after_typing(*c);
  if (side.joinable()) side.join();
  return c;
}

absl::StatusOr<std::unique_ptr<LoadedCore>> LoadCoreSpansOnly(
    const std::string& core_path, const OpenOptions& opts,
    const std::function<void(const std::string&)>& progress) {
  return LoadUpToRoots(core_path, opts, progress, /*per_object=*/false);
}

}  // namespace goretain::gocore
