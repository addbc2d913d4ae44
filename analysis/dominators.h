// Dominator tree of a rooted directed graph (iterative Lengauer–Tarjan over flat uint32 arrays).
#ifndef GORETAIN_ANALYSIS_DOMINATORS_H_
#define GORETAIN_ANALYSIS_DOMINATORS_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace goretain::analysis {

// Successors of a node, as a callback: calls emit(succ) for each successor, in a fixed order.
using SuccessorFn = std::function<void(uint32_t node, const std::function<void(uint32_t)>& emit)>;

// idom[v] for every node reachable from `root` (idom[root] = root); kUnreachable elsewhere.
// Iterative (no recursion), O(E log V); memory about 40 bytes per node plus 4 per edge.
class DominatorTree {
 public:
  static constexpr uint32_t kUnreachable = std::numeric_limits<uint32_t>::max();

  static DominatorTree Compute(uint32_t num_nodes, uint32_t root, const SuccessorFn& succ);

  uint32_t idom(uint32_t v) const { return idom_[v]; }
  // Nodes in DFS preorder from the root: every node comes after its dominator.
  const std::vector<uint32_t>& preorder() const { return preorder_; }

  // Sum of `weight` over each node's dominator subtree (what would be freed without it).
  std::vector<uint64_t> Retained(const std::vector<uint64_t>& weight) const;

 private:
  std::vector<uint32_t> idom_;
  std::vector<uint32_t> preorder_;
};

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_DOMINATORS_H_
