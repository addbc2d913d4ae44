#include "analysis/json_export.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "analysis/frame_format.h"
#include "analysis/internal/file_output.h"

namespace goretain::analysis {
namespace {

using nlohmann::json;

json FrameJson(const Frame& f) {
  return json{{"kind", FrameKindName(f.kind)},
              {"name", ValidUtf8(f.name)},
              {"type", ValidUtf8(f.type)},
              {"label", ValidUtf8(FrameLabel(f))}};
}

// Indexes of the nodes listed in paths[], in their order.
std::vector<uint32_t> PathOrder(const PathTree& tree, size_t max_paths) {
  std::vector<uint32_t> order(tree.nodes.size());
  std::iota(order.begin(), order.end(), 0u);
  auto before = [&](uint32_t a, uint32_t b) {
    const TreeNode& x = tree.nodes[a];
    const TreeNode& y = tree.nodes[b];
    if (x.retained_bytes != y.retained_bytes) {
      return x.retained_bytes > y.retained_bytes;
    }
    if (x.cum_bytes != y.cum_bytes) return x.cum_bytes > y.cum_bytes;
    return x.id < y.id;
  };
  size_t n = max_paths == 0 ? order.size() : std::min(max_paths, order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), before);
  order.resize(n);
  return order;
}

json PathJson(const PathTree& tree, uint32_t i) {
  std::vector<uint32_t> chain;
  for (uint32_t j = i; j != TreeNode::kNoParent; j = tree.nodes[j].parent) {
    chain.push_back(j);
  }
  json frames = json::array();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    frames.push_back(ValidUtf8(FrameLabel(tree.nodes[*it].frame)));
  }
  const TreeNode& node = tree.nodes[i];
  return json{{"id", PathIdHex(node.id)},
              {"frames", std::move(frames)},
              {"retained_bytes", node.retained_bytes},
              {"tree_bytes", node.cum_bytes},
              {"objects", node.cum_count},
              {"self_bytes", node.self_bytes},
              {"self_objects", node.self_count}};
}

json NodeJson(const TreeNode& n) {
  return json{{"id", PathIdHex(n.id)},
              {"parent", n.parent == TreeNode::kNoParent ? json(nullptr)
                                                         : json(n.parent)},
              {"frame", FrameJson(n.frame)},
              {"self_bytes", n.self_bytes},
              {"self_objects", n.self_count},
              {"cum_bytes", n.cum_bytes},
              {"cum_objects", n.cum_count},
              {"retained_bytes", n.retained_bytes},
              {"children", n.children}};
}

// Compact text; strings were made valid UTF-8, and `replace` guarantees dump()
// cannot throw even if one slipped through.
std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

constexpr const char* kFormat = "goretain.path_tree.v1";

}  // namespace

json PathsToJson(const PathTree& tree, size_t max_paths) {
  json paths = json::array();
  for (uint32_t i : PathOrder(tree, max_paths)) {
    paths.push_back(PathJson(tree, i));
  }
  return paths;
}

json TreeToJson(const PathTree& tree, const JsonOptions& opts) {
  json nodes = json::array();
  for (const TreeNode& n : tree.nodes) nodes.push_back(NodeJson(n));
  return json{{"format", kFormat},
              {"total_bytes", tree.total_bytes},
              {"total_objects", tree.total_count},
              {"tops", tree.tops},
              {"nodes", std::move(nodes)},
              {"paths", PathsToJson(tree, opts.max_paths)}};
}

absl::Status WriteJson(const PathTree& tree, std::ostream& out,
                       const JsonOptions& opts) {
  // Keys in the order nlohmann's objects (std::map) print them, so the streamed
  // text is the compact dump of TreeToJson with newlines between elements.
  out << "{\"format\":" << Dump(kFormat) << ",\n\"nodes\":[";
  for (size_t i = 0; i < tree.nodes.size(); i++) {
    out << (i == 0 ? "\n" : ",\n") << Dump(NodeJson(tree.nodes[i]));
  }
  out << "],\n\"paths\":[";
  bool first = true;
  for (uint32_t i : PathOrder(tree, opts.max_paths)) {
    out << (first ? "\n" : ",\n") << Dump(PathJson(tree, i));
    first = false;
  }
  out << "],\n\"tops\":" << Dump(tree.tops)
      << ",\n\"total_bytes\":" << tree.total_bytes
      << ",\n\"total_objects\":" << tree.total_count << "}\n";
  return internal::StreamStatus(out, "JSON tree");
}

absl::Status WriteJsonFile(const PathTree& tree, const std::string& path,
                           const JsonOptions& opts) {
  return internal::WriteFileAtomically(
      path, [&](std::ostream& out) { return WriteJson(tree, out, opts); });
}

}  // namespace goretain::analysis
