// Everything gocore reads from one core, in one call: the program, heap index, roots, reference
// graph and types. The entry point for commands and the agent.
#ifndef GORETAIN_GOCORE_LOADED_CORE_H_
#define GORETAIN_GOCORE_LOADED_CORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gocore/counters.h"
#include "gocore/graph.h"
#include "gocore/heap.h"
#include "gocore/pclntab.h"
#include "gocore/program.h"
#include "gocore/roots.h"
#include "gocore/rtype.h"
#include "gocore/typing.h"

namespace goretain::gocore {

struct LoadedCore {
  std::unique_ptr<Program> program;
  std::unique_ptr<TypeTable> rtypes;
  std::unique_ptr<HeapIndex> heap;
  std::unique_ptr<FuncTable> funcs;
  RootSet roots;
  std::unique_ptr<ObjectGraph> graph;
  std::unique_ptr<Typing> typing;
  RuntimeCounters counters;
  DamageCounters damage;
  // Wall time of each phase, in seconds.
  double open_s = 0, index_s = 0, roots_s = 0, mark_s = 0, typing_s = 0;
};

// Handed to LoadCore's `beside_graph`: blocks until type inference has ended; true if it
// succeeded (`typing` may then be read), false if it failed (LoadCore returns its error).
using WaitForTypes = std::function<bool()>;

// Reads a core up to the typed reference graph. `progress`, if set, is called at the start of
// each phase with its name. `beside_graph`, if set, runs on a second thread from the moment the
// graph's edges are known, while the mark runs and then types are inferred: it may read the
// program, heap index, roots and the graph's edges, but not reachability (the graph's mark bits
// and counts) nor `typing` until its WaitForTypes has returned true. Callers put work that needs
// only the edges there, such as dominators. `after_typing`, if set, runs on the calling thread
// once types are known, while `beside_graph` may still be running (it may read everything).
// LoadCore returns once both are done.
absl::StatusOr<std::unique_ptr<LoadedCore>> LoadCore(
    const std::string& core_path, const OpenOptions& opts,
    const std::function<void(const std::string&)>& progress = nullptr,
    const std::function<void(const LoadedCore&, const WaitForTypes&)>& beside_graph = nullptr,
    const std::function<void(const LoadedCore&)>& after_typing = nullptr);

// For a traversal that never builds the graph (`analyze --low-memory`): the program, a heap
// index without per-object arrays (HeapIndex::Build with per_object false) and the roots; `graph`
// and `typing` stay null.
absl::StatusOr<std::unique_ptr<LoadedCore>> LoadCoreSpansOnly(
    const std::string& core_path, const OpenOptions& opts,
    const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_LOADED_CORE_H_
