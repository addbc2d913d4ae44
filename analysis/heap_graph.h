// The heap reference graph seen as one rooted graph for analysis: node 0 is a super-root whose
// successors are the GC roots (in a fixed order), roots point to objects, objects to objects.
#ifndef GORETAIN_ANALYSIS_HEAP_GRAPH_H_
#define GORETAIN_ANALYSIS_HEAP_GRAPH_H_

#include <cstdint>
#include <vector>

#include "analysis/dominators.h"
#include "gocore/graph.h"
#include "gocore/heap.h"
#include "gocore/roots.h"

namespace goretain::analysis {

// Roots sorted by kind, then name, then goroutine id and frame: never by address, so the same
// heap gives the same order in every snapshot.
std::vector<uint32_t> DeterministicRootOrder(const std::vector<gocore::Root>& roots);

class HeapGraph {
 public:
  HeapGraph(const gocore::HeapIndex& heap, const gocore::ObjectGraph& graph,
            const std::vector<gocore::Root>& roots);

  uint32_t num_nodes() const { return 1 + num_roots_ + num_objects_; }
  uint32_t RootNode(uint32_t root) const { return 1 + root; }
  uint32_t ObjectNode(uint32_t object) const { return 1 + num_roots_ + object; }
  bool IsObjectNode(uint32_t node) const { return node > num_roots_; }
  uint32_t ObjectOf(uint32_t node) const { return node - 1 - num_roots_; }
  SuccessorFn Successors() const;
  // Calls emit(succ) for each successor of `node`: the super-root's are the roots in root order,
  // a root's and an object's are their edges' targets, by offset.
  template <typename Emit>
  void ForEachSuccessor(uint32_t node, Emit&& emit) const {
    if (node == 0) {
      for (uint32_t r : root_order_) emit(RootNode(r));
    } else if (node <= num_roots_) {
      for (const gocore::Edge& e : graph_.RootEdges(node - 1)) emit(ObjectNode(e.target));
    } else {
      for (const gocore::Edge& e : graph_.OutEdges(ObjectOf(node))) emit(ObjectNode(e.target));
    }
  }
  const std::vector<uint32_t>& root_order() const { return root_order_; }

  // Dominators over the whole graph and retained bytes per node (objects: their own size plus
  // everything they dominate; roots: what only they keep alive).
  struct Retention {
    DominatorTree tree;
    // Retained bytes by DFS number: element x is what node tree.preorder()[x] retains.
    std::vector<uint64_t> retained_by_number;
    // tree.MakeWalk(), if a caller made it ahead of the walk that needs it (empty otherwise).
    DominatorTree::Walk walk;
    uint64_t retained(uint32_t node) const {
      const uint32_t x = tree.number(node);
      return x == DominatorTree::kUnreachable ? 0 : retained_by_number[x];
    }
  };
  // Reads the graph's edges, not its mark bits: may run while ObjectGraph::Mark does.
  Retention ComputeRetention() const;

  // Breadth-first from the roots in root order, each object counted once under the first root
  // that reaches it (the reference tree's semantics): bytes per root.
  std::vector<uint64_t> FirstReachBytesPerRoot() const;

 private:
  const gocore::HeapIndex& heap_;
  const gocore::ObjectGraph& graph_;
  uint32_t num_roots_, num_objects_;
  std::vector<uint32_t> root_order_;
};

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_HEAP_GRAPH_H_
