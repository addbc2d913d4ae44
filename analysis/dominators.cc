#include "analysis/dominators.h"

namespace goretain::analysis {

DominatorTree::Walk DominatorTree::MakeWalk() const {
  // From the numbers alone (a node's dominator has a smaller number): subtree sizes from the last
  // number down, then each number's position is the next free one of its dominator's.
  const uint32_t m = static_cast<uint32_t>(preorder_.size());
  Walk w;
  w.subtree_size.assign(m, 1);
  for (uint32_t x = m; x-- > 1;) w.subtree_size[idom_num_[x]] += w.subtree_size[x];
  w.order.resize(m);
  std::vector<uint32_t> next(m);
  if (m > 0) next[0] = 1;
  for (uint32_t x = 1; x < m; x++) {
    const uint32_t pos = next[idom_num_[x]];
    next[idom_num_[x]] += w.subtree_size[x];
    next[x] = pos + 1;
    w.order[pos] = x;
  }
  return w;
}

std::vector<uint64_t> DominatorTree::Retained(const std::vector<uint64_t>& weight) const {
  std::vector<uint64_t> by_number = RetainedByNumber([&weight](uint32_t v) { return weight[v]; });
  std::vector<uint64_t> r(weight);
  for (size_t x = 0; x < by_number.size(); x++) r[preorder_[x]] = by_number[x];
  return r;
}

}  // namespace goretain::analysis
