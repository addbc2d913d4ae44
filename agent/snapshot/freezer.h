// Freezing every thread of a live process with ptrace, and the guard that
// releases it.
//
// Threads are attached with PTRACE_SEIZE and stopped with PTRACE_INTERRUPT: no
// SIGSTOP is sent and PTRACE_O_EXITKILL is never set, so if this process dies
// at any moment the kernel detaches the threads and they run on (see
// docs/snapshot.md). New threads are caught with PTRACE_O_TRACECLONE and by
// rescanning /proc/PID/task until a pass finds nothing new. Signals that arrive
// while freezing are kept and re-injected when the thread is released.
//
// ptrace attachments belong to the thread that made them: create, use and
// destroy a Freezer on one thread, and keep that thread alive until the Freezer
// is gone.
#ifndef GORETAIN_AGENT_SNAPSHOT_FREEZER_H_
#define GORETAIN_AGENT_SNAPSHOT_FREEZER_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace goretain::agent::snapshot {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC

class Freezer {
 public:
  struct Thread {
    pid_t tid = 0;
    // In a ptrace stop; false while the interrupt is still pending.
    bool stopped = false;
    bool gone = false;  // exited (or was never ours)
    // Caught in signal-delivery-stop; re-injected on release.
    int pending_signal = 0;
    // Stopped by SIGSTOP & co. from someone else: stays stopped.
    bool group_stop = false;
    // A new process (not a thread) cloned meanwhile and attached by TRACECLONE:
    // released, never captured.
    bool foreign = false;
  };

  // Seizes and interrupts every thread of `pid` and waits until all are
  // stopped, or fails: NotFound (no such process), PermissionDenied (not
  // allowed to trace it, or it already has a tracer), Aborted (it exited or
  // exec'd meanwhile), DeadlineExceeded (a thread did not stop by `deadline`,
  // typically in uninterruptible sleep). On failure every thread already seized
  // has been released again before this returns.
  static absl::StatusOr<std::unique_ptr<Freezer>> Freeze(
      pid_t pid, Clock::time_point deadline);

  // The detach guard: releases every thread still attached.
  ~Freezer();
  Freezer(const Freezer&) = delete;
  Freezer& operator=(const Freezer&) = delete;

  pid_t pid() const { return pid_; }
  // Whether someone else has the process stopped (SIGSTOP and co.).
  bool AnyGroupStop() const;
  // Stopped threads of the process, the thread group leader first.
  std::vector<pid_t> StoppedThreads() const;
  // When the first PTRACE_INTERRUPT was issued: the pause starts no later than
  // this.
  Clock::time_point first_interrupt() const { return first_interrupt_; }
  bool released() const { return released_; }
  // After Release: whether the leader had left its stop before it could be
  // resumed, which only SIGKILL does: the process was killed while frozen.
  bool leader_lost() const { return leader_lost_; }

  // Detaches every thread (re-injecting held signals) and returns the time the
  // last one was resumed. Threads whose interrupt is still pending are waited
  // for (bounded) first. Idempotent.
  Clock::time_point Release();

  // The signal held for a stopped thread (0: none), and changing it (a mode
  // that runs the thread catches signals meanwhile).
  int PendingSignal(pid_t tid) const;
  void SetPendingSignal(pid_t tid, int sig);

  // Checks that the threads are still the process's: a thread that was killed
  // meanwhile (SIGKILL wakes even stopped threads) makes this Aborted.
  absl::Status CheckAlive();

 private:
  explicit Freezer(pid_t pid) : pid_(pid) {}
  absl::Status SeizeNew(const std::vector<pid_t>& tids, bool* found_new);
  absl::Status WaitAllStopped(Clock::time_point deadline);
  // Handles one waitpid status of `t`; may add threads (clone events).
  absl::Status HandleStatus(size_t index, int status);
  Thread* Find(pid_t tid);
  std::string DescribeUnstopped() const;

  pid_t pid_;
  std::vector<Thread> threads_;
  Clock::time_point first_interrupt_{};
  bool interrupted_any_ = false;
  bool released_ = false;
  bool leader_lost_ = false;
  Clock::time_point last_release_{};
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_FREEZER_H_
