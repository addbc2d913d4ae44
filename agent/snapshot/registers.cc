#include "agent/snapshot/registers.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace goretain::agent::snapshot {

absl::Status CaptureThread(pid_t tid, ThreadState* out) {
  out->tid = tid;
  iovec iov{&out->regs, sizeof out->regs};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS),
             &iov) != 0) {
    int err = errno;
    std::string msg = absl::StrCat("reading the registers of thread ", tid,
                                   ": ", strerror(err));
    if (err == ESRCH) return absl::NotFoundError(msg);
    return absl::InternalError(msg);
  }
  iovec fp{&out->fpregs, sizeof out->fpregs};
  out->fpregs_valid = ptrace(PTRACE_GETREGSET, tid,
                             reinterpret_cast<void*>(NT_PRFPREG), &fp) == 0;
  // The XSAVE area's size depends on the CPU's enabled features (AVX-512 ~2.7
  // KiB, AMX ~11 KiB); the kernel trims iov_len to what it wrote.
  static thread_local uint8_t xsave[64 << 10];
  iovec xs{xsave, sizeof xsave};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE),
             &xs) == 0) {
    out->xstate.assign(xsave, xsave + xs.iov_len);
  }
  return absl::OkStatus();
}

void ReadThreadProcInfo(pid_t pid, ThreadState* t) {
  if (auto st = ReadStat(pid, t->tid); st.ok()) {
    t->utime_ticks = st->utime_ticks;
    t->stime_ticks = st->stime_ticks;
  }
  if (auto st = ReadStatus(pid, t->tid); st.ok()) {
    t->sig_pending = st->sig_pending;
    t->sig_blocked = st->sig_blocked;
  }
}

}  // namespace goretain::agent::snapshot
