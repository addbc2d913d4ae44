#include "analysis/dominators.h"

namespace goretain::analysis {

std::vector<uint64_t> DominatorTree::Retained(const std::vector<uint64_t>& weight) const {
  std::vector<uint64_t> by_number = RetainedByNumber([&weight](uint32_t v) { return weight[v]; });
  std::vector<uint64_t> r(weight);
  for (size_t x = 0; x < by_number.size(); x++) r[preorder_[x]] = by_number[x];
  return r;
}

}  // namespace goretain::analysis
