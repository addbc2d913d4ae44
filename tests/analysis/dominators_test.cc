#include "analysis/dominators.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace goretain::analysis {
namespace {

using Graph = std::vector<std::vector<uint32_t>>;

DominatorTree Dom(const Graph& g, uint32_t root = 0) {
  return DominatorTree::ComputeWith(static_cast<uint32_t>(g.size()), root,
                                    [&](uint32_t v, auto&& emit) {
                                      for (uint32_t w : g[v]) emit(w);
                                    });
}

// Reference: dominator sets by iterative data flow, then idom = the strict dominator that every
// other strict dominator dominates.
std::vector<uint32_t> NaiveIdoms(const Graph& g, uint32_t root) {
  const uint32_t n = static_cast<uint32_t>(g.size());
  std::vector<bool> reach(n, false);
  std::vector<uint32_t> stack = {root};
  reach[root] = true;
  while (!stack.empty()) {
    uint32_t v = stack.back();
    stack.pop_back();
    for (uint32_t w : g[v]) {
      if (!reach[w]) reach[w] = true, stack.push_back(w);
    }
  }
  Graph preds(n);
  for (uint32_t v = 0; v < n; v++) {
    for (uint32_t w : g[v]) preds[w].push_back(v);
  }
  std::vector<std::set<uint32_t>> dom(n);
  std::set<uint32_t> all;
  for (uint32_t v = 0; v < n; v++) {
    if (reach[v]) all.insert(v);
  }
  for (uint32_t v = 0; v < n; v++) dom[v] = v == root ? std::set<uint32_t>{root} : all;
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t v = 0; v < n; v++) {
      if (v == root || !reach[v]) continue;
      std::set<uint32_t> d = all;
      for (uint32_t p : preds[v]) {
        if (!reach[p]) continue;
        std::set<uint32_t> inter;
        for (uint32_t x : d) {
          if (dom[p].count(x)) inter.insert(x);
        }
        d = inter;
      }
      d.insert(v);
      if (d != dom[v]) dom[v] = d, changed = true;
    }
  }
  std::vector<uint32_t> idom(n, DominatorTree::kUnreachable);
  idom[root] = root;
  for (uint32_t v = 0; v < n; v++) {
    if (v == root || !reach[v]) continue;
    for (uint32_t c : dom[v]) {
      if (c == v) continue;
      bool dominated_by_all = true;
      for (uint32_t o : dom[v]) {
        if (o != v && o != c && !dom[c].count(o)) dominated_by_all = false;
      }
      if (dominated_by_all) idom[v] = c;
    }
  }
  return idom;
}

TEST(DominatorTreeTest, DiamondWithLoop) {
  // 0 → {1, 2} → 3 ⇄ 4 → 5: the diamond's join is dominated by the entry only; the loop body
  // and the exit by the join.
  Graph g = {{1, 2}, {3}, {3}, {4}, {3, 5}, {}};
  DominatorTree t = Dom(g);
  const uint32_t want[] = {0, 0, 0, 0, 3, 4};
  for (uint32_t v = 0; v < 6; v++) EXPECT_EQ(t.idom(v), want[v]) << "vertex " << v;
  // Every node comes after its dominator in the preorder.
  std::vector<int> pos(6);
  for (size_t i = 0; i < t.preorder().size(); i++) pos[t.preorder()[i]] = static_cast<int>(i);
  for (uint32_t v = 1; v < 6; v++) EXPECT_LT(pos[t.idom(v)], pos[v]);
}

TEST(DominatorTreeTest, UnreachableNodesHaveNoDominator) {
  Graph g = {{1}, {}, {1}};
  DominatorTree t = Dom(g);
  EXPECT_EQ(t.idom(1), 0u);
  EXPECT_EQ(t.idom(2), DominatorTree::kUnreachable);
}

TEST(DominatorTreeTest, RetainedSumsDominatedSubtrees) {
  // 0 -> 1 -> 2, 0 -> 3 -> 2: node 2 is shared, so 1 and 3 retain only themselves.
  Graph g = {{1, 3}, {2}, {}, {2}};
  DominatorTree t = Dom(g);
  auto r = t.Retained({0, 10, 100, 1000});
  EXPECT_EQ(r[1], 10u);
  EXPECT_EQ(r[3], 1000u);
  EXPECT_EQ(r[2], 100u);
  EXPECT_EQ(r[0], 1110u);
}

// A graph of 2..41 nodes with up to 3 edges per node on average, loops and self-edges included.
Graph RandomGraph(std::mt19937& rng) {
  const uint32_t n = 2 + rng() % 40;
  Graph g(n);
  const uint32_t edges = rng() % (3 * n);
  for (uint32_t e = 0; e < edges; e++) g[rng() % n].push_back(rng() % n);
  return g;
}

TEST(DominatorTreeTest, MatchesNaiveAlgorithmOnRandomGraphs) {
  std::mt19937 rng(12345);  // fixed seed: deterministic
  for (int trial = 0; trial < 200; trial++) {
    Graph g = RandomGraph(rng);
    const uint32_t n = static_cast<uint32_t>(g.size());
    DominatorTree t = Dom(g);
    std::vector<uint32_t> want = NaiveIdoms(g, 0);
    for (uint32_t v = 0; v < n; v++) {
      ASSERT_EQ(t.idom(v), want[v]) << "trial " << trial << " vertex " << v;
    }
  }
}

TEST(DominatorTreeTest, NumbersAndRetainedMatchNaiveDominatorsOnRandomGraphs) {
  std::mt19937 rng(777);  // fixed seed: deterministic
  for (int trial = 0; trial < 200; trial++) {
    Graph g = RandomGraph(rng);
    const uint32_t n = static_cast<uint32_t>(g.size());
    std::vector<uint64_t> weight(n);
    for (auto& w : weight) w = 1 + rng() % 1000;
    DominatorTree t = Dom(g);
    std::vector<uint32_t> idom = NaiveIdoms(g, 0);
    // Retained: a node's weight plus that of every node it dominates (climb each node's chain).
    std::vector<uint64_t> want(weight);
    for (uint32_t v = 1; v < n; v++) {
      if (idom[v] == DominatorTree::kUnreachable) continue;
      for (uint32_t d = idom[v];; d = idom[d]) {
        want[d] += weight[v];
        if (d == 0) break;
      }
    }
    std::vector<uint64_t> by_number = t.RetainedByNumber([&](uint32_t v) { return weight[v]; });
    ASSERT_EQ(by_number.size(), t.preorder().size());
    for (uint32_t x = 0; x < t.preorder().size(); x++) {
      const uint32_t v = t.preorder()[x];
      ASSERT_EQ(t.number(v), x);
      ASSERT_EQ(by_number[x], want[v]) << "trial " << trial << " vertex " << v;
      if (x > 0) {
        ASSERT_LT(t.idom_numbers()[x], x);
        ASSERT_EQ(t.preorder()[t.idom_numbers()[x]], idom[v]);
      }
    }
    std::vector<uint64_t> r = t.Retained(weight);
    for (uint32_t v = 0; v < n; v++) {
      if (idom[v] == DominatorTree::kUnreachable) {
        ASSERT_EQ(t.number(v), DominatorTree::kUnreachable);
      } else {
        ASSERT_EQ(r[v], want[v]) << "trial " << trial << " vertex " << v;
      }
    }
  }
}

// Told which nodes have no successors, the computation never asks for their successor lists
// (nor prefetches them), and numbers and dominators are those of the plain computation. Graphs of
// up to 300 nodes, about half of them leaves, so that the per-node bits span several words.
TEST(DominatorTreeTest, NodesWithoutSuccessorsAreNeverAskedForAndChangeNothing) {
  std::mt19937 rng(4242);  // fixed seed: deterministic
  for (int trial = 0; trial < 100; trial++) {
    const uint32_t n = 2 + rng() % 300;
    Graph g(n);
    for (uint32_t v = 0; v < n; v++) {
      if (v != 0 && rng() % 2 == 0) continue;  // a leaf
      for (uint32_t k = rng() % 5; k > 0; k--) g[v].push_back(rng() % n);
    }
    size_t leaf_visits = 0;
    DominatorTree told = DominatorTree::ComputeWith(
        n, 0,
        [&](uint32_t v, auto&& emit) {
          if (g[v].empty()) leaf_visits++;
          for (uint32_t w : g[v]) emit(w);
        },
        [&](uint32_t v, int) {
          if (g[v].empty()) leaf_visits++;
        },
        [&](uint32_t v) { return !g[v].empty(); });
    EXPECT_EQ(leaf_visits, 0u) << "trial " << trial;
    DominatorTree plain = Dom(g);
    ASSERT_EQ(told.preorder(), plain.preorder()) << "trial " << trial;
    ASSERT_EQ(told.idom_numbers(), plain.idom_numbers()) << "trial " << trial;
    std::vector<uint32_t> want = NaiveIdoms(g, 0);
    for (uint32_t v = 0; v < n; v++) {
      ASSERT_EQ(told.idom(v), want[v]) << "trial " << trial << " vertex " << v;
    }
  }
}

TEST(DominatorTreeTest, DeepChainDoesNotOverflowTheStack) {
  const uint32_t n = 2'000'000;
  DominatorTree t = DominatorTree::ComputeWith(n, 0, [&](uint32_t v, auto&& emit) {
    if (v + 1 < n) emit(v + 1);
  });
  EXPECT_EQ(t.idom(n - 1), n - 2);
  auto r = t.Retained(std::vector<uint64_t>(n, 1));
  EXPECT_EQ(r[0], n);
}

}  // namespace
}  // namespace goretain::analysis
