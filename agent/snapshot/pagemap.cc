#include "agent/snapshot/pagemap.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace goretain::agent::snapshot {
namespace {

constexpr uint64_t kPage = 4096;

// PAGEMAP_SCAN, from <linux/fs.h> of Linux 6.7; the build machine's headers may
// be older.
struct PageRegion {
  uint64_t start, end, categories;
};
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPageIsFile = 1 << 2;
constexpr uint64_t kPageIsPresent = 1 << 3;
constexpr uint64_t kPageIsSwapped = 1 << 4;
constexpr uint64_t kPageIsPfnZero = 1 << 5;

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kEntryPresent = 1ull << 63;
constexpr uint64_t kEntrySwapped = 1ull << 62;
constexpr uint64_t kEntryFileOrShared = 1ull << 61;

void Append(std::vector<PageRun>* out, uint64_t start, uint64_t end) {
  if (!out->empty() && out->back().end == start) {
    out->back().end = end;
  } else {
    out->push_back({start, end});
  }
}

absl::Status ReadError(pid_t pid, int err) {
  std::string msg =
      absl::StrCat("reading /proc/", pid, "/pagemap: ", strerror(err));
  if (err == ESRCH) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pagemap>> Pagemap::Open(pid_t pid,
                                                       bool allow_scan_ioctl) {
  std::string path = absl::StrCat("/proc/", pid, "/pagemap");
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    std::string msg = absl::StrCat("cannot open ", path, ": ", strerror(err));
    if (err == ENOENT || err == ESRCH) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  bool scan = false;
  if (allow_scan_ioctl) {
    // Probe with an empty range: kernels without PAGEMAP_SCAN answer ENOTTY (or
    // EINVAL).
    PmScanArg arg{};
    arg.size = sizeof arg;
    arg.return_mask = kPageIsPresent;
    arg.category_anyof_mask = kPageIsPresent;
    scan = ioctl(fd.get(), kPagemapScan, &arg) >= 0;
  }
  return std::unique_ptr<Pagemap>(new Pagemap(pid, std::move(fd), scan));
}

absl::Status Pagemap::DataRuns(uint64_t start, uint64_t end,
                               std::vector<PageRun>* out) {
  return scan_ioctl_ ? Scan(start, end, false, 0, out)
                     : Read(start, end, false, 0, out);
}

absl::StatusOr<bool> Pagemap::HasAnonymousPage(uint64_t start, uint64_t end) {
  std::vector<PageRun> runs;
  absl::Status s = scan_ioctl_ ? Scan(start, end, true, 1, &runs)
                               : Read(start, end, true, 1, &runs);
  if (!s.ok()) return s;
  return !runs.empty();
}

absl::Status Pagemap::Scan(uint64_t start, uint64_t end, bool anon_only,
                           size_t max_pages, std::vector<PageRun>* out) {
  PageRegion vec[512];
  uint64_t cursor = start;
  while (cursor < end) {
    PmScanArg arg{};
    arg.size = sizeof arg;
    arg.start = cursor;
    arg.end = end;
    arg.vec = reinterpret_cast<uint64_t>(vec);
    arg.vec_len = std::size(vec);
    arg.max_pages = max_pages;
    arg.category_anyof_mask = kPageIsPresent | kPageIsSwapped;
    arg.return_mask = kPageIsPfnZero;
    if (anon_only) {
      // Require the FILE category to be clear: inverted + mask selects "not a
      // file page".
      arg.category_inverted = kPageIsFile;
      arg.category_mask = kPageIsFile;
    }
    long n = ioctl(fd_.get(), kPagemapScan, &arg);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadError(pid_, errno);
    }
    for (long i = 0; i < n; ++i) {
      if (vec[i].categories & kPageIsPfnZero) continue;  // zeros: leave a hole
      Append(out, vec[i].start, vec[i].end);
    }
    if (max_pages != 0 && n > 0) return absl::OkStatus();
    if (arg.walk_end <= cursor)
      break;  // no progress: the kernel walked everything it could
    cursor = arg.walk_end;
  }
  return absl::OkStatus();
}

absl::Status Pagemap::Read(uint64_t start, uint64_t end, bool anon_only,
                           size_t max_pages, std::vector<PageRun>* out) {
  uint64_t entries[4096];
  size_t found = 0;
  for (uint64_t page = start; page < end;) {
    size_t want = std::min<uint64_t>(std::size(entries), (end - page) / kPage);
    ssize_t n =
        pread(fd_.get(), entries, want * sizeof(uint64_t), (page / kPage) * 8);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadError(pid_, errno);
    }
    if (n == 0) break;
    size_t got = static_cast<size_t>(n) / sizeof(uint64_t);
    for (size_t i = 0; i < got; ++i, page += kPage) {
      uint64_t e = entries[i];
      if (!(e & (kEntryPresent | kEntrySwapped))) continue;
      if (anon_only && (e & kEntryFileOrShared)) continue;
      Append(out, page, page + kPage);
      if (max_pages != 0 && ++found >= max_pages) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace goretain::agent::snapshot
