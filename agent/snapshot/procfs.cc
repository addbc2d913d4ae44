#include "agent/snapshot/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/snapshot/scoped_fd.h"

namespace goretain::agent::snapshot {
namespace {

std::string ProcPath(pid_t pid, pid_t tid, absl::string_view name) {
  if (tid == 0) return absl::StrCat("/proc/", pid, "/", name);
  return absl::StrCat("/proc/", pid, "/task/", tid, "/", name);
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOENT || err == ESRCH) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// One maps/smaps area header: "start-end perms offset major:minor inode path".
bool ParseHeader(absl::string_view line, Mapping* m) {
  size_t dash = line.find('-');
  size_t sp = line.find(' ');
  if (dash == absl::string_view::npos || sp == absl::string_view::npos ||
      dash > sp)
    return false;
  std::vector<absl::string_view> f =
      absl::StrSplit(line, absl::MaxSplits(' ', 5), absl::SkipEmpty());
  if (f.size() < 5) return false;
  absl::string_view range = f[0], perms = f[1];
  if (perms.size() < 4) return false;
  if (!absl::SimpleHexAtoi(range.substr(0, dash), &m->start) ||
      !absl::SimpleHexAtoi(range.substr(dash + 1), &m->end) ||
      !absl::SimpleHexAtoi(f[2], &m->offset) ||
      !absl::SimpleAtoi(f[4], &m->inode)) {
    return false;
  }
  size_t colon = f[3].find(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleHexAtoi(f[3].substr(0, colon), &m->dev_major) ||
      !absl::SimpleHexAtoi(f[3].substr(colon + 1), &m->dev_minor)) {
    return false;
  }
  m->readable = perms[0] == 'r';
  m->writable = perms[1] == 'w';
  m->executable = perms[2] == 'x';
  m->shared = perms[3] == 's';
  // The path starts after the inode's padding and may itself contain spaces.
  m->path =
      f.size() > 5 ? std::string(absl::StripLeadingAsciiWhitespace(f[5])) : "";
  return true;
}

}  // namespace

bool Mapping::HasVmFlag(absl::string_view flag) const {
  for (absl::string_view f : absl::StrSplit(vm_flags, ' ', absl::SkipEmpty())) {
    if (f == flag) return true;
  }
  return false;
}

bool Mapping::IsFileBacked() const {
  if (inode == 0 || path.empty() || path.front() != '/') return false;
  // shmem and memfd areas have an inode on an internal filesystem; the kernel's
  // core dumper treats them as anonymous shared memory and so do we.
  return !path.starts_with("/memfd:") && !path.starts_with("/SYSV") &&
         !path.starts_with("/dev/zero") && !path.starts_with("/anon_hugepage");
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "cannot open " + path);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read " + path);
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

absl::StatusOr<std::string> ReadProcFile(pid_t pid, absl::string_view name) {
  return ReadSmallFile(ProcPath(pid, 0, name));
}

absl::StatusOr<std::vector<Mapping>> ParseMaps(absl::string_view text,
                                               bool smaps) {
  std::vector<Mapping> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    Mapping m;
    if (ParseHeader(line, &m)) {
      out.push_back(std::move(m));
      continue;
    }
    if (!smaps)
      return absl::InternalError(
          absl::StrCat("maps: cannot parse line '", line, "'"));
    if (absl::StartsWith(line, "VmFlags:") && !out.empty()) {
      out.back().vm_flags =
          std::string(absl::StripAsciiWhitespace(line.substr(8)));
      out.back().vm_flags_known = true;
    }
  }
  std::sort(out.begin(), out.end(), [](const Mapping& a, const Mapping& b) {
    return a.start < b.start;
  });
  return out;
}

absl::StatusOr<std::vector<Mapping>> ReadMaps(pid_t pid) {
  auto text = ReadProcFile(pid, "maps");
  if (!text.ok()) return text.status();
  return ParseMaps(*text, false);
}

absl::StatusOr<std::vector<Mapping>> ReadSmaps(pid_t pid) {
  auto text = ReadProcFile(pid, "smaps");
  if (!text.ok()) return text.status();
  return ParseMaps(*text, true);
}

int CopyVmFlags(const std::vector<Mapping>& flagged,
                std::vector<Mapping>* maps) {
  int unmatched = 0;
  auto it = flagged.begin();
  for (Mapping& m : *maps) {
    // Both lists are sorted by start; walk them together.
    while (it != flagged.end() && it->start < m.start) ++it;
    if (it != flagged.end() && it->start == m.start && it->end == m.end &&
        it->offset == m.offset && it->inode == m.inode && it->vm_flags_known) {
      m.vm_flags = it->vm_flags;
      m.vm_flags_known = true;
    } else {
      ++unmatched;
    }
  }
  return unmatched;
}

absl::StatusOr<std::vector<pid_t>> ListTasks(pid_t pid) {
  std::string path = ProcPath(pid, 0, "task");
  DIR* dir = opendir(path.c_str());  // opendir uses O_CLOEXEC in glibc
  if (dir == nullptr) return ErrnoStatus(errno, "cannot list " + path);
  std::vector<pid_t> out;
  while (dirent* e = readdir(dir)) {
    pid_t tid;
    if (absl::SimpleAtoi(e->d_name, &tid)) out.push_back(tid);
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<ProcStat> ReadStat(pid_t pid, pid_t tid) {
  std::string path = ProcPath(pid, tid, "stat");
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so split at
  // the last ')'.
  size_t open = text->find('('), close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return absl::InternalError(path + ": unexpected format");
  }
  ProcStat st;
  st.comm = text->substr(open + 1, close - open - 1);
  std::vector<absl::string_view> f = absl::StrSplit(
      absl::string_view(*text).substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); field N is f[N - 3].
  if (f.size() < 20) return absl::InternalError(path + ": too few fields");
  auto u64 = [&](int field) {
    uint64_t v = 0;
    (void)absl::SimpleAtoi(f[field - 3], &v);
    return v;
  };
  auto i64 = [&](int field) {
    int64_t v = 0;
    (void)absl::SimpleAtoi(f[field - 3], &v);
    return v;
  };
  st.state = f[0].empty() ? '?' : f[0][0];
  st.ppid = static_cast<pid_t>(i64(4));
  st.pgrp = static_cast<pid_t>(i64(5));
  st.sid = static_cast<pid_t>(i64(6));
  st.flags = u64(9);
  st.utime_ticks = u64(14);
  st.stime_ticks = u64(15);
  st.cutime_ticks = u64(16);
  st.cstime_ticks = u64(17);
  st.nice = i64(19);
  st.start_time_ticks = u64(22);
  if (f.size() > 38 - 3) st.exit_signal = static_cast<int>(i64(38));
  return st;
}

absl::StatusOr<ProcStatus> ReadStatus(pid_t pid, pid_t tid) {
  std::string path = ProcPath(pid, tid, "status");
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  ProcStatus st;
  for (absl::string_view line :
       absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view key = line.substr(0, colon);
    absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    absl::string_view first = value.substr(0, value.find_first_of(" \t"));
    uint64_t hex = 0;
    if (key == "Tgid") {
      (void)absl::SimpleAtoi(first, &st.tgid);
    } else if (key == "TracerPid") {
      (void)absl::SimpleAtoi(first, &st.tracer_pid);
    } else if (key == "Uid") {
      (void)absl::SimpleAtoi(first, &st.uid);
    } else if (key == "Gid") {
      (void)absl::SimpleAtoi(first, &st.gid);
    } else if ((key == "SigPnd" || key == "ShdPnd") &&
               absl::SimpleHexAtoi(first, &hex)) {
      st.sig_pending |= hex;
    } else if (key == "SigBlk" && absl::SimpleHexAtoi(first, &hex)) {
      st.sig_blocked = hex;
    } else if (key == "Seccomp") {
      (void)absl::SimpleAtoi(first, &st.seccomp);
    } else if (key == "State" && !value.empty()) {
      st.state = value[0];
    }
  }
  return st;
}

}  // namespace goretain::agent::snapshot
