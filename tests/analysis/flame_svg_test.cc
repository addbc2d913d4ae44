#include "analysis/flame_svg.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/str_format.h"
#include "analysis/frame_format.h"
#include "analysis/tree_diff.h"
#include "tests/analysis/test_trees.h"

namespace goretain::analysis {
namespace {

using testing::BuildTree;
using testing::Field;
using testing::Global;
using testing::MapVal;
using testing::SessionSamples;
using testing::SessionTree;

// One drawn frame as the SVG text states it.
struct SvgFrame {
  uint64_t offset = 0, value = 0;
  int depth = 0;
  std::string title;
  double x = 0, width = 0;
  int y = 0;
  int r = -1, g = -1, b = -1;
};

std::map<std::string, SvgFrame> ParseFrames(const std::string& svg) {
  static const std::regex kFrame(
      R"re(<g class="f" data-id="([0-9a-f]{16}|all)" data-o="(\d+)" data-v="(\d+)" data-d="(\d+)"><title>([^<]*)</title><rect x="([0-9.]+)" y="(\d+)" width="([0-9.]+)" height="\d+" fill="rgb\((\d+),(\d+),(\d+)\)"/>)re");
  std::map<std::string, SvgFrame> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), kFrame);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    SvgFrame f;
    f.offset = std::stoull(m[2]);
    f.value = std::stoull(m[3]);
    f.depth = std::stoi(m[4]);
    f.title = m[5];
    f.x = std::stod(m[6]);
    f.y = std::stoi(m[7]);
    f.width = std::stod(m[8]);
    f.r = std::stoi(m[9]);
    f.g = std::stoi(m[10]);
    f.b = std::stoi(m[11]);
    out[m[1]] = f;
  }
  return out;
}

std::string Svg(const PathTree& t, const SvgOptions& o = {}) {
  std::ostringstream out;
  EXPECT_TRUE(WriteFlameSvg(t, out, o).ok());
  return out.str();
}

std::string DiffSvg(const TreeDiff& d) {
  std::ostringstream out;
  EXPECT_TRUE(WriteDiffFlameSvg(d, out).ok());
  return out.str();
}

std::string Id(const std::vector<Frame>& path) {
  return PathIdHex(PathId(path));
}

const std::vector<Frame> kSession = {Global("main.sessionCache")};
const std::vector<Frame> kClient = {Global("net/http.DefaultClient")};
const std::vector<Frame> kHistory = {Global("main.sessionCache"),
                                     MapVal("*main.Session"),
                                     Field("history", "[]main.Entry")};
const std::vector<Frame> kTransport = {
    Global("net/http.DefaultClient"),
    Field("Transport", "*net/http.Transport")};

TEST(FlameSvgTest, SameTreeGivesIdenticalBytes) {
  auto samples = SessionSamples();
  std::string a = Svg(BuildTree(samples));
  std::reverse(samples.begin(), samples.end());
  EXPECT_EQ(a, Svg(BuildTree(samples)));
  TreeDiff d1 = DiffTrees(SessionTree(), BuildTree(SessionSamples(9'000'000)));
  TreeDiff d2 = DiffTrees(SessionTree(), BuildTree(SessionSamples(9'000'000)));
  EXPECT_EQ(DiffSvg(d1), DiffSvg(d2));
  EXPECT_EQ(a.find("http://"),
            a.find("http://www.w3.org/2000/svg"));  // no other URL
  EXPECT_EQ(a.find("https://"), std::string::npos);
}

TEST(FlameSvgTest, WidthsFollowCumulativeBytesAndTooltipsTellValues) {
  SvgOptions o;
  auto frames = ParseFrames(Svg(SessionTree(), o));
  ASSERT_EQ(frames.size(), 1u + 17u);  // "all" + 7 named paths + 10 small roots
  const double px = o.DrawWidth() / 9'510'000.0;
  const SvgFrame& session = frames[Id(kSession)];
  EXPECT_EQ(session.depth, 1);
  EXPECT_EQ(session.value, 7'000'000u);
  EXPECT_NEAR(session.x, o.pad_x, 0.01);
  EXPECT_NEAR(session.width, 7'000'000 * px - 1, 0.01);  // minus the 1 px gap
  const SvgFrame& client = frames[Id(kClient)];
  EXPECT_NEAR(client.x, o.pad_x + 7'000'000 * px,
              0.01);  // right after sessionCache
  EXPECT_EQ(client.y, o.RowY(1));
  EXPECT_EQ(frames[Id(kHistory)].y, o.RowY(3));
  EXPECT_NEAR(frames["all"].width, o.DrawWidth() - 1, 0.01);
  // 7,000,000 B = 6.68 MiB = 73.61% of 9,510,000 B.
  EXPECT_EQ(session.title,
            "main.sessionCache\n6.68 MiB (7,000,000 bytes), 73.61% of "
            "total\n1,100 objects\n"
            "self: 0 B");
  // Colours by kind and package: the two main roots share one, the net/http
  // root differs, a goroutine root is drawn in another family.
  const SvgFrame& worker = frames[Id({testing::Stack("main.worker.buf")})];
  const SvgFrame& small = frames[Id({Global("main.small3")})];
  EXPECT_EQ(std::tie(session.r, session.g, session.b),
            std::tie(small.r, small.g, small.b));
  EXPECT_NE(std::tie(session.r, session.g, session.b),
            std::tie(client.r, client.g, client.b));
  EXPECT_GT(worker.b, worker.r);  // stack roots are blue, globals red
  EXPECT_GT(session.r, session.b);
}

TEST(FlameSvgTest, RetainedBytesShowWhenKnownAndNamesAreEscaped) {
  auto samples = SessionSamples();
  samples[1].retained = 12'345'678;  // history
  samples.push_back(
      {{Global("main.pipe"), Field("c", "chan<- main.Msg & \"x\"")}, 4096, 1});
  auto frames = ParseFrames(Svg(BuildTree(samples)));
  EXPECT_NE(frames[Id(kHistory)].title.find("\nretained: 11.8 MiB"),
            std::string::npos)
      << frames[Id(kHistory)].title;
  EXPECT_EQ(frames[Id(kSession)].title.find("retained"), std::string::npos);
  std::string pipe =
      Id({Global("main.pipe"), Field("c", "chan<- main.Msg & \"x\"")});
  ASSERT_EQ(frames.count(pipe), 1u);
  EXPECT_EQ(frames[pipe].title.substr(0, frames[pipe].title.find('\n')),
            "c (chan&lt;- main.Msg &amp; &quot;x&quot;)");
}

TEST(FlameSvgTest, NarrowFramesAreLeftOutBelowTheMinimumWidth) {
  SvgOptions o;
  o.min_width_px = 1.0;  // the 1,000 B roots are 0.12 px wide
  auto frames = ParseFrames(Svg(SessionTree(), o));
  EXPECT_EQ(frames.count(Id({Global("main.small3")})), 0u);
  EXPECT_EQ(frames.size(), 1u + 7u);
}

TEST(FlameSvgTest, DiffColoursGrownRedShrunkBlueUnchangedGrey) {
  auto now = SessionSamples(/*history_bytes=*/9'000'000);
  now[2].bytes = 1'000'000;  // Transport shrank by 500,000
  TreeDiff d = DiffTrees(SessionTree(), BuildTree(now));
  auto frames = ParseFrames(DiffSvg(d));
  const SvgFrame& history = frames[Id(kHistory)];
  EXPECT_EQ(history.r, 255);
  EXPECT_LT(history.g, 255);
  EXPECT_EQ(history.g, history.b);
  const SvgFrame& transport = frames[Id(kTransport)];
  EXPECT_EQ(transport.b, 255);
  EXPECT_LT(transport.r, 255);
  EXPECT_EQ(transport.r, transport.g);
  // Bigger change, stronger colour: +3 MB is redder than the -0.5 MB is blue.
  EXPECT_LT(history.g, transport.r);
  const SvgFrame& worker = frames[Id({testing::Stack("main.worker.buf")})];
  EXPECT_TRUE(worker.r == worker.g && worker.g == worker.b) << worker.r;
  // Widths come from the newer tree.
  EXPECT_EQ(history.value, 9'000'000u);
  EXPECT_EQ(frames["all"].value, 9'510'000u + 3'000'000 - 500'000);
  EXPECT_NE(history.title.find("now: 8.58 MiB (9,000,000 bytes)"),
            std::string::npos)
      << history.title;
  EXPECT_NE(history.title.find("base: 5.72 MiB (6,000,000 bytes)"),
            std::string::npos);
  EXPECT_NE(history.title.find(
                "delta: +2.86 MiB (+3,000,000 bytes), +50.00%, +0 objects"),
            std::string::npos)
      << history.title;
  EXPECT_NE(transport.title.find("delta: -488 KiB (-500,000 bytes), -33.33%"),
            std::string::npos)
      << transport.title;
}

}  // namespace
}  // namespace goretain::analysis
