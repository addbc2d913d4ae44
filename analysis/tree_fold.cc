#include "analysis/tree_fold.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "analysis/frame_format.h"
#include "analysis/tree_builder.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNoParent = TreeNode::kNoParent;

class Folder {
 public:
  Folder(const PathTree& in, uint64_t threshold)
      : in_(in), threshold_(threshold) {}

  PathTree Run() {
    FoldLevel(in_.tops, kNoParent, 0);
    // Kept nodes were copied with their self values and every folded byte went
    // to an "(other)" node's self values, so recomputing cum values gives back
    // the input's sums exactly.
    FinalizeTree(out_);
    return std::move(out_);
  }

 private:
  // Copies the children `siblings` of output node `parent` (id `parent_id`),
  // folding small ones.
  void FoldLevel(const std::vector<uint32_t>& siblings, uint32_t parent,
                 uint64_t parent_id) {
    const TreeNode* existing_other = nullptr;
    int small = 0;
    for (uint32_t s : siblings) {
      const TreeNode& n = in_.nodes[s];
      if (IsOtherFrame(n.frame)) {
        existing_other = &n;
      } else if (n.cum_bytes < threshold_) {
        small++;
      }
    }
    const bool fold = small >= 2 || (small >= 1 && existing_other != nullptr);
    uint64_t other_bytes = 0, other_count = 0;
    for (uint32_t s : siblings) {
      const TreeNode& n = in_.nodes[s];
      if (fold && (IsOtherFrame(n.frame) || n.cum_bytes < threshold_)) {
        other_bytes += n.cum_bytes;
        other_count += n.cum_count;
        continue;
      }
      uint32_t copy = Copy(n, parent);
      FoldLevel(n.children, copy, n.id);
    }
    if (fold) {
      TreeNode other;
      other.frame = {FrameKind::kOther, std::string(kOtherName), ""};
      other.id = ChildPathId(parent_id, other.frame);
      other.parent = parent;
      other.self_bytes = other_bytes;
      other.self_count = other_count;
      out_.nodes.push_back(std::move(other));
    }
  }

  uint32_t Copy(const TreeNode& n, uint32_t parent) {
    TreeNode c;
    c.id = n.id;
    c.parent = parent;
    c.frame = n.frame;
    c.self_bytes = n.self_bytes;
    c.self_count = n.self_count;
    c.retained_bytes = n.retained_bytes;
    out_.nodes.push_back(std::move(c));
    return static_cast<uint32_t>(out_.nodes.size() - 1);
  }

  const PathTree& in_;
  const uint64_t threshold_;
  PathTree out_;
};

}  // namespace

bool IsOtherFrame(const Frame& frame) {
  return frame.kind == FrameKind::kOther && frame.name == kOtherName;
}

PathTree FoldSmall(const PathTree& tree, const FoldOptions& opts) {
  double t =
      std::ceil(opts.min_fraction * static_cast<double>(tree.total_bytes));
  uint64_t threshold = t <= 0 ? 0 : static_cast<uint64_t>(t);
  return Folder(tree, threshold).Run();
}

}  // namespace goretain::analysis
