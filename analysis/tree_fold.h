// Folding small subtrees of a PathTree into one "(other)" node per parent.
#ifndef GORETAIN_ANALYSIS_TREE_FOLD_H_
#define GORETAIN_ANALYSIS_TREE_FOLD_H_

#include <cstdint>

#include "analysis/tree.h"

namespace goretain::analysis {

struct FoldOptions {
  // A subtree whose cum_bytes is below this fraction of the tree's total_bytes
  // is folded.
  double min_fraction = 0.001;
};

// Returns `tree` with, under every parent (and among the tops), the subtrees
// below the threshold replaced by one node {FrameKind::kOther, "(other)"} whose
// self values are their summed cum values. Totals, and the cum values of every
// kept node, are exactly those of `tree`. A lone small child is kept as it is
// (folding it would only hide its name); a parent that already has an "(other)"
// child (a tree folded before) gets the small ones merged into it. The id of an
// "(other)" node is ChildPathId(parent id, its frame), so it matches across
// snapshots. Its retained_bytes is 0: retained sets of siblings may overlap, so
// they cannot be summed.
PathTree FoldSmall(const PathTree& tree, const FoldOptions& opts = {});

// True for a folded "(other)" frame.
bool IsOtherFrame(const Frame& frame);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_TREE_FOLD_H_
