#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/testing/fixtures.h"

namespace goretain::testing {
namespace {

TEST(CliTest, PsListsARunningFixture) {
  const auto& v = Variants().front();
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  CommandResult r = RunCommand({BinaryPath("goretain"), "ps"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, std::to_string(child.pid()) + " ")) {
      found = true;
      EXPECT_TRUE(absl::StrContains(line, v.toolchain)) << line;
    }
  }
  EXPECT_TRUE(found) << r.out;
}

TEST(CliTest, UnknownSubcommandIsAUsageError) {
  CommandResult r = RunCommand({BinaryPath("goretain"), "frobnicate"});
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace goretain::testing
