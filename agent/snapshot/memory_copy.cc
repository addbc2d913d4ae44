#include "agent/snapshot/memory_copy.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace goretain::agent::snapshot {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMaxIov = 1024;  // IOV_MAX: the kernel refuses more per call
// ~2-3 ms of copying: the deadline granularity.
constexpr uint64_t kMaxBytesPerCall = 8 << 20;

void AddRegion(std::vector<Region>* regions, uint64_t addr, uint64_t size,
               const uint8_t* data) {
  if (size == 0) return;
  if (!regions->empty()) {
    Region& last = regions->back();
    if (last.addr + last.size == addr && last.data + last.size == data) {
      last.size += size;
      return;
    }
  }
  regions->push_back({addr, size, data});
}

}  // namespace

absl::Status CopyRuns(pid_t pid, const std::vector<PageRun>& runs,
                      CopyBuffer* buffer,
                      std::chrono::steady_clock::time_point deadline,
                      std::vector<Region>* regions, CopyStats* stats,
                      const std::function<void()>& between_calls) {
  size_t run = 0;
  // Next address to copy within runs[run].
  uint64_t cursor = runs.empty() ? 0 : runs[0].start;
  iovec remote[kMaxIov];
  while (run < runs.size()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          "deadline passed while copying memory");
    }
    // Gather the next batch: consecutive pieces of runs, bounded in count and
    // bytes.
    size_t n = 0;
    uint64_t total = 0;
    size_t r = run;
    uint64_t c = cursor;
    while (r < runs.size() && n < kMaxIov && total < kMaxBytesPerCall) {
      uint64_t len = std::min(runs[r].end - c, kMaxBytesPerCall - total);
      remote[n++] = {reinterpret_cast<void*>(c), static_cast<size_t>(len)};
      total += len;
      c += len;
      if (c == runs[r].end) {
        ++r;
        if (r < runs.size()) c = runs[r].start;
      }
    }
    uint8_t* local_base = buffer->Allocate(total);
    if (local_base == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "out of memory for the copy after ", stats->bytes >> 20, " MiB"));
    }
    iovec local{local_base, static_cast<size_t>(total)};
    ssize_t got = process_vm_readv(pid, &local, 1, remote, n, 0);
    stats->calls++;
    if (got < 0) {
      int err = errno;
      buffer->GiveBack(total);
      if (err == ESRCH)
        return absl::NotFoundError("the process exited during the copy");
      if (err == ENOMEM)
        return absl::ResourceExhaustedError("process_vm_readv: out of memory");
      if (err == EPERM)
        return absl::PermissionDeniedError("process_vm_readv: not permitted");
      if (err != EFAULT) {
        return absl::InternalError(
            absl::StrCat("process_vm_readv: ", strerror(err)));
      }
      got = 0;  // the first page of the batch is unreadable: handled as a short
                // read below
    }
    // Record what was read, piece by piece.
    uint64_t left = static_cast<uint64_t>(got);
    const uint8_t* p = local_base;
    for (size_t i = 0; i < n && left > 0; ++i) {
      uint64_t len = std::min<uint64_t>(remote[i].iov_len, left);
      AddRegion(regions, reinterpret_cast<uint64_t>(remote[i].iov_base), len,
                p);
      p += len;
      left -= len;
    }
    stats->bytes += static_cast<uint64_t>(got);
    // Advance over what was read; on a short read also skip the page that
    // stopped it (the mapping changed under us or the page cannot be read:
    // leave a hole, as gdb does).
    uint64_t advance = static_cast<uint64_t>(got);
    if (advance < total) {
      buffer->GiveBack(total - advance);
      advance += kPage - (advance % kPage);
      stats->unreadable_pages++;
    }
    while (advance > 0 && run < runs.size()) {
      uint64_t step = std::min(advance, runs[run].end - cursor);
      cursor += step;
      advance -= step;
      if (cursor >= runs[run].end) {
        ++run;
        if (run < runs.size()) cursor = runs[run].start;
      }
    }
    if (between_calls) between_calls();
  }
  return absl::OkStatus();
}

}  // namespace goretain::agent::snapshot
