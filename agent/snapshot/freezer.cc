#include "agent/snapshot/freezer.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/snapshot/procfs.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {

constexpr int kMaxRounds = 64;
constexpr auto kReleaseWait = std::chrono::seconds(2);

// 50 us: far below any pause we care about, far above a busy loop.
void ShortSleep() {
  timespec ts{0, 50'000};
  nanosleep(&ts, nullptr);
}

bool IsGroupStopSignal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

absl::Status PermissionError(pid_t pid, int err) {
  // An exiting process refuses to be attached with the same EPERM.
  auto stat = ReadStat(pid);
  if (!stat.ok() || stat->state == 'Z' || stat->state == 'X') {
    return absl::AbortedError(
        absl::StrCat("process ", pid, " exited during the snapshot"));
  }
  std::string msg =
      absl::StrCat("cannot trace process ", pid, ": ", strerror(err));
  auto st = ReadStatus(pid);
  if (st.ok() && st->tracer_pid != 0) {
    absl::StrAppend(&msg, " (it is already traced by process ", st->tracer_pid,
                    "; a process can have only one tracer)");
  } else {
    absl::StrAppend(&msg,
                    " (tracing needs CAP_SYS_PTRACE, or the same user and a "
                    "kernel.yama.ptrace_scope that allows it)");
  }
  return absl::PermissionDeniedError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Freezer>> Freezer::Freeze(
    pid_t pid, Clock::time_point deadline) {
  // The deadline is the pause limit from now: say so when threads are still running at it.
  const auto limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - Clock::now() + std::chrono::microseconds(500))
                            .count();
  auto tids = ListTasks(pid);
  if (!tids.ok()) {
    if (absl::IsNotFound(tids.status())) {
      return absl::NotFoundError(absl::StrCat("no process ", pid));
    }
    return tids.status();
  }
  std::unique_ptr<Freezer> f(new Freezer(pid));
  int quiet_passes = 0;
  for (int round = 0;; ++round) {
    if (round == kMaxRounds) {
      return absl::AbortedError(absl::StrCat("threads of process ", pid,
                                             " kept appearing; gave up after ",
                                             kMaxRounds, " rounds"));
    }
    bool found_new = false;
    // Returning here destroys `f`, whose destructor releases what was seized.
    RETURN_IF_ERROR(f->SeizeNew(*tids, &found_new));
    if (absl::Status st = f->WaitAllStopped(deadline); !st.ok()) {
      if (!absl::IsDeadlineExceeded(st)) return st;
      return absl::DeadlineExceededError(
          absl::StrCat("the pause reached its limit of ", limit_ms,
                       " ms before every thread stopped (", st.message(),
                       "); the target was resumed"));
    }
    if (f->Find(pid) == nullptr || f->Find(pid)->gone) {
      return absl::AbortedError(
          absl::StrCat("process ", pid, " exited during the snapshot"));
    }
    // Every known thread is stopped, so none can create threads now; a pass
    // that finds nothing new is complete. Two such passes, as CRIU does, for
    // threads in mid-creation.
    quiet_passes = found_new ? 0 : quiet_passes + 1;
    if (quiet_passes >= 2) break;
    tids = ListTasks(pid);
    if (!tids.ok()) {
      return absl::AbortedError(
          absl::StrCat("process ", pid, " exited during the snapshot"));
    }
  }
  return f;
}

Freezer::~Freezer() { Release(); }

Freezer::Thread* Freezer::Find(pid_t tid) {
  for (Thread& t : threads_) {
    if (t.tid == tid) return &t;
  }
  return nullptr;
}

absl::Status Freezer::SeizeNew(const std::vector<pid_t>& tids,
                               bool* found_new) {
  for (pid_t tid : tids) {
    if (Find(tid) != nullptr) continue;
    *found_new = true;
    if (ptrace(PTRACE_SEIZE, tid, nullptr,
               PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC) != 0) {
      int err = errno;
      if (err == ESRCH) continue;  // exited since the listing
      if (err == EPERM && tid != pid_) {
        // An exiting thread refuses attaching; anything else is the same
        // refusal as the leader's.
        auto st = ReadStat(pid_, tid);
        if (!st.ok() || st->state == 'Z' || st->state == 'X') continue;
      }
      if (err == EPERM || err == EACCES) return PermissionError(pid_, err);
      return absl::InternalError(
          absl::StrCat("PTRACE_SEIZE of thread ", tid, ": ", strerror(err)));
    }
    threads_.push_back({tid});
    if (!interrupted_any_) {
      first_interrupt_ = Clock::now();
      interrupted_any_ = true;
    }
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
      // Only ESRCH is possible for a tracee we just seized: it died. Its exit
      // is reported to waitpid, which marks it gone.
      if (errno != ESRCH) {
        return absl::InternalError(absl::StrCat("PTRACE_INTERRUPT of thread ",
                                                tid, ": ", strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Freezer::HandleStatus(size_t index, int status) {
  pid_t tid = threads_[index].tid;
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    threads_[index].gone = true;
    if (tid == pid_) {
      return absl::AbortedError(
          WIFSIGNALED(status)
              ? absl::StrCat("process ", pid_, " was killed by signal ",
                             WTERMSIG(status), " during the snapshot")
              : absl::StrCat("process ", pid_, " exited (status ",
                             WEXITSTATUS(status), ") during the snapshot"));
    }
    return absl::OkStatus();
  }
  if (!WIFSTOPPED(status)) return absl::OkStatus();
  int sig = WSTOPSIG(status);
  int event = status >> 16;
  threads_[index].stopped = true;
  switch (event) {
    case PTRACE_EVENT_STOP:
      // The interrupt we asked for (SIGTRAP), or a group stop someone else
      // caused.
      threads_[index].group_stop = IsGroupStopSignal(sig);
      return absl::OkStatus();
    case PTRACE_EVENT_CLONE: {
      // A new thread, already attached (TRACECLONE): it reports its own
      // PTRACE_EVENT_STOP.
      unsigned long msg = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &msg) == 0 &&
          Find(static_cast<pid_t>(msg)) == nullptr) {
        Thread t{static_cast<pid_t>(msg)};
        // clone() without CLONE_THREAD and without SIGCHLD makes a process
        // that TRACECLONE attaches too; it is not part of the snapshot.
        auto st = ReadStatus(t.tid);
        t.foreign = st.ok() && st->tgid != pid_;
        threads_.push_back(t);
      }
      return absl::OkStatus();
    }
    case PTRACE_EVENT_EXEC:
      return absl::AbortedError(
          absl::StrCat("process ", pid_, " called exec during the snapshot"));
    case 0:
      // Signal-delivery-stop: the thread stays here, the signal is delivered on
      // release.
      threads_[index].pending_signal = sig;
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status Freezer::WaitAllStopped(Clock::time_point deadline) {
  while (true) {
    bool pending = false, progress = false;
    for (size_t i = 0; i < threads_.size(); ++i) {
      if (threads_[i].stopped || threads_[i].gone) continue;
      pending = true;
      int status = 0;
      pid_t w = waitpid(threads_[i].tid, &status, __WALL | WNOHANG);
      if (w == 0) continue;
      if (w < 0) {
        if (errno == EINTR) continue;
        // ECHILD: no longer ours (it exited and was reaped).
        threads_[i].gone = true;
        progress = true;
        continue;
      }
      progress = true;
      RETURN_IF_ERROR(HandleStatus(i, status));
    }
    if (!pending) return absl::OkStatus();
    if (!progress) {
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "process ", pid_, " did not stop in time: ", DescribeUnstopped()));
      }
      ShortSleep();
    }
  }
}

std::string Freezer::DescribeUnstopped() const {
  std::string out;
  for (const Thread& t : threads_) {
    if (t.stopped || t.gone) continue;
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, "thread ", t.tid);
    auto st = ReadStat(pid_, t.tid);
    if (st.ok()) absl::StrAppend(&out, " in state ", std::string(1, st->state));
    auto wchan =
        ReadSmallFile(absl::StrCat("/proc/", pid_, "/task/", t.tid, "/wchan"));
    if (wchan.ok() && !wchan->empty() && *wchan != "0")
      absl::StrAppend(&out, " (", *wchan, ")");
  }
  return out;
}

std::vector<pid_t> Freezer::StoppedThreads() const {
  std::vector<pid_t> out;
  for (const Thread& t : threads_) {
    if (t.stopped && !t.gone && t.tid == pid_) out.push_back(t.tid);
  }
  for (const Thread& t : threads_) {
    if (t.stopped && !t.gone && !t.foreign && t.tid != pid_) {
      out.push_back(t.tid);
    }
  }
  return out;
}

bool Freezer::AnyGroupStop() const {
  for (const Thread& t : threads_) {
    if (t.group_stop && !t.gone) return true;
  }
  return false;
}

int Freezer::PendingSignal(pid_t tid) const {
  for (const Thread& t : threads_) {
    if (t.tid == tid) return t.pending_signal;
  }
  return 0;
}

void Freezer::SetPendingSignal(pid_t tid, int sig) {
  if (Thread* t = Find(tid)) t->pending_signal = sig;
}

absl::Status Freezer::CheckAlive() {
  for (Thread& t : threads_) {
    if (t.gone || !t.stopped) continue;
    int status = 0;
    pid_t w = waitpid(t.tid, &status, __WALL | WNOHANG);
    if (w == t.tid && (WIFEXITED(status) || WIFSIGNALED(status))) {
      t.gone = true;
      if (t.tid == pid_) {
        return absl::AbortedError(
            absl::StrCat("process ", pid_, " exited during the snapshot"));
      }
    }
  }
  return absl::OkStatus();
}

Clock::time_point Freezer::Release() {
  if (released_) return last_release_;
  released_ = true;
  // A thread whose interrupt is still pending cannot be detached (PTRACE_DETACH
  // needs a stopped tracee): wait for its stop, bounded. One that never stops
  // stays attached, still running, until this thread exits and the kernel
  // detaches it.
  auto deadline = Clock::now() + kReleaseWait;
  for (size_t i = 0; i < threads_.size(); ++i) {
    while (!threads_[i].stopped && !threads_[i].gone) {
      int status = 0;
      pid_t w = waitpid(threads_[i].tid, &status, __WALL | WNOHANG);
      if (w < 0 && errno != EINTR) {
        threads_[i].gone = true;
      } else if (w > 0) {
        (void)HandleStatus(i, status);
      } else if (Clock::now() > deadline) {
        break;
      } else {
        ShortSleep();
      }
    }
  }
  std::vector<pid_t> dying;
  for (Thread& t : threads_) {
    if (t.gone || !t.stopped) continue;
    // ESRCH: the thread left its stop without us, which only SIGKILL does; it
    // is dying.
    if (ptrace(PTRACE_DETACH, t.tid, nullptr,
               reinterpret_cast<void*>(static_cast<long>(t.pending_signal))) !=
            0 &&
        errno == ESRCH) {
      dying.push_back(t.tid);
      if (t.tid == pid_) leader_lost_ = true;
    }
    t.gone = true;
  }
  last_release_ = Clock::now();
  // A traced thread that dies stays a zombie until its tracer collects it, and
  // the leader cannot be reaped by its parent while any thread is left: collect
  // them (bounded; exiting a large address space takes a while). The leader is
  // reported only after every other thread, so poll them all until none is
  // left.
  deadline = Clock::now() + kReleaseWait;
  while (!dying.empty() && Clock::now() < deadline) {
    std::erase_if(dying, [](pid_t tid) {
      int status = 0;
      pid_t w = waitpid(tid, &status, __WALL | WNOHANG);
      return w == tid || (w < 0 && errno != EINTR);
    });
    if (!dying.empty()) ShortSleep();
  }
  return last_release_;
}

}  // namespace goretain::agent::snapshot
