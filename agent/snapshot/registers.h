// Reading a stopped thread's state for its NT_PRSTATUS / NT_PRFPREG /
// NT_X86_XSTATE notes.
#ifndef GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_
#define GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_

#include <sys/types.h>

#include "absl/status/status.h"
#include "agent/snapshot/process_image.h"

namespace goretain::agent::snapshot {

// Fills `out` for thread `tid` of `pid`, which must be in a ptrace stop of
// ours. The general registers are required (failure: NotFound if the thread
// died, else Internal); the FP and XSTATE sets and the /proc times and signal
// masks are best effort.
absl::Status CaptureThread(pid_t pid, pid_t tid, ThreadState* out);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_REGISTERS_H_
