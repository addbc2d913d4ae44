#include "agent/discovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "tests/testing/fixtures.h"

namespace goretain::agent {
namespace {

using goretain::testing::Child;
using goretain::testing::VariantByName;

TEST(DiscoveryTest, FindsARunningGoProcessWithItsVersion) {
  const auto& v = goretain::testing::Variants().back();
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());  // the fixture is up
  auto procs = ListGoProcesses();
  ASSERT_TRUE(procs.ok()) << procs.status();
  bool found = false;
  for (const auto& p : *procs) {
    if (p.pid == child.pid()) {
      found = true;
      EXPECT_TRUE(absl::StartsWith(p.go_version, v.toolchain)) << p.go_version;
      EXPECT_EQ(p.main_path, "goretain.dev/fixtures/idle");
      EXPECT_GT(p.start_time_ticks, 0u);
    }
    EXPECT_NE(p.pid, getpid()) << "the C++ test binary is not a Go program";
  }
  EXPECT_TRUE(found);
}

TEST(DiscoveryTest, GoneProcessIsNotFound) {
  auto p = InspectProcess(999999999);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
}

TEST(DiscoveryTest, NonGoProcessIsRefused) {
  auto p = InspectProcess(getpid());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::StrContains(p.status().message(), "not a Go program")) << p.status();
}

}  // namespace
}  // namespace goretain::agent
