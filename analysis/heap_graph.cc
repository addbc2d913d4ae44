#include "analysis/heap_graph.h"

#include <algorithm>
#include <tuple>

namespace goretain::analysis {

std::vector<uint32_t> DeterministicRootOrder(const std::vector<gocore::Root>& roots) {
  std::vector<uint32_t> order(roots.size());
  for (uint32_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const gocore::Root& x = roots[a];
    const gocore::Root& y = roots[b];
    return std::tie(x.kind, x.name, x.goroutine, x.frame) <
           std::tie(y.kind, y.name, y.goroutine, y.frame);
  });
  return order;
}

HeapGraph::HeapGraph(const gocore::HeapIndex& heap, const gocore::ObjectGraph& graph,
                     const std::vector<gocore::Root>& roots)
    : heap_(heap),
      graph_(graph),
      num_roots_(static_cast<uint32_t>(roots.size())),
      num_objects_(static_cast<uint32_t>(heap.num_objects())),
      root_order_(DeterministicRootOrder(roots)) {}

SuccessorFn HeapGraph::Successors() const {
  return [this](uint32_t node, const std::function<void(uint32_t)>& emit) {
    ForEachSuccessor(node, emit);
  };
}

HeapGraph::Retention HeapGraph::ComputeRetention() const {
  Retention r;
  // A bit per object with edges: the DFS skips the rows of the others (no pointers, or none into
  // the heap) without reading them.
  std::vector<uint64_t> has_edges((uint64_t{num_objects_} + 63) / 64, 0);
  for (uint32_t o = 0; o < num_objects_; o++) {
    if (!graph_.OutEdges(o).empty()) has_edges[o >> 6] |= uint64_t{1} << (o & 63);
  }
  r.tree = DominatorTree::ComputeWith(
      num_nodes(), 0, [this](uint32_t node, auto&& emit) { ForEachSuccessor(node, emit); },
      [this](uint32_t node, int stage) {
        if (!IsObjectNode(node)) return;
        if (stage == 0) {
          graph_.PrefetchRow(ObjectOf(node));
        } else {
          graph_.PrefetchEdges(ObjectOf(node));
        }
      },
      [this, &has_edges](uint32_t node) {
        if (!IsObjectNode(node)) return true;
        const uint32_t o = ObjectOf(node);
        return ((has_edges[o >> 6] >> (o & 63)) & 1) != 0;
      });
  std::vector<uint64_t>().swap(has_edges);
  // The DFS numbered exactly the objects that the mark reaches (from the same root edges over
  // the same edges), so the mark bits are not read here: this may run while the mark does.
  r.retained_by_number = r.tree.RetainedByNumber([this](uint32_t node) -> uint64_t {
    return IsObjectNode(node) ? heap_.object_size(ObjectOf(node)) : 0;
  });
  return r;
}

std::vector<uint64_t> HeapGraph::FirstReachBytesPerRoot() const {
  std::vector<uint64_t> bytes(num_roots_, 0);
  std::vector<uint64_t> seen((num_objects_ + 63) / 64, 0);
  std::vector<uint32_t> queue;
  for (uint32_t r : root_order_) {
    queue.clear();
    for (const gocore::Edge& e : graph_.RootEdges(r)) queue.push_back(e.target);
    for (size_t i = 0; i < queue.size(); i++) {
      uint32_t o = queue[i];
      uint64_t bit = uint64_t{1} << (o & 63);
      if (seen[o >> 6] & bit) continue;
      seen[o >> 6] |= bit;
      bytes[r] += heap_.object_size(o);
      for (const gocore::Edge& e : graph_.OutEdges(o)) {
        if (!(seen[e.target >> 6] & (uint64_t{1} << (e.target & 63)))) queue.push_back(e.target);
      }
    }
  }
  return bytes;
}

}  // namespace goretain::analysis
