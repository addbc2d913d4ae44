// The difference of two PathTrees of the same workload, matched by stable path
// id.
#ifndef GORETAIN_ANALYSIS_TREE_DIFF_H_
#define GORETAIN_ANALYSIS_TREE_DIFF_H_

#include <cstdint>
#include <vector>

#include "analysis/path.h"
#include "analysis/tree.h"

namespace goretain::analysis {

// A node's values in one of the two trees (all zero when the path is absent
// there).
struct DiffSide {
  bool present = false;
  uint64_t self_bytes = 0;
  uint64_t self_count = 0;
  uint64_t cum_bytes = 0;
  uint64_t cum_count = 0;
  uint64_t retained_bytes = 0;
};

struct DiffNode {
  uint64_t id = 0;
  uint32_t parent = TreeNode::kNoParent;  // index in TreeDiff::nodes
  Frame frame;
  DiffSide base;     // the older tree
  DiffSide current;  // the newer tree
  // By current.cum_bytes desc, then base.cum_bytes desc, then id.
  std::vector<uint32_t> children;

  // Growth of the subtree (what a differential flame graph colours) and of the
  // path itself.
  int64_t delta_cum_bytes() const {
    return Delta(current.cum_bytes, base.cum_bytes);
  }
  int64_t delta_cum_count() const {
    return Delta(current.cum_count, base.cum_count);
  }
  int64_t delta_self_bytes() const {
    return Delta(current.self_bytes, base.self_bytes);
  }
  int64_t delta_self_count() const {
    return Delta(current.self_count, base.self_count);
  }
  int64_t delta_retained_bytes() const {
    return Delta(current.retained_bytes, base.retained_bytes);
  }

 private:
  static int64_t Delta(uint64_t now, uint64_t before) {
    return static_cast<int64_t>(now) - static_cast<int64_t>(before);
  }
};

// The union of both trees' paths, nodes in pre-order (a parent before its
// children).
struct TreeDiff {
  std::vector<DiffNode> nodes;
  std::vector<uint32_t> tops;
  uint64_t base_total_bytes = 0, base_total_count = 0;
  uint64_t current_total_bytes = 0, current_total_count = 0;
  // Every node index, most grown first: delta_cum_bytes desc, then deeper first
  // (so the path where the growth accumulates comes before its ancestors that
  // carry the same growth), then id. Shrunk paths come last, the most shrunk at
  // the end.
  std::vector<uint32_t> by_growth;

  int64_t delta_total_bytes() const {
    return static_cast<int64_t>(current_total_bytes) -
           static_cast<int64_t>(base_total_bytes);
  }
};

// Matches the nodes of `base` and `current` by path id (children under matched
// parents) and returns their union with both values per node. Trees folded with
// different thresholds still diff, but what one folded into "(other)" the other
// may show by name: diff unfolded trees, or trees folded by the same absolute
// threshold, for exact per-path deltas.
TreeDiff DiffTrees(const PathTree& base, const PathTree& current);

// Number of frames from the top (a top-level node has depth 0).
int DiffDepth(const TreeDiff& diff, uint32_t node);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_TREE_DIFF_H_
