#include "agent/snapshot/headroom.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/snapshot/procfs.h"

namespace goretain::agent::snapshot {
namespace {

constexpr uint64_t kUnlimited = uint64_t{1}
                                << 60;  // v1 says "no limit" with ~2^63

std::optional<uint64_t> ReadNumber(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  absl::string_view v = absl::StripAsciiWhitespace(*text);
  if (v == "max") return kUnlimited;
  uint64_t n;
  if (!absl::SimpleAtoi(v, &n)) return std::nullopt;
  return n;
}

std::optional<uint64_t> MeminfoKiB(const std::string& text,
                                   absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, key) || line.size() <= key.size() ||
        line[key.size()] != ':') {
      continue;
    }
    std::vector<absl::string_view> f =
        absl::StrSplit(line.substr(key.size() + 1), ' ', absl::SkipEmpty());
    uint64_t kib;
    if (!f.empty() && absl::SimpleAtoi(f[0], &kib)) return kib * 1024;
  }
  return std::nullopt;
}

// Every level from `dir_path` (relative to the hierarchy's root) up to, not
// including, the root.
std::vector<std::string> Ancestry(absl::string_view path) {
  std::vector<std::string> out;
  std::string p(path);
  while (!p.empty() && p != "/") {
    out.push_back(p);
    size_t slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
  return out;
}

void Consider(MemoryHeadroom* h, uint64_t limit, uint64_t usage,
              const std::string& where) {
  if (limit >= kUnlimited) return;
  uint64_t left = limit > usage ? limit - usage : 0;
  if (left < h->bytes) {
    h->bytes = left;
    h->limited_by =
        absl::StrFormat("memory cgroup %s (limit %.0f MiB, usage %.0f MiB)",
                        where, limit / 1048576.0, usage / 1048576.0);
  }
}

}  // namespace

absl::StatusOr<MemoryHeadroom> ReadMemoryHeadroom(
    pid_t pid, const std::string& cgroup_root) {
  MemoryHeadroom h;
  auto meminfo = ReadSmallFile("/proc/meminfo");
  if (!meminfo.ok()) return meminfo.status();
  if (auto avail = MeminfoKiB(*meminfo, "MemAvailable")) {
    h.bytes = *avail;
    h.limited_by = "the machine's MemAvailable";
  }
  auto cgroups = ReadProcFile(pid, "cgroup");
  if (!cgroups.ok()) return cgroups.status();
  for (absl::string_view line :
       absl::StrSplit(*cgroups, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (f[0] == "0" && f[1].empty()) {
      // cgroup v2: unified hierarchy at the root (pure v2) or under "unified"
      // (hybrid).
      for (const std::string& base : {cgroup_root, cgroup_root + "/unified"}) {
        if (access((base + "/cgroup.controllers").c_str(), R_OK) != 0) continue;
        for (const std::string& p : Ancestry(f[2])) {
          auto limit = ReadNumber(base + p + "/memory.max");
          auto usage = ReadNumber(base + p + "/memory.current");
          if (limit && usage) Consider(&h, *limit, *usage, p);
        }
        break;
      }
      continue;
    }
    bool memory = false;
    for (absl::string_view c : absl::StrSplit(f[1], ','))
      memory |= c == "memory";
    if (!memory) continue;
    for (const std::string& p : Ancestry(f[2])) {  // cgroup v1
      auto limit =
          ReadNumber(cgroup_root + "/memory" + p + "/memory.limit_in_bytes");
      auto usage =
          ReadNumber(cgroup_root + "/memory" + p + "/memory.usage_in_bytes");
      if (limit && usage) Consider(&h, *limit, *usage, p);
    }
  }
  return h;
}

std::optional<uint64_t> StrictCommitHeadroom() {
  auto mode = ReadNumber("/proc/sys/vm/overcommit_memory");
  if (!mode || *mode != 2) return std::nullopt;
  auto meminfo = ReadSmallFile("/proc/meminfo");
  if (!meminfo.ok()) return 0;
  auto limit = MeminfoKiB(*meminfo, "CommitLimit");
  auto committed = MeminfoKiB(*meminfo, "Committed_AS");
  if (!limit || !committed) return 0;
  return *limit > *committed ? *limit - *committed : 0;
}

}  // namespace goretain::agent::snapshot
