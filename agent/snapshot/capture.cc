#include <elf.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/snapshot/capture_internal.h"
#include "agent/snapshot/registers.h"
#include "agent/snapshot/selection.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {
constexpr uint64_t kPage = 4096;
// Below this much per thread, a thread costs more than it saves.
constexpr uint64_t kMinBytesPerThread = 16 << 20;
}  // namespace

int CopyThreads(const SnapshotOptions& options) {
  if (options.copy_threads > 0) return options.copy_threads;
  return static_cast<int>(
      std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
}

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
    absl::Status st = CaptureThread(tid, &t);
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

void ReadThreadsProcInfo(pid_t pid, ProcessImage* image) {
  for (ThreadState& t : image->threads) ReadThreadProcInfo(pid, &t);
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
                         std::vector<Segment>* out, CopyStats* stats,
                         int threads) {
  const size_t first = out->size();
  for (Segment& seg : plan.segments) out->push_back(std::move(seg));

  // The runs in address order, cut into `n` shares of about equal bytes (runs
  // split at page boundaries): share k covers addresses above share k-1's.
  struct Piece {
    size_t seg;
    PageRun run;
  };
  const uint64_t total = plan.bytes;
  const int n = total < kMinBytesPerThread
                    ? 1
                    : static_cast<int>(std::clamp<uint64_t>(
                          threads, 1, total / kMinBytesPerThread));
  const uint64_t per = (total / n + kPage - 1) / kPage * kPage;
  std::vector<std::vector<Piece>> shares(n);
  std::vector<uint64_t> share_bytes(n, 0);
  int w = 0;
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    for (const PageRun& r : plan.runs[i]) {
      for (uint64_t start = r.start; start < r.end;) {
        if (w < n - 1 && share_bytes[w] >= per) ++w;
        uint64_t take = w == n - 1
                            ? r.end - start
                            : std::min(r.end - start, per - share_bytes[w]);
        shares[w].push_back({first + i, {start, start + take}});
        share_bytes[w] += take;
        start += take;
      }
    }
  }
  // Each share gets its own contiguous piece of the (pre-faulted) buffer, so
  // the threads never share an allocator.
  std::vector<std::unique_ptr<CopyBuffer>> views;
  for (int k = 0; k < n; ++k) {
    uint8_t* base = buffer->Allocate(share_bytes[k]);
    if (base == nullptr && share_bytes[k] > 0) {
      return absl::ResourceExhaustedError("out of memory for the copy");
    }
    views.push_back(std::make_unique<CopyBuffer>(base, share_bytes[k]));
  }
  struct Result {
    std::vector<std::pair<size_t, std::vector<Region>>> regions;
    CopyStats stats;
    absl::Status status;
  };
  std::vector<Result> results(n);
  auto work = [&](int k) {
    Result& res = results[k];
    const std::vector<Piece>& share = shares[k];
    // Test hooks run on the calling thread only (share 0 runs there).
    std::function<void()> between;
    if (k == 0 && options.on_phase) {
      between = [&options] { options.on_phase(Phase::kCopyBatch); };
    }
    for (size_t i = 0; i < share.size();) {
      std::vector<PageRun> runs;
      size_t j = i;
      for (; j < share.size() && share[j].seg == share[i].seg; ++j) {
        runs.push_back(share[j].run);
      }
      res.regions.push_back({share[i].seg, {}});
      res.status = CopyRuns(pid, runs, views[k].get(), deadline,
                            &res.regions.back().second, &res.stats, between);
      if (!res.status.ok()) return;
      i = j;
    }
  };
  std::vector<std::thread> pool;
  std::vector<int> inline_shares;
  for (int k = 1; k < n; ++k) {
    try {
      pool.emplace_back(work, k);
    } catch (const std::system_error&) {
      inline_shares.push_back(k);  // no thread to be had: copy it here
    }
  }
  work(0);
  for (int k : inline_shares) work(k);
  for (std::thread& t : pool) t.join();

  absl::Status status;
  for (Result& res : results) {
    for (auto& [seg, regions] : res.regions) {
      auto& dst = (*out)[seg].regions;
      dst.insert(dst.end(), regions.begin(), regions.end());
    }
    stats->bytes += res.stats.bytes;
    stats->calls += res.stats.calls;
    stats->unreadable_pages += res.stats.unreadable_pages;
    if (status.ok()) status = res.status;
  }
  return status;
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
                  &image->segments, stats, CopyThreads(options));
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
