// The fork mode: the target, frozen, forks a copy-on-write child through one
// injected clone syscall; the target resumes and the child, frozen for good, is
// read at leisure and killed. The pause is freeze + clone (the kernel copies
// page tables: 35-80 ms per GiB measured here) instead of freeze + copy (about
// 400 ms per GiB). docs/snapshot.md explains why this is safe and when it is
// refused.
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/snapshot/capture_internal.h"
#include "agent/snapshot/headroom.h"
#include "agent/snapshot/injection.h"
#include "agent/snapshot/selection.h"
#include "agent/snapshot/watchdog.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {

// Reading the child has no pause to protect; this only bounds a read stuck in
// the kernel.
constexpr auto kChildCopyLimit = std::chrono::minutes(10);
constexpr auto kReapLimit = std::chrono::seconds(1);

// The copy-on-write child: killed and collected (as its tracer) on destruction.
// It also dies with us (PTRACE_O_EXITKILL, set by InjectSyscall).
class ChildGuard {
 public:
  ~ChildGuard() { Kill(); }
  void Adopt(pid_t pid) { pid_ = pid; }
  pid_t pid() const { return pid_; }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      int status;
      pid_t w = waitpid(pid_, &status, __WALL | WNOHANG);
      if (w == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) break;
      if (w < 0 && errno != EINTR) break;
      timespec ts{0, 100'000};
      nanosleep(&ts, nullptr);
    }
    pid_ = 0;
  }

 private:
  pid_t pid_ = 0;
};

uint64_t PrivateWritableBytes(const std::vector<Mapping>& smaps) {
  uint64_t n = 0;
  for (const Mapping& m : smaps) n += m.writable && !m.shared ? m.size() : 0;
  return n;
}

// Why the target must not fork now, or "" if it may. Decided with the target
// running.
std::string ForkRefusal(pid_t pid, const SnapshotOptions& options,
                        const std::vector<Mapping>& smaps,
                        uint64_t data_bytes) {
  auto status = ReadStatus(pid);
  if (!status.ok()) return std::string(status.status().message());
  if (status->seccomp != 0) {
    return "the target runs under seccomp, whose filter might kill it for a "
           "clone syscall";
  }
  // Worst case, every page the child shares is written by the target before the
  // child is gone and gets copied, charged to the target's cgroup.
  const uint64_t need =
      static_cast<uint64_t>(data_bytes * options.fork_memory_headroom_factor);
  auto headroom = ReadMemoryHeadroom(pid);
  if (!headroom.ok()) return std::string(headroom.status().message());
  if (headroom->bytes < need) {
    return absl::StrFormat(
        "a copy-on-write child could need up to %.0f MiB and only %.0f MiB are "
        "left (%s)",
        need / 1048576.0, headroom->bytes / 1048576.0, headroom->limited_by);
  }
  if (auto commit = StrictCommitHeadroom();
      commit.has_value() && *commit < PrivateWritableBytes(smaps)) {
    return absl::StrFormat(
        "strict overcommit (vm.overcommit_memory=2) leaves %.0f MiB to commit "
        "and a fork "
        "commits %.0f MiB",
        *commit / 1048576.0, PrivateWritableBytes(smaps) / 1048576.0);
  }
  return "";
}

absl::Status PauseLimit(const SnapshotOptions& options) {
  return absl::DeadlineExceededError(absl::StrFormat(
      "the pause reached its limit of %d ms while the target forked; the "
      "target was resumed and no core was written",
      options.max_pause.count()));
}

// Mappings whose frozen content the child cannot give: shared memory (the child
// shares it, it changes once the target runs), VM_DONTCOPY (absent in the
// child), VM_WIPEONFORK (zeros there). They are copied from the target during
// the pause.
bool CopyFromTarget(const Mapping& m) {
  return m.shared || m.HasVmFlag("dc") || m.HasVmFlag("wf");
}

}  // namespace

absl::StatusOr<Capture> CaptureWithFork(pid_t pid,
                                        const SnapshotOptions& options,
                                        const std::vector<Mapping>& smaps,
                                        Pagemap& pagemap,
                                        std::unique_ptr<CopyBuffer> buffer) {
  ASSIGN_OR_RETURN(uint64_t data_bytes, EstimateCopyBytes(smaps, pagemap));
  if (std::string why = ForkRefusal(pid, options, smaps, data_bytes);
      !why.empty()) {
    auto cap =
        CaptureStopAndCopy(pid, options, smaps, pagemap, std::move(buffer));
    if (cap.ok()) cap->result.fallback_reason = why;
    return cap;
  }
  // Children an earlier, interrupted snapshot may have left (see
  // KillLeftoverChildren).
  std::vector<pid_t> leftovers = KillLeftoverChildren(pid);

  std::optional<Watchdog> watchdog;
  if (options.watchdog_grace.count() > 0) {
    watchdog.emplace(Clock::now() + options.max_pause + options.watchdog_grace);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Freezer> freezer,
                   Freezer::Freeze(pid, Clock::now() + options.max_pause));
  const Clock::time_point pause_start = freezer->first_interrupt();
  const Clock::time_point frozen_at = Clock::now();
  const Clock::time_point deadline = pause_start + options.max_pause;
  NotifyPhase(options, Phase::kFrozen);

  Capture cap;
  cap.image.buffer = std::move(buffer);
  CopyStats stats;
  ChildGuard child;
  pid_t injected_tid = 0;
  std::string fallback;
  std::vector<Mapping> maps;
  Clock::time_point fork_start{}, fork_end{}, copy_start{}, copy_end{};
  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(CaptureThreads(pid, freezer->StoppedThreads(), &cap.image));
    ASSIGN_OR_RETURN(maps, ReadFrozenMaps(pid, smaps));
    RETURN_IF_ERROR(ReadProcessInfo(pid, &cap.image.process));
    const ThreadState* t = nullptr;
    for (const ThreadState& c : cap.image.threads) {
      if (freezer->PendingSignal(c.tid) == 0 &&
          IsParkedInGoFutex(pid, c.regs)) {
        t = &c;
        break;
      }
    }
    if (t != nullptr) {
      fork_start = Clock::now();
      // clone(CLONE_FILES, exit signal 0): a copy-on-write copy of the address
      // space that shares the descriptor table (so the target closing a socket
      // closes it, the child adds no references) and whose exit sends no
      // SIGCHLD to the target's handlers.
      auto inj = InjectSyscall(t->tid, t->regs, SYS_clone,
                               {CLONE_FILES, 0, 0, 0, 0, 0}, deadline);
      fork_end = Clock::now();
      if (!inj.ok()) {
        if (absl::IsDeadlineExceeded(inj.status())) return PauseLimit(options);
        return inj.status();
      }
      injected_tid = t->tid;
      if (inj->caught_signal != 0) {
        freezer->SetPendingSignal(t->tid, inj->caught_signal);
      }
      if (inj->clone_child > 0) {
        child.Adopt(inj->clone_child);
        // A clone under way cannot be cut short; the limit is checked after it.
        if (Clock::now() > deadline) return PauseLimit(options);
      } else {
        fallback = absl::StrCat("the target could not fork: ",
                                strerror(static_cast<int>(-inj->result)));
      }
    } else {
      fallback =
          "no thread is parked in the Go runtime's futex wait, the only place "
          "where a syscall can be run safely";
    }
    copy_start = Clock::now();
    if (child.pid() == 0) {
      // No child: copy everything now, as stop-and-copy does, within the same
      // pause.
      absl::Status copied = CopyFrozenProcess(pid, maps, pagemap, deadline,
                                              options, &cap.image, &stats);
      copy_end = Clock::now();
      RETURN_IF_ERROR(copied);
      return freezer->CheckAlive();
    }
    std::vector<Mapping> from_target;
    for (const Mapping& m : maps) {
      if (CopyFromTarget(m)) from_target.push_back(m);
    }
    ASSIGN_OR_RETURN(CopyPlan plan, PlanCopy(from_target, pagemap));
    RETURN_IF_ERROR(CopyPlanned(pid, std::move(plan), deadline, options,
                                cap.image.buffer.get(), &cap.image.segments,
                                &stats, CopyThreads(options)));
    return freezer->CheckAlive();
  }();
  const Clock::time_point pause_end = freezer->Release();
  watchdog.reset();
  NotifyPhase(options, Phase::kResumed);
  ReadThreadsProcInfo(pid, &cap.image);

  // The rest comes from the child, which stays frozen however long this takes.
  absl::Status child_st;
  if (st.ok() && child.pid() > 0) {
    child_st = [&]() -> absl::Status {
      copy_start = Clock::now();
      ASSIGN_OR_RETURN(std::unique_ptr<Pagemap> child_pagemap,
                       Pagemap::Open(child.pid(), options.use_pagemap_scan));
      std::vector<Mapping> from_child;
      for (const Mapping& m : maps) {
        if (!CopyFromTarget(m)) from_child.push_back(m);
      }
      ASSIGN_OR_RETURN(CopyPlan plan, PlanCopy(from_child, *child_pagemap));
      RETURN_IF_ERROR(CopyPlanned(
          child.pid(), std::move(plan), Clock::now() + kChildCopyLimit, options,
          cap.image.buffer.get(), &cap.image.segments, &stats));
      copy_end = Clock::now();
      return absl::OkStatus();
    }();
  }
  // Whatever happened, the child goes, and it and any earlier leftovers,
  // zombies of the target once killed, are reaped from inside the target.
  if (child.pid() > 0) {
    leftovers.push_back(child.pid());
    child.Kill();
  }
  SnapshotResult& r = cap.result;
  if (!leftovers.empty()) {
    std::vector<pid_t> unreaped =
        ReapChildren(pid, leftovers, injected_tid, Clock::now() + kReapLimit);
    if (!unreaped.empty()) {
      r.warning = absl::StrCat(
          unreaped.size(),
          " exited copy-on-write child(ren) of the target could not be reaped "
          "yet (no parked thread); the next fork-mode snapshot retries");
    }
  }
  if (freezer->leader_lost() || absl::IsNotFound(st)) {
    return absl::AbortedError(
        absl::StrCat("process ", pid, " exited during the snapshot"));
  }
  RETURN_IF_ERROR(st);
  if (!child_st.ok()) {
    return absl::Status(
        child_st.code(),
        absl::StrCat("reading the copy-on-write child: ", child_st.message()));
  }
  std::sort(cap.image.segments.begin(), cap.image.segments.end(),
            [](const Segment& a, const Segment& b) {
              return a.mapping.start < b.mapping.start;
            });
  FinishElfHeaders(&cap.image);
  r.pid = pid;
  r.mode = fallback.empty() ? Mode::kFork : Mode::kStopAndCopy;
  r.fallback_reason = fallback;
  r.pause = pause_end - pause_start;
  r.freeze = frozen_at - pause_start;
  r.fork = fork_end - fork_start;
  r.copy = copy_end - copy_start;
  r.threads = cap.image.threads.size();
  r.bytes_copied = stats.bytes;
  r.unreadable_pages = stats.unreadable_pages;
  r.pagemap_scan = pagemap.uses_scan_ioctl();
  return cap;
}

}  // namespace goretain::agent::snapshot
