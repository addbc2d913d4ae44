#include "gocore/buildinfo.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/match.h"
#include "tests/testing/fixtures.h"

namespace goretain::gocore {
namespace {

using goretain::testing::TempDir;
using goretain::testing::Variants;

TEST(BuildInfoTest, ReadsTheVersionOfEveryFixtureVariant) {
  for (const auto& v : Variants()) {
    auto bi = ReadBuildInfo(v.Binary("version"));
    ASSERT_TRUE(bi.ok()) << v.name << ": " << bi.status();
    EXPECT_TRUE(absl::StartsWith(bi->go_version, v.toolchain)) << bi->go_version;
    EXPECT_EQ(bi->main_path, "goretain.dev/fixtures/version");
    EXPECT_EQ(bi->ptr_size, 8);
    auto gv = ParseGoVersion(bi->go_version);
    ASSERT_TRUE(gv.ok());
    EXPECT_EQ(gv->HasExperiment("greenteagc"), v.experiment == "greenteagc") << bi->go_version;
  }
}

TEST(BuildInfoTest, RefusesANonGoElf) {
  auto bi = ReadBuildInfo("/bin/true");
  ASSERT_FALSE(bi.ok());
  EXPECT_TRUE(absl::StrContains(bi.status().message(), "not a Go program")) << bi.status();
}

TEST(BuildInfoTest, RefusesANonElfFile) {
  TempDir tmp;
  std::ofstream(tmp.File("x")) << "#!/bin/sh\necho hi\n";
  auto bi = ReadBuildInfo(tmp.File("x"));
  ASSERT_FALSE(bi.ok());
  EXPECT_TRUE(absl::StrContains(bi.status().message(), "not an ELF file")) << bi.status();
}

TEST(BuildInfoTest, MissingFileIsNotFound) {
  auto bi = ReadBuildInfo("/nonexistent/goretain");
  EXPECT_EQ(bi.status().code(), absl::StatusCode::kNotFound);
}

TEST(GoVersionTest, ParsesReleasesAndExperiments) {
  auto v = ParseGoVersion("go1.25.14 X:greenteagc");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 25);
  EXPECT_EQ(v->patch, 14);
  EXPECT_TRUE(v->HasExperiment("greenteagc"));
  EXPECT_TRUE(v->AtLeast(1, 22));
  EXPECT_FALSE(v->AtLeast(1, 26));
  auto rc = ParseGoVersion("go1.26rc1");
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->minor, 26);
  EXPECT_FALSE(ParseGoVersion("devel +abc").ok());
}

}  // namespace
}  // namespace goretain::gocore
