// The path trie a reference tree is built in, and the interned strings of its frames: shared
// by the graph-based trees and the streaming (low-memory) one.
#ifndef GORETAIN_ANALYSIS_INTERNAL_PATH_TRIE_H_
#define GORETAIN_ANALYSIS_INTERNAL_PATH_TRIE_H_

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "analysis/path.h"
#include "analysis/tree.h"
#include "analysis/tree_builder.h"

namespace goretain::analysis::internal {

constexpr uint32_t kNoNode = ~uint32_t{0};
constexpr uint32_t kNone = kNoNode;

// The path trie being built: node = (parent node, frame), frames interned.
class Trie {
 public:
  explicit Trie(int max_depth) : max_depth_(max_depth) {}

  struct FrameRec {
    FrameKind kind;
    uint32_t name, type;
  };
  struct Node {
    uint32_t parent;
    FrameRec frame;
    int depth;
  };

  // The child of `parent` for frame (kind, name, type); runs of one type collapse into the first
  // frame and the depth cap keeps deeper objects at the last allowed frame.
  uint32_t Child(uint32_t parent, FrameKind kind, uint32_t name, uint32_t type) {
    if (parent != kNone) {
      const Node& p = nodes_[parent];
      if (!IsRootKind(p.frame.kind) && p.frame.type == type && type != empty_type_) return parent;
      if (p.depth >= max_depth_) return parent;
    }
    // A direct-mapped cache in front of the map: one call per reachable object, and most go to
    // a few hot (parent, frame) pairs.
    CacheEntry& c = cache_[(parent * 0x9E3779B1u ^ name * 0x85EBCA77u ^ type * 0xC2B2AE3Du) >> 20];
    if (c.node != kNone && c.parent == parent && c.name == name && c.type == type) return c.node;
    // The name determines the kind (labels and root names are distinct strings per kind).
    auto [it, fresh] = children_.try_emplace(std::make_tuple(parent, name, type),
                                             static_cast<uint32_t>(nodes_.size()));
    if (fresh) {
      int depth = parent == kNone ? 0 : nodes_[parent].depth + 1;
      nodes_.push_back({parent, {kind, name, type}, depth});
    }
    c = {parent, name, type, it->second};
    return it->second;
  }

  std::vector<Node> nodes_;
  uint32_t empty_type_ = kNone;

 private:
  struct CacheEntry {
    uint32_t parent, name, type, node = kNone;
  };
  int max_depth_;
  std::vector<CacheEntry> cache_ = std::vector<CacheEntry>(4096);
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, uint32_t> children_;
};

// Interned strings (root names, labels, type names) by id.
class Strings {
 public:
  uint32_t Id(const std::string& s) {
    auto [it, fresh] = ids_.try_emplace(s, static_cast<uint32_t>(list_.size()));
    if (fresh) list_.push_back(s);
    return it->second;
  }
  const std::string& operator[](uint32_t i) const { return list_[i]; }

 private:
  absl::flat_hash_map<std::string, uint32_t> ids_;
  std::vector<std::string> list_;
};

// The PathTree of a finished trie: frames spelled out, path ids, self values per node
// (`retained`: empty when not computed), then FinalizeTree.
inline PathTree MakeTree(const Trie& trie, const Strings& strings,
                         const std::vector<uint64_t>& self_bytes,
                         const std::vector<uint64_t>& self_count,
                         const std::vector<uint64_t>& retained) {
  const size_t nn = trie.nodes_.size();
  PathTree tree;
  tree.nodes.resize(nn);
  std::vector<uint64_t> ids(nn, 0);
  for (uint32_t i = 0; i < nn; i++) {
    const auto& tn = trie.nodes_[i];
    const auto& fr = tn.frame;
    TreeNode& out = tree.nodes[i];
    out.parent = tn.parent == kNoNode ? TreeNode::kNoParent : tn.parent;
    out.frame = {fr.kind, strings[fr.name], strings[fr.type]};
    ids[i] = ChildPathId(tn.parent == kNoNode ? 0 : ids[tn.parent], out.frame);
    out.id = ids[i];
    out.self_bytes = i < self_bytes.size() ? self_bytes[i] : 0;
    out.self_count = i < self_count.size() ? self_count[i] : 0;
    out.retained_bytes = i < retained.size() ? retained[i] : 0;
  }
  FinalizeTree(tree);
  return tree;
}

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_PATH_TRIE_H_
