// `goretain analyze` and `goretain diff-cores` on real cores of the fixtures, checked against the
// fixture's own measurements, with the tools users open our files with (go tool pprof, Chromium).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "analysis/folded.h"
#include "nlohmann/json.hpp"
#include "tests/testing/browser.h"
#include "tests/testing/fixtures.h"

namespace goretain::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A value as `go tool pprof` prints bytes ("6.63MB", "640.12kB", "48B"); 1024-based units.
double PprofBytes(const std::string& s) {
  static const std::pair<const char*, double> kUnits[] = {
      {"GB", 1024.0 * 1024 * 1024}, {"MB", 1024.0 * 1024}, {"kB", 1024.0}, {"B", 1.0}};
  for (const auto& [suffix, mult] : kUnits) {
    if (absl::EndsWith(s, suffix)) {
      double v = 0;
      if (absl::SimpleAtod(s.substr(0, s.size() - strlen(suffix)), &v)) return v * mult;
    }
  }
  return -1;
}

// cum bytes per function name from `go tool pprof -top`.
std::map<std::string, double> PprofTopCum(const std::string& profile) {
  CommandResult r = RunCommand({"go", "tool", "pprof", "-top", "-nodecount=2000",
                                "-sample_index=inuse_space", profile},
                               std::chrono::seconds(600));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> out;
  bool table = false;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StrContains(line, "flat%")) {
      table = true;
      continue;
    }
    if (!table) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6) continue;
    // flat flat% sum% cum cum% name...
    std::string name = f[5];
    for (size_t i = 6; i < f.size(); i++) name += " " + f[i];
    out[name] = PprofBytes(f[3]);
  }
  return out;
}

struct SvgFrame {
  std::string name;
  double x, width;
  int y;
  Rgb fill;
};

// Frames of one depth (1 = the roots) as the SVG draws them.
std::vector<SvgFrame> SvgFramesAtDepth(const std::string& svg, int depth) {
  std::vector<SvgFrame> out;
  std::regex re("data-d=\"" + std::to_string(depth) +
                "\"><title>([^\\n]*)\\n[^<]*</title><rect x=\"([0-9.]+)\" y=\"([0-9]+)\" "
                "width=\"([0-9.]+)\" height=\"[0-9]+\" fill=\"rgb\\(([0-9]+),([0-9]+),([0-9]+)\\)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), re), end; it != end; ++it) {
    const auto& m = *it;
    out.push_back({m[1], std::stod(m[2]), std::stod(m[4]), std::stoi(m[3]),
                   {std::stoi(m[5]), std::stoi(m[6]), std::stoi(m[7])}});
  }
  return out;
}

// `go tool pprof -top` on `profile` lists each root the fixture planted with the size the
// runtime measured for it (within 1 %).
void ExpectPlantedRootsInPprof(const std::string& profile, const nlohmann::json& fx) {
  auto cum = PprofTopCum(profile);
  for (const auto& [name, m] : fx["structures"].items()) {
    std::string root = m["root"];
    double want = m["bytes"];
    ASSERT_TRUE(cum.count(root)) << root << " not in pprof -top of " << profile;
    EXPECT_NEAR(cum[root], want, want * 0.01) << name << " (" << root << ") in " << profile;
  }
}

// The folded stacks in `path` add up to `want` bytes.
void ExpectFoldedTotal(const std::string& path, uint64_t want) {
  std::ifstream folded(path);
  auto stacks = analysis::ReadFolded(folded);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  uint64_t total = 0;
  for (const auto& s : *stacks) total += s.value;
  EXPECT_EQ(total, want) << path;
}

// The *Session values of the planted sync.Map are each reached as a main.Session, whatever the
// map's internals (Go 1.24's trie of entry and indirect nodes, told apart by a tag in the node,
// or the older read and dirty maps of *entry): a node typed as the wrong kind gives its
// pointers other labels and types.
void ExpectSyncMapValuesTyped(const nlohmann::json& summary, const nlohmann::json& fx,
                              const std::string& what) {
  uint64_t sessions = 0;
  for (const auto& p : summary["paths"]) {
    auto frames = p["frames"].get<std::vector<std::string>>();
    if (frames.size() < 2 || frames[0] != "main.syncMap") continue;
    if (absl::EndsWith(frames.back(), "(main.Session)")) sessions += p["self_objects"].get<uint64_t>();
  }
  EXPECT_EQ(sessions, fx["sync_map_entries"].get<uint64_t>()) << what;
}

class AnalyzeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AnalyzeTest, PprofSvgAndFoldedShowThePlantedRoots) {
  const Variant& v = VariantByName(GetParam());
  TempDir tmp;
  // 100,000 map entries: a Swiss map's directory (8 bytes per table) then outgrows 512 bytes and
  // the heap records it only as `*maps.table`.
  Child child({v.Binary("shapes"), "-map-entries", "100000"});
  auto fx = nlohmann::json::parse(child.ReadLine(std::chrono::seconds(120)));
  std::string err;
  std::string core = Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;
  child.Kill();

  CommandResult r = RunCommand({BinaryPath("goretain"), "analyze", core, "--exe",
                                v.Binary("shapes"), "-o", tmp.File("a.svg"), "-o",
                                tmp.File("a.pb.gz"), "-o", tmp.File("a.folded"), "-o",
                                tmp.File("a.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = nlohmann::json::parse(Slurp(tmp.File("a.json")));
  for (const char* key : {"go_version", "objects", "allocated_bytes", "reachable_bytes",
                          "unreachable_bytes", "typed_bytes", "runtime", "roots", "paths"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_EQ(summary["go_version"], fx["go_version"]);
  // roots[] and paths[] come sorted by retained bytes.
  for (const char* list : {"roots", "paths"}) {
    for (size_t i = 1; i < summary[list].size(); i++) {
      EXPECT_GE(summary[list][i - 1]["retained_bytes"].get<uint64_t>(),
                summary[list][i]["retained_bytes"].get<uint64_t>());
    }
  }

  // The planted map's values sit right under the map, whatever the map's internals (classic
  // buckets, or a Swiss map whose directory the heap records only as `*maps.table`): no
  // untyped frame on any of its paths.
  const std::vector<std::string> map_values = {"main.largeMap", "(map[string]*main.Session)",
                                               "$mapval (main.Session)"};
  bool found_map_values = false;
  for (const auto& p : summary["paths"]) {
    auto frames = p["frames"].get<std::vector<std::string>>();
    if (frames.empty() || frames[0] != "main.largeMap") continue;
    for (const auto& f : frames) EXPECT_FALSE(absl::StrContains(f, "(unk")) << f;
    if (frames == map_values) {
      found_map_values = true;
      EXPECT_EQ(p["self_objects"].get<uint64_t>(), fx["map_entries"].get<uint64_t>());
    }
  }
  EXPECT_TRUE(found_map_values) << "no path main.largeMap → map → $mapval (main.Session)";
  ExpectSyncMapValuesTyped(summary, fx, "analyze");

  // go tool pprof -top lists each planted root with the size the runtime measured for it.
  ExpectPlantedRootsInPprof(tmp.File("a.pb.gz"), fx);

  // The folded stacks re-parse to the same total as the tree.
  uint64_t tree_total = 0;
  for (const auto& root : summary["roots"]) tree_total += root["tree_bytes"].get<uint64_t>();
  ExpectFoldedTotal(tmp.File("a.folded"), tree_total);
  EXPECT_EQ(tree_total, summary["reachable_bytes"].get<uint64_t>());

  // The SVG renders in Chromium, and the widest root frames are planted roots drawn at their
  // place and width.
  std::string svg = Slurp(tmp.File("a.svg"));
  auto frames = SvgFramesAtDepth(svg, 1);
  ASSERT_GE(frames.size(), 5u);
  frames.erase(std::remove_if(frames.begin(), frames.end(),
                              [](const SvgFrame& f) { return f.name == "(other)"; }),
               frames.end());
  std::sort(frames.begin(), frames.end(),
            [](const SvgFrame& a, const SvgFrame& b) { return a.width > b.width; });
  std::set<std::string> planted;
  for (const auto& [name, m] : fx["structures"].items()) planted.insert(m["root"]);
  Image img = Screenshot(tmp.path(), tmp.File("a.svg"), "", "a.png");
  ASSERT_GT(img.width, 0);
  for (size_t i = 0; i < 5; i++) {
    const SvgFrame& f = frames[i];
    EXPECT_TRUE(planted.count(f.name)) << "widest frame #" << i << " is " << f.name;
    // Pixels at both ends of the frame (second pixel row, free of text) have its colour.
    int y = f.y + 1;
    EXPECT_EQ(img.At(static_cast<int>(f.x) + 1, y), f.fill) << f.name << " x=" << f.x << " y=" << y << " w=" << f.width;
    EXPECT_EQ(img.At(static_cast<int>(f.x + f.width) - 2, y), f.fill) << f.name;
  }

  // --low-memory walks the same heap in one pass without the graph: the same objects, each
  // root's tree exactly as large (same traversal), the planted roots at their measured sizes,
  // about the same typed share, and no retained sizes (null, not a made-up number).
  r = RunCommand({BinaryPath("goretain"), "analyze", core, "--exe", v.Binary("shapes"),
                  "--low-memory", "-o", tmp.File("low.pb.gz"), "-o", tmp.File("low.folded"), "-o",
                  tmp.File("low.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto low = nlohmann::json::parse(Slurp(tmp.File("low.json")));
  EXPECT_EQ(low["reachable_bytes"], summary["reachable_bytes"]);
  EXPECT_EQ(low["reachable_objects"], summary["reachable_objects"]);
  EXPECT_EQ(low["retained_computed"], false);
  const double reachable = summary["reachable_bytes"].get<double>();
  EXPECT_NEAR(low["typed_bytes"].get<double>(), summary["typed_bytes"].get<double>(),
              reachable * 0.005);
  std::map<std::string, uint64_t> full_roots;
  for (const auto& root : summary["roots"]) {
    full_roots[root["name"].get<std::string>()] = root["tree_bytes"].get<uint64_t>();
  }
  for (size_t i = 0; i < low["roots"].size(); i++) {
    const auto& root = low["roots"][i];
    EXPECT_TRUE(root["retained_bytes"].is_null()) << root["name"];
    if (i > 0) {
      EXPECT_GE(low["roots"][i - 1]["tree_bytes"].get<uint64_t>(), root["tree_bytes"].get<uint64_t>());
    }
    auto it = full_roots.find(root["name"].get<std::string>());
    ASSERT_NE(it, full_roots.end()) << root["name"];
    EXPECT_EQ(root["tree_bytes"].get<uint64_t>(), it->second) << root["name"];
  }
  EXPECT_EQ(low["roots"].size(), summary["roots"].size());
  for (const auto& p : low["paths"]) EXPECT_TRUE(p["retained_bytes"].is_null());
  bool low_map_values = false;
  for (const auto& p : low["paths"]) {
    if (p["frames"].get<std::vector<std::string>>() == map_values) {
      low_map_values = true;
      EXPECT_EQ(p["self_objects"].get<uint64_t>(), fx["map_entries"].get<uint64_t>());
    }
  }
  EXPECT_TRUE(low_map_values);
  ExpectSyncMapValuesTyped(low, fx, "analyze --low-memory");
  ExpectPlantedRootsInPprof(tmp.File("low.pb.gz"), fx);
  ExpectFoldedTotal(tmp.File("low.folded"), low["reachable_bytes"].get<uint64_t>());
}

INSTANTIATE_TEST_SUITE_P(AllVariants, AnalyzeTest, ::testing::ValuesIn(VariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// A gcore core of the newest variant's `shapes` fixture in `tmp` (empty on failure, with `err`).
std::string ShapesCore(const TempDir& tmp, std::string* err) {
  Child child({Variants().back().Binary("shapes")});
  if (child.ReadLine(std::chrono::seconds(120)).empty()) {
    *err = "shapes did not start";
    return "";
  }
  return Gcore(child.pid(), tmp.path(), err);
}

TEST(AnalyzeDeterminismTest, SameCoreGivesByteIdenticalOutputs) {
  TempDir tmp;
  std::string err;
  std::string core = ShapesCore(tmp, &err);
  ASSERT_FALSE(core.empty()) << err;
  for (const char* run : {"1", "2"}) {
    std::string d = std::string("run") + run;
    CommandResult r = RunCommand(
        {BinaryPath("goretain"), "analyze", core, "-o", tmp.File(d + ".svg"), "-o",
         tmp.File(d + ".pb.gz"), "-o", tmp.File(d + ".folded"), "-o", tmp.File(d + ".json")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const char* ext : {".svg", ".pb.gz", ".folded", ".json"}) {
    std::string a = Slurp(tmp.File(std::string("run1") + ext));
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == Slurp(tmp.File(std::string("run2") + ext))) << ext << " differs";
  }
  // --low-memory too, and whether its frontier stays in memory or goes through the spill file
  // (a 1 MiB budget makes this core's frontier spill).
  for (const char* queue : {"16", "1"}) {
    std::string d = std::string("low") + queue;
    setenv("GORETAIN_TIMINGS", "1", 1);  // the phase lines say how much was spilled
    CommandResult r = RunCommand({BinaryPath("goretain"), "analyze", core, "--low-memory",
                                  "--queue-memory", queue, "-o", tmp.File(d + ".pb.gz"), "-o",
                                  tmp.File(d + ".folded"), "-o", tmp.File(d + ".json")});
    unsetenv("GORETAIN_TIMINGS");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex("([0-9]+) bytes spilled"))) << r.err;
    if (std::string(queue) == "1") {
      EXPECT_GT(std::stoull(m[1]), 0u) << r.err;
    } else {
      EXPECT_EQ(m[1], "0") << r.err;
    }
  }
  for (const char* ext : {".pb.gz", ".folded", ".json"}) {
    std::string a = Slurp(tmp.File(std::string("low16") + ext));
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == Slurp(tmp.File(std::string("low1") + ext))) << ext << " differs";
  }
  // Retained sizes need dominators, which need the whole graph: asking for both is an error.
  CommandResult bad = RunCommand({BinaryPath("goretain"), "analyze", core, "--low-memory",
                                  "--tree", "dominator", "-o", tmp.File("bad.json")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "--low-memory")) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(tmp.File("bad.json")));
}

// --tree dominator puts each object under its immediate dominator: every top frame's subtree is
// then exactly what it retains, the top frames together hold every reachable byte, and retained
// sizes do not depend on the tree asked for.
TEST(AnalyzeDominatorTreeTest, TopFramesHoldExactlyWhatTheyRetain) {
  TempDir tmp;
  std::string err;
  std::string core = ShapesCore(tmp, &err);
  ASSERT_FALSE(core.empty()) << err;
  for (const char* kind : {"bfs", "dominator"}) {
    CommandResult r = RunCommand({BinaryPath("goretain"), "analyze", core, "--tree", kind, "-o",
                                  tmp.File(std::string(kind) + ".json")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto bfs = nlohmann::json::parse(Slurp(tmp.File("bfs.json")));
  auto dom = nlohmann::json::parse(Slurp(tmp.File("dominator.json")));
  const uint64_t reachable = dom["reachable_bytes"].get<uint64_t>();
  ASSERT_GT(reachable, 10u << 20);
  EXPECT_EQ(reachable, bfs["reachable_bytes"].get<uint64_t>());

  std::map<std::string, uint64_t> bfs_retained;
  for (const auto& root : bfs["roots"]) {
    bfs_retained[root["name"].get<std::string>()] = root["retained_bytes"].get<uint64_t>();
  }
  uint64_t sum = 0;
  int compared = 0;
  for (const auto& root : dom["roots"]) {
    const std::string name = root["name"].get<std::string>();
    const uint64_t tree = root["tree_bytes"].get<uint64_t>();
    sum += tree;
    if (name == "(other)") continue;  // folded small roots: no retained size of their own
    EXPECT_EQ(tree, root["retained_bytes"].get<uint64_t>()) << name;
    if (auto it = bfs_retained.find(name); it != bfs_retained.end()) {
      EXPECT_EQ(it->second, root["retained_bytes"].get<uint64_t>()) << name;
      compared++;
    }
  }
  EXPECT_EQ(sum, reachable);
  EXPECT_GE(compared, 5);
}

// A dominator with very many edges, each target dominated by it — Go 1.22's classic map keeps
// all of a large map's buckets in one array object — once made --tree dominator quadratic in that
// out-degree (the label of each dominated object was searched for among its dominator's edges):
// minutes where --tree bfs takes a second. Both trees must cost about the same on such a heap,
// and give the same retained bytes.
TEST(AnalyzeDominatorTreeTest, LargeClassicMapCostsAboutWhatTheBfsTreeCosts) {
  const Variant& v = VariantByName("go1.22");
  TempDir tmp;
  Child child({v.Binary("shapes"), "-scale", "4"});
  ASSERT_FALSE(child.ReadLine(std::chrono::seconds(120)).empty()) << "shapes did not start";
  std::string err;
  std::string core = Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;
  child.Kill();
  std::map<std::string, double> seconds;
  for (const char* kind : {"bfs", "dominator"}) {
    auto t0 = std::chrono::steady_clock::now();
    CommandResult r =
        RunCommand({BinaryPath("goretain"), "analyze", core, "--tree", kind, "-o",
                    tmp.File(std::string(kind) + ".json")},
                   std::chrono::seconds(600));
    seconds[kind] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.exit_code, 0) << kind << ": " << r.err;
  }
  // Quadratic, the dominator run took 56 s on the 2-core test machine where bfs took 1.0 s.
  EXPECT_LT(seconds["dominator"], 3 * seconds["bfs"] + 2.0)
      << "bfs " << seconds["bfs"] << " s, dominator " << seconds["dominator"] << " s";
  auto bfs = nlohmann::json::parse(Slurp(tmp.File("bfs.json")));
  auto dom = nlohmann::json::parse(Slurp(tmp.File("dominator.json")));
  ASSERT_FALSE(dom["paths"].empty());
  EXPECT_EQ(dom["roots"][0]["retained_bytes"], bfs["roots"][0]["retained_bytes"]);
}

TEST(DiffCoresTest, GrownCacheComesFirstAndIsRed) {
  const Variant& v = Variants().back();
  TempDir tmp;
  Child child({v.Binary("grower")}, {}, /*stdin_pipe=*/true);
  ASSERT_FALSE(child.ReadLine(std::chrono::seconds(60)).empty());
  ASSERT_TRUE(child.WriteLine("grow 2000"));
  ASSERT_FALSE(child.ReadLine(std::chrono::seconds(60)).empty());
  std::string err;
  std::filesystem::create_directories(tmp.path() + "/a");
  std::string a = Gcore(child.pid(), tmp.path() + "/a", &err);
  ASSERT_FALSE(a.empty()) << err;
  ASSERT_TRUE(child.WriteLine("grow 20000"));
  auto grown = nlohmann::json::parse(child.ReadLine(std::chrono::seconds(60)));
  EXPECT_EQ(grown["sessions"], 22000);
  std::filesystem::create_directories(tmp.path() + "/b");
  std::string b = Gcore(child.pid(), tmp.path() + "/b", &err);
  ASSERT_FALSE(b.empty()) << err;
  child.Kill();

  CommandResult r = RunCommand({BinaryPath("goretain"), "diff-cores", a, b, "--exe",
                                v.Binary("grower"), "-o", tmp.File("diff.svg")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The first grown path is the planted cache, down to the sessions' history.
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  auto header = std::find_if(lines.begin(), lines.end(),
                             [](const std::string& l) { return absl::StrContains(l, "GREW BY"); });
  ASSERT_NE(header, lines.end()) << r.out;
  ASSERT_NE(header + 1, lines.end());
  EXPECT_TRUE(absl::StrContains(*(header + 1), "main.sessionCache")) << *(header + 1);
  bool history = false;
  for (auto it = header + 1; it != lines.end() && it != header + 6; ++it) {
    history |= absl::StrContains(*it, "main.sessionCache") && absl::StrContains(*it, "History");
  }
  EXPECT_TRUE(history) << r.out;
  // The same answer from the one-pass analysis.
  CommandResult low = RunCommand({BinaryPath("goretain"), "diff-cores", a, b, "--exe",
                                  v.Binary("grower"), "--low-memory"});
  ASSERT_EQ(low.exit_code, 0) << low.err;
  std::vector<std::string> low_lines = absl::StrSplit(low.out, '\n');
  auto low_header = std::find_if(low_lines.begin(), low_lines.end(), [](const std::string& l) {
    return absl::StrContains(l, "GREW BY");
  });
  ASSERT_NE(low_header, low_lines.end()) << low.out;
  ASSERT_NE(low_header + 1, low_lines.end());
  EXPECT_EQ(*(low_header + 1), *(header + 1));
  // In the differential flame graph the cache's root frame is red (grew), the steady one not.
  std::string svg = Slurp(tmp.File("diff.svg"));
  auto roots = SvgFramesAtDepth(svg, 1);
  bool found = false;
  for (const SvgFrame& f : roots) {
    if (f.name == "main.sessionCache") {
      found = true;
      EXPECT_GT(f.fill.r, f.fill.b + 60) << "not red: rgb(" << f.fill.r << "," << f.fill.g << ","
                                         << f.fill.b << ")";
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace goretain::testing
