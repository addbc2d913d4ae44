#include "analysis/pprof.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "analysis/internal/gzip.h"
#include "analysis/tree_fold.h"
#include "tests/analysis/test_trees.h"
#include "tests/testing/fixtures.h"

namespace goretain::analysis {
namespace {

using goretain::testing::CommandResult;
using goretain::testing::RunCommand;
using goretain::testing::TempDir;
using testing::SessionSamples;
using testing::SessionTree;

// Runs `go tool pprof ARGS` offline, outside any module (GOTOOLCHAIN=local:
// never download).
CommandResult Pprof(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "env", "-C",   dir.path(), "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off",
      "go",  "tool", "pprof"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0)
      << "go tool pprof failed (is Go on PATH?): " << r.err;
  return r;
}

// -top rows: function name → {flat, cum}, values as printed with -unit=B
// (bytes) or as counts.
std::map<std::string, std::pair<int64_t, int64_t>> TopRows(
    const std::string& out) {
  std::map<std::string, std::pair<int64_t, int64_t>> rows;
  bool table = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::StrContains(line, "flat%")) {
      table = true;
      continue;
    }
    if (!table || line.empty()) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6) continue;
    auto num = [](absl::string_view v) {
      absl::ConsumeSuffix(&v, "B");
      int64_t x = 0;
      EXPECT_TRUE(absl::SimpleAtoi(v, &x)) << v;
      return x;
    };
    // The name is everything after the 5 numeric columns and may contain
    // spaces.
    size_t pos = 0;
    for (int col = 0; col < 5; col++) {
      pos = line.find(f[col], pos) + f[col].size();
    }
    std::string name(absl::StripAsciiWhitespace(line.substr(pos)));
    rows[name] = {num(f[0]), num(f[3])};
  }
  return rows;
}

TEST(PprofTest, GoToolPprofTopListsPathsWithTheirBytesAndObjects) {
  TempDir dir;
  ASSERT_TRUE(WritePprofFile(SessionTree(), dir.File("heap.pb.gz")).ok());
  CommandResult top = Pprof(dir, {"-top", "-unit=B", "-nodefraction=0",
                                  "-nodecount=1000", "heap.pb.gz"});
  EXPECT_NE(top.out.find("Type: inuse_space"), std::string::npos) << top.out;
  auto rows = TopRows(top.out);
  // flat = the path's own bytes, cum = its subtree.
  EXPECT_EQ(rows["history ([]main.Entry)"],
            std::make_pair(int64_t{6'000'000}, int64_t{6'000'000}))
      << top.out;
  EXPECT_EQ(rows["$mapval (*main.Session)"],
            std::make_pair(int64_t{1'000'000}, int64_t{7'000'000}));
  EXPECT_EQ(rows["main.sessionCache"],
            std::make_pair(int64_t{0}, int64_t{7'000'000}));
  EXPECT_EQ(rows["net/http.DefaultClient"],
            std::make_pair(int64_t{0}, int64_t{2'000'000}));
  EXPECT_EQ(rows["main.worker.buf"],
            std::make_pair(int64_t{500'000}, int64_t{500'000}));
  EXPECT_EQ(rows["main.small7"],
            std::make_pair(int64_t{1'000}, int64_t{1'000}));
  EXPECT_NE(top.out.find("of 9510000B total"), std::string::npos) << top.out;

  CommandResult objects =
      Pprof(dir, {"-top", "-sample_index=inuse_objects", "-nodefraction=0",
                  "-nodecount=1000", "heap.pb.gz"});
  auto obj = TopRows(objects.out);
  EXPECT_EQ(obj["$mapval (*main.Session)"],
            std::make_pair(int64_t{1'000}, int64_t{1'100}))
      << objects.out;
  EXPECT_NE(objects.out.find("of 1125 total"), std::string::npos)
      << objects.out;
}

TEST(PprofTest, GoToolPprofTracesShowTheRetentionPathLeafFirst) {
  TempDir dir;
  ASSERT_TRUE(WritePprofFile(SessionTree(), dir.File("heap.pb.gz")).ok());
  CommandResult r = Pprof(dir, {"-traces", "-unit=B", "heap.pb.gz"});
  // One trace per path: the value, then the frames from the object's path up to
  // its root.
  EXPECT_NE(r.out.find("6000000B   history ([]main.Entry)\n"
                       "             $mapval (*main.Session)\n"
                       "             main.sessionCache\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1500000B   Transport (*net/http.Transport)\n"
                       "             net/http.DefaultClient\n"),
            std::string::npos)
      << r.out;
}

TEST(PprofTest, GoToolPprofDiffBaseShowsTheGrowth) {
  TempDir dir;
  ASSERT_TRUE(WritePprofFile(SessionTree(), dir.File("a.pb.gz")).ok());
  PathTree grown =
      testing::BuildTree(SessionSamples(/*history_bytes=*/9'000'000));
  ASSERT_TRUE(WritePprofFile(grown, dir.File("b.pb.gz")).ok());
  CommandResult r = Pprof(dir, {"-top", "-unit=B", "-nodefraction=0",
                                "-diff_base", "a.pb.gz", "b.pb.gz"});
  auto rows = TopRows(r.out);
  EXPECT_EQ(rows["history ([]main.Entry)"],
            std::make_pair(int64_t{3'000'000}, int64_t{3'000'000}))
      << r.out;
  EXPECT_EQ(rows["main.sessionCache"].second, 3'000'000) << r.out;
  EXPECT_EQ(rows.count("Transport (*net/http.Transport)"), 0u)
      << r.out;  // unchanged: no row
}

TEST(PprofTest, FoldedOtherNodesKeepPprofTotalsExact) {
  TempDir dir;
  ASSERT_TRUE(WritePprofFile(FoldSmall(SessionTree(), {.min_fraction = 0.01}),
                             dir.File("f.pb.gz"))
                  .ok());
  CommandResult r =
      Pprof(dir, {"-top", "-unit=B", "-nodefraction=0", "f.pb.gz"});
  EXPECT_NE(r.out.find("of 9510000B total"), std::string::npos) << r.out;
  EXPECT_EQ(TopRows(r.out)["(other)"],
            std::make_pair(int64_t{10'000}, int64_t{10'000}))
      << r.out;
}

// Reads the top-level fields of a protobuf message: field number → raw values
// (varints as decimal strings, length-delimited as bytes).
std::multimap<int, std::string> TopFields(const std::string& msg) {
  std::multimap<int, std::string> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; i < msg.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(msg[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (i < msg.size()) {
    uint64_t tag = varint();
    int field = static_cast<int>(tag >> 3);
    if ((tag & 7) == 0) {
      out.emplace(field, std::to_string(varint()));
    } else if ((tag & 7) == 2) {
      uint64_t n = varint();
      out.emplace(field, msg.substr(i, n));
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << (tag & 7);
      break;
    }
  }
  return out;
}

TEST(PprofTest, ProfileIsWellFormedAndDeterministic) {
  PathTree t = SessionTree();
  auto a = EncodePprofGzip(t);
  auto b = EncodePprofGzip(testing::BuildTree(SessionSamples()));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  // gzip header: magic, deflate, no flags, mtime 0.
  ASSERT_GT(a->size(), 10u);
  EXPECT_EQ(a->substr(0, 4), std::string("\x1f\x8b\x08\x00", 4));
  EXPECT_EQ(a->substr(4, 4), std::string(4, '\0'));

  auto raw = internal::Gunzip(*a);
  ASSERT_TRUE(raw.ok());
  auto fields = TopFields(*raw);
  auto strings = fields.equal_range(6);
  ASSERT_NE(strings.first, strings.second);
  EXPECT_EQ(strings.first->second, "");  // string_table[0]
  EXPECT_EQ(fields.count(3), 1u);        // one mapping
  // Distinct frames: sessionCache, $mapval, history, DefaultClient, Transport,
  // Jar, worker.buf, 10 small roots.
  EXPECT_EQ(fields.count(4), 17u);
  EXPECT_EQ(fields.count(5), 17u);
  EXPECT_EQ(fields.count(2), 15u);  // samples: nodes with self values
  EXPECT_EQ(fields.count(9), 0u);   // no timestamp unless asked for

  auto stamped = EncodePprof(
      t, {.time_nanos = 1'700'000'000'000'000'000, .comments = {"x"}});
  auto sf = TopFields(stamped);
  ASSERT_EQ(sf.count(9), 1u);
  EXPECT_EQ(sf.find(9)->second, "1700000000000000000");
}

TEST(PprofTest, WriteFailsOnAnUnwritablePath) {
  absl::Status s = WritePprofFile(SessionTree(), "/nonexistent-dir/x.pb.gz");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x.pb.gz"), std::string::npos)
      << s;
}

}  // namespace
}  // namespace goretain::analysis
