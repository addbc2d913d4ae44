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

// One fork-mode snapshot, phase by phase. Lives on the calling thread.
class ForkCapture {
 public:
  ForkCapture(pid_t pid, const SnapshotOptions& options,
              const std::vector<Mapping>& smaps, Pagemap& pagemap,
              std::unique_ptr<CopyBuffer> buffer)
      : pid_(pid), options_(options), smaps_(smaps), pagemap_(pagemap) {
    cap_.image.buffer = std::move(buffer);
  }

  absl::StatusOr<Capture> Run();

 private:
  // Inside the pause: registers, maps, the clone, what only the target has.
  absl::Status Frozen(Freezer& freezer, Clock::time_point deadline);
  // Runs the clone in a parked thread; sets child_ or fallback_.
  absl::Status Fork(Freezer& freezer, Clock::time_point deadline);
  // After the pause: everything else, from the frozen child.
  absl::Status ReadChild();
  // Kills the child and reaps it and earlier leftovers inside the target.
  void CollectChildren();
  void FillResult(Clock::time_point pause_start, Clock::time_point frozen_at,
                  Clock::time_point pause_end);

  const pid_t pid_;
  const SnapshotOptions& options_;
  const std::vector<Mapping>& smaps_;
  Pagemap& pagemap_;
  Capture cap_;
  CopyStats stats_;
  ChildGuard child_;
  std::vector<pid_t> leftovers_;  // exited children of ours, to reap
  pid_t injected_tid_ = 0;
  std::string fallback_;
  std::vector<Mapping> maps_;
  Clock::time_point fork_start_{}, fork_end_{}, copy_start_{}, copy_end_{};
};

absl::StatusOr<Capture> ForkCapture::Run() {
  // Children an earlier, interrupted snapshot may have left.
  leftovers_ = KillLeftoverChildren(pid_);
  std::optional<Watchdog> watchdog;
  if (options_.watchdog_grace.count() > 0) {
    watchdog.emplace(Clock::now() + options_.max_pause +
                     options_.watchdog_grace);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Freezer> freezer,
                   Freezer::Freeze(pid_, Clock::now() + options_.max_pause));
  const Clock::time_point pause_start = freezer->first_interrupt();
  const Clock::time_point frozen_at = Clock::now();
  NotifyPhase(options_, Phase::kFrozen);
  absl::Status st = Frozen(*freezer, pause_start + options_.max_pause);
  const Clock::time_point pause_end = freezer->Release();
  watchdog.reset();
  NotifyPhase(options_, Phase::kResumed);
  ReadThreadsProcInfo(pid_, &cap_.image);

  absl::Status child_st;
  if (st.ok() && child_.pid() > 0) child_st = ReadChild();
  CollectChildren();  // whatever happened
  if (freezer->leader_lost() || absl::IsNotFound(st)) {
    return absl::AbortedError(
        absl::StrCat("process ", pid_, " exited during the snapshot"));
  }
  RETURN_IF_ERROR(st);
  if (!child_st.ok()) {
    return absl::Status(
        child_st.code(),
        absl::StrCat("reading the copy-on-write child: ", child_st.message()));
  }
  FillResult(pause_start, frozen_at, pause_end);
  return std::move(cap_);
}

absl::Status ForkCapture::Frozen(Freezer& freezer, Clock::time_point deadline) {
  RETURN_IF_ERROR(CaptureThreads(pid_, freezer.StoppedThreads(), &cap_.image));
  ASSIGN_OR_RETURN(maps_, ReadFrozenMaps(pid_, smaps_));
  RETURN_IF_ERROR(ReadProcessInfo(pid_, &cap_.image.process));
  RETURN_IF_ERROR(Fork(freezer, deadline));
  copy_start_ = Clock::now();
  if (child_.pid() == 0) {
    // No child: copy everything now, as stop-and-copy does, in the same pause.
    absl::Status copied = CopyFrozenProcess(pid_, maps_, pagemap_, deadline,
                                            options_, &cap_.image, &stats_);
    copy_end_ = Clock::now();
    RETURN_IF_ERROR(copied);
    return freezer.CheckAlive();
  }
  std::vector<Mapping> from_target;
  for (const Mapping& m : maps_) {
    if (CopyFromTarget(m)) from_target.push_back(m);
  }
  ASSIGN_OR_RETURN(CopyPlan plan, PlanCopy(from_target, pagemap_));
  RETURN_IF_ERROR(CopyPlanned(pid_, std::move(plan), deadline, options_,
                              cap_.image.buffer.get(), &cap_.image.segments,
                              &stats_, CopyThreads(options_)));
  return freezer.CheckAlive();
}

absl::Status ForkCapture::Fork(Freezer& freezer, Clock::time_point deadline) {
  if (freezer.AnyGroupStop()) {
    fallback_ =
        "the process is stopped (SIGSTOP or similar): copying it costs it "
        "nothing";
    return absl::OkStatus();
  }
  // Any parked thread but preferably not the leader: should the process die
  // meanwhile, the leader's exit is reported only after all the others'.
  const ThreadState* t = nullptr;
  for (const ThreadState& c : cap_.image.threads) {
    if (freezer.PendingSignal(c.tid) != 0 || !IsParkedInGoFutex(pid_, c.regs)) {
      continue;
    }
    if (t == nullptr || t->tid == pid_) t = &c;
  }
  if (t == nullptr) {
    fallback_ =
        "no thread is parked in the Go runtime's futex wait, the only place "
        "where a syscall can be run safely";
    return absl::OkStatus();
  }
  fork_start_ = Clock::now();
  // clone(CLONE_FILES, exit signal 0): a copy-on-write copy of the address
  // space that shares the descriptor table (so the target closing a socket
  // closes it; the child adds no references) and whose exit sends no SIGCHLD
  // to the target's handlers.
  auto inj = InjectSyscall(pid_, t->tid, t->regs, SYS_clone,
                           {CLONE_FILES, 0, 0, 0, 0, 0}, deadline);
  fork_end_ = Clock::now();
  if (!inj.ok()) {
    if (absl::IsDeadlineExceeded(inj.status())) return PauseLimit(options_);
    return inj.status();
  }
  injected_tid_ = t->tid;
  if (int sig = HoldSignals(pid_, t->tid, inj->caught_signals); sig != 0) {
    freezer.SetPendingSignal(t->tid, sig);
  }
  if (inj->clone_child > 0 && !inj->child_ready) {
    // Killed already: collected here as its tracer, reaped in the target at
    // the end.
    ChildGuard dead;
    dead.Adopt(inj->clone_child);
    dead.Kill();
    leftovers_.push_back(inj->clone_child);
    fallback_ = "the forked child could not be attached";
  } else if (inj->clone_child > 0) {
    child_.Adopt(inj->clone_child);
    // A clone under way cannot be cut short; the limit is checked after it.
    if (Clock::now() > deadline) return PauseLimit(options_);
  } else {
    fallback_ = absl::StrCat("the target could not fork: ",
                             strerror(static_cast<int>(-inj->result)));
  }
  return absl::OkStatus();
}

absl::Status ForkCapture::ReadChild() {
  copy_start_ = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Pagemap> child_pagemap,
                   Pagemap::Open(child_.pid(), options_.use_pagemap_scan));
  std::vector<Mapping> from_child;
  for (const Mapping& m : maps_) {
    if (!CopyFromTarget(m)) from_child.push_back(m);
  }
  ASSIGN_OR_RETURN(CopyPlan plan, PlanCopy(from_child, *child_pagemap));
  // No pause to protect any more: one thread, bounded only against a read
  // stuck in the kernel.
  RETURN_IF_ERROR(CopyPlanned(
      child_.pid(), std::move(plan), Clock::now() + kChildCopyLimit, options_,
      cap_.image.buffer.get(), &cap_.image.segments, &stats_));
  copy_end_ = Clock::now();
  std::sort(cap_.image.segments.begin(), cap_.image.segments.end(),
            [](const Segment& a, const Segment& b) {
              return a.mapping.start < b.mapping.start;
            });
  return absl::OkStatus();
}

void ForkCapture::CollectChildren() {
  // Once killed, the child is a zombie of the target, which never waits for
  // it: reaped from inside the target, with any earlier leftovers.
  if (child_.pid() > 0) {
    leftovers_.push_back(child_.pid());
    child_.Kill();
  }
  if (leftovers_.empty()) return;
  std::vector<pid_t> unreaped =
      ReapChildren(pid_, leftovers_, injected_tid_, Clock::now() + kReapLimit);
  if (!unreaped.empty()) {
    cap_.result.warning = absl::StrCat(
        unreaped.size(),
        " exited copy-on-write child(ren) of the target could not be reaped "
        "yet (no parked thread); the next fork-mode snapshot retries");
  }
}

void ForkCapture::FillResult(Clock::time_point pause_start,
                             Clock::time_point frozen_at,
                             Clock::time_point pause_end) {
  FinishElfHeaders(&cap_.image);
  SnapshotResult& r = cap_.result;
  r.pid = pid_;
  r.mode = fallback_.empty() ? Mode::kFork : Mode::kStopAndCopy;
  r.fallback_reason = fallback_;
  r.pause = pause_end - pause_start;
  r.freeze = frozen_at - pause_start;
  r.fork = fork_end_ - fork_start_;
  r.copy = copy_end_ - copy_start_;
  r.threads = cap_.image.threads.size();
  r.bytes_copied = stats_.bytes;
  r.unreadable_pages = stats_.unreadable_pages;
  r.pagemap_scan = pagemap_.uses_scan_ioctl();
}

}  // namespace

absl::StatusOr<Capture> CaptureWithFork(pid_t pid,
                                        const SnapshotOptions& options,
                                        const std::vector<Mapping>& smaps,
                                        Pagemap& pagemap, uint64_t data_bytes,
                                        std::unique_ptr<CopyBuffer> buffer) {
  if (std::string why = ForkRefusal(pid, options, smaps, data_bytes);
      !why.empty()) {
    auto cap =
        CaptureStopAndCopy(pid, options, smaps, pagemap, std::move(buffer));
    if (cap.ok()) cap->result.fallback_reason = why;
    return cap;
  }
  return ForkCapture(pid, options, smaps, pagemap, std::move(buffer)).Run();
}

}  // namespace goretain::agent::snapshot
