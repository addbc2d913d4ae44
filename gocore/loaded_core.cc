#include "gocore/loaded_core.h"

#include <chrono>
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
    const std::function<void(const LoadedCore&)>& beside_typing,
    const std::function<void(const LoadedCore&)>& after_typing) {
  auto phase = [&](const char* name) {
    if (progress) progress(name);
    return std::chrono::steady_clock::now();
  };
  ASSIGN_OR_RETURN(auto c, LoadUpToRoots(core_path, opts, progress, /*per_object=*/true));
  auto t = phase("marking and building the reference graph");
  ASSIGN_OR_RETURN(c->graph, ObjectGraph::Build(*c->heap, c->roots.roots));
  c->mark_s = Since(t);
  t = phase("inferring types");
  std::thread side;
  if (beside_typing) side = std::thread([&] { beside_typing(*c); });
  auto typing = Typing::Infer(*c->program, *c->heap, *c->rtypes, *c->funcs, c->roots.roots,
                              *c->graph);
  if (!typing.ok()) {
    if (side.joinable()) side.join();
    return typing.status();
  }
  c->typing = std::move(*typing);
  c->typing_s = Since(t);
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
