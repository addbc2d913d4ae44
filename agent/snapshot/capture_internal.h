// Steps shared by the capture modes (snapshot.cc, fork_mode.cc). Internal to
// agent/snapshot.
#ifndef GORETAIN_AGENT_SNAPSHOT_CAPTURE_INTERNAL_H_
#define GORETAIN_AGENT_SNAPSHOT_CAPTURE_INTERNAL_H_

#include <sys/types.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/snapshot/freezer.h"
#include "agent/snapshot/memory_copy.h"
#include "agent/snapshot/pagemap.h"
#include "agent/snapshot/process_image.h"
#include "agent/snapshot/snapshot.h"

namespace goretain::agent::snapshot {

inline void NotifyPhase(const SnapshotOptions& options, Phase phase) {
  if (options.on_phase) options.on_phase(phase);
}

// Upper bound of the bytes a snapshot will copy, from a running target.
absl::StatusOr<uint64_t> EstimateCopyBytes(const std::vector<Mapping>& smaps,
                                           Pagemap& pagemap);

// Registers and per-thread /proc fields of every stopped thread.
absl::Status CaptureThreads(pid_t pid, const std::vector<pid_t>& tids,
                            ProcessImage* image);
// The per-thread /proc fields (times, signal masks), after the pause.
void ReadThreadsProcInfo(pid_t pid, ProcessImage* image);
// /proc/PID/maps of the frozen target, with VmFlags from `smaps` (read before
// the freeze) or, for areas created since, from a fresh smaps.
absl::StatusOr<std::vector<Mapping>> ReadFrozenMaps(
    pid_t pid, const std::vector<Mapping>& smaps);
// stat, status, cmdline and auxv.
absl::Status ReadProcessInfo(pid_t pid, ProcessInfo* info);

// What to copy: one segment per mapping, with the page runs to read for it.
struct CopyPlan {
  std::vector<Segment> segments;           // regions still empty
  std::vector<std::vector<PageRun>> runs;  // per segment
  uint64_t bytes = 0;
};
// Decides, from the mappings and the pages present in `pagemap`'s process.
absl::StatusOr<CopyPlan> PlanCopy(const std::vector<Mapping>& maps,
                                  Pagemap& pagemap);
// Reads the planned runs from process `pid` into `buffer` and appends the
// segments to `out`, on up to `threads` threads (the calling one included; the
// target is frozen, its CPUs are free, and process_vm_readv scales).
// DeadlineExceeded past `deadline`; NotFound if the process is gone.
absl::Status CopyPlanned(pid_t pid, CopyPlan plan, Clock::time_point deadline,
                         const SnapshotOptions& options, CopyBuffer* buffer,
                         std::vector<Segment>* out, CopyStats* stats,
                         int threads = 1);
// The copying threads to use inside a pause (SnapshotOptions::copy_threads).
int CopyThreads(const SnapshotOptions& options);
// Stop-and-copy's copy: plans every mapping from `pagemap` and reads it from
// the frozen `pid`. DeadlineExceeded (saying how far it got and that the target
// is resumed) past `deadline`.
absl::Status CopyFrozenProcess(pid_t pid, const std::vector<Mapping>& maps,
                               Pagemap& pagemap, Clock::time_point deadline,
                               const SnapshotOptions& options,
                               ProcessImage* image, CopyStats* stats);
// Drops the first-page copies that turned out not to be ELF headers.
void FinishElfHeaders(ProcessImage* image);

// Stop-and-copy from the start (snapshot.cc); fork mode falls back to it.
absl::StatusOr<Capture> CaptureStopAndCopy(pid_t pid,
                                           const SnapshotOptions& options,
                                           const std::vector<Mapping>& smaps,
                                           Pagemap& pagemap,
                                           std::unique_ptr<CopyBuffer> buffer);

// The fork mode (fork_mode.cc); `data_bytes` is EstimateCopyBytes's.
absl::StatusOr<Capture> CaptureWithFork(pid_t pid,
                                        const SnapshotOptions& options,
                                        const std::vector<Mapping>& smaps,
                                        Pagemap& pagemap, uint64_t data_bytes,
                                        std::unique_ptr<CopyBuffer> buffer);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_CAPTURE_INTERNAL_H_
