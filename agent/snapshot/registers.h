// Reading a stopped thread's state for its NT_PRSTATUS / NT_PRFPREG /
// NT_X86_XSTATE notes.
#ifndef GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_
#define GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_

#include <sys/types.h>

#include "absl/status/status.h"
#include "agent/snapshot/process_image.h"

namespace goretain::agent::snapshot {

// Fills the registers of `out` for thread `tid`, which must be in a ptrace stop
// of ours. The general registers are required (failure: NotFound if the thread
// died, else Internal); the FP and XSTATE sets are best effort.
absl::Status CaptureThread(pid_t tid, ThreadState* out);

// Fills the CPU times and signal masks of `t` from /proc, best effort. About
// 60 us per thread, so called after the pause: these fields are informational.
void ReadThreadProcInfo(pid_t pid, ThreadState* t);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_
