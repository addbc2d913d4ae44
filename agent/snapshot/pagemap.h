// Which pages of a target's address range hold data, from /proc/PID/pagemap:
// present in RAM or swapped out. Pages never touched (or released with
// MADV_DONTNEED, as the Go scavenger does) are absent and read as zeros, so the
// snapshot skips them and the core has holes there.
//
// Uses the PAGEMAP_SCAN ioctl (Linux 6.7+, ~10x faster, and it also reports
// pages that map the shared zero page) and falls back to reading the 8-byte
// pagemap entries. Neither faults pages in or changes the target; flag bits are
// readable without CAP_SYS_ADMIN.
#ifndef GORETAIN_AGENT_SNAPSHOT_PAGEMAP_H_
#define GORETAIN_AGENT_SNAPSHOT_PAGEMAP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/snapshot/scoped_fd.h"

namespace goretain::agent::snapshot {

struct PageRun {
  uint64_t start = 0, end = 0;  // page aligned, [start, end)
};

// One open /proc/PID/pagemap. Not thread-safe.
class Pagemap {
 public:
  // `allow_scan_ioctl` false forces the read() path (tests compare the two).
  static absl::StatusOr<std::unique_ptr<Pagemap>> Open(
      pid_t pid, bool allow_scan_ioctl = true);

  // Appends the runs of [start, end) whose pages are present or swapped,
  // leaving out pages that map the zero page when the kernel says so. Adjacent
  // runs are merged.
  absl::Status DataRuns(uint64_t start, uint64_t end,
                        std::vector<PageRun>* out);
  // Whether [start, end) has a present or swapped page that is anonymous (for a
  // file mapping: a copy-on-write copy that differs from the file).
  absl::StatusOr<bool> HasAnonymousPage(uint64_t start, uint64_t end);

  bool uses_scan_ioctl() const { return scan_ioctl_; }

 private:
  Pagemap(pid_t pid, ScopedFd fd, bool scan)
      : pid_(pid), fd_(std::move(fd)), scan_ioctl_(scan) {}
  absl::Status Scan(uint64_t start, uint64_t end, bool anon_only,
                    size_t max_pages, std::vector<PageRun>* out);
  absl::Status Read(uint64_t start, uint64_t end, bool anon_only,
                    size_t max_pages, std::vector<PageRun>* out);
  pid_t pid_;
  ScopedFd fd_;
  bool scan_ioctl_;
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_PAGEMAP_H_
