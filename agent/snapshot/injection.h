// Running one system call inside a thread of a Go process, in the only place
// where that is safe even if this process dies half-way: a thread parked in
// runtime.futex's untimed FUTEX_WAIT.
//
// The thread is interrupted inside that syscall, so its instruction pointer is
// just after runtime.futex's SYSCALL instruction. We point it back at that same
// instruction with another syscall number. Whenever the kernel resumes the
// thread (our restore, or our death), it continues in runtime.futex after
// SYSCALL with some value in AX, which futexsleep ignores ("spurious wakeups
// are allowed", runtime/os_linux.go), and the runtime's note loop sleeps again.
// No byte of the target's memory is written. docs/snapshot.md has the whole
// argument.
#ifndef GORETAIN_AGENT_SNAPSHOT_INJECTION_H_
#define GORETAIN_AGENT_SNAPSHOT_INJECTION_H_

#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace goretain::agent::snapshot {

using Clock = std::chrono::steady_clock;

// Whether `regs` (of thread `tid` of `pid`, in a ptrace stop) show the thread
// interrupted in an untimed FUTEX_WAIT issued by Go's runtime.futex: orig_rax
// SYS_futex, -ERESTARTSYS pending, no timeout, and the code around rip is
// runtime.futex's (MOVL $202, AX; SYSCALL; MOVL AX, 48(SP); RET), checked byte
// for byte with process_vm_readv.
bool IsParkedInGoFutex(pid_t pid, const user_regs_struct& regs);

// The registers with which a thread interrupted in a syscall resumes when no
// signal handler runs: the kernel's own restart rules (-ERESTARTSYS & co.
// re-run the syscall, -ERESTART_ RESTARTBLOCK runs restart_syscall), applied by
// hand because after an injected syscall the kernel no longer sees the
// interrupted one.
user_regs_struct RestartedRegisters(const user_regs_struct& interrupted);

struct InjectedSyscall {
  int64_t result = 0;     // the syscall's return value (negative errno)
  pid_t clone_child = 0;  // for clone: the child, attached to us
  // The child stopped and has PTRACE_O_EXITKILL; if false it was killed and is
  // left to reap.
  bool child_ready = false;
  // Signals that arrived meanwhile, held (see HoldSignals).
  std::vector<int> caught_signals;
};

// Runs syscall `nr(args)` in thread `tid` of `pid`, which must be ours, in a
// ptrace stop, and parked in Go's futex (IsParkedInGoFutex with `saved`, its
// registers). Afterwards the thread is in a syscall-exit stop with
// RestartedRegisters(saved): detaching it resumes its futex wait. For a clone,
// the child's first stop is awaited too and the child gets PTRACE_O_EXITKILL.
// Nothing is started past `deadline` (DeadlineExceeded, thread untouched); a
// started syscall is always seen through, because a thread left running under
// our ptrace would stop at the syscall's exit with nobody to resume it. Only
// past a hard limit of a minute (a clone takes tens of ms per GiB) does this
// give up, with Internal, on a thread that is then harmless but stays attached
// until this thread exits.
absl::StatusOr<InjectedSyscall> InjectSyscall(
    pid_t pid, pid_t tid, const user_regs_struct& saved, long nr,
    const std::array<uint64_t, 6>& args, Clock::time_point deadline);

// Queues again all but the first of `signals` (caught by an injection in
// thread `tid` of `pid`) and returns the first, for the caller to deliver by
// detaching the thread with it; 0 if none.
int HoldSignals(pid_t pid, pid_t tid, const std::vector<int>& signals);

// One thread of a running process held in an interrupt stop (the rest keep
// running); detached on destruction. For short injections outside a snapshot's
// freeze.
class ThreadStop {
 public:
  // NotFound if the thread is gone, DeadlineExceeded if it did not stop in
  // time.
  static absl::StatusOr<std::unique_ptr<ThreadStop>> Stop(
      pid_t tid, Clock::time_point deadline);
  ~ThreadStop();
  ThreadStop(const ThreadStop&) = delete;
  ThreadStop& operator=(const ThreadStop&) = delete;

  pid_t tid() const { return tid_; }
  const user_regs_struct& regs() const { return regs_; }
  void set_pending_signal(int sig) { pending_signal_ = sig; }
  int pending_signal() const { return pending_signal_; }

 private:
  explicit ThreadStop(pid_t tid) : tid_(tid) {}
  pid_t tid_;
  user_regs_struct regs_{};
  int pending_signal_ = 0;
  bool stopped_ = false;
};

// Reaps `children` of `pid` that are zombies (wait4(child, __WALL | WNOHANG)
// injected into a thread parked in Go's futex, `preferred_tid` first). Returns
// the children still unreaped.
std::vector<pid_t> ReapChildren(pid_t pid, std::vector<pid_t> children,
                                pid_t preferred_tid,
                                Clock::time_point deadline);

// Children of `pid` left by an interrupted fork-mode snapshot: processes whose
// parent is `pid` with exit signal 0 (clone without SIGCHLD: what we create;
// the Go runtime's and os/exec's children always have SIGCHLD). Live ones are
// killed here; all are returned, for ReapChildren.
std::vector<pid_t> KillLeftoverChildren(pid_t pid);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_INJECTION_H_
