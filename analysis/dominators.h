// Dominator tree of a rooted directed graph (iterative Semi-NCA over flat uint32 arrays).
#ifndef GORETAIN_ANALYSIS_DOMINATORS_H_
#define GORETAIN_ANALYSIS_DOMINATORS_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace goretain::analysis {

// Successors of a node, as a callback: calls emit(succ) for each successor, in a fixed order.
using SuccessorFn = std::function<void(uint32_t node, const std::function<void(uint32_t)>& emit)>;

// idom[v] for every node reachable from `root` (idom[root] = root); kUnreachable elsewhere.
// Iterative (no recursion), O(E log V); memory about 24 bytes per node plus 4 per edge while
// computing, 12 per node after.
class DominatorTree {
 public:
  static constexpr uint32_t kUnreachable = std::numeric_limits<uint32_t>::max();

  static DominatorTree Compute(uint32_t num_nodes, uint32_t root, const SuccessorFn& succ) {
    return ComputeWith(num_nodes, root, [&succ](uint32_t v, auto&& emit) {
      succ(v, [&](uint32_t w) { emit(w); });
    });
  }
  // Same, with any callable succ(node, emit) — inlined, for large graphs.
  template <typename Succ>
  static DominatorTree ComputeWith(uint32_t num_nodes, uint32_t root, const Succ& succ) {
    return ComputeWith(num_nodes, root, succ, [](uint32_t, int) {});
  }
  // Same, with a cache hint: prefetch(node, 0) asks for what succ(node) reads first, and
  // prefetch(node, 1), called later for the same node, for what that points to. The DFS calls it
  // for the nodes it is about to visit.
  template <typename Succ, typename Prefetch>
  static DominatorTree ComputeWith(uint32_t num_nodes, uint32_t root, const Succ& succ,
                                   const Prefetch& prefetch) {
    return ComputeWith(num_nodes, root, succ, prefetch, [](uint32_t) { return true; });
  }
  // Same, told which nodes have no successors (has_successors(node) false: a cheap test, such
  // as a bit per node): the DFS then neither asks for nor reads their successor lists. About
  // half the objects of a Go heap hold no pointer.
  template <typename Succ, typename Prefetch, typename HasSuccessors>
  static DominatorTree ComputeWith(uint32_t num_nodes, uint32_t root, const Succ& succ,
                                   const Prefetch& prefetch, const HasSuccessors& has_successors);

  // Immediate dominator of v (the root's is itself; kUnreachable if v is not reachable).
  uint32_t idom(uint32_t v) const {
    const uint32_t x = num_[v];
    return x == kUnreachable ? kUnreachable : preorder_[idom_num_[x]];
  }
  // Reachable nodes are numbered in DFS preorder from the root (the root is 0); a node's number
  // is larger than its dominator's. kUnreachable for unreachable nodes.
  uint32_t number(uint32_t v) const { return num_[v]; }
  // Number -> node: every node comes after its dominator.
  const std::vector<uint32_t>& preorder() const { return preorder_; }
  // Number -> its immediate dominator's number (the root's: 0).
  const std::vector<uint32_t>& idom_numbers() const { return idom_num_; }

  // Sum of `weight` over each node's dominator subtree (what would be freed without it); by node,
  // like `weight`.
  std::vector<uint64_t> Retained(const std::vector<uint64_t>& weight) const;
  // Same by number: weight_of(node) is called for each reachable node in preorder; element x of
  // the result is what preorder()[x] retains. Summed in place from the last number down.
  template <typename WeightOf>
  std::vector<uint64_t> RetainedByNumber(const WeightOf& weight_of) const {
    const size_t m = preorder_.size();
    std::vector<uint64_t> r(m);
    for (size_t x = 0; x < m; x++) r[x] = weight_of(preorder_[x]);
    for (size_t x = m; x-- > 1;) r[idom_num_[x]] += r[x];
    return r;
  }

  // The dominator tree in its own preorder, for walks that keep state along dominator chains:
  // order[i] is the number at position i; the subtree of the number x at position i (x and what
  // it dominates) is positions i .. i + subtree_size[x] - 1. Children come in number order.
  struct Walk {
    std::vector<uint32_t> order, subtree_size;
  };
  Walk MakeWalk() const;

 private:
  std::vector<uint32_t> num_;       // node -> preorder number
  std::vector<uint32_t> preorder_;  // number -> node
  std::vector<uint32_t> idom_num_;  // number -> its idom's number
};

template <typename Succ, typename Prefetch, typename HasSuccessors>
DominatorTree DominatorTree::ComputeWith(uint32_t n, uint32_t root, const Succ& succ,
                                         const Prefetch& prefetch,
                                         const HasSuccessors& has_successors) {
  constexpr uint32_t kNone = kUnreachable;
  DominatorTree t;
  // 1. Iterative DFS: preorder numbers, DFS-tree parents (in number space). Whether a node was
  //    visited is asked of a bit per node (a few MB, mostly in cache), not of its number (4 bytes
  //    per node, a cache miss per edge on a large graph); numbers are only written here.
  std::vector<uint32_t> num(n, kNone);   // node -> dfs number
  std::vector<uint32_t> vertex;          // dfs number -> node
  std::vector<uint32_t> parent;          // dfs number -> parent's dfs number
  std::vector<uint64_t> visited((uint64_t{n} + 63) / 64, 0);
  auto seen = [&visited](uint32_t v) { return (visited[v >> 6] >> (v & 63)) & 1; };
  vertex.reserve(n);
  parent.reserve(n);
  {
    // Explicit stack of (node, parent number); successors pushed in reverse so that the first
    // successor is visited first (deterministic preorder).
    std::vector<std::pair<uint32_t, uint32_t>> stack;
    std::vector<uint32_t> tmp;
    stack.push_back({root, kNone});
    while (!stack.empty()) {
      // The nodes near the top of the stack are visited next (right away if the ones above them
      // are leaves, as most heap objects are): ask for their successor lists ahead.
      constexpr size_t kFirstAhead = 6, kSecondAhead = 2;
      if (stack.size() > kFirstAhead) {
        const uint32_t ahead = stack[stack.size() - 1 - kFirstAhead].first;
        if (has_successors(ahead)) prefetch(ahead, 0);
      }
      if (stack.size() > kSecondAhead) {
        const uint32_t ahead = stack[stack.size() - 1 - kSecondAhead].first;
        if (has_successors(ahead)) prefetch(ahead, 1);
      }
      auto [v, p] = stack.back();
      stack.pop_back();
      if (seen(v)) continue;
      visited[v >> 6] |= uint64_t{1} << (v & 63);
      const uint32_t nv = static_cast<uint32_t>(vertex.size());
      num[v] = nv;
      vertex.push_back(v);
      parent.push_back(p);
      if (!has_successors(v)) continue;
      tmp.clear();
      succ(v, [&](uint32_t w) {
        if (!seen(w)) tmp.push_back(w);
      });
      for (auto it = tmp.rbegin(); it != tmp.rend(); ++it) stack.push_back({*it, nv});
    }
  }
  std::vector<uint64_t>().swap(visited);
  const uint32_t m = static_cast<uint32_t>(vertex.size());
  // 2. Predecessors in number space (CSR). The nodes are visited in their own order, not in DFS
  //    order: a graph stored by node id (CSR) is then read sequentially, and only the targets'
  //    numbers are looked up at random — in batches, each asked for ahead of its use (a random
  //    read per edge, twice, is most of this step's time otherwise). Counts go to
  //    pred_row[x + 2] so that, after the prefix sum, pred_row[x + 1] is x's start and serves as
  //    its fill cursor, ending as x's end.
  std::vector<uint32_t> pred_row(m + 2, 0);
  std::vector<uint32_t> preds;
  {
    constexpr size_t kBatch = 64;
    uint32_t batch_target[kBatch], batch_source[kBatch];
    size_t batched = 0;
    // for_each_edge(flush): every edge (v, w) between reachable nodes, in node order, to
    // flush(count, targets' numbers, sources' numbers) in batches.
    auto for_each_edge = [&](const auto& flush) {
      auto run = [&] {
        uint32_t target_num[kBatch];
        for (size_t i = 0; i < batched; i++) target_num[i] = num[batch_target[i]];
        flush(batched, target_num, batch_source);
        batched = 0;
      };
      for (uint32_t v = 0; v < n; v++) {
        const uint32_t nv = num[v];
        if (nv == kNone || !has_successors(v)) continue;
        succ(v, [&](uint32_t w) {
          __builtin_prefetch(&num[w]);
          batch_target[batched] = w;
          batch_source[batched] = nv;
          if (++batched == kBatch) run();
        });
      }
      run();
    };
    for_each_edge([&](size_t count, const uint32_t* x, const uint32_t*) {
      for (size_t i = 0; i < count; i++) {
        if (x[i] != kNone) __builtin_prefetch(&pred_row[x[i] + 2]);
      }
      for (size_t i = 0; i < count; i++) {
        if (x[i] != kNone) pred_row[x[i] + 2]++;
      }
    });
    for (uint32_t i = 2; i < m + 2; i++) pred_row[i] += pred_row[i - 1];
    preds.resize(pred_row[m + 1]);
    for_each_edge([&](size_t count, const uint32_t* x, const uint32_t* source) {
      for (size_t i = 0; i < count; i++) {
        if (x[i] != kNone) __builtin_prefetch(&pred_row[x[i] + 1]);
      }
      for (size_t i = 0; i < count; i++) {
        if (x[i] != kNone) preds[pred_row[x[i] + 1]++] = source[i];
      }
    });
  }
  pred_row.pop_back();  // pred_row[x] .. pred_row[x + 1] are x's predecessors
  std::vector<uint32_t>().swap(num);  // not needed any more: lowers the peak below
  // 3. Semi-dominators as in Lengauer–Tarjan (simple eval with path compression), then
  //    immediate dominators by Semi-NCA: in preorder, idom(w) is the nearest ancestor of
  //    parent(w) numbered at most semi(w) on the dominator chain. No buckets: fewer evals and
  //    two arrays fewer than LT's second pass (Georgiadis, "Linear-Time Algorithms for
  //    Dominators and Related Problems", 2005).
  std::vector<uint32_t> semi(m), ancestor(m, kNone), label(m);
  for (uint32_t i = 0; i < m; i++) semi[i] = label[i] = i;
  std::vector<uint32_t> path;
  auto eval = [&](uint32_t v) -> uint32_t {
    if (ancestor[v] == kNone) return v;
    // Compress the ancestor chain iteratively.
    path.clear();
    uint32_t u = v;
    while (ancestor[ancestor[u]] != kNone) {
      path.push_back(u);
      u = ancestor[u];
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      uint32_t x = *it;
      uint32_t a = ancestor[x];
      if (semi[label[a]] < semi[label[x]]) label[x] = label[a];
      ancestor[x] = ancestor[a];
    }
    return label[v];
  };
  for (uint32_t w = m - 1; w >= 1; w--) {
    // Ask ahead for what eval reads first of the predecessors of a node a few numbers down.
    constexpr uint32_t kAhead = 8, kPredsPrefetched = 4;
    if (w > kAhead) {
      const uint32_t a = w - kAhead;
      for (uint32_t k = pred_row[a]; k < pred_row[a + 1] && k < pred_row[a] + kPredsPrefetched;
           k++) {
        __builtin_prefetch(&ancestor[preds[k]]);
        __builtin_prefetch(&semi[preds[k]]);
      }
    }
    uint32_t s = semi[w];
    for (uint32_t k = pred_row[w]; k < pred_row[w + 1]; k++) {
      uint32_t u = eval(preds[k]);
      if (semi[u] < s) s = semi[u];
    }
    semi[w] = s;
    ancestor[w] = parent[w];
    if (w == 1) break;
  }
  std::vector<uint32_t>().swap(preds);
  std::vector<uint32_t>().swap(pred_row);
  std::vector<uint32_t>().swap(ancestor);
  std::vector<uint32_t>().swap(label);
  // idom in number space, computed in preorder (a node's DFS parent comes before it); reuses
  // `parent` as the idom array.
  std::vector<uint32_t>& idom = parent;
  if (m > 0) idom[0] = 0;
  for (uint32_t w = 1; w < m; w++) {
    uint32_t x = idom[w];  // parent(w)
    while (x > semi[w]) x = idom[x];
    idom[w] = x;
  }
  t.num_.assign(n, kNone);
  for (uint32_t w = 0; w < m; w++) t.num_[vertex[w]] = w;
  t.preorder_ = std::move(vertex);
  t.idom_num_ = std::move(idom);
  return t;
}

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_DOMINATORS_H_
