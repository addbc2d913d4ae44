// kill -9 of the snapshotter at many moments: the target must never be left
// stopped.
//
// The kill moments are spread over a whole snapshot (start-up, preflight,
// freeze, copy, resume, write) and concentrated on the pause, where the target
// is frozen. Moments come from the durations of a calibration run on this
// machine and a fixed seed, so a failure replays.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "tests/agent/snapshot_testing.h"

extern char** environ;

namespace goretain::testing {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

struct KillOutcome {
  bool killed = false;  // false: the snapshot finished before the kill
};

KillOutcome SnapshotAndKill(pid_t target, const std::string& out,
                            const std::string& mode, Ms delay) {
  std::string bin = BinaryPath("goretain");
  std::string pid = std::to_string(target);
  std::vector<std::string> args = {bin,  "snapshot", "--pid",  pid,
                                   "-o", out,        "--mode", mode};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t p;
  EXPECT_EQ(posix_spawn(&p, bin.c_str(), &fa, nullptr, argv.data(), environ),
            0);
  posix_spawn_file_actions_destroy(&fa);
  std::this_thread::sleep_for(delay);
  kill(p, SIGKILL);
  int status = 0;
  waitpid(p, &status, 0);
  return {WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL};
}

void RunTrials(const std::string& mode, int trials) {
  const Variant& v = NewestVariant();
  StallMeter target(v, 128);
  ASSERT_TRUE(target.started());
  TempDir dir;
  const std::string core = dir.File("core");

  // Calibration: where the pause lies in a whole run.
  CommandResult cal = RunCommand({BinaryPath("goretain"), "snapshot", "--pid",
                                  std::to_string(target.pid()), "-o", core,
                                  "--mode", mode, "--json"});
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  auto j = nlohmann::json::parse(cal.out);
  const double total = j["total_ms"], pause = j["pause_ms"],
               write = j["write_ms"];
  // From the command's start: preflight, pause, [fork: the child's copy],
  // write.
  const double after_pause =
      write + (mode == "fork" ? j["copy_ms"].get<double>() : 0.0);
  const double pause_at = std::max(0.0, total - after_pause - pause);
  std::remove(core.c_str());
  std::printf(
      "calibration (%s): total %.1f ms, pause %.1f ms starting at ~%.1f ms\n",
      mode.c_str(), total, pause, pause_at);

  std::mt19937 rng(20261127);
  // Process start-up (exec, dynamic loading) comes before the command's own
  // clock starts.
  const double startup = 5;
  int killed = 0, killed_in_pause_window = 0, killed_while_frozen = 0;
  for (int i = 0; i < trials; ++i) {
    double at;
    if (i % 2 == 0) {
      // Anywhere in the run, stratified so the whole run is covered.
      std::uniform_real_distribution<double> jitter(0, 1);
      at = (i / 2 + jitter(rng)) * (total + startup) * 1.1 / ((trials + 1) / 2);
    } else {
      std::uniform_real_distribution<double> in_pause(
          startup + pause_at - 2, startup + pause_at + pause + 2);
      at = in_pause(rng);
      ++killed_in_pause_window;
    }
    ASSERT_FALSE(target.Report().is_null())
        << "trial " << i << ": no meter before";
    KillOutcome k = SnapshotAndKill(target.pid(), core, mode, Ms(at));
    killed += k.killed;
    ASSERT_TRUE(IsRunningUntraced(target.pid(), std::chrono::seconds(1)))
        << "trial " << i << ", kill at " << at << " ms";
    // The meter keeps ticking: reset it (its stall so far includes any pause
    // this trial caused), wait, read it.
    auto during = target.Report();
    ASSERT_FALSE(during.is_null()) << "trial " << i;
    if (k.killed && during["max_stall_ms"].get<double>() > 5)
      ++killed_while_frozen;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto m = target.Report();
    ASSERT_FALSE(m.is_null())
        << "trial " << i << ": the target does not answer";
    EXPECT_GT(m["ticks"].get<int>(), 20) << "trial " << i;
    EXPECT_LT(m["max_stall_ms"].get<double>(), 1000)
        << "trial " << i << ", kill at " << at;
    // Nothing half-written: either no file, or the complete core (killed after
    // the rename).
    std::vector<std::string> left = DirEntries(dir.path());
    if (!left.empty()) {
      ASSERT_EQ(left, std::vector<std::string>{"core"}) << "trial " << i;
      auto c = CoreView::Open(core);
      ASSERT_NE(c, nullptr) << "trial " << i;
      EXPECT_FALSE(c->threads.empty());
      std::remove(core.c_str());
    }
  }
  std::printf(
      "%d trials (%d aimed at the pause), %d killed before finishing, %d of "
      "them while the target felt a stall over 5 ms\n",
      trials, killed_in_pause_window, killed, killed_while_frozen);
  EXPECT_GT(killed, trials / 2)
      << "most kills must land before the snapshot finishes";
  if (mode == "fork") {
    // Children the killed runs left (zombies; in a narrow window a sleeping
    // copy) are cleaned up by the next complete fork-mode snapshot.
    std::printf("children of the target before clean-up: %zu\n",
                ChildrenOf(target.pid()).size());
    CommandResult last = RunCommand({BinaryPath("goretain"), "snapshot",
                                     "--pid", std::to_string(target.pid()),
                                     "-o", core, "--mode", "fork"});
    ASSERT_EQ(last.exit_code, 0) << last.err;
    EXPECT_TRUE(ChildrenOf(target.pid()).empty());
  }
}

TEST(SnapshotKillTest, TargetSurvivesKillsOfTheSnapshotter) {
  RunTrials("copy", 60);
}

TEST(SnapshotKillTest, TargetSurvivesKillsOfTheSnapshotterInForkMode) {
  RunTrials("fork", 60);
}

}  // namespace
}  // namespace goretain::testing
