// The fork mode against real Go processes: the injected clone, the child read
// after the pause, the refusals and fallbacks, and the clean-up of children an
// interrupted snapshot leaves.
#include <elf.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "agent/snapshot/freezer.h"
#include "agent/snapshot/injection.h"
#include "agent/snapshot/procfs.h"
#include "agent/snapshot/registers.h"
#include "agent/snapshot/snapshot.h"
#include "tests/agent/snapshot_testing.h"

namespace goretain::agent::snapshot {
namespace {

using goretain::testing::Child;
using goretain::testing::ChildrenOf;
using goretain::testing::CoreView;
using goretain::testing::DirEntries;
using goretain::testing::IsRunningUntraced;
using goretain::testing::NewestVariant;
using goretain::testing::StallMeter;
using goretain::testing::Tasks;
using goretain::testing::TempDir;
using goretain::testing::Variant;
using goretain::testing::VariantByName;

SnapshotOptions ForkOptions(const std::string& path) {
  SnapshotOptions o;
  o.output_path = path;
  o.mode = Mode::kFork;
  o.max_pause = std::chrono::seconds(30);
  return o;
}

class ForkModeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ForkModeTest, ForksReadsTheChildAndLeavesNothingBehind) {
  const Variant& v = VariantByName(GetParam());
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  std::vector<pid_t> tids =
      goretain::testing::WaitForStableThreads(child.pid());
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), ForkOptions(dir.File("fork")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kFork) << r->fallback_reason;
  EXPECT_EQ(r->warning, "");
  EXPECT_GT(r->fork.count(), 0);
  EXPECT_LE(r->fork, r->pause);
  EXPECT_TRUE(IsRunningUntraced(child.pid()));
  EXPECT_TRUE(ChildrenOf(child.pid()).empty())
      << "the copy-on-write child was not reaped";
  EXPECT_EQ(Tasks(child.pid()), tids);

  // An idle process does not move: a stop-and-copy snapshot right after sees
  // the same registers, so the injected thread's were captured before and
  // restored after.
  SnapshotOptions copy = ForkOptions(dir.File("copy"));
  copy.mode = Mode::kStopAndCopy;
  ASSERT_TRUE(TakeSnapshot(child.pid(), copy).ok());
  auto fork_core = CoreView::Open(dir.File("fork"));
  auto copy_core = CoreView::Open(dir.File("copy"));
  ASSERT_NE(fork_core, nullptr);
  ASSERT_NE(copy_core, nullptr);
  ASSERT_EQ(fork_core->threads.size(), tids.size());
  for (const auto& t : copy_core->threads) {
    const auto* f = fork_core->FindThread(t.tid);
    ASSERT_NE(f, nullptr) << t.tid;
    EXPECT_EQ(f->regs.rip, t.regs.rip) << t.tid;
    EXPECT_EQ(f->regs.rsp, t.regs.rsp) << t.tid;
    EXPECT_EQ(f->regs.fs_base, t.regs.fs_base) << t.tid;
  }
  // And the same memory.
  const std::string zero(4096, '\0');
  uint64_t pages = 0, equal = 0;
  for (const auto& l : copy_core->loads) {
    if (!(l.flags & PF_W)) continue;
    for (uint64_t a = l.vaddr; a + 4096 <= l.vaddr + l.filesz; a += 4096) {
      auto want = copy_core->Read(a, 4096);
      if (!want || *want == zero) continue;
      auto got = fork_core->Read(a, 4096);
      ++pages;
      equal += got.has_value() && *got == *want;
    }
  }
  EXPECT_GT(pages, 100u);
  EXPECT_GE(equal, pages - pages / 100 - 2) << equal << " of " << pages;
}

INSTANTIATE_TEST_SUITE_P(AllGoVersions, ForkModeTest,
                         ::testing::ValuesIn(goretain::testing::VariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace_if(
                               n.begin(), n.end(),
                               [](char c) { return !isalnum(c); }, '_');
                           return n;
                         });

TEST(ForkModeBehaviourTest, TargetKeepsWorkingThroughManyForks) {
  StallMeter target(NewestVariant(), 32, {"-churn", "50"});
  ASSERT_TRUE(target.started());
  std::vector<pid_t> before = Tasks(target.pid());
  TempDir dir;
  for (int i = 0; i < 10; ++i) {
    auto r = TakeSnapshot(target.pid(), ForkOptions(dir.File("core")));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->mode, Mode::kFork) << r->fallback_reason;
    auto core = CoreView::Open(dir.File("core"));
    ASSERT_NE(core, nullptr);
    EXPECT_FALSE(core->threads.empty());
  }
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(ChildrenOf(target.pid()).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_FALSE(target.Report().is_null());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto m = target.Report();
  ASSERT_FALSE(m.is_null());
  EXPECT_GT(m["ticks"].get<int>(), 50);
}

TEST(ForkModeBehaviourTest, SignalsArrivingDuringTheForkAreDelivered) {
  StallMeter target(NewestVariant(), 16);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = ForkOptions(dir.File("core"));
  o.on_phase = [&](Phase p) {
    if (p == Phase::kFrozen) kill(target.pid(), SIGUSR1);
  };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kFork) << r->fallback_reason;
  std::string line = target.child().ReadLine(std::chrono::seconds(10));
  EXPECT_TRUE(absl::StrContains(line, "max_stall_ms"))
      << "SIGUSR1 was lost: '" << line << "'";
}

TEST(ForkModeBehaviourTest, SeccompMakesItFallBackToCopy) {
  StallMeter target(NewestVariant(), 8, {"-seccomp"});
  ASSERT_TRUE(target.started());
  TempDir dir;
  auto r = TakeSnapshot(target.pid(), ForkOptions(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kStopAndCopy);
  EXPECT_TRUE(absl::StrContains(r->fallback_reason, "seccomp"))
      << r->fallback_reason;
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
}

TEST(ForkModeBehaviourTest, TooLittleMemoryHeadroomMakesItFallBack) {
  StallMeter target(NewestVariant(), 32);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = ForkOptions(dir.File("core"));
  // 32 MiB x 1e7: more than any machine has.
  o.fork_memory_headroom_factor = 1e7;
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kStopAndCopy);
  EXPECT_TRUE(
      absl::StrContains(r->fallback_reason, "copy-on-write child could need"))
      << r->fallback_reason;
  EXPECT_TRUE(ChildrenOf(target.pid()).empty());
}

TEST(ForkModeBehaviourTest, StoppedTargetIsCopiedAndStaysStopped) {
  Child child({NewestVariant().Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  ASSERT_EQ(kill(child.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), ForkOptions(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kStopAndCopy);
  EXPECT_TRUE(absl::StrContains(r->fallback_reason, "stopped"))
      << r->fallback_reason;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto st = ReadStatus(child.pid());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, 'T');
  EXPECT_TRUE(ChildrenOf(child.pid()).empty());
  kill(child.pid(), SIGCONT);
  EXPECT_TRUE(IsRunningUntraced(child.pid()));
}

TEST(ForkModeBehaviourTest, ProcessWithoutAParkedGoThreadFallsBack) {
  Child sleeper({"/bin/sleep", "100"});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  TempDir dir;
  auto r = TakeSnapshot(sleeper.pid(), ForkOptions(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kStopAndCopy);
  EXPECT_TRUE(absl::StrContains(r->fallback_reason, "no thread is parked"))
      << r->fallback_reason;
  EXPECT_TRUE(IsRunningUntraced(sleeper.pid()));
}

TEST(ForkModeBehaviourTest, TargetDyingWhileTheChildIsReadStillGivesTheCore) {
  // The child holds the frozen moment: the target's later death does not spoil
  // it.
  StallMeter target(NewestVariant(), 64);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = ForkOptions(dir.File("core"));
  bool resumed = false, killed = false;
  o.on_phase = [&](Phase p) {
    if (p == Phase::kResumed) resumed = true;
    if (p == Phase::kCopyBatch && resumed && !killed) {
      killed = true;
      kill(target.pid(), SIGKILL);
    }
  };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_TRUE(killed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kFork);
  auto core = CoreView::Open(dir.File("core"));
  ASSERT_NE(core, nullptr);
  EXPECT_GT(core->disk_bytes, 60u << 20) << "the 64 MiB heap is in the core";
}

TEST(ForkModeBehaviourTest, PauseLimitReachedDuringTheForkResumesAndCleansUp) {
  StallMeter target(NewestVariant(), 128);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = ForkOptions(dir.File("core"));
  o.max_pause = std::chrono::milliseconds(1);  // a 128 MiB clone takes longer
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(ChildrenOf(target.pid()).empty());
  EXPECT_TRUE(DirEntries(dir.path()).empty());
  EXPECT_FALSE(target.Report().is_null());
}

TEST(ForkModeBehaviourTest, TargetKilledWhileFrozenIsAClearError) {
  StallMeter target(NewestVariant(), 16);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = ForkOptions(dir.File("core"));
  o.on_phase = [&](Phase p) {
    if (p == Phase::kFrozen) kill(target.pid(), SIGKILL);
  };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

// The process dies while a syscall injected into its leader runs, all other
// threads being our tracees: the leader's exit is reported only after theirs,
// so the injection must notice the zombie instead of waiting for a report.
TEST(InjectionTest, ProcessDyingDuringAnInjectionInTheLeaderEndsIt) {
  StallMeter target(NewestVariant(), 8);
  ASSERT_TRUE(target.started());
  // Freeze until the leader is parked in futex (it is, most of the time).
  std::unique_ptr<Freezer> freezer;
  ThreadState leader;
  for (int i = 0; i < 50 && freezer == nullptr; ++i) {
    auto f =
        Freezer::Freeze(target.pid(), Clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(CaptureThread(target.pid(), &leader).ok());
    if (IsParkedInGoFutex(target.pid(), leader.regs)) {
      freezer = std::move(*f);
    } else {
      f->reset();  // release, let it run a little, try again
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_NE(freezer, nullptr) << "the leader never parked in futex";
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    kill(target.pid(), SIGKILL);
  });
  const auto start = Clock::now();
  // pause() blocks until a signal: only the kill ends it.
  auto r = InjectSyscall(target.pid(), target.pid(), leader.regs, SYS_pause, {},
                         Clock::now() + std::chrono::seconds(10));
  killer.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

// A child as an interrupted fork-mode snapshot leaves it: cloned by an injected
// syscall, then let go (as if the snapshotter died before it could be killed).
// The next fork-mode snapshot kills and reaps it.
TEST(ForkModeBehaviourTest,
     LeftoverChildrenOfAnInterruptedSnapshotAreCleanedUp) {
  StallMeter target(NewestVariant(), 8);
  ASSERT_TRUE(target.started());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pid_t escaped = 0;
  for (pid_t tid : Tasks(target.pid())) {
    auto stop = ThreadStop::Stop(tid, Clock::now() + std::chrono::seconds(1));
    ASSERT_TRUE(stop.ok()) << stop.status();
    if (!IsParkedInGoFutex(target.pid(), (*stop)->regs())) continue;
    auto inj = InjectSyscall(target.pid(), tid, (*stop)->regs(), SYS_clone,
                             {CLONE_FILES, 0, 0, 0, 0, 0},
                             Clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(inj.ok()) << inj.status();
    ASSERT_GT(inj->clone_child, 0);
    escaped = inj->clone_child;
    // Let it run, untraced, like a child whose snapshotter died.
    ASSERT_EQ(ptrace(PTRACE_SETOPTIONS, escaped, nullptr, 0), 0);
    ASSERT_EQ(ptrace(PTRACE_DETACH, escaped, nullptr, nullptr), 0);
    break;
  }
  ASSERT_GT(escaped, 0) << "no thread of the stall meter is parked in futex";
  ASSERT_TRUE(IsRunningUntraced(target.pid()));
  std::vector<pid_t> kids = ChildrenOf(target.pid());
  ASSERT_NE(std::find(kids.begin(), kids.end(), escaped), kids.end());
  auto st = ReadStat(escaped);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->exit_signal, 0);
  EXPECT_NE(st->state, 'Z') << "the escaped copy sleeps in its futex";

  TempDir dir;
  auto r = TakeSnapshot(target.pid(), ForkOptions(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, Mode::kFork) << r->fallback_reason;
  EXPECT_TRUE(ChildrenOf(target.pid()).empty())
      << "leftover child " << escaped << " remains";
  EXPECT_FALSE(ReadStat(escaped).ok()) << "reaped: gone from /proc";
  EXPECT_FALSE(target.Report().is_null());
}

}  // namespace
}  // namespace goretain::agent::snapshot
