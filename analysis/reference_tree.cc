#include "analysis/reference_tree.h"

#include <cstring>
#include <span>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "analysis/internal/path_trie.h"
#include "analysis/tree_builder.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNone = internal::kNoNode;
using internal::Strings;
using internal::Trie;

}  // namespace

namespace {

// Splits "K,V" at the top-level comma.
bool SplitKV(const std::string& s, std::string* k, std::string* v) {
  int depth = 0;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '<' || c == '[' || c == '(' || c == '{') depth++;
    if (c == '>' || c == ']' || c == ')' || c == '}') depth--;
    if (c == ',' && depth == 0) {
      *k = s.substr(0, i);
      *v = s.substr(i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string DisplayTypeName(const std::string& type_name) {
  std::string t = type_name;
  for (const char* prefix : {"[]*", "[]", "*"}) {
    if (t.rfind(prefix, 0) == 0) {
      std::string rest = t.substr(strlen(prefix));
      std::string d = DisplayTypeName(rest);
      if (d != rest) return d;  // an array of map internals is a map internal
    }
  }
  for (const char* generic : {"map<", "hash<", "table<", "bucket<"}) {
    if (t.rfind(generic, 0) == 0 && t.back() == '>') {
      std::string k, v;
      if (SplitKV(t.substr(strlen(generic), t.size() - strlen(generic) - 1), &k, &v)) {
        return "map[" + k + "]" + v;
      }
    }
  }
  for (const char* runtime_name : {"noalg.map.group[", "map.group[", "map.bucket["}) {
    if (t.rfind(runtime_name, 0) == 0) return "map[" + t.substr(strlen(runtime_name));
  }
  if (t.rfind("hchan<", 0) == 0 && t.back() == '>') return "chan " + t.substr(6, t.size() - 7);
  for (const char* node : {"internal/sync.indirect[", "internal/sync.entry[",
                           "internal/sync.node[", "internal/sync.HashTrieMap["}) {
    if (t.rfind(node, 0) == 0) return "sync.Map";
  }
  return type_name;
}

FrameKind EdgeFrameKind(const std::string& label) {
  if (label.empty()) return FrameKind::kPointer;
  if (label == "$mapkey") return FrameKind::kMapKey;
  if (label == "$mapval") return FrameKind::kMapValue;
  if (label == "$chanbuf") return FrameKind::kChanBuf;
  if (label[0] == '[' && label.find('.') == std::string::npos) return FrameKind::kIndex;
  return FrameKind::kField;
}

FrameKind RootFrameKind(gocore::RootKind kind) {
  switch (kind) {
    case gocore::RootKind::kGlobal:
      return FrameKind::kRootGlobal;
    case gocore::RootKind::kStack:
    case gocore::RootKind::kStackUnnamed:
    case gocore::RootKind::kStackConservative:
      return FrameKind::kRootStack;
    case gocore::RootKind::kFinalizer:
      return FrameKind::kRootFinalizer;
    case gocore::RootKind::kCleanup:
      return FrameKind::kRootCleanup;
    default:
      return FrameKind::kRootOther;
  }
}

// The trie under construction and each reachable object's node in it.
struct PathAssignment::State {
  State(const gocore::LoadedCore& core, const HeapGraph& hg, int max_depth)
      : core(core), hg(hg), trie(max_depth) {
    const gocore::Typing& typing = *core.typing;
    const auto& roots = core.roots.roots;
    trie.empty_type_ = strings.Id("");
    name_single.assign(typing.num_types(), kNone);
    name_several.assign(typing.num_types(), kNone);
    label_frames.assign(typing.label_id_limit(), {FrameKind::kPointer, kNone});
    node_of.assign(core.heap->num_objects(), kNone);
    root_node.assign(roots.size(), kNone);
    for (uint32_t r : hg.root_order()) {
      root_node[r] = trie.Child(kNone, RootFrameKind(roots[r].kind), strings.Id(roots[r].name),
                                trie.empty_type_);
    }
  }

  // Type name ids per typing type (single value / several values), untyped ones per size:
  // strings are made once per type, not per object.
  uint32_t TypeName(uint32_t o) {
    const gocore::Typing& typing = *core.typing;
    uint32_t t = typing.object_type(o);
    if (t == 0) {
      auto [it, fresh] = untyped_names.try_emplace(core.heap->object_size(o), 0);
      if (fresh) it->second = strings.Id(typing.ObjectTypeName(o));
      return it->second;
    }
    uint32_t& slot = typing.HoldsSeveral(o) ? name_several[t] : name_single[t];
    if (slot == kNone) slot = strings.Id(DisplayTypeName(typing.ObjectTypeName(o)));
    return slot;
  }
  uint32_t Child(uint32_t parent, uint32_t label_id, uint32_t target) {
    auto& frame = label_frames[label_id];
    if (frame.second == kNone) {
      const std::string label = core.typing->label(label_id);
      frame = {EdgeFrameKind(label), strings.Id(label)};
    }
    return trie.Child(parent, frame.first, frame.second, TypeName(target));
  }

  const gocore::LoadedCore& core;
  const HeapGraph& hg;
  Trie trie;
  Strings strings;
  std::vector<uint32_t> name_single, name_several;
  absl::flat_hash_map<uint64_t, uint32_t> untyped_names;
  // Per edge label id: kind and name id (kNone until first used).
  std::vector<std::pair<FrameKind, uint32_t>> label_frames;
  std::vector<uint32_t> node_of;                             // trie node of each reachable object
  std::vector<uint32_t> root_node;
  bool bfs_done = false;
};

PathAssignment::PathAssignment() = default;
PathAssignment::~PathAssignment() = default;
PathAssignment::PathAssignment(PathAssignment&&) noexcept = default;
PathAssignment& PathAssignment::operator=(PathAssignment&&) noexcept = default;

PathAssignment AssignBfsPaths(const gocore::LoadedCore& core, const HeapGraph& hg, int max_depth) {
  PathAssignment out;
  out.state = std::make_unique<PathAssignment::State>(core, hg, max_depth);
  PathAssignment::State& st = *out.state;
  const gocore::ObjectGraph& graph = *core.graph;
  const gocore::Typing& typing = *core.typing;
  const auto& roots = core.roots.roots;
  std::vector<uint32_t>& node_of = st.node_of;
  // Breadth-first search from the roots of one kind at a time (globals, then goroutine stacks,
  // then finalizers, …), roots in order, edges by offset: a global's structure stays under
  // that global even where a goroutine local or a finalizer reaches into it by a shorter path.
  std::vector<uint32_t> queue;
  queue.reserve(graph.reachable_objects);
  const auto& order = hg.root_order();
  for (size_t g0 = 0; g0 < order.size();) {
    size_t g1 = g0;
    while (g1 < order.size() && roots[order[g1]].kind == roots[order[g0]].kind) g1++;
    queue.clear();
    for (size_t gi = g0; gi < g1; gi++) {
      uint32_t r = order[gi];
      auto edges = graph.RootEdges(r);
      size_t first = graph.first_root_edge(r);
      for (size_t k = 0; k < edges.size(); k++) {
        uint32_t t = edges[k].target;
        if (node_of[t] != kNone) continue;
        node_of[t] = st.Child(st.root_node[r], typing.root_edge_label_id(first + k), t);
        queue.push_back(t);
      }
    }
    for (size_t i = 0; i < queue.size(); i++) {
      // The queue says which objects come next: ask for their row offsets, then their edges and
      // labels, then their targets' paths and types, a few objects before each is needed.
      constexpr size_t kRowAhead = 16, kEdgeAhead = 8, kTargetAhead = 4, kTargetsPrefetched = 8;
      if (i + kRowAhead < queue.size()) graph.PrefetchRow(queue[i + kRowAhead]);
      if (i + kEdgeAhead < queue.size()) {
        graph.PrefetchEdges(queue[i + kEdgeAhead]);
        typing.PrefetchObject(queue[i + kEdgeAhead]);
      }
      if (i + kTargetAhead < queue.size()) {
        auto next = graph.OutEdges(queue[i + kTargetAhead]);
        for (size_t k = 0; k < next.size() && k < kTargetsPrefetched; k++) {
          __builtin_prefetch(&node_of[next[k].target]);
          typing.PrefetchObject(next[k].target);
        }
      }
      uint32_t o = queue[i];
      auto edges = graph.OutEdges(o);
      for (size_t k = 0; k < edges.size(); k++) {
        if (k + kTargetsPrefetched < edges.size()) {  // objects with many pointers
          __builtin_prefetch(&node_of[edges[k + kTargetsPrefetched].target]);
          typing.PrefetchObject(edges[k + kTargetsPrefetched].target);
        }
        uint32_t t = edges[k].target;
        if (node_of[t] != kNone) continue;
        node_of[t] = st.Child(node_of[o], typing.EdgeLabelId(o, edges[k].offset), t);
        queue.push_back(t);
      }
    }
    g0 = g1;
  }
  st.bfs_done = true;
  return out;
}

PathTree BuildReferenceTree(const gocore::LoadedCore& core, const HeapGraph& hg,
                            const HeapGraph::Retention& retention,
                            const ReferenceTreeOptions& opts, PathAssignment bfs) {
  const gocore::HeapIndex& heap = *core.heap;
  const gocore::ObjectGraph& graph = *core.graph;
  const gocore::Typing& typing = *core.typing;
  const auto& roots = core.roots.roots;
  const uint32_t n = static_cast<uint32_t>(heap.num_objects());

  if (opts.kind == TreeKind::kBfs && (bfs.state == nullptr || !bfs.state->bfs_done)) {
    bfs = AssignBfsPaths(core, hg, opts.max_depth);
  }
  if (opts.kind == TreeKind::kDominator) {
    bfs.state = std::make_unique<PathAssignment::State>(core, hg, opts.max_depth);
  }
  PathAssignment::State& st = *bfs.state;
  Trie& trie = st.trie;
  Strings& strings = st.strings;
  std::vector<uint32_t>& node_of = st.node_of;
  const std::vector<uint32_t>& root_node = st.root_node;

  // Dominator tree only: the frame for objects that no single root dominates, and what they
  // retain together (the frame has no objects of its own).
  uint32_t shared = kNone;
  uint64_t shared_retained = 0;
  if (opts.kind == TreeKind::kDominator) {
    // Dominator tree: preorder puts every object after its immediate dominator. Objects that
    // several roots share (dominated by the super-root only) go under one "(shared)" root.
    const std::vector<uint32_t>& pre = retention.tree.preorder();
    const std::vector<uint32_t>& idom_num = retention.tree.idom_numbers();
    // An object's frame label is that of the first edge from its dominator to it ("" if the
    // dominator reaches it only through others). A dominator with few edges is searched per
    // object; one with many (a map's bucket array, a large slice: up to millions of edges, each
    // target often dominated by it) would make that quadratic, so its edges are read once here
    // and each label parked in node_of of the object it labels, which the loop below reads and
    // then overwrites with the object's path.
    constexpr size_t kSearchedEdges = 16;
    // The label of edge k (in `edges`, the node's own edges) of a root or object node.
    auto edge_label = [&](uint32_t node, std::span<const gocore::Edge> edges, size_t k) {
      return hg.IsObjectNode(node)
                 ? typing.EdgeLabelId(hg.ObjectOf(node), edges[k].offset)
                 : typing.root_edge_label_id(graph.first_root_edge(node - 1) + k);
    };
    auto park_labels = [&](uint32_t source_node, std::span<const gocore::Edge> edges) {
      for (size_t k = 0; k < edges.size(); k++) {
        const uint32_t t = edges[k].target;
        const uint32_t xt = retention.tree.number(hg.ObjectNode(t));
        if (xt == DominatorTree::kUnreachable || pre[idom_num[xt]] != source_node) continue;
        if (node_of[t] != kNone) continue;  // an earlier edge to the same object
        node_of[t] = edge_label(source_node, edges, k);
      }
    };
    for (uint32_t r = 0; r < roots.size(); r++) {
      auto edges = graph.RootEdges(r);
      if (edges.size() > kSearchedEdges) park_labels(hg.RootNode(r), edges);
    }
    for (uint32_t o = 0; o < n; o++) {
      auto edges = graph.OutEdges(o);
      if (edges.size() > kSearchedEdges && graph.reachable(o)) {
        park_labels(hg.ObjectNode(o), edges);
      }
    }
    auto parked_label = [&](uint32_t o) { return node_of[o] == kNone ? 0 : node_of[o]; };
    for (uint32_t x = 0; x < pre.size(); x++) {
      const uint32_t v = pre[x];
      if (!hg.IsObjectNode(v)) continue;
      uint32_t o = hg.ObjectOf(v);
      uint32_t d = pre[idom_num[x]];
      uint32_t parent;
      uint32_t label = 0;  // "" unless the dominator points straight at the object
      if (d == 0) {
        if (shared == kNone) {
          shared = trie.Child(kNone, FrameKind::kRootOther, strings.Id("(shared by several roots)"),
                              trie.empty_type_);
        }
        parent = shared;
        shared_retained += retention.retained_by_number[x];
      } else {
        parent = hg.IsObjectNode(d) ? node_of[hg.ObjectOf(d)] : root_node[d - 1];
        auto edges = hg.IsObjectNode(d) ? graph.OutEdges(hg.ObjectOf(d)) : graph.RootEdges(d - 1);
        if (edges.size() > kSearchedEdges) {
          label = parked_label(o);
        } else {
          for (size_t k = 0; k < edges.size(); k++) {
            if (edges[k].target == o) {
              label = edge_label(d, edges, k);
              break;
            }
          }
        }
      }
      node_of[o] = st.Child(parent, label, o);
    }
  }

  // Self values, and retained bytes: an object's dominated bytes count for its path unless a
  // dominator of it belongs to the same path (walk the dominator tree keeping, per path, how many
  // of its objects are on the current dominator chain).
  const size_t nn = trie.nodes_.size();
  std::vector<uint64_t> self_bytes(nn, 0), self_count(nn, 0), retained(nn, 0);
  for (uint32_t o = 0; o < n; o++) {
    if (node_of[o] == kNone) continue;
    self_bytes[node_of[o]] += heap.object_size(o);
    self_count[node_of[o]]++;
  }
  for (uint32_t r = 0; r < roots.size(); r++) {
    retained[root_node[r]] += retention.retained(hg.RootNode(r));
  }
  if (shared != kNone) retained[shared] += shared_retained;
  {
    // The dominator tree in its own preorder (made here unless the caller made it already).
    const std::vector<uint32_t>& pre = retention.tree.preorder();
    const uint32_t m = static_cast<uint32_t>(pre.size());
    DominatorTree::Walk made;
    if (retention.walk.order.size() != m) made = retention.tree.MakeWalk();
    const DominatorTree::Walk& walk = retention.walk.order.size() == m ? retention.walk : made;
    const std::vector<uint32_t>& order = walk.order;
    const std::vector<uint32_t>& size = walk.subtree_size;
    // Each number's path, gathered in number order with the reads of node_of (random) issued
    // ahead of their use.
    std::vector<uint32_t> path_of(m);
    constexpr uint32_t kAhead = 32;
    for (uint32_t x = 0; x < m; x++) {
      if (x + kAhead < m && hg.IsObjectNode(pre[x + kAhead])) {
        __builtin_prefetch(&node_of[hg.ObjectOf(pre[x + kAhead])]);
      }
      path_of[x] = hg.IsObjectNode(pre[x]) ? node_of[hg.ObjectOf(pre[x])] : kNone;
    }
    // Walk it keeping, per path, how many of its objects are open dominators of the current
    // node: (end position, path) of each open one with descendants.
    std::vector<uint32_t> active(nn, 0);
    std::vector<std::pair<uint32_t, uint32_t>> open;
    for (uint32_t i = 0; i < m; i++) {
      while (!open.empty() && open.back().first <= i) {
        active[open.back().second]--;
        open.pop_back();
      }
      const uint32_t x = order[i];
      const uint32_t path = path_of[x];
      if (path == kNone) continue;
      if (active[path] == 0) retained[path] += retention.retained_by_number[x];
      if (size[x] > 1) {
        active[path]++;
        open.push_back({i + size[x], path});
      }
    }
  }

  return internal::MakeTree(trie, strings, self_bytes, self_count, retained);
}

}  // namespace goretain::analysis
