#include "analysis/tree_builder.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "analysis/tree_diff.h"
#include "analysis/tree_fold.h"
#include "tests/analysis/test_trees.h"

namespace goretain::analysis {
namespace {

using testing::BuildTree;
using testing::Field;
using testing::FindNode;
using testing::Global;
using testing::MapVal;
using testing::SessionSamples;
using testing::SessionTree;

const std::vector<Frame> kSession = {Global("main.sessionCache")};
const std::vector<Frame> kMapVal = {Global("main.sessionCache"),
                                    MapVal("*main.Session")};
const std::vector<Frame> kHistory = {Global("main.sessionCache"),
                                     MapVal("*main.Session"),
                                     Field("history", "[]main.Entry")};

TEST(PathTreeBuilderTest, SumsCumulativeValuesAndTotals) {
  PathTree t = SessionTree();
  EXPECT_EQ(t.total_bytes, testing::kTotalBytes);
  EXPECT_EQ(t.total_count, testing::kTotalCount);
  int session = FindNode(t, kSession);
  ASSERT_GE(session, 0);
  EXPECT_EQ(t.nodes[session].self_bytes, 0u);
  EXPECT_EQ(t.nodes[session].cum_bytes, 7'000'000u);
  EXPECT_EQ(t.nodes[session].cum_count, 1'100u);
  int mapval = FindNode(t, kMapVal);
  EXPECT_EQ(t.nodes[mapval].self_bytes, 1'000'000u);
  EXPECT_EQ(t.nodes[mapval].cum_bytes, 7'000'000u);
  EXPECT_EQ(t.nodes[mapval].parent, static_cast<uint32_t>(session));
  EXPECT_EQ(t.nodes[FindNode(t, kHistory)].cum_count, 100u);
  // Node ids are the stable path ids of path.h.
  EXPECT_EQ(t.nodes[FindNode(t, kHistory)].id, PathId(kHistory));
}

TEST(PathTreeBuilderTest, OrdersByWidthThenIdAndKeepsParentsFirst) {
  PathTree t = SessionTree();
  ASSERT_EQ(t.tops.size(), 13u);
  EXPECT_EQ(t.nodes[t.tops[0]].frame.name, "main.sessionCache");
  EXPECT_EQ(t.nodes[t.tops[1]].frame.name, "net/http.DefaultClient");
  EXPECT_EQ(t.nodes[t.tops[2]].frame.name, "main.worker.buf");
  for (size_t i = 3; i + 1 < t.tops.size(); i++) {  // equal widths: by id
    EXPECT_LT(t.nodes[t.tops[i]].id, t.nodes[t.tops[i + 1]].id);
  }
  for (size_t i = 0; i < t.nodes.size(); i++) {
    if (t.nodes[i].parent != TreeNode::kNoParent) {
      EXPECT_LT(t.nodes[i].parent, i);
    }
    const auto& c = t.nodes[i].children;
    for (size_t k = 0; k + 1 < c.size(); k++) {
      EXPECT_GE(t.nodes[c[k]].cum_bytes, t.nodes[c[k + 1]].cum_bytes);
    }
  }
}

TEST(PathTreeBuilderTest, SampleOrderDoesNotChangeTheTree) {
  auto samples = SessionSamples();
  PathTree a = BuildTree(samples);
  std::reverse(samples.begin(), samples.end());
  std::rotate(samples.begin(), samples.begin() + 4, samples.end());
  PathTree b = BuildTree(samples);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); i++) {
    EXPECT_EQ(a.nodes[i].id, b.nodes[i].id);
    EXPECT_EQ(a.nodes[i].parent, b.nodes[i].parent);
    EXPECT_EQ(a.nodes[i].cum_bytes, b.nodes[i].cum_bytes);
    EXPECT_EQ(a.nodes[i].children, b.nodes[i].children);
  }
  EXPECT_EQ(a.tops, b.tops);
}

TEST(PathTreeBuilderTest, CanonicalisesPathsSoLinkedListsShareANode) {
  PathTreeBuilder b;
  std::vector<Frame> p = {Global("main.list"), Field("head", "*main.Node")};
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(b.Add(p, 48, 1).ok());
    p.push_back(
        Field("next", "*main.Node"));  // deeper and deeper in the same list
  }
  PathTree t = std::move(b).Build();
  ASSERT_EQ(t.nodes.size(), 2u);
  EXPECT_EQ(t.nodes[1].self_bytes, 240u);
  EXPECT_EQ(t.nodes[1].self_count, 5u);
  EXPECT_EQ(b.id_collisions(), 0u);
}

TEST(PathTreeBuilderTest, RejectsPathsWithoutARoot) {
  PathTreeBuilder b;
  EXPECT_EQ(b.Add({}, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Add({Field("x", "T")}, 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::move(b).Build().total_bytes, 0u);
}

TEST(PathTreeBuilderTest, RetainedBytesStayPerPath) {
  PathTreeBuilder b;
  ASSERT_TRUE(
      b.Add({Global("main.a"), Field("f", "*main.T")}, 100, 1, 900).ok());
  PathTree t = std::move(b).Build();
  EXPECT_EQ(t.nodes[0].retained_bytes,
            0u);  // the root's retained size is not a sum
  EXPECT_EQ(t.nodes[1].retained_bytes, 900u);
}

// ---- folding ----

uint64_t SumTops(const PathTree& t) {
  uint64_t s = 0;
  for (uint32_t i : t.tops) s += t.nodes[i].cum_bytes;
  return s;
}

uint64_t SumSelf(const PathTree& t) {
  uint64_t s = 0;
  for (const TreeNode& n : t.nodes) s += n.self_bytes;
  return s;
}

TEST(FoldTest, FoldsSmallRootsIntoOneOtherAndKeepsTotalsExact) {
  PathTree t = SessionTree();
  // 1% of 9,510,000 = 95,100 B: the ten 1,000 B roots fold, the 500,000 B one
  // stays.
  PathTree f = FoldSmall(t, {.min_fraction = 0.01});
  EXPECT_EQ(f.total_bytes, testing::kTotalBytes);
  EXPECT_EQ(f.total_count, testing::kTotalCount);
  EXPECT_EQ(SumTops(f), testing::kTotalBytes);
  EXPECT_EQ(SumSelf(f), testing::kTotalBytes);
  ASSERT_EQ(f.tops.size(), 4u);
  int other = FindNode(f, {{FrameKind::kOther, "(other)", ""}});
  ASSERT_GE(other, 0);
  EXPECT_EQ(f.nodes[other].cum_bytes, 10 * testing::kSmallBytes);
  EXPECT_EQ(f.nodes[other].cum_count, 10u);
  EXPECT_EQ(f.nodes[other].parent, TreeNode::kNoParent);
  // Every node that survives keeps its values.
  for (const TreeNode& n : f.nodes) {
    if (n.frame.kind == FrameKind::kOther) continue;
    auto it = std::find_if(t.nodes.begin(), t.nodes.end(),
                           [&](auto& o) { return o.id == n.id; });
    ASSERT_NE(it, t.nodes.end());
    EXPECT_EQ(n.cum_bytes, it->cum_bytes) << n.frame.name;
    EXPECT_EQ(n.cum_count, it->cum_count) << n.frame.name;
  }
}

TEST(FoldTest, FoldsInsideSubtreesAndKeepsALoneSmallChild) {
  // 30% of 9,510,000 = 2,853,000 B. Under DefaultClient both children (1.5 MB,
  // 0.5 MB) are small: they fold. Under $mapval the single child history (6 MB)
  // is big. The 2 MB DefaultClient and the 0.5 MB worker and the small roots
  // fold at the top.
  PathTree f = FoldSmall(SessionTree(), {.min_fraction = 0.3});
  EXPECT_EQ(f.total_bytes, testing::kTotalBytes);
  ASSERT_EQ(f.tops.size(), 2u);
  EXPECT_EQ(f.nodes[f.tops[1]].frame.name, "(other)");
  EXPECT_EQ(f.nodes[f.tops[1]].cum_bytes, 2'510'000u);

  // A lone small child is not replaced by an anonymous "(other)" of the same
  // size.
  PathTreeBuilder b;
  ASSERT_TRUE(b.Add({Global("main.big")}, 1000, 1).ok());
  ASSERT_TRUE(b.Add({Global("main.tiny")}, 1, 1).ok());
  PathTree g = FoldSmall(std::move(b).Build(), {.min_fraction = 0.1});
  ASSERT_EQ(g.tops.size(), 2u);
  EXPECT_EQ(g.nodes[g.tops[1]].frame.name, "main.tiny");
}

TEST(FoldTest, FoldingIsIdempotentAndOtherIdsAreStable) {
  PathTree once = FoldSmall(SessionTree(), {.min_fraction = 0.01});
  PathTree twice = FoldSmall(once, {.min_fraction = 0.01});
  ASSERT_EQ(once.nodes.size(), twice.nodes.size());
  for (size_t i = 0; i < once.nodes.size(); i++) {
    EXPECT_EQ(once.nodes[i].id, twice.nodes[i].id);
    EXPECT_EQ(once.nodes[i].cum_bytes, twice.nodes[i].cum_bytes);
  }
  // Another snapshot with other small roots: its "(other)" is the same path.
  PathTreeBuilder b;
  ASSERT_TRUE(b.Add({Global("main.big")}, 1'000'000, 1).ok());
  for (int i = 0; i < 3; i++)
    ASSERT_TRUE(b.Add({Global("main.x" + std::to_string(i))}, 1, 1).ok());
  PathTree other = FoldSmall(std::move(b).Build(), {.min_fraction = 0.01});
  Frame of{FrameKind::kOther, "(other)", ""};
  EXPECT_GE(FindNode(once, {of}), 0);
  EXPECT_GE(FindNode(other, {of}), 0);
}

// ---- diff ----

TEST(DiffTest, MatchesPathsByIdAndRanksGrowth) {
  PathTree base = SessionTree();
  auto samples =
      SessionSamples(/*history_bytes=*/9'000'000);  // the leak grew by 3 MB
  samples.erase(samples.begin() + 3);               // Jar went away (-500,000)
  samples.push_back({{Global("main.newCache")}, 200'000, 4});  // a new root
  PathTree now = BuildTree(samples);
  TreeDiff d = DiffTrees(base, now);
  EXPECT_EQ(d.base_total_bytes, 9'510'000u);
  EXPECT_EQ(d.current_total_bytes, 9'510'000u + 3'000'000 - 500'000 + 200'000);
  EXPECT_EQ(
      d.nodes.size(),
      base.nodes.size() + 1);  // union: Jar kept (absent now), newCache added

  auto find = [&](const std::vector<Frame>& p) {
    uint64_t id = PathId(p);
    for (size_t i = 0; i < d.nodes.size(); i++) {
      if (d.nodes[i].id == id) return static_cast<int>(i);
    }
    return -1;
  };
  int history = find(kHistory);
  ASSERT_GE(history, 0);
  EXPECT_EQ(d.nodes[history].base.cum_bytes, 6'000'000u);
  EXPECT_EQ(d.nodes[history].current.cum_bytes, 9'000'000u);
  EXPECT_EQ(d.nodes[history].delta_cum_bytes(), 3'000'000);
  int jar = find(
      {Global("net/http.DefaultClient"), Field("Jar", "net/http.CookieJar")});
  ASSERT_GE(jar, 0);
  EXPECT_TRUE(d.nodes[jar].base.present);
  EXPECT_FALSE(d.nodes[jar].current.present);
  EXPECT_EQ(d.nodes[jar].delta_cum_bytes(), -500'000);
  int fresh = find({Global("main.newCache")});
  ASSERT_GE(fresh, 0);
  EXPECT_FALSE(d.nodes[fresh].base.present);
  EXPECT_EQ(d.nodes[fresh].delta_cum_count(), 4);

  // The deepest path carrying the 3 MB growth comes first, then its ancestors,
  // and the biggest shrink last.
  EXPECT_EQ(d.by_growth[0], static_cast<uint32_t>(history));
  EXPECT_EQ(d.nodes[d.by_growth[1]].id, PathId(kMapVal));
  EXPECT_EQ(d.nodes[d.by_growth[2]].id, PathId(kSession));
  // Jar and its parent shrank by the same 500,000 B: deeper first there too.
  EXPECT_EQ(d.by_growth[d.by_growth.size() - 2], static_cast<uint32_t>(jar));
  EXPECT_EQ(d.nodes[d.by_growth.back()].id,
            PathId({Global("net/http.DefaultClient")}));
  EXPECT_EQ(DiffDepth(d, history), 2);
  for (size_t i = 0; i < d.nodes.size(); i++) {
    if (d.nodes[i].parent != TreeNode::kNoParent) {
      EXPECT_LT(d.nodes[i].parent, i);
    }
  }
}

}  // namespace
}  // namespace goretain::analysis
