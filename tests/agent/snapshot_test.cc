// The snapshotter library against real Go processes: real ptrace, real cores.
#include "agent/snapshot/snapshot.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "agent/snapshot/procfs.h"
#include "tests/agent/snapshot_testing.h"

namespace goretain::agent::snapshot {
namespace {

using goretain::testing::Child;
using goretain::testing::CoreView;
using goretain::testing::DirEntries;
using goretain::testing::IsRunningUntraced;
using goretain::testing::NewestVariant;
using goretain::testing::StallMeter;
using goretain::testing::Tasks;
using goretain::testing::TempDir;

SnapshotOptions Options(const std::string& path) {
  SnapshotOptions o;
  o.output_path = path;
  // Generous: tests must not depend on the machine's speed.
  o.max_pause = std::chrono::seconds(30);
  return o;
}

TEST(SnapshotTest, CoreHoldsEveryThreadAndTheProcessNotes) {
  const auto& v = NewestVariant();
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  std::vector<pid_t> tids =
      goretain::testing::WaitForStableThreads(child.pid());
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), Options(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(IsRunningUntraced(child.pid()));
  EXPECT_EQ(Tasks(child.pid()), tids) << "the idle fixture changed its threads";

  auto core = CoreView::Open(dir.File("core"));
  ASSERT_NE(core, nullptr);
  EXPECT_EQ(core->type, ET_CORE);
  EXPECT_EQ(core->machine, EM_X86_64);
  std::vector<pid_t> core_tids;
  for (const auto& t : core->threads) core_tids.push_back(t.tid);
  ASSERT_FALSE(core_tids.empty());
  EXPECT_EQ(core_tids.front(), child.pid())
      << "the leader's NT_PRSTATUS comes first";
  std::sort(core_tids.begin(), core_tids.end());
  EXPECT_EQ(core_tids, tids);
  EXPECT_EQ(r->threads, tids.size());
  EXPECT_EQ(core->psinfo_pid, child.pid());
  EXPECT_EQ(core->psinfo_fname, "idle");

  // NT_AUXV is the process's own auxv.
  std::ifstream auxv("/proc/" + std::to_string(child.pid()) + "/auxv",
                     std::ios::binary);
  std::string want((std::istreambuf_iterator<char>(auxv)), {});
  EXPECT_EQ(core->auxv, want);

  // NT_FILE names the executable, with the executable's mappings.
  char exe[4096] = {};
  ASSERT_GT(readlink(("/proc/" + std::to_string(child.pid()) + "/exe").c_str(),
                     exe, sizeof exe - 1),
            0);
  int exe_maps = 0;
  for (const auto& f : core->files) exe_maps += f.path == exe;
  EXPECT_GE(exe_maps, 2) << "text and data of " << exe;

  // Every thread's registers point into the executable's text, on a stack of
  // the core, with a TLS base (each Go M has its own).
  std::set<uint64_t> fs_bases;
  for (const auto& t : core->threads) {
    bool rip_in_text = false;
    for (const auto& f : core->files) {
      rip_in_text |=
          f.path == exe && t.regs.rip >= f.start && t.regs.rip < f.end;
    }
    EXPECT_TRUE(rip_in_text)
        << "thread " << t.tid << " rip " << std::hex << t.regs.rip;
    EXPECT_TRUE(core->Read(t.regs.rsp, 8).has_value())
        << "thread " << t.tid << " rsp " << std::hex << t.regs.rsp
        << " not in the core";
    fs_bases.insert(t.regs.fs_base);
  }
  EXPECT_EQ(fs_bases.size(), core->threads.size())
      << "fs_base must differ per thread";

  // Mode 0600, sparse, no temporary files next to it.
  struct stat sb;
  ASSERT_EQ(stat(dir.File("core").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(sb.st_size), r->core_size);
  EXPECT_LT(core->disk_bytes, core->file_size);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"core"});
}

TEST(SnapshotTest, CopiedMemoryMatchesTheFrozenProcess) {
  // With the target frozen again right after (no time to run), the heap pages
  // in the core equal what the process holds: a copy of the right pages at the
  // right addresses.
  const auto& v = NewestVariant();
  StallMeter target(v, 64);
  ASSERT_TRUE(target.started());
  TempDir dir;
  // The snapshot ends, then we stop the target ourselves before comparing.
  auto r = TakeSnapshot(target.pid(), Options(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(kill(target.pid(), SIGSTOP), 0);
  auto core = CoreView::Open(dir.File("core"));
  ASSERT_NE(core, nullptr);
  std::ifstream mem("/proc/" + std::to_string(target.pid()) + "/mem",
                    std::ios::binary);
  uint64_t pages = 0, equal = 0;
  for (const auto& l : core->loads) {
    if (!(l.flags & PF_W) || l.filesz == 0) continue;
    for (uint64_t a = l.vaddr; a < l.vaddr + l.filesz; a += 4096) {
      auto got = core->Read(a, 4096);
      ASSERT_TRUE(got.has_value());
      if (*got == std::string(4096, '\0'))
        continue;  // absent or zero: nothing to compare
      std::string live(4096, '\0');
      mem.seekg(static_cast<std::streamoff>(a));
      mem.read(live.data(), 4096);
      ++pages;
      equal += live == *got;
    }
  }
  kill(target.pid(), SIGCONT);
  // The stall meter and the GC write a few pages between the snapshot and our
  // SIGSTOP.
  ASSERT_GT(pages, 64u * 256 / 2)
      << "a 64 MiB heap is at least 8192 non-zero pages";
  EXPECT_GT(equal, pages * 99 / 100)
      << equal << " of " << pages << " pages equal";
}

TEST(SnapshotTest, SnapshottingItselfIsRefused) {
  TempDir dir;
  auto r = TakeSnapshot(getpid(), Options(dir.File("core")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotTest, NonexistentPidIsNotFound) {
  TempDir dir;
  auto r = TakeSnapshot(999999999, Options(dir.File("core")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "no process 999999999"))
      << r.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotTest, TargetExitingMidSnapshotIsAClearError) {
  const auto& v = NewestVariant();
  StallMeter target(v, 64);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = Options(dir.File("core"));
  bool killed = false;
  o.on_phase = [&](Phase p) {
    if (p == Phase::kCopyBatch && !killed) {
      killed = true;
      kill(target.pid(), SIGKILL);
    }
  };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_TRUE(killed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
  EXPECT_TRUE(
      absl::StrContains(r.status().message(), "exited during the snapshot"))
      << r.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotTest, TargetKilledWhileFrozenIsAClearError) {
  Child child({"/bin/sleep", "100"});
  TempDir dir;
  SnapshotOptions o = Options(dir.File("core"));
  o.on_phase = [&](Phase p) {
    if (p == Phase::kFrozen) kill(child.pid(), SIGKILL);
  };
  auto r = TakeSnapshot(child.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotTest, MaxPauseAbortsAndResumesTheTarget) {
  const auto& v = NewestVariant();
  StallMeter target(v, 256);
  ASSERT_TRUE(target.started());
  ASSERT_FALSE(target.Report().is_null());  // reset the meter
  TempDir dir;
  SnapshotOptions o = Options(dir.File("core"));
  // 256 MiB cannot be copied in 5 ms.
  o.max_pause = std::chrono::milliseconds(5);
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "limit of 5 ms"))
      << r.status();
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto m = target.Report();
  ASSERT_FALSE(m.is_null());
  EXPECT_GT(m["ticks"].get<int>(), 0);
  // The copy stops at the first batch past the limit: far below the full copy's
  // ~100 ms.
  EXPECT_LT(m["max_stall_ms"].get<double>(), 1000);
}

TEST(SnapshotTest, BusyThreadsAreFrozenToo) {
  const auto& v = NewestVariant();
  StallMeter target(v, 16, {"-spin", "3"});
  ASSERT_TRUE(target.started());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  TempDir dir;
  for (int i = 0; i < 5; ++i) {
    std::vector<pid_t> before = Tasks(target.pid());
    auto r = TakeSnapshot(target.pid(), Options(dir.File("core")));
    ASSERT_TRUE(r.ok()) << r.status();
    auto core = CoreView::Open(dir.File("core"));
    ASSERT_NE(core, nullptr);
    // Threads may come and go between our listing and the freeze, but
    // everything listed before and still alive after was frozen.
    std::vector<pid_t> after = Tasks(target.pid());
    for (pid_t t : before) {
      if (std::find(after.begin(), after.end(), t) == after.end()) continue;
      EXPECT_NE(core->FindThread(t), nullptr) << "thread " << t;
    }
  }
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_FALSE(target.Report().is_null());
}

TEST(SnapshotTest, TargetForkingAndExecingDuringSnapshots) {
  const auto& v = NewestVariant();
  StallMeter target(v, 16, {"-spawn"});
  ASSERT_TRUE(target.started());
  TempDir dir;
  int ok = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = TakeSnapshot(target.pid(), Options(dir.File("core")));
    if (r.ok()) {
      ++ok;
    } else {
      // A thread waiting in vfork for its child's exec may hold up the freeze;
      // that must be reported, never hang or leave the target stopped.
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
          << r.status();
    }
    EXPECT_TRUE(IsRunningUntraced(target.pid()));
  }
  EXPECT_GT(ok, 0);
  EXPECT_FALSE(target.Report().is_null());
}

TEST(SnapshotTest, SignalsArrivingWhileFrozenAreDelivered) {
  const auto& v = NewestVariant();
  StallMeter target(v, 16);
  ASSERT_TRUE(target.started());
  TempDir dir;
  SnapshotOptions o = Options(dir.File("core"));
  o.on_phase = [&](Phase p) {
    if (p == Phase::kFrozen)
      kill(target.pid(), SIGUSR1);  // asks for a meter report
  };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string line = target.child().ReadLine(std::chrono::seconds(10));
  EXPECT_TRUE(absl::StrContains(line, "max_stall_ms"))
      << "SIGUSR1 was lost: '" << line << "'";
}

TEST(SnapshotTest, StoppedTargetStaysStopped) {
  // Someone else's SIGSTOP is not ours to undo.
  Child child({NewestVariant().Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  ASSERT_EQ(kill(child.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), Options(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto st = ReadStatus(child.pid());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, 'T');
  EXPECT_EQ(st->tracer_pid, 0);
  kill(child.pid(), SIGCONT);
  EXPECT_TRUE(IsRunningUntraced(child.pid()));
}

TEST(SnapshotTest, AlreadyTracedTargetIsRefused) {
  Child child({NewestVariant().Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  // Another tracer: a forked helper seizes the target and waits.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t tracer = fork();
  if (tracer == 0) {
    char c =
        ptrace(PTRACE_SEIZE, child.pid(), nullptr, nullptr) == 0 ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  ASSERT_EQ(c, 'y');
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), Options(dir.File("core")));
  kill(tracer, SIGKILL);
  waitpid(tracer, nullptr, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_TRUE(
      absl::StrContains(r.status().message(),
                        "already traced by process " + std::to_string(tracer)))
      << r.status();
  EXPECT_TRUE(IsRunningUntraced(child.pid()));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

TEST(SnapshotTest, NoDescriptorsLeak) {
  const auto& v = NewestVariant();
  StallMeter target(v, 8);
  ASSERT_TRUE(target.started());
  TempDir dir;
  int before = goretain::testing::CountOpenFds();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(TakeSnapshot(target.pid(), Options(dir.File("core"))).ok());
    SnapshotOptions o = Options(dir.File("core2"));
    o.max_pause = std::chrono::milliseconds(1);
    (void)TakeSnapshot(target.pid(), o);  // may fail: too short a pause
    (void)TakeSnapshot(999999999, Options(dir.File("core3")));  // fails
    (void)TakeSnapshot(target.pid(), Options("/nonexistent/dir/core"));
  }
  EXPECT_EQ(goretain::testing::CountOpenFds(), before);
}

TEST(SnapshotTest, NoOutputDirectoryFailsBeforeStopping) {
  Child child({NewestVariant().Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  bool frozen = false;
  SnapshotOptions o = Options("/nonexistent/dir/core");
  o.on_phase = [&](Phase) { frozen = true; };
  auto r = TakeSnapshot(child.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "/nonexistent/dir"))
      << r.status();
  EXPECT_FALSE(frozen);
}

// A tiny tmpfs: the disk fills up.
class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    ASSERT_EQ(mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=1m"), 0)
        << strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  TempDir dir_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, RefusedBeforeStoppingWhenTheCoreCannotFit) {
  const auto& v = NewestVariant();
  StallMeter target(v, 16);
  ASSERT_TRUE(target.started());
  bool frozen = false;
  SnapshotOptions o = Options(dir_.File("core"));
  o.on_phase = [&](Phase) { frozen = true; };
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "not enough space"))
      << r.status();
  EXPECT_FALSE(frozen);
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(DirEntries(dir_.path()).empty());
}

TEST_F(DiskFullTest, WriteFailingLeavesNoFile) {
  const auto& v = NewestVariant();
  StallMeter target(v, 16);
  ASSERT_TRUE(target.started());
  SnapshotOptions o = Options(dir_.File("core"));
  o.check_free_space = false;  // get past the preflight to the write itself
  auto r = TakeSnapshot(target.pid(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_TRUE(
      absl::StrContains(r.status().message(), "No space left on device"))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), dir_.File("core")))
      << r.status();
  EXPECT_TRUE(IsRunningUntraced(target.pid()));
  EXPECT_TRUE(DirEntries(dir_.path()).empty());
  EXPECT_FALSE(target.Report().is_null());
}

}  // namespace
}  // namespace goretain::agent::snapshot
