// The retention-path tree of one snapshot: what every exporter, the agent and the collector use.
#ifndef GORETAIN_ANALYSIS_TREE_H_
#define GORETAIN_ANALYSIS_TREE_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "analysis/path.h"

namespace goretain::analysis {

// One node: the canonical path from a root to here. `id` is the stable path id (PathId of the
// canonical frames), equal across snapshots of the same build.
struct TreeNode {
  static constexpr uint32_t kNoParent = std::numeric_limits<uint32_t>::max();

  uint64_t id = 0;
  uint32_t parent = kNoParent;  // index in PathTree::nodes
  Frame frame;
  uint64_t self_bytes = 0;   // objects attributed to exactly this path
  uint64_t self_count = 0;
  uint64_t cum_bytes = 0;    // self + all descendants ("width" in the flame graph)
  uint64_t cum_count = 0;
  uint64_t retained_bytes = 0;  // dominated by the objects of this path (0 when not computed)
  std::vector<uint32_t> children;  // indexes, in a deterministic order (by cum_bytes desc, then id)
};

// A forest flattened into one vector: top-level nodes are roots (FrameKind::kRoot*), a parent
// always comes before its children. Totals are exact: the sum of top-level cum_bytes is every
// byte the tree attributes, including folded "(other)" nodes.
struct PathTree {
  std::vector<TreeNode> nodes;
  std::vector<uint32_t> tops;  // top-level nodes, deterministic order
  uint64_t total_bytes = 0;
  uint64_t total_count = 0;
};

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_TREE_H_
