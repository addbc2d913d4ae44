#include "analysis/tree_diff.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNoParent = TreeNode::kNoParent;
constexpr uint32_t kAbsent = TreeNode::kNoParent;

DiffSide SideOf(const PathTree& t, uint32_t i) {
  if (i == kAbsent) return {};
  const TreeNode& n = t.nodes[i];
  return {true,        n.self_bytes, n.self_count,
          n.cum_bytes, n.cum_count,  n.retained_bytes};
}

// A pending node: its indexes in both trees and its parent in the output.
struct Pair {
  uint32_t base = kAbsent;
  uint32_t current = kAbsent;
  uint32_t parent = kNoParent;
};

class Differ {
 public:
  Differ(const PathTree& base, const PathTree& current)
      : base_(base), current_(current) {}

  TreeDiff Run() {
    out_.base_total_bytes = base_.total_bytes;
    out_.base_total_count = base_.total_count;
    out_.current_total_bytes = current_.total_bytes;
    out_.current_total_count = current_.total_count;
    std::vector<Pair> stack;
    PushSorted(base_.tops, current_.tops, kNoParent, stack);
    while (!stack.empty()) {
      Pair p = stack.back();
      stack.pop_back();
      uint32_t index = static_cast<uint32_t>(out_.nodes.size());
      const TreeNode& src = p.current != kAbsent ? current_.nodes[p.current]
                                                 : base_.nodes[p.base];
      DiffNode n;
      n.id = src.id;
      n.parent = p.parent;
      n.frame = src.frame;
      n.base = SideOf(base_, p.base);
      n.current = SideOf(current_, p.current);
      out_.nodes.push_back(std::move(n));
      if (p.parent == kNoParent) {
        out_.tops.push_back(index);
      } else {
        out_.nodes[p.parent].children.push_back(index);
      }
      static const std::vector<uint32_t> kNone;
      PushSorted(
          p.base != kAbsent ? base_.nodes[p.base].children : kNone,
          p.current != kAbsent ? current_.nodes[p.current].children : kNone,
          index, stack);
    }
    SortByGrowth();
    return std::move(out_);
  }

 private:
  // Pairs the children of both sides by id, orders them, and pushes them so the
  // first pops first. A path id hashes the whole path, so one id index per tree
  // pairs children without a map per parent.
  void PushSorted(const std::vector<uint32_t>& b,
                  const std::vector<uint32_t>& c, uint32_t parent,
                  std::vector<Pair>& stack) {
    std::vector<Pair>& pairs = scratch_;
    pairs.clear();
    for (uint32_t i : c) {
      auto it = base_index_.find(current_.nodes[i].id);
      pairs.push_back(
          {it == base_index_.end() ? kAbsent : it->second, i, parent});
    }
    for (uint32_t i : b) {
      if (!current_index_.contains(base_.nodes[i].id)) {
        pairs.push_back({i, kAbsent, parent});
      }
    }
    auto cum = [](const PathTree& t, uint32_t i) {
      return i == kAbsent ? uint64_t{0} : t.nodes[i].cum_bytes;
    };
    auto id = [&](const Pair& p) {
      return p.current != kAbsent ? current_.nodes[p.current].id
                                  : base_.nodes[p.base].id;
    };
    std::sort(pairs.begin(), pairs.end(), [&](const Pair& x, const Pair& y) {
      uint64_t xc = cum(current_, x.current), yc = cum(current_, y.current);
      if (xc != yc) return xc > yc;
      uint64_t xb = cum(base_, x.base), yb = cum(base_, y.base);
      if (xb != yb) return xb > yb;
      return id(x) < id(y);
    });
    stack.insert(stack.end(), pairs.rbegin(), pairs.rend());
  }

  static absl::flat_hash_map<uint64_t, uint32_t> IndexIds(const PathTree& t) {
    absl::flat_hash_map<uint64_t, uint32_t> index;
    index.reserve(t.nodes.size());
    for (uint32_t i = 0; i < t.nodes.size(); i++)
      index.emplace(t.nodes[i].id, i);
    return index;
  }

  // Sorts compact keys rather than indexes into the (large) nodes.
  void SortByGrowth() {
    struct Key {
      int64_t delta;
      int depth;
      uint64_t id;
      uint32_t node;
    };
    const uint32_t n = static_cast<uint32_t>(out_.nodes.size());
    std::vector<Key> keys(n);
    for (uint32_t i = 0; i < n; i++) {
      const DiffNode& d = out_.nodes[i];
      // Pre-order: a parent's depth is known before its children's.
      int depth = d.parent == kNoParent ? 0 : keys[d.parent].depth + 1;
      keys[i] = {d.delta_cum_bytes(), depth, d.id, i};
    }
    std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
      if (a.delta != b.delta) return a.delta > b.delta;
      if (a.depth != b.depth) return a.depth > b.depth;
      return a.id < b.id;
    });
    out_.by_growth.resize(n);
    for (uint32_t i = 0; i < n; i++) out_.by_growth[i] = keys[i].node;
  }

  const PathTree& base_;
  const PathTree& current_;
  const absl::flat_hash_map<uint64_t, uint32_t> base_index_ = IndexIds(base_);
  const absl::flat_hash_map<uint64_t, uint32_t> current_index_ =
      IndexIds(current_);
  std::vector<Pair> scratch_;
  TreeDiff out_;
};

}  // namespace

TreeDiff DiffTrees(const PathTree& base, const PathTree& current) {
  return Differ(base, current).Run();
}

int DiffDepth(const TreeDiff& diff, uint32_t node) {
  int d = 0;
  while (diff.nodes[node].parent != TreeNode::kNoParent) {
    node = diff.nodes[node].parent;
    d++;
  }
  return d;
}

}  // namespace goretain::analysis
