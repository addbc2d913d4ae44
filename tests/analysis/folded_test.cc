#include "analysis/folded.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "analysis/tree_fold.h"
#include "tests/analysis/test_trees.h"
#include "tests/testing/fixtures.h"

namespace goretain::analysis {
namespace {

using testing::BuildTree;
using testing::Field;
using testing::Global;
using testing::SessionTree;

std::string Folded(const PathTree& t, const FoldedOptions& o = {}) {
  std::ostringstream out;
  EXPECT_TRUE(WriteFolded(t, out, o).ok());
  return out.str();
}

std::vector<FoldedStack> Parse(const std::string& text) {
  std::istringstream in(text);
  auto r = ReadFolded(in);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<FoldedStack>{};
}

TEST(FoldedTest, ReparsesToTheSameTotals) {
  PathTree t = FoldSmall(SessionTree(), {.min_fraction = 0.01});
  uint64_t bytes = 0, count = 0;
  std::map<std::string, uint64_t> by_root;
  for (const FoldedStack& s : Parse(Folded(t))) {
    bytes += s.value;
    by_root[s.frames.front()] += s.value;
  }
  for (const FoldedStack& s :
       Parse(Folded(t, {.value = FoldedOptions::Value::kCount}))) {
    count += s.value;
  }
  EXPECT_EQ(bytes, testing::kTotalBytes);
  EXPECT_EQ(count, testing::kTotalCount);
  EXPECT_EQ(by_root["main.sessionCache"], testing::kSessionBytes);
  EXPECT_EQ(by_root["net/http.DefaultClient"], testing::kClientBytes);
  EXPECT_EQ(by_root["(other)"], 10 * testing::kSmallBytes);
}

TEST(FoldedTest, LinesAreFlameGraphStacksOfFrameLabels) {
  std::string text = Folded(SessionTree());
  // Root name, then `label (type)` per edge; the value is the path's self
  // bytes.
  EXPECT_NE(text.find("main.sessionCache;$mapval (*main.Session);history "
                      "([]main.Entry) 6000000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("main.sessionCache;$mapval (*main.Session) 1000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("main.worker.buf 500000\n"), std::string::npos);
  // Paths with no self bytes of their own have no line (flamegraph.pl would
  // count them twice).
  EXPECT_EQ(text.find("main.sessionCache "), std::string::npos);
  EXPECT_EQ(Parse(text).size(),
            5u + 10u);  // $mapval, history, Transport, Jar, worker, smalls
}

TEST(FoldedTest, EscapesSeparatorsInsideFrames) {
  PathTreeBuilder b;
  // Anonymous struct types carry ';', and a damaged name may carry a newline.
  ASSERT_TRUE(b.Add({Global("main.odd\nname"),
                     Field("v", "*struct { a int; b \\x3b }")},
                    64, 1)
                  .ok());
  PathTree t = std::move(b).Build();
  std::string text = Folded(t);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(std::count(text.begin(), text.end(), ';'),
            1);  // only the separator
  auto stacks = Parse(text);
  ASSERT_EQ(stacks.size(), 1u);
  ASSERT_EQ(stacks[0].frames.size(), 2u);
  EXPECT_EQ(stacks[0].frames[0], "main.odd\nname");
  EXPECT_EQ(stacks[0].frames[1], "v (*struct { a int; b \\x3b })");
  EXPECT_EQ(stacks[0].value, 64u);
}

TEST(FoldedTest, ReaderRejectsLinesWithoutAValue) {
  std::istringstream bad("a;b;c 10\na;b notanumber\n");
  auto r = ReadFolded(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos)
      << r.status();
  std::istringstream empty_frame("a;;c 10\n");
  EXPECT_FALSE(ReadFolded(empty_frame).ok());
  std::istringstream ok("\nfoo 1\r\nbar;baz 2\n");
  auto good = ReadFolded(ok);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->size(), 2u);
}

TEST(FoldedTest, FileOutputIsDeterministicAndFailsOnABadPath) {
  goretain::testing::TempDir dir;
  ASSERT_TRUE(WriteFoldedFile(SessionTree(), dir.File("a.folded")).ok());
  ASSERT_TRUE(WriteFoldedFile(BuildTree(testing::SessionSamples()),
                              dir.File("b.folded"))
                  .ok());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_FALSE(slurp(dir.File("a.folded")).empty());
  EXPECT_EQ(slurp(dir.File("a.folded")), slurp(dir.File("b.folded")));
  absl::Status s =
      WriteFoldedFile(SessionTree(), dir.File("no/such/dir/x.folded"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s;
}

}  // namespace
}  // namespace goretain::analysis
