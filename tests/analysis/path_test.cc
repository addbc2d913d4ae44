#include "analysis/path.h"

#include <gtest/gtest.h>

namespace goretain::analysis {
namespace {

Frame Root(const std::string& n) { return {FrameKind::kRootGlobal, n, ""}; }
Frame Field(const std::string& n, const std::string& t) { return {FrameKind::kField, n, t}; }
Frame Index(const std::string& n, const std::string& t) { return {FrameKind::kIndex, n, t}; }

TEST(PathTest, LinkedListCollapsesToOneFrame) {
  std::vector<Frame> p = {Root("main.list"), Field("head", "*main.Node")};
  for (int i = 0; i < 50; i++) p.push_back(Field("next", "*main.Node"));
  p.push_back(Field("payload", "[]uint8"));
  auto c = Canonicalize(p);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[1], Field("head", "*main.Node"));
  EXPECT_EQ(c[2], Field("payload", "[]uint8"));
}

TEST(PathTest, IndicesAreBucketed) {
  auto c = Canonicalize({Root("main.s"), Index("[3]", "*main.A"), Field("x", "*main.B"),
                         Index("[12345]", "*main.C")});
  EXPECT_EQ(c[1].name, "[3]");
  EXPECT_EQ(c[3].name, "[10+]");
  // Paths that differ only in a large index are the same path.
  auto d = Canonicalize({Root("main.s"), Index("[3]", "*main.A"), Field("x", "*main.B"),
                         Index("[99]", "*main.C")});
  EXPECT_EQ(PathId(c), PathId(d));
}

TEST(PathTest, DepthIsCapped) {
  std::vector<Frame> p = {Root("main.deep")};
  for (int i = 0; i < 100; i++) p.push_back(Field("f", "T" + std::to_string(i)));
  auto c = Canonicalize(p, {.max_depth = 8});
  EXPECT_EQ(c.size(), 9u);
}

TEST(PathTest, IdsAreStableAndDistinguishFields) {
  // Fixed value: ids must never change between releases, or stored paths stop matching.
  std::vector<Frame> p = {Root("main.sessionCache"), {FrameKind::kMapValue, "$mapval", "*main.Session"},
                          Field("history", "[]main.Entry")};
  EXPECT_EQ(PathId(p), PathId(p));
  EXPECT_EQ(PathId(p), ChildPathId(ChildPathId(ChildPathId(0, p[0]), p[1]), p[2]));
  auto q = p;
  q[2].name = "historyOld";
  EXPECT_NE(PathId(p), PathId(q));
  // Name/type boundary is part of the hash: ("ab","c") differs from ("a","bc").
  EXPECT_NE(ChildPathId(0, Field("ab", "c")), ChildPathId(0, Field("a", "bc")));
  EXPECT_NE(ChildPathId(0, p[0]), 0u);
}

}  // namespace
}  // namespace goretain::analysis
