// The reference graph of a Go heap: our own mark from the roots, and object→object and
// root→object edges in compressed sparse rows over dense object ids.
#ifndef GORETAIN_GOCORE_GRAPH_H_
#define GORETAIN_GOCORE_GRAPH_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "gocore/heap.h"
#include "gocore/roots.h"

namespace goretain::gocore {

struct Edge {
  // Left uninitialised when default-made, so that sizing an edge array does not write it (the
  // graph fills its 300 MB+ of edges from two threads, each faulting in its own part).
  Edge() {}
  Edge(uint32_t target, uint32_t offset) : target(target), offset(offset) {}
  uint32_t target;  // object id
  uint32_t offset;  // byte offset of the pointer in the source object (or root region)
};

// Immutable after Build; safe for concurrent readers. Memory: 4 bytes per object (row offsets),
// 8 bytes and 1 bit per edge, 1 bit per object (mark).
class ObjectGraph {
 public:
  // Records the edges of every object and marks every object reachable from `roots`.
  // Pointers into free slots or outside the heap are not edges.
  static absl::StatusOr<std::unique_ptr<ObjectGraph>> Build(const HeapIndex& heap,
                                                            const std::vector<Root>& roots);
  // The same in two steps, for callers that start work needing only the edges (dominators)
  // while the mark runs: BuildEdges records the object and root edges and marks nothing
  // (reachable() is false for every object and the counts below are zero until Mark); Mark then
  // (once) writes only the mark bits and the counts, never the edges, so other threads may read
  // edges meanwhile.
  static absl::StatusOr<std::unique_ptr<ObjectGraph>> BuildEdges(const HeapIndex& heap,
                                                                 const std::vector<Root>& roots);
  void Mark(const HeapIndex& heap);

  bool reachable(uint32_t id) const { return (mark_[id >> 6] >> (id & 63)) & 1; }
  std::span<const Edge> OutEdges(uint32_t id) const {
    return {edges_.data() + row_[id], edges_.data() + row_[id + 1]};
  }
  std::span<const Edge> RootEdges(uint32_t root) const {
    return {root_edges_.data() + root_row_[root], root_edges_.data() + root_row_[root + 1]};
  }
  // Index of the object's first edge in the global edge order (for arrays parallel to edges).
  size_t first_edge(uint32_t id) const { return row_[id]; }
  // True when edge `edge_index` points past its target's first byte (into a field or element),
  // false when the pointer equals the target's address: readers that need only that do not
  // have to read the pointer again.
  bool PointsInside(size_t edge_index) const {
    return (inside_[edge_index >> 6] >> (edge_index & 63)) & 1;
  }
  size_t first_root_edge(uint32_t root) const { return root_row_[root]; }
  // Cache hints for traversals that know which objects they visit next: the row offsets, then
  // (once those are in cache) the edges.
  void PrefetchRow(uint32_t id) const { __builtin_prefetch(&row_[id]); }
  void PrefetchEdges(uint32_t id) const {
    __builtin_prefetch(edges_.data() + row_[id]);
    __builtin_prefetch(inside_.data() + (row_[id] >> 6));
  }
  size_t num_objects() const { return row_.size() - 1; }
  size_t num_roots() const { return root_row_.size() - 1; }
  size_t num_edges() const { return edges_.size(); }

  uint64_t reachable_objects = 0, reachable_bytes = 0;
  uint64_t unreachable_objects = 0, unreachable_bytes = 0;

 private:
  std::vector<uint64_t> mark_;
  std::vector<uint32_t> row_;   // num_objects + 1
  std::vector<Edge> edges_;
  std::vector<uint64_t> inside_;  // per edge: PointsInside
  std::vector<uint32_t> root_row_;
  std::vector<Edge> root_edges_;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_GRAPH_H_
