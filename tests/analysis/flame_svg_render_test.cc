// Renders our SVG flame graphs in headless Chromium (Debian's `chromium`,
// installed by scripts/setup.sh) and checks the screenshot: frames are drawn
// where the tree's bytes put them, and the embedded script's search and zoom
// work. Chromium runs offline: a file:// URL, every background service off, and
// a host resolver that resolves nothing.
#include <gtest/gtest.h>
#include <png.h>

#include <fstream>
#include <sstream>

#include "analysis/flame_svg.h"
#include "analysis/frame_format.h"
#include "tests/analysis/test_trees.h"
#include "tests/testing/browser.h"
#include "tests/testing/fixtures.h"

namespace goretain::analysis {
namespace {

using goretain::testing::RunCommand;
using goretain::testing::TempDir;
using testing::BuildTree;
using testing::Field;
using testing::Global;
using testing::MapVal;
using goretain::testing::Image;
using goretain::testing::Rgb;
using goretain::testing::Screenshot;

Rgb FillOf(const std::string& svg, const std::vector<Frame>& path) {
  std::string key = "data-id=\"" + PathIdHex(PathId(path)) + "\"";
  size_t at = svg.find(key);
  EXPECT_NE(at, std::string::npos) << "frame not in SVG";
  size_t fill = svg.find("fill=\"rgb(", at);
  Rgb c;
  sscanf(svg.c_str() + fill, "fill=\"rgb(%d,%d,%d)", &c.r, &c.g, &c.b);
  return c;
}

// Length of the run of `colour` in row y that starts at x0 (0 if x0 is another
// colour).
int RunLength(const Image& img, int y, int x0, Rgb colour) {
  int x = x0;
  while (x < img.width && img.At(x, y) == colour) x++;
  return x - x0;
}

// Every frame row's second pixel line is free of text (glyphs start lower), so
// runs of a frame's colour there measure the frame itself.
int FrameLine(const SvgOptions& o, int depth) { return o.RowY(depth) + 1; }

const std::vector<Frame> kSession = {Global("main.sessionCache")};
const std::vector<Frame> kMapVal = {Global("main.sessionCache"),
                                    MapVal("*main.Session")};
const std::vector<Frame> kHistory = {Global("main.sessionCache"),
                                     MapVal("*main.Session"),
                                     Field("history", "[]main.Entry")};
const std::vector<Frame> kClient = {Global("net/http.DefaultClient")};
const std::vector<Frame> kTransport = {
    Global("net/http.DefaultClient"),
    Field("Transport", "*net/http.Transport")};
const std::vector<Frame> kPipe = {Global("main.pipe")};

class FlameSvgRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto samples = testing::SessionSamples();
    // A name that must be escaped: a broken SVG would render as an XML error
    // page.
    samples.push_back(
        {{Global("main.pipe"), Field("c", "chan<- main.Msg & co")},
         300'000,
         3});
    tree_ = BuildTree(samples);
    ASSERT_EQ(tree_.total_bytes, kTotal);
    svg_path_ = dir_.File("heap.svg");
    ASSERT_TRUE(WriteFlameSvgFile(tree_, svg_path_, opts_).ok());
    std::ifstream in(svg_path_);
    svg_.assign(std::istreambuf_iterator<char>(in), {});
  }

  // Left edge in px of a frame that starts `offset` bytes into the tree.
  double X(uint64_t offset) const {
    return opts_.pad_x +
           static_cast<double>(offset) / kTotal * opts_.DrawWidth();
  }
  double W(uint64_t bytes) const {
    return static_cast<double>(bytes) / kTotal * opts_.DrawWidth();
  }

  static constexpr uint64_t kTotal = 9'810'000;
  TempDir dir_;
  SvgOptions opts_;
  PathTree tree_;
  std::string svg_path_, svg_;
};

TEST_F(FlameSvgRenderTest, WidestFramesAreWhereTheTreePutsThem) {
  Image img = Screenshot(dir_.path(), svg_path_, "", "plain.png");
  ASSERT_EQ(img.width, 1200);
  const Rgb session = FillOf(svg_, kSession);
  const Rgb client = FillOf(svg_, kClient);
  const Rgb pipe = FillOf(svg_, kPipe);
  const Rgb history = FillOf(svg_, kHistory);
  ASSERT_NE(session, client);  // else the boundary below would not show

  // Roots, widest first: sessionCache 7,000,000 B, DefaultClient 2,000,000 B,
  // the worker's 500,000 B, main.pipe 300,000 B. Each run ends 1 px early (the
  // gap between frames).
  const int y1 = FrameLine(opts_, 1);
  int start = static_cast<int>(std::ceil(X(0)));
  EXPECT_NEAR(RunLength(img, y1, start, session), W(7'000'000) - 1, 2.0);
  start = static_cast<int>(std::ceil(X(7'000'000)));
  EXPECT_NEAR(RunLength(img, y1, start + 1, client) + 1, W(2'000'000) - 1, 2.0);
  // A narrow frame is narrow: main.pipe is 36 px.
  start = static_cast<int>(std::ceil(X(9'500'000)));
  EXPECT_NEAR(RunLength(img, y1, start + 1, pipe) + 1, W(300'000) - 1, 2.0);
  // Deeper: history, 6,000,000 B, at depth 3 from the left edge.
  EXPECT_NEAR(RunLength(img, FrameLine(opts_, 3),
                        static_cast<int>(std::ceil(X(0))), history),
              W(6'000'000) - 1, 2.0);
  // Nothing is drawn below the deepest row's frames to the right of history.
  EXPECT_NE(img.At(static_cast<int>(X(6'500'000)), FrameLine(opts_, 3)),
            history);
}

TEST_F(FlameSvgRenderTest, SearchHighlightsMatchesInTheRenderedPage) {
  Image img = Screenshot(dir_.path(), svg_path_, "#s=Session", "search.png");
  ASSERT_EQ(img.width, 1200);
  const Rgb magenta{230, 0, 230};
  int x = static_cast<int>(X(3'000'000));
  EXPECT_EQ(img.At(x, FrameLine(opts_, 2)),
            magenta);  // $mapval (*main.Session)
  EXPECT_EQ(img.At(x, FrameLine(opts_, 1)),
            FillOf(svg_, kSession));  // no match
  EXPECT_EQ(img.At(x, FrameLine(opts_, 3)), FillOf(svg_, kHistory));
}

TEST_F(FlameSvgRenderTest, ZoomShowsAFrameAcrossTheFullWidth) {
  Image img = Screenshot(dir_.path(), svg_path_, "#z=" + PathIdHex(PathId(kClient)),
                         "zoom.png");
  ASSERT_EQ(img.width, 1200);
  const Rgb client = FillOf(svg_, kClient);
  // DefaultClient now spans the drawing width; Transport (3/4 of it) follows
  // below.
  EXPECT_NEAR(RunLength(img, FrameLine(opts_, 1), opts_.pad_x, client),
              opts_.DrawWidth() - 1, 2.0);
  EXPECT_NEAR(RunLength(img, FrameLine(opts_, 2), opts_.pad_x,
                        FillOf(svg_, kTransport)),
              0.75 * opts_.DrawWidth() - 1, 2.0);
  // sessionCache's subtree is hidden: its history row is background now.
  EXPECT_NE(img.At(static_cast<int>(X(1'000'000)), FrameLine(opts_, 3)),
            FillOf(svg_, kHistory));
}

}  // namespace
}  // namespace goretain::analysis
