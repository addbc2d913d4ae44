#include "analysis/tree_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNoParent = TreeNode::kNoParent;

void SortByWidth(const std::vector<TreeNode>& nodes, std::vector<uint32_t>& v) {
  std::sort(v.begin(), v.end(), [&](uint32_t a, uint32_t b) {
    if (nodes[a].cum_bytes != nodes[b].cum_bytes)
      return nodes[a].cum_bytes > nodes[b].cum_bytes;
    return nodes[a].id < nodes[b].id;
  });
}

}  // namespace

absl::Status PathTreeBuilder::Add(const std::vector<Frame>& frames,
                                  uint64_t bytes, uint64_t count,
                                  uint64_t retained_bytes) {
  if (frames.empty())
    return absl::InvalidArgumentError("path tree: empty path");
  if (!IsRootKind(frames.front().kind) &&
      frames.front().kind != FrameKind::kOther) {
    return absl::InvalidArgumentError(
        absl::StrCat("path tree: path starts with non-root frame \"",
                     frames.front().name, "\""));
  }
  std::vector<Frame> canonical = Canonicalize(frames, canonical_);
  uint32_t node = kNoParent;
  uint64_t id = 0;
  for (const Frame& f : canonical) {
    node = Intern(node, id, f);
    id = tree_.nodes[node].id;
  }
  TreeNode& n = tree_.nodes[node];
  n.self_bytes += bytes;
  n.self_count += count;
  n.retained_bytes += retained_bytes;
  return absl::OkStatus();
}

uint32_t PathTreeBuilder::Intern(uint32_t parent, uint64_t parent_id,
                                 const Frame& frame) {
  uint64_t id = ChildPathId(parent_id, frame);
  auto [it, inserted] =
      by_id_.try_emplace(id, static_cast<uint32_t>(tree_.nodes.size()));
  if (!inserted) {
    const TreeNode& existing = tree_.nodes[it->second];
    if (existing.parent != parent || !(existing.frame == frame))
      id_collisions_++;
    return it->second;
  }
  TreeNode n;
  n.id = id;
  n.parent = parent;
  n.frame = frame;
  tree_.nodes.push_back(std::move(n));
  return it->second;
}

PathTree PathTreeBuilder::Build() && {
  FinalizeTree(tree_);
  by_id_.clear();
  return std::move(tree_);
}

void FinalizeTree(PathTree& tree) {
  std::vector<TreeNode>& nodes = tree.nodes;
  const uint32_t n = static_cast<uint32_t>(nodes.size());
  tree.tops.clear();
  for (TreeNode& node : nodes) {
    node.children.clear();
    node.cum_bytes = node.self_bytes;
    node.cum_count = node.self_count;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (nodes[i].parent == kNoParent) {
      tree.tops.push_back(i);
    } else {
      nodes[nodes[i].parent].children.push_back(i);
    }
  }
  // Post-order sums without recursion: a reverse pre-order visits children
  // before parents even when the input does not keep parents first.
  std::vector<uint32_t> order;
  order.reserve(n);
  std::vector<uint32_t> stack(tree.tops.rbegin(), tree.tops.rend());
  while (!stack.empty()) {
    uint32_t i = stack.back();
    stack.pop_back();
    order.push_back(i);
    for (uint32_t c : nodes[i].children) stack.push_back(c);
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const TreeNode& node = nodes[*it];
    if (node.parent != kNoParent) {
      nodes[node.parent].cum_bytes += node.cum_bytes;
      nodes[node.parent].cum_count += node.cum_count;
    }
  }
  for (TreeNode& node : nodes) SortByWidth(nodes, node.children);
  SortByWidth(nodes, tree.tops);

  // Renumber in pre-order of the sorted tree, so equal trees are equal vectors.
  std::vector<uint32_t> new_index(n, kNoParent);
  std::vector<uint32_t> preorder;
  preorder.reserve(n);
  stack.assign(tree.tops.rbegin(), tree.tops.rend());
  while (!stack.empty()) {
    uint32_t i = stack.back();
    stack.pop_back();
    new_index[i] = static_cast<uint32_t>(preorder.size());
    preorder.push_back(i);
    for (auto c = nodes[i].children.rbegin(); c != nodes[i].children.rend();
         ++c) {
      stack.push_back(*c);
    }
  }
  std::vector<TreeNode> renumbered;
  renumbered.reserve(preorder.size());
  for (uint32_t old : preorder) {
    TreeNode node = std::move(nodes[old]);
    if (node.parent != kNoParent) node.parent = new_index[node.parent];
    for (uint32_t& c : node.children) c = new_index[c];
    renumbered.push_back(std::move(node));
  }
  nodes = std::move(renumbered);
  for (uint32_t& t : tree.tops) t = new_index[t];
  tree.total_bytes = 0;
  tree.total_count = 0;
  for (uint32_t t : tree.tops) {
    tree.total_bytes += nodes[t].cum_bytes;
    tree.total_count += nodes[t].cum_count;
  }
}

}  // namespace goretain::analysis
