#include "agent/snapshot/snapshot.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/snapshot/capture_internal.h"
#include "agent/snapshot/core_writer.h"
#include "agent/snapshot/freezer.h"
#include "agent/snapshot/output_file.h"
#include "agent/snapshot/pagemap.h"
#include "agent/snapshot/watchdog.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {

void Notify(const SnapshotOptions& o, Phase p) {
  if (o.on_phase) o.on_phase(p);
}

// A /proc read failing with "no such process" after the process was seen:
// it exited.
absl::Status ExitedIfGone(pid_t pid, const absl::Status& st) {
  if (!absl::IsNotFound(st)) return st;
  return absl::AbortedError(
      absl::StrCat("process ", pid, " exited during the snapshot"));
}

}  // namespace

// Stop-and-copy: everything is copied inside the pause.
absl::StatusOr<Capture> CaptureStopAndCopy(pid_t pid,
                                           const SnapshotOptions& options,
                                           const std::vector<Mapping>& smaps,
                                           Pagemap& pagemap,
                                           std::unique_ptr<CopyBuffer> buffer) {
  std::optional<Watchdog> watchdog;
  if (options.watchdog_grace.count() > 0) {
    watchdog.emplace(Clock::now() + options.max_pause + options.watchdog_grace);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Freezer> freezer,
                   Freezer::Freeze(pid, Clock::now() + options.max_pause));
  const Clock::time_point pause_start = freezer->first_interrupt();
  const Clock::time_point frozen_at = Clock::now();
  const Clock::time_point deadline = pause_start + options.max_pause;
  Notify(options, Phase::kFrozen);

  Capture cap;
  cap.image.buffer = std::move(buffer);
  CopyStats stats;
  Clock::time_point copy_start{}, copy_end{};
  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(CaptureThreads(pid, freezer->StoppedThreads(), &cap.image));
    ASSIGN_OR_RETURN(std::vector<Mapping> maps, ReadFrozenMaps(pid, smaps));
    RETURN_IF_ERROR(ReadProcessInfo(pid, &cap.image.process));
    copy_start = Clock::now();
    absl::Status copied = CopyFrozenProcess(pid, maps, pagemap, deadline,
                                            options, &cap.image, &stats);
    copy_end = Clock::now();
    RETURN_IF_ERROR(copied);
    return freezer->CheckAlive();
  }();
  const Clock::time_point pause_end = freezer->Release();
  watchdog.reset();
  Notify(options, Phase::kResumed);
  ReadThreadsProcInfo(pid, &cap.image);
  if (freezer->leader_lost() || absl::IsNotFound(st)) {
    return absl::AbortedError(
        absl::StrCat("process ", pid, " exited during the snapshot"));
  }
  RETURN_IF_ERROR(st);
  FinishElfHeaders(&cap.image);

  SnapshotResult& r = cap.result;
  r.pid = pid;
  r.mode = Mode::kStopAndCopy;
  r.pause = pause_end - pause_start;
  r.freeze = frozen_at - pause_start;
  r.copy = copy_end - copy_start;
  r.threads = cap.image.threads.size();
  r.bytes_copied = stats.bytes;
  r.unreadable_pages = stats.unreadable_pages;
  r.pagemap_scan = pagemap.uses_scan_ioctl();
  return cap;
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kStopAndCopy:
      return "copy";
    case Mode::kFork:
      return "fork";
    case Mode::kAuto:
      return "auto";
  }
  return "?";
}

std::optional<Mode> ParseMode(std::string_view name) {
  if (name == "copy") return Mode::kStopAndCopy;
  if (name == "fork") return Mode::kFork;
  if (name == "auto") return Mode::kAuto;
  return std::nullopt;
}

absl::StatusOr<Capture> CaptureProcess(pid_t pid,
                                       const SnapshotOptions& options,
                                       std::optional<uint64_t> free_bytes) {
  const Clock::time_point start = Clock::now();
  if (pid <= 0)
    return absl::InvalidArgumentError(absl::StrCat("invalid pid ", pid));
  if (pid == getpid()) {
    return absl::InvalidArgumentError(
        "a process cannot snapshot itself (its threads would freeze the "
        "snapshotter)");
  }
  if (options.max_pause.count() <= 0) {
    return absl::InvalidArgumentError("max_pause must be positive");
  }
  // Preflight, with the target running: everything that can fail or take long
  // before a pause.
  auto stat = ReadStat(pid);
  if (!stat.ok()) {
    if (absl::IsNotFound(stat.status()))
      return absl::NotFoundError(absl::StrCat("no process ", pid));
    return stat.status();
  }
  if (options.expected_start_time_ticks != 0 &&
      stat->start_time_ticks != options.expected_start_time_ticks) {
    return absl::NotFoundError(
        absl::StrCat("process ", pid,
                     " is not the expected one (its start time differs: "
                     "the pid was reused)"));
  }
  auto smaps = ReadSmaps(pid);
  if (!smaps.ok()) {
    if (absl::IsPermissionDenied(smaps.status())) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read the memory of process ", pid, ": ",
                       smaps.status().message(),
                       " (needs CAP_SYS_PTRACE, or the same user and a "
                       "kernel.yama.ptrace_scope that "
                       "allows it)"));
    }
    return ExitedIfGone(pid, smaps.status());
  }
  auto pagemap = Pagemap::Open(pid, options.use_pagemap_scan);
  if (!pagemap.ok()) return ExitedIfGone(pid, pagemap.status());
  auto estimated = EstimateCopyBytes(*smaps, **pagemap);
  if (!estimated.ok()) return ExitedIfGone(pid, estimated.status());
  const uint64_t estimate = *estimated;
  if (free_bytes.has_value() && estimate > *free_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("not enough space for the core: it needs up to %.1f "
                        "MiB and the file system has %.1f "
                        "MiB free; the target was not stopped",
                        estimate / 1048576.0, *free_bytes / 1048576.0));
  }
  // Our own page faults must not lengthen the pause: reserve and touch the
  // copy's memory now, with some margin for growth until the freeze.
  auto buffer = std::make_unique<CopyBuffer>();
  RETURN_IF_ERROR(buffer->Reserve(estimate + estimate / 8 + (16 << 20)));

  const bool fork =
      options.mode == Mode::kFork ||
      (options.mode == Mode::kAuto && estimate >= options.auto_fork_bytes);
  absl::StatusOr<Capture> cap =
      fork ? CaptureWithFork(pid, options, *smaps, **pagemap, estimate,
                             std::move(buffer))
           : CaptureStopAndCopy(pid, options, *smaps, **pagemap,
                                std::move(buffer));
  if (!cap.ok()) return ExitedIfGone(pid, cap.status());
  cap->result.total = Clock::now() - start;
  return cap;
}

absl::StatusOr<SnapshotResult> TakeSnapshot(pid_t pid,
                                            const SnapshotOptions& options) {
  const Clock::time_point start = Clock::now();
  if (options.output_path.empty())
    return absl::InvalidArgumentError("no output path");
  // The output is created first: a directory we cannot write to must not cost
  // the target a pause.
  ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> out,
                   OutputFile::Create(options.output_path));
  std::optional<uint64_t> free_bytes;
  if (options.check_free_space) {
    ASSIGN_OR_RETURN(free_bytes, out->FreeBytes());
  }
  ASSIGN_OR_RETURN(Capture cap, CaptureProcess(pid, options, free_bytes));
  Notify(options, Phase::kWriting);
  const Clock::time_point write_start = Clock::now();
  ASSIGN_OR_RETURN(CoreWriteStats ws,
                   WriteCore(cap.image, out->fd(), options.output_path));
  RETURN_IF_ERROR(out->Commit());
  SnapshotResult r = std::move(cap.result);
  r.path = options.output_path;
  r.write = Clock::now() - write_start;
  r.total = Clock::now() - start;
  r.mappings = cap.image.segments.size();
  for (const Segment& s : cap.image.segments)
    r.dumped_mappings += s.dump_size > 0 ? 1 : 0;
  r.core_size = ws.file_size;
  r.zero_pages = ws.zero_pages_skipped;
  struct stat sb;
  if (fstat(out->fd(), &sb) == 0)
    r.core_disk_bytes = static_cast<uint64_t>(sb.st_blocks) * 512;
  return r;
}

}  // namespace goretain::agent::snapshot
