// `goretain snapshot`: the command as users run it.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "tests/agent/snapshot_testing.h"

namespace goretain::testing {
namespace {

CommandResult Snapshot(pid_t pid, const std::string& out,
                       std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {BinaryPath("goretain"), "snapshot", "--pid",
                                   std::to_string(pid),    "-o",       out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunCommand(argv, std::chrono::seconds(300));
}

// One clear line on stderr.
::testing::AssertionResult OneErrorLine(const CommandResult& r,
                                        const std::string& needle) {
  if (r.exit_code == 0) return ::testing::AssertionFailure() << "exit code 0";
  if (r.err.empty() || r.err.back() != '\n' ||
      r.err.find('\n') != r.err.size() - 1) {
    return ::testing::AssertionFailure() << "not one line: '" << r.err << "'";
  }
  if (!absl::StartsWith(r.err, "goretain: snapshot: ") ||
      !absl::StrContains(r.err, needle)) {
    return ::testing::AssertionFailure()
           << "'" << r.err << "' lacks '" << needle << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(SnapshotCliTest, WritesACoreAndReportsThePause) {
  Child child({NewestVariant().Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  std::vector<pid_t> tids = WaitForStableThreads(child.pid());
  TempDir dir;
  CommandResult r = Snapshot(child.pid(), dir.File("core"), {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["pid"], child.pid());
  EXPECT_EQ(j["mode"], "copy");
  EXPECT_EQ(j["threads"], tids.size());
  EXPECT_GT(j["pause_ms"].get<double>(), 0);
  EXPECT_LE(j["pause_ms"].get<double>(), j["total_ms"].get<double>());
  EXPECT_GT(j["bytes_copied"].get<uint64_t>(), 0u);
  struct stat sb;
  ASSERT_EQ(stat(dir.File("core").c_str(), &sb), 0);
  EXPECT_EQ(static_cast<uint64_t>(sb.st_size), j["core_size"].get<uint64_t>());
  EXPECT_TRUE(IsRunningUntraced(child.pid()));

  // The human-readable form names the same facts.
  r = Snapshot(child.pid(), dir.File("core"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "pause ")) << r.out;
  EXPECT_TRUE(
      absl::StrContains(r.out, std::to_string(tids.size()) + " threads"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "copied")) << r.out;
}

TEST(SnapshotCliTest, NonexistentPid) {
  TempDir dir;
  CommandResult r = Snapshot(999999999, dir.File("core"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(OneErrorLine(r, "no process 999999999"));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotCliTest, UsageErrors) {
  TempDir dir;
  CommandResult r =
      Snapshot(getpid(), dir.File("core"), {"--mode", "teleport"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = RunCommand({BinaryPath("goretain"), "snapshot", "-o", dir.File("core")});
  EXPECT_NE(r.exit_code, 0);  // --pid is required
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotCliTest, PermissionDenied) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  // A target owned by root, a snapshotter running as nobody.
  StallMeter target(NewestVariant(), 8);
  ASSERT_TRUE(target.started());
  TempDir dir;
  chmod(dir.path().c_str(), 0777);
  // The build tree may sit below a directory only root can enter (a 0700 mktemp clone): run a
  // copy from a place the unprivileged user can reach.
  TempDir bin_dir;
  chmod(bin_dir.path().c_str(), 0755);
  std::string goretain = bin_dir.File("goretain");
  std::filesystem::copy_file(BinaryPath("goretain"), goretain);
  chmod(goretain.c_str(), 0755);
  CommandResult r = RunAsUser(65534, {goretain, "snapshot", "--pid",
                                      std::to_string(target.pid()), "-o", dir.File("core")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(OneErrorLine(r, "ermission denied") ||
              OneErrorLine(r, "not permitted"))
      << r.err;
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
  EXPECT_FALSE(target.Report().is_null());
}

TEST(SnapshotCliTest, MaxPauseExceeded) {
  StallMeter target(NewestVariant(), 128);
  ASSERT_TRUE(target.started());
  TempDir dir;
  CommandResult r =
      Snapshot(target.pid(), dir.File("core"), {"--max-pause", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(OneErrorLine(r, "raise --max-pause"));
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

// The target dies (SIGKILL) at moments spread over a snapshot. Every outcome
// must be one of two: a complete core, or exit 1 with one clear line and no
// file. Which one a given moment gives depends on timing; the assertions do
// not.
TEST(SnapshotCliTest, TargetExitingDuringTheSnapshot) {
  int errors = 0;
  for (int i = 0; i < 12; ++i) {
    StallMeter target(NewestVariant(), 64);
    ASSERT_TRUE(target.started());
    TempDir dir;
    std::string bin = BinaryPath("goretain"),
                pid = std::to_string(target.pid()), out = dir.File("core"),
                err = dir.File("err");
    pid_t cli = fork();
    if (cli == 0) {
      int fd =
          open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      dup2(fd, 2);
      int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
      dup2(null, 1);
      execl(bin.c_str(), bin.c_str(), "snapshot", "--pid", pid.c_str(), "-o",
            out.c_str(), "--mode", i % 2 ? "fork" : "copy", nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * i));
    kill(target.pid(), SIGKILL);
    int status = 0;
    waitpid(cli, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "trial " << i;
    std::ifstream f(err);
    std::string message((std::istreambuf_iterator<char>(f)), {});
    std::vector<std::string> left = DirEntries(dir.path());
    left.erase(std::remove(left.begin(), left.end(), "err"), left.end());
    if (WEXITSTATUS(status) == 0) {
      ASSERT_EQ(left, std::vector<std::string>{"core"}) << "trial " << i;
      auto core = CoreView::Open(out);
      ASSERT_NE(core, nullptr);
      EXPECT_FALSE(core->threads.empty());
      continue;
    }
    ++errors;
    EXPECT_EQ(WEXITSTATUS(status), 1) << message;
    CommandResult r;
    r.exit_code = 1;
    r.err = message;
    EXPECT_TRUE(OneErrorLine(r, "during the snapshot") ||
                OneErrorLine(r, "no process"))
        << "trial " << i << ": " << message;
    EXPECT_TRUE(left.empty()) << "trial " << i;
  }
  std::printf("%d of 12 snapshots ended in an error, the rest in a core\n",
              errors);
}

TEST(SnapshotCliTest, DiskFull) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  StallMeter target(NewestVariant(), 16);
  ASSERT_TRUE(target.started());
  TempDir dir;
  ASSERT_EQ(mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m"), 0)
      << strerror(errno);
  CommandResult r = Snapshot(target.pid(), dir.File("core"));
  std::vector<std::string> left = DirEntries(dir.path());
  umount2(dir.path().c_str(), MNT_DETACH);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(OneErrorLine(r, "not enough space"));
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(left.empty());
  EXPECT_FALSE(target.Report().is_null());
}

// The analyser gives the same totals on our core and on gcore's core of the
// same idle process. Parameters: PIE executable, snapshot mode.
class HeapCrossCheckTest
    : public ::testing::TestWithParam<std::tuple<bool, std::string>> {};

TEST_P(HeapCrossCheckTest, SameTotalsAsOnAGcoreCore) {
  const auto& [pie, mode] = GetParam();
  const Variant& newest = NewestVariant();
  const Variant& v = pie ? VariantByName(newest.name + "-pie") : newest;
  StallMeter target(v, 64);
  ASSERT_TRUE(target.started());
  // Let the runtime settle.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  TempDir dir;
  CommandResult r =
      Snapshot(target.pid(), dir.File("ours"), {"--mode", mode, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["mode"], mode);
  CommandResult g = RunCommand(
      {"gcore", "-o", dir.File("gcore"), std::to_string(target.pid())},
      std::chrono::seconds(300));
  ASSERT_EQ(g.exit_code, 0) << g.err;
  auto heap = [&](const std::string& core) {
    CommandResult h = RunCommand({BinaryPath("goretain"), "heap", core, "--exe",
                                  v.Binary("stallmeter"), "--json"},
                                 std::chrono::seconds(300));
    EXPECT_EQ(h.exit_code, 0) << h.err;
    return nlohmann::json::parse(h.out, nullptr, false);
  };
  auto ours = heap(dir.File("ours"));
  auto theirs = heap(dir.File("gcore." + std::to_string(target.pid())));
  ASSERT_FALSE(ours.is_discarded());
  ASSERT_FALSE(theirs.is_discarded());
  for (const char* key : {"allocated_bytes", "objects"}) {
    double a = ours[key].get<double>(), b = theirs[key].get<double>();
    EXPECT_GT(b, 0) << key;
    EXPECT_LE(std::abs(a - b), b * 0.001)
        << key << ": ours " << a << ", gcore's " << b;
  }
  // And both see the heap the fixture built.
  EXPECT_GE(ours["allocated_bytes"].get<double>(),
            target.ready()["heap_bytes"].get<double>() * 0.99);
}

INSTANTIATE_TEST_SUITE_P(
    PieAndMode, HeapCrossCheckTest,
    ::testing::Combine(::testing::Bool(), ::testing::Values("copy", "fork")),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) ? "pie_" : "nonpie_") +
             std::get<1>(info.param);
    });

TEST(SnapshotCliTest, AutoModeForksOnlyLargeHeaps) {
  Child idle({NewestVariant().Binary("idle")});
  ASSERT_FALSE(idle.ReadLine().empty());
  StallMeter big(NewestVariant(), 128);
  ASSERT_TRUE(big.started());
  TempDir dir;
  CommandResult small = Snapshot(idle.pid(), dir.File("a"), {"--json"});
  ASSERT_EQ(small.exit_code, 0) << small.err;
  EXPECT_EQ(nlohmann::json::parse(small.out)["mode"], "copy");
  CommandResult large = Snapshot(big.pid(), dir.File("b"), {"--json"});
  ASSERT_EQ(large.exit_code, 0) << large.err;
  auto j = nlohmann::json::parse(large.out);
  EXPECT_EQ(j["mode"], "fork") << j["fallback_reason"];
  EXPECT_GT(j["fork_ms"].get<double>(), 0);
  // Human-readable output of a fork-mode snapshot.
  CommandResult text = Snapshot(big.pid(), dir.File("c"), {"--mode", "fork"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(absl::StrContains(text.out, "fork mode")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "copied from the child")) << text.out;
}

}  // namespace
}  // namespace goretain::testing
