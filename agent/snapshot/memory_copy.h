// Copies page runs out of a target with process_vm_readv into a CopyBuffer.
#ifndef GORETAIN_AGENT_SNAPSHOT_MEMORY_COPY_H_
#define GORETAIN_AGENT_SNAPSHOT_MEMORY_COPY_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "agent/snapshot/copy_buffer.h"
#include "agent/snapshot/pagemap.h"
#include "agent/snapshot/process_image.h"

namespace goretain::agent::snapshot {

struct CopyStats {
  uint64_t bytes = 0;
  uint64_t calls = 0;
  // Pages the kernel refused (EFAULT): left as holes.
  uint64_t unreadable_pages = 0;
};

// Copies every byte of `runs` of process `pid` into `buffer` and appends the
// copied pieces to `regions` (merged where contiguous in both spaces). Reads at
// most 1024 iovecs / 8 MiB per call and checks `deadline` between calls: past
// it, returns DeadlineExceeded with what is copied so far left in `regions`. A
// page the kernel cannot read is skipped and counted; the process going away is
// NotFound; running out of memory is ResourceExhausted. `between_calls` (may be
// empty) runs after each call, for tests that act in the middle of a copy.
absl::Status CopyRuns(pid_t pid, const std::vector<PageRun>& runs,
                      CopyBuffer* buffer,
                      std::chrono::steady_clock::time_point deadline,
                      std::vector<Region>* regions, CopyStats* stats,
                      const std::function<void()>& between_calls = {});

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_MEMORY_COPY_H_
