#include "agent/snapshot/capture_internal.h"

namespace goretain::agent::snapshot {

absl::StatusOr<Capture> CaptureWithFork(pid_t pid,
                                        const SnapshotOptions& options,
                                        const std::vector<Mapping>& smaps,
                                        Pagemap& pagemap,
                                        std::unique_ptr<CopyBuffer> buffer) {
  return absl::UnimplementedError("fork mode is not available yet");
}

}  // namespace goretain::agent::snapshot
