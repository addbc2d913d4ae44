#include "analysis/dominators.h"

namespace goretain::analysis {

std::vector<uint64_t> DominatorTree::Retained(const std::vector<uint64_t>& weight) const {
  std::vector<uint64_t> r(weight);
  for (auto it = preorder_.rbegin(); it != preorder_.rend(); ++it) {
    uint32_t v = *it;
    uint32_t d = idom_[v];
    if (d != v) r[d] += r[v];
  }
  return r;
}

}  // namespace goretain::analysis
