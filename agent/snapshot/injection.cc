#include "agent/snapshot/injection.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/snapshot/procfs.h"

namespace goretain::agent::snapshot {
namespace {

// The kernel's internal restart codes (include/linux/errno.h), seen in rax of a
// thread stopped inside an interrupted syscall.
constexpr long kERestartSys = 512;
constexpr long kERestartNoIntr = 513;
constexpr long kERestartNoHand = 514;
constexpr long kERestartRestartBlock = 516;
constexpr int kSyscallStop = SIGTRAP | 0x80;  // with PTRACE_O_TRACESYSGOOD

// runtime.futex on linux/amd64, Go 1.22 to 1.26 (sys_linux_amd64.s):
//   MOVL $SYS_futex, AX; SYSCALL; MOVL AX, ret+40(FP); RET
// A thread parked in it has rip at the MOVL after SYSCALL, 7 bytes into this
// pattern.
constexpr uint8_t kGoFutexCode[] = {0xb8, 0xca, 0x00, 0x00, 0x00, 0x0f,
                                    0x05, 0x89, 0x44, 0x24, 0x30, 0xc3};
constexpr size_t kGoFutexRipOffset = 7;

// How long a started injected syscall may take before we stop waiting for it.
constexpr auto kInjectionHardLimit = std::chrono::seconds(60);

void ShortSleep() {
  timespec ts{0, 50'000};
  nanosleep(&ts, nullptr);
}

// waitpid for `tid` until it reports or `deadline` passes (then
// DeadlineExceeded). With `pid` set, also stops waiting (NotFound) when the
// thread turns zombie: the exit of a thread group leader is reported only once
// every other thread is reaped, and those are tracees nobody reaps meanwhile.
absl::StatusOr<int> WaitFor(pid_t tid, Clock::time_point deadline,
                            pid_t pid = 0) {
  for (int polls = 0;; ++polls) {
    int status = 0;
    pid_t w = waitpid(tid, &status, __WALL | WNOHANG);
    if (w == tid) return status;
    if (w < 0 && errno != EINTR) {
      return absl::NotFoundError(
          absl::StrCat("thread ", tid, " is gone: ", strerror(errno)));
    }
    if (pid != 0 && polls % 20 == 19) {  // about every millisecond
      auto st = ReadStat(pid, tid);
      if (!st.ok() || st->state == 'Z' || st->state == 'X') {
        return absl::NotFoundError(absl::StrCat("thread ", tid, " exited"));
      }
    }
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("thread ", tid, " did not stop in time"));
    }
    ShortSleep();
  }
}

absl::Status PtraceError(const char* what, pid_t tid) {
  int err = errno;
  std::string msg = absl::StrCat(what, " of thread ", tid, ": ", strerror(err));
  if (err == ESRCH) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

}  // namespace

bool IsParkedInGoFutex(pid_t pid, const user_regs_struct& r) {
  if (static_cast<long>(r.orig_rax) != SYS_futex) return false;
  if (static_cast<long>(r.rax) != -kERestartSys)
    return false;  // an untimed wait, interrupted
  if ((r.rsi & ~static_cast<uint64_t>(FUTEX_PRIVATE_FLAG |
                                      FUTEX_CLOCK_REALTIME)) != FUTEX_WAIT) {
    return false;
  }
  if (r.r10 != 0)
    return false;  // a timeout: the thread would wake up by itself
  uint8_t code[sizeof kGoFutexCode];
  iovec local{code, sizeof code};
  iovec remote{reinterpret_cast<void*>(r.rip - kGoFutexRipOffset), sizeof code};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) !=
      static_cast<ssize_t>(sizeof code)) {
    return false;
  }
  return memcmp(code, kGoFutexCode, sizeof code) == 0;
}

user_regs_struct RestartedRegisters(const user_regs_struct& interrupted) {
  user_regs_struct r = interrupted;
  const long orig = static_cast<long>(r.orig_rax);
  const long ax = static_cast<long>(r.rax);
  if (orig >= 0) {
    if (ax == -kERestartSys || ax == -kERestartNoIntr ||
        ax == -kERestartNoHand) {
      r.rax = r.orig_rax;
      r.rip -= 2;  // SYSCALL is two bytes: run it again
    } else if (ax == -kERestartRestartBlock) {
      r.rax = SYS_restart_syscall;
      r.rip -= 2;
    }
  }
  r.orig_rax = static_cast<uint64_t>(-1);
  return r;
}

absl::StatusOr<InjectedSyscall> InjectSyscall(
    pid_t pid, pid_t tid, const user_regs_struct& saved, long nr,
    const std::array<uint64_t, 6>& args, Clock::time_point deadline) {
  if (Clock::now() > deadline) {
    return absl::DeadlineExceededError(
        "no time left to run a syscall in the target");
  }
  const Clock::time_point limit = Clock::now() + kInjectionHardLimit;
  if (ptrace(PTRACE_SETOPTIONS, tid, nullptr,
             PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
                 PTRACE_O_TRACESYSGOOD) != 0) {
    return PtraceError("PTRACE_SETOPTIONS", tid);
  }
  user_regs_struct regs = saved;
  regs.rax = static_cast<uint64_t>(nr);
  // orig_rax -1: the kernel must not restart the interrupted futex on resume.
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rip = saved.rip - 2;  // runtime.futex's own SYSCALL instruction
  regs.rdi = args[0];
  regs.rsi = args[1];
  regs.rdx = args[2];
  regs.r10 = args[3];
  regs.r8 = args[4];
  regs.r9 = args[5];
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0) {
    return PtraceError("PTRACE_SETREGS", tid);
  }
  // From here on, whatever happens to us, the thread runs the syscall and
  // returns into runtime.futex (after SYSCALL) with its result in AX: a
  // spurious wakeup.
  InjectedSyscall out;
  bool entered = false;
  if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0) {
    return PtraceError("PTRACE_SYSCALL", tid);
  }
  while (true) {
    auto status = WaitFor(tid, limit, pid);
    if (absl::IsNotFound(status.status())) return status.status();
    if (!status.ok()) {
      return absl::InternalError(absl::StrCat(
          "thread ", tid,
          " did not finish an injected syscall: ", status.status().message()));
    }
    if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
      return absl::NotFoundError(
          absl::StrCat("thread ", tid, " exited during an injected syscall"));
    }
    const int sig = WSTOPSIG(*status);
    const int event = *status >> 16;
    if (sig == kSyscallStop && event == 0) {
      if (entered) break;  // syscall-exit stop: done
      entered = true;
    } else if (event == PTRACE_EVENT_CLONE) {
      unsigned long child = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) != 0) {
        return PtraceError("PTRACE_GETEVENTMSG", tid);
      }
      out.clone_child = static_cast<pid_t>(child);
      // The child is attached to us and stops before running anything. Make
      // it die with us right away: should we die before it is killed on
      // purpose, it must not run on as a copy of the target.
      auto cs = WaitFor(out.clone_child, limit);
      out.child_ready = cs.ok() && WIFSTOPPED(*cs) &&
                        ptrace(PTRACE_SETOPTIONS, out.clone_child, nullptr,
                               PTRACE_O_EXITKILL) == 0;
      if (!out.child_ready) kill(out.clone_child, SIGKILL);
      // Either way the syscall is finished so that the thread can be restored.
    } else if (event == 0) {
      // Signal-delivery stop. While the rest of the process is frozen this
      // thread is the only one a process-directed signal can go to. Hold
      // the signal; the caller delivers it.
      out.caught_signals.push_back(sig);
    }
    if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0) {
      return PtraceError("PTRACE_SYSCALL", tid);
    }
  }
  user_regs_struct after;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &after) != 0) {
    return PtraceError("PTRACE_GETREGS", tid);
  }
  out.result = static_cast<int64_t>(after.rax);
  user_regs_struct restored = RestartedRegisters(saved);
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &restored) != 0) {
    return PtraceError("PTRACE_SETREGS", tid);
  }
  return out;
}

int HoldSignals(pid_t pid, pid_t tid, const std::vector<int>& signals) {
  if (signals.empty()) return 0;
  // The first is delivered by the detach (as the kernel would have); the
  // others are queued again on the thread, to be handled right after it.
  for (size_t i = 1; i < signals.size(); ++i) {
    syscall(SYS_tgkill, pid, tid, signals[i]);
  }
  return signals[0];
}

absl::StatusOr<std::unique_ptr<ThreadStop>> ThreadStop::Stop(
    pid_t tid, Clock::time_point deadline) {
  std::unique_ptr<ThreadStop> s(new ThreadStop(tid));
  if (ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_TRACESYSGOOD) != 0) {
    int err = errno;
    std::string msg =
        absl::StrCat("cannot attach thread ", tid, ": ", strerror(err));
    if (err == ESRCH) return absl::NotFoundError(msg);
    return absl::PermissionDeniedError(msg);
  }
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    return PtraceError("PTRACE_INTERRUPT",
                       tid);  // only if it died: nothing to detach
  }
  auto status = WaitFor(tid, deadline);
  if (!status.ok())
    return status.status();  // the destructor waits again, then detaches
  if (!WIFSTOPPED(*status)) {
    return absl::NotFoundError(absl::StrCat("thread ", tid, " exited"));
  }
  s->stopped_ = true;
  if ((*status >> 16) == 0) s->pending_signal_ = WSTOPSIG(*status);
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &s->regs_) != 0) {
    return PtraceError("PTRACE_GETREGS", tid);
  }
  return s;
}

ThreadStop::~ThreadStop() {
  if (!stopped_) {
    // The interrupt is still pending: wait for the stop (bounded) so that it
    // can be detached.
    auto status = WaitFor(tid_, Clock::now() + std::chrono::seconds(2));
    if (!status.ok() || !WIFSTOPPED(*status)) return;
    if ((*status >> 16) == 0) pending_signal_ = WSTOPSIG(*status);
  }
  ptrace(PTRACE_DETACH, tid_, nullptr,
         reinterpret_cast<void*>(static_cast<long>(pending_signal_)));
}

std::vector<pid_t> ReapChildren(pid_t pid, std::vector<pid_t> children,
                                pid_t preferred_tid,
                                Clock::time_point deadline) {
  if (children.empty()) return children;
  auto tids = ListTasks(pid);
  if (!tids.ok()) return children;
  std::stable_partition(tids->begin(), tids->end(),
                        [&](pid_t t) { return t == preferred_tid; });
  for (pid_t tid : *tids) {
    if (children.empty() || Clock::now() > deadline) break;
    auto stop = ThreadStop::Stop(
        tid, std::min(deadline, Clock::now() + std::chrono::milliseconds(100)));
    if (!stop.ok()) continue;
    const user_regs_struct saved = (*stop)->regs();
    if ((*stop)->pending_signal() != 0 || !IsParkedInGoFutex(pid, saved))
      continue;
    for (auto it = children.begin(); it != children.end();) {
      auto r = InjectSyscall(
          pid, tid, saved, SYS_wait4,
          {static_cast<uint64_t>(*it), 0, __WALL | WNOHANG, 0, 0, 0}, deadline);
      if (!r.ok()) break;
      if (int sig = HoldSignals(pid, tid, r->caught_signals); sig != 0) {
        (*stop)->set_pending_signal(sig);
      }
      if (r->result == *it || r->result == -ECHILD) {
        it = children.erase(it);
      } else {
        ++it;
      }
    }
  }
  return children;
}

std::vector<pid_t> KillLeftoverChildren(pid_t pid) {
  // Children of every thread (CONFIG_PROC_CHILDREN); without it, nothing to
  // sweep cheaply.
  std::vector<pid_t> out;
  auto tids = ListTasks(pid);
  if (!tids.ok()) return out;
  for (pid_t tid : *tids) {
    auto text =
        ReadSmallFile(absl::StrCat("/proc/", pid, "/task/", tid, "/children"));
    if (!text.ok()) continue;
    for (absl::string_view w : absl::StrSplit(*text, ' ', absl::SkipEmpty())) {
      pid_t child;
      if (!absl::SimpleAtoi(w, &child)) continue;
      auto st = ReadStat(child);
      auto status = ReadStatus(child);
      if (!st.ok() || !status.ok() || st->exit_signal != 0 ||
          status->tgid != child)
        continue;
      if (status->tracer_pid != 0) continue;  // a snapshot in progress holds it
      if (st->state != 'Z') kill(child, SIGKILL);
      out.push_back(child);
    }
  }
  return out;
}

}  // namespace goretain::agent::snapshot
