// From the typed reference graph to the retention-path tree: the reference flame graph.
#ifndef GORETAIN_ANALYSIS_REFERENCE_TREE_H_
#define GORETAIN_ANALYSIS_REFERENCE_TREE_H_

#include <cstdint>
#include <memory>

#include "analysis/heap_graph.h"
#include "analysis/path.h"
#include "analysis/tree.h"
#include "gocore/loaded_core.h"

namespace goretain::analysis {

enum class TreeKind {
  kBfs,        // breadth-first from the roots, one root kind after the other (globals first):
               // each object under the first path that reaches it
  kDominator,  // each object under its immediate dominator: subtrees are what a node retains
};

struct ReferenceTreeOptions {
  TreeKind kind = TreeKind::kBfs;
  int max_depth = 32;  // frames after the root; deeper objects count toward the last frame
};

// Frame kind of an edge label ("$mapval" → kMapValue, "[3]" → kIndex, "" → kPointer, …).
FrameKind EdgeFrameKind(const std::string& label);
// The type name a path shows for an object: runtime containers are shown as the Go type their
// user wrote, so that their internal objects collapse into one frame: a Swiss map's directory,
// tables and groups (or a classic map's buckets) all read "map[K]V", a channel's hchan "chan T",
// sync.Map's trie nodes and entries "sync.Map". Other names are unchanged.
std::string DisplayTypeName(const std::string& type_name);

// Frame kind of a root.
FrameKind RootFrameKind(gocore::RootKind kind);

// Each reachable object's path in the breadth-first reference tree, before retained sizes are
// known: it needs the types but not the dominators, so callers can build it while dominators
// are still being computed.
class PathAssignment {
 public:
  PathAssignment();
  ~PathAssignment();
  PathAssignment(PathAssignment&&) noexcept;
  PathAssignment& operator=(PathAssignment&&) noexcept;

  struct State;
  std::unique_ptr<State> state;
};
PathAssignment AssignBfsPaths(const gocore::LoadedCore& core, const HeapGraph& graph,
                              int max_depth);

// Every reachable object is attributed to exactly one path; node self values are the bytes and
// objects attributed to the path, retained_bytes what the path's objects dominate (its objects
// minus those dominated by another object of the same path, for the root frames the roots'
// dominated bytes). Paths are canonical (no addresses, indices bucketed, runs of one type
// collapsed, depth capped), so ids compare across snapshots. Deterministic: the same core gives
// the same tree. For the BFS kind, `bfs` is the result of AssignBfsPaths with the same
// max_depth if the caller already has it (it is computed here otherwise).
PathTree BuildReferenceTree(const gocore::LoadedCore& core, const HeapGraph& graph,
                            const HeapGraph::Retention& retention,
                            const ReferenceTreeOptions& opts = {}, PathAssignment bfs = {});

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_REFERENCE_TREE_H_
