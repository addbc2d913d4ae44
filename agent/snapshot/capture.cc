#include <elf.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/snapshot/capture_internal.h"
#include "agent/snapshot/registers.h"
#include "agent/snapshot/selection.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

absl::StatusOr<uint64_t> EstimateCopyBytes(const std::vector<Mapping>& smaps,
                                           Pagemap& pagemap) {
  uint64_t total = 0;
  std::vector<PageRun> runs;
  for (const Mapping& m : smaps) {
    switch (Classify(m)) {
      case MappingClass::kSkip:
        break;
      case MappingClass::kWhole:
        total += m.size();
        break;
      case MappingClass::kFilePrivate:
        total += m.writable ? m.size() : (m.offset == 0 ? kPage : 0);
        break;
      case MappingClass::kAnonymous:
        runs.clear();
        RETURN_IF_ERROR(pagemap.DataRuns(m.start, m.end, &runs));
        for (const PageRun& r : runs) total += r.end - r.start;
        break;
    }
  }
  return total;
}

absl::Status CaptureThreads(pid_t pid, const std::vector<pid_t>& tids,
                            ProcessImage* image) {
  image->threads.reserve(tids.size());
  for (pid_t tid : tids) {
    ThreadState t;
    absl::Status st = CaptureThread(pid, tid, &t);
    if (absl::IsNotFound(st))
      continue;  // killed while stopped: CheckAlive/Release will tell
    RETURN_IF_ERROR(st);
    image->threads.push_back(std::move(t));
  }
  if (image->threads.empty()) {
    return absl::NotFoundError(
        absl::StrCat("process ", pid, " has no threads left"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Mapping>> ReadFrozenMaps(
    pid_t pid, const std::vector<Mapping>& smaps) {
  ASSIGN_OR_RETURN(std::vector<Mapping> maps, ReadMaps(pid));
  if (CopyVmFlags(smaps, &maps) > 0) {
    // Areas created since the preflight: their VmFlags (VM_DONTDUMP) need a
    // fresh smaps, which costs a page-table walk, so only then.
    ASSIGN_OR_RETURN(std::vector<Mapping> fresh, ReadSmaps(pid));
    CopyVmFlags(fresh, &maps);
  }
  return maps;
}

absl::Status ReadProcessInfo(pid_t pid, ProcessInfo* info) {
  info->pid = pid;
  ASSIGN_OR_RETURN(info->stat, ReadStat(pid));
  ASSIGN_OR_RETURN(info->status, ReadStatus(pid));
  ASSIGN_OR_RETURN(info->cmdline, ReadProcFile(pid, "cmdline"));
  ASSIGN_OR_RETURN(info->auxv, ReadProcFile(pid, "auxv"));
  return absl::OkStatus();
}

absl::StatusOr<CopyPlan> PlanCopy(const std::vector<Mapping>& maps,
                                  Pagemap& pagemap) {
  CopyPlan plan;
  plan.segments.reserve(maps.size());
  plan.runs.reserve(maps.size());
  for (const Mapping& m : maps) {
    if (m.path == "[vsyscall]")
      continue;  // not part of the process's mm; the kernel omits it
    Segment seg;
    seg.mapping = m;
    std::vector<PageRun> runs;
    switch (Classify(m)) {
      case MappingClass::kSkip:
        break;
      case MappingClass::kAnonymous:
        seg.policy = DumpPolicy::kPresentPages;
        seg.dump_size = m.size();
        RETURN_IF_ERROR(pagemap.DataRuns(m.start, m.end, &runs));
        break;
      case MappingClass::kWhole:
        seg.policy = DumpPolicy::kWhole;
        seg.dump_size = m.size();
        runs.push_back({m.start, m.end});
        break;
      case MappingClass::kFilePrivate: {
        ASSIGN_OR_RETURN(bool has_anon,
                         pagemap.HasAnonymousPage(m.start, m.end));
        if (has_anon) {
          // Copy-on-write pages differ from the file, and a PT_LOAD cannot say
          // "this page from the file, that one from the core": the whole
          // mapping goes in, as the kernel does.
          seg.policy = DumpPolicy::kWhole;
          seg.dump_size = m.size();
          runs.push_back({m.start, m.end});
        } else if (m.offset == 0) {
          seg.policy = DumpPolicy::kElfHeader;
          seg.dump_size = kPage;
          runs.push_back({m.start, m.start + kPage});
        }
        break;
      }
    }
    for (const PageRun& r : runs) plan.bytes += r.end - r.start;
    plan.segments.push_back(std::move(seg));
    plan.runs.push_back(std::move(runs));
  }
  return plan;
}

absl::Status CopyPlanned(pid_t pid, CopyPlan plan, Clock::time_point deadline,
                         const SnapshotOptions& options, CopyBuffer* buffer,
                         std::vector<Segment>* out, CopyStats* stats) {
  std::function<void()> between;
  if (options.on_phase) {
    between = [&options] { options.on_phase(Phase::kCopyBatch); };
  }
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    out->push_back(std::move(plan.segments[i]));
    if (plan.runs[i].empty()) continue;
    RETURN_IF_ERROR(CopyRuns(pid, plan.runs[i], buffer, deadline,
                             &out->back().regions, stats, between));
  }
  return absl::OkStatus();
}

absl::Status CopyFrozenProcess(pid_t pid, const std::vector<Mapping>& maps,
                               Pagemap& pagemap, Clock::time_point deadline,
                               const SnapshotOptions& options,
                               ProcessImage* image, CopyStats* stats) {
  ASSIGN_OR_RETURN(CopyPlan plan, PlanCopy(maps, pagemap));
  const uint64_t planned = plan.bytes;
  image->segments.clear();
  absl::Status copied =
      CopyPlanned(pid, std::move(plan), deadline, options, image->buffer.get(),
                  &image->segments, stats);
  if (absl::IsDeadlineExceeded(copied)) {
    return absl::DeadlineExceededError(
        absl::StrFormat("the pause reached its limit of %d ms after copying "
                        "%.1f of %.1f MiB; the target "
                        "was resumed and no core was written",
                        options.max_pause.count(), stats->bytes / 1048576.0,
                        planned / 1048576.0));
  }
  return copied;
}

void FinishElfHeaders(ProcessImage* image) {
  for (Segment& s : image->segments) {
    if (s.policy != DumpPolicy::kElfHeader) continue;
    bool is_elf = !s.regions.empty() && s.regions[0].addr == s.mapping.start &&
                  s.regions[0].size >= SELFMAG &&
                  memcmp(s.regions[0].data, ELFMAG, SELFMAG) == 0;
    if (!is_elf) {
      s.policy = DumpPolicy::kNone;
      s.dump_size = 0;
      s.regions.clear();
    }
  }
}

}  // namespace goretain::agent::snapshot
