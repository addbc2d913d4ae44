#include "analysis/json_export.h"

#include <gtest/gtest.h>

#include <sstream>

#include "analysis/tree_fold.h"
#include "tests/analysis/test_trees.h"

namespace goretain::analysis {
namespace {

using nlohmann::json;
using testing::Field;
using testing::Global;
using testing::MapVal;

std::string Dump(const PathTree& t, const JsonOptions& o = {}) {
  std::ostringstream out;
  EXPECT_TRUE(WriteJson(t, out, o).ok());
  return out.str();
}

TEST(JsonExportTest, PathsAreSortedByRetainedBytesWithTreeValues) {
  std::vector<testing::Sample> s = testing::SessionSamples();
  s[0].retained = 8'000'000;  // $mapval retains more than its tree bytes
  s[2].retained = 9'000'000;  // Transport retains the most
  json j = json::parse(Dump(testing::BuildTree(s)));
  const json& paths = j.at("paths");
  ASSERT_EQ(paths.size(), j.at("nodes").size());
  EXPECT_EQ(paths[0].at("frames"), json({"net/http.DefaultClient",
                                         "Transport (*net/http.Transport)"}));
  EXPECT_EQ(paths[0].at("retained_bytes"), 9'000'000);
  EXPECT_EQ(paths[0].at("tree_bytes"), 1'500'000);
  EXPECT_EQ(paths[0].at("objects"), 3);
  EXPECT_EQ(paths[1].at("frames"),
            json({"main.sessionCache", "$mapval (*main.Session)"}));
  EXPECT_EQ(paths[1].at("tree_bytes"), 7'000'000);  // cum: includes history
  EXPECT_EQ(paths[1].at("objects"), 1'100);
  EXPECT_EQ(paths[1].at("self_bytes"), 1'000'000);
  // Without retained sizes the widest paths come first.
  EXPECT_EQ(paths[2].at("frames"), json({"main.sessionCache"}));
  EXPECT_EQ(paths[2].at("retained_bytes"), 0);
  for (size_t i = 1; i < paths.size(); i++) {
    EXPECT_GE(paths[i - 1].at("retained_bytes").get<uint64_t>(),
              paths[i].at("retained_bytes").get<uint64_t>());
  }
  EXPECT_EQ(PathsToJson(testing::BuildTree(s), 2).size(), 2u);
}

TEST(JsonExportTest, NodesCarryFramesValuesAndHexIds) {
  PathTree t = FoldSmall(testing::SessionTree(), {.min_fraction = 0.01});
  json j = json::parse(Dump(t));
  EXPECT_EQ(j.at("total_bytes"), testing::kTotalBytes);
  EXPECT_EQ(j.at("total_objects"), testing::kTotalCount);
  const json& top = j.at("nodes")[j.at("tops")[0].get<size_t>()];
  EXPECT_EQ(top.at("frame").at("kind"), "root_global");
  EXPECT_EQ(top.at("frame").at("name"), "main.sessionCache");
  EXPECT_EQ(top.at("parent"), nullptr);
  EXPECT_EQ(top.at("cum_bytes"), testing::kSessionBytes);
  char want[17];
  snprintf(
      want, sizeof want, "%016llx",
      static_cast<unsigned long long>(PathId({Global("main.sessionCache")})));
  EXPECT_EQ(top.at("id"), want);
  const json& child = j.at("nodes")[top.at("children")[0].get<size_t>()];
  EXPECT_EQ(child.at("frame").at("kind"), "map_value");
  EXPECT_EQ(child.at("frame").at("type"), "*main.Session");
  uint64_t sum = 0;
  for (const json& i : j.at("tops"))
    sum += j.at("nodes")[i.get<size_t>()].at("cum_bytes").get<uint64_t>();
  EXPECT_EQ(sum, testing::kTotalBytes);
}

TEST(JsonExportTest, StreamedTextIsTheDocument) {
  std::vector<testing::Sample> s = testing::SessionSamples();
  s[1].retained = 5;
  PathTree t = testing::BuildTree(s);
  EXPECT_EQ(json::parse(Dump(t)), TreeToJson(t));
  EXPECT_EQ(json::parse(Dump(t, {.max_paths = 3})),
            TreeToJson(t, {.max_paths = 3}));
  EXPECT_EQ(json::parse(Dump(t, {.max_paths = 3})).at("paths").size(), 3u);
}

TEST(JsonExportTest, DeterministicAndSafeWithDamagedNames) {
  EXPECT_EQ(Dump(testing::SessionTree()),
            Dump(testing::BuildTree(testing::SessionSamples())));
  PathTreeBuilder b;
  ASSERT_TRUE(
      b.Add({Global("main.bad\xff\xfe"), Field("f", "T\xc3")}, 8, 1).ok());
  std::string text = Dump(std::move(b).Build());
  json j = json::parse(text);  // valid UTF-8, parses back
  EXPECT_EQ(j.at("paths")[0].at("frames")[0],
            "main.bad\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace goretain::analysis
