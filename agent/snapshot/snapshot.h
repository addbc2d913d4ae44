// Low-pause snapshots of a live process as ELF core files: the snapshotter's
// public API.
//
//   SnapshotOptions opts;
//   opts.output_path = "/var/lib/goretain/1234.core";
//   opts.max_pause = std::chrono::milliseconds(500);
//   absl::StatusOr<SnapshotResult> r = TakeSnapshot(1234, opts);
//
// Every thread is frozen with PTRACE_SEIZE + PTRACE_INTERRUPT, the registers
// and the memory the analysis needs are copied into our memory, the threads are
// resumed, and only then is the core written (to an unnamed file that gets its
// name when complete). Guarantees, whatever happens: the target is resumed
// before TakeSnapshot returns, it keeps running if this process is killed at
// any moment, no descriptor leaks, no partial output file. docs/snapshot.md has
// the details and the measured pauses.
//
// Call from one thread that outlives the call (ptrace attachments belong to a
// thread). Not reentrant for the same target (a process has at most one
// tracer).
#ifndef GORETAIN_AGENT_SNAPSHOT_SNAPSHOT_H_
#define GORETAIN_AGENT_SNAPSHOT_SNAPSHOT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/snapshot/process_image.h"

namespace goretain::agent::snapshot {

enum class Mode {
  // Freeze, copy every page that holds data, resume. No code runs in the
  // target; the pause grows with the data (about 0.4 s per GiB here).
  kStopAndCopy,
  // Freeze, make the target fork a copy-on-write child (one injected clone
  // syscall; docs/snapshot.md says when that is safe), resume, read the frozen
  // child at leisure. The pause grows with the page tables only (tens of ms per
  // GiB). Falls back to kStopAndCopy, saying why, when a check fails.
  kFork,
  // kFork when the copy would be large (SnapshotOptions::auto_fork_bytes), else
  // kStopAndCopy: small heaps are copied in a few ms anyway, without running
  // anything in the target.
  kAuto,
};
std::string_view ModeName(Mode mode);
// "copy" | "fork" | "auto"
std::optional<Mode> ParseMode(std::string_view name);

// Moments at which SnapshotOptions::on_phase is called, for tests that act
// mid-snapshot.
enum class Phase { kFrozen, kCopyBatch, kResumed, kWriting };

struct SnapshotOptions {
  std::string output_path;  // the core to write; its directory must exist
  Mode mode = Mode::kStopAndCopy;
  // kAuto forks from this much data to copy (~25 ms of copying) upwards.
  uint64_t auto_fork_bytes = uint64_t{64} << 20;
  // Longest pause allowed: past it the copy stops, the target is resumed and
  // the snapshot fails with DeadlineExceeded. Also bounds the wait for every
  // thread to stop.
  std::chrono::milliseconds max_pause{5000};
  // If > 0, a watchdog thread kills this whole process (SIGKILL) when a pause
  // lasts max_pause + watchdog_grace, which makes the kernel resume the target:
  // the last resort against a copy stuck in the kernel. For processes that
  // exist to take the snapshot (the CLI).
  std::chrono::milliseconds watchdog_grace{0};
  // If non-zero, the target's start time (/proc/PID/stat field 22) must match:
  // protects an agent against pid reuse between discovery and snapshot.
  uint64_t expected_start_time_ticks = 0;
  // Threads copying memory during a pause; 0: one per CPU, at most 4.
  int copy_threads = 0;
  // Refuse before freezing when the output's file system has less free space
  // than the data.
  bool check_free_space = true;
  // Use the PAGEMAP_SCAN ioctl when the kernel has it (tests turn it off to
  // cover the fallback).
  bool use_pagemap_scan = true;
  // Fork mode only: refuse to fork when the target's memory cgroup (or the
  // machine) has less headroom than the target's private memory times this
  // factor (the copy-on-write worst case).
  double fork_memory_headroom_factor = 1.0;
  // Test hook, called on the snapshotting thread; may be empty.
  std::function<void(Phase)> on_phase;
};

struct SnapshotResult {
  pid_t pid = 0;
  std::string path;
  Mode mode = Mode::kStopAndCopy;  // the mode actually used
  // Why kFork fell back to kStopAndCopy, if it did.
  std::string fallback_reason;
  // First thread stopped -> last thread resumed.
  std::chrono::nanoseconds pause{};
  std::chrono::nanoseconds freeze{};  // first interrupt -> all threads stopped
  // Copying memory (inside the pause in kStopAndCopy).
  std::chrono::nanoseconds copy{};
  std::chrono::nanoseconds fork{};   // the injected clone, inside the pause
  std::chrono::nanoseconds write{};  // writing the core (after the pause)
  std::chrono::nanoseconds total{};
  std::string warning;  // worth telling the user, e.g. a child left unreaped
  size_t threads = 0;
  size_t mappings = 0;         // PT_LOAD headers
  size_t dumped_mappings = 0;  // of which with data in the core
  uint64_t bytes_copied = 0;
  uint64_t unreadable_pages = 0;
  uint64_t core_size = 0;        // apparent size
  uint64_t core_disk_bytes = 0;  // allocated blocks: the rest is holes
  uint64_t zero_pages = 0;    // copied pages that were all zeros, left as holes
  bool pagemap_scan = false;  // PAGEMAP_SCAN ioctl used (else pagemap reads)
};

// A capture in memory, before it is written.
struct Capture {
  ProcessImage image;
  // Timings and counts so far (no path, no write figures).
  SnapshotResult result;
};

// Freezes `pid`, copies what the core needs, resumes it. Errors (the target
// always resumed): InvalidArgument (bad options), NotFound (no such process, or
// pid reused), PermissionDenied (cannot trace or read it), Aborted (it exited
// or exec'd during the snapshot), DeadlineExceeded (max_pause reached),
// ResourceExhausted (no memory for the copy, or, with `free_bytes`, not enough
// disk for the core). `free_bytes` (optional) is the space the core may use.
absl::StatusOr<Capture> CaptureProcess(
    pid_t pid, const SnapshotOptions& options,
    std::optional<uint64_t> free_bytes = std::nullopt);

// CaptureProcess, then writes the core to options.output_path. Also fails with
// ResourceExhausted when the disk fills up; no file is left at output_path on
// any failure.
absl::StatusOr<SnapshotResult> TakeSnapshot(pid_t pid,
                                            const SnapshotOptions& options);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_SNAPSHOT_H_
