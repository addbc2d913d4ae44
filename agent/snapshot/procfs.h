// Readers for the /proc files the snapshotter needs: mappings (maps, smaps
// VmFlags), thread ids, stat/status fields, auxv. Every reader opens with
// O_CLOEXEC and closes before returning. A process or thread that has gone away
// reads as NotFound; anything else unreadable is an error naming the file.
#ifndef GORETAIN_AGENT_SNAPSHOT_PROCFS_H_
#define GORETAIN_AGENT_SNAPSHOT_PROCFS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace goretain::agent::snapshot {

// One virtual memory area, as /proc/PID/maps (and smaps, for vm_flags) describe
// it.
struct Mapping {
  uint64_t start = 0, end = 0;
  bool readable = false, writable = false, executable = false, shared = false;
  uint64_t offset = 0;  // file offset in bytes
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  std::string path;      // "" (anonymous), "[heap]", "[stack]", "/usr/bin/x",
                         // "/memfd:y (deleted)"
  std::string vm_flags;  // smaps "VmFlags:" two-letter codes, " "-separated;
                         // empty when unknown
  bool vm_flags_known = false;

  uint64_t size() const { return end - start; }
  bool HasVmFlag(absl::string_view flag) const;
  // Backed by a file on a filesystem (not anonymous, not a [special] area, not
  // shmem/memfd which the kernel treats as anonymous shared memory).
  bool IsFileBacked() const;
  bool IsSpecial() const { return !path.empty() && path.front() == '['; }
};

// Parses /proc/PID/maps. The list is sorted by address.
absl::StatusOr<std::vector<Mapping>> ReadMaps(pid_t pid);
// Parses /proc/PID/smaps (slower: the kernel walks page tables) for the VmFlags
// of each area.
absl::StatusOr<std::vector<Mapping>> ReadSmaps(pid_t pid);
// Copies vm_flags from `flagged` into the areas of `maps` with the same range,
// offset and inode. Returns how many areas of `maps` found no match (new since
// `flagged` was read).
int CopyVmFlags(const std::vector<Mapping>& flagged,
                std::vector<Mapping>* maps);
// Parsers, exposed for tests.
absl::StatusOr<std::vector<Mapping>> ParseMaps(absl::string_view text,
                                               bool smaps);

// Thread ids listed in /proc/PID/task.
absl::StatusOr<std::vector<pid_t>> ListTasks(pid_t pid);

// Fields of /proc/PID/stat or /proc/PID/task/TID/stat.
struct ProcStat {
  std::string comm;
  char state = '?';
  pid_t ppid = 0, pgrp = 0, sid = 0;
  uint64_t flags = 0;
  uint64_t utime_ticks = 0, stime_ticks = 0, cutime_ticks = 0, cstime_ticks = 0;
  int64_t nice = 0;
  uint64_t start_time_ticks = 0;
  // Field 38: the signal the parent gets when it exits (0: none).
  int exit_signal = -1;
};
absl::StatusOr<ProcStat> ReadStat(pid_t pid, pid_t tid = 0);

// Fields of /proc/PID/status or /proc/PID/task/TID/status.
struct ProcStatus {
  pid_t tgid = 0;
  pid_t tracer_pid = 0;
  uint32_t uid = 0, gid = 0;  // real ids
  uint64_t sig_pending = 0;   // SigPnd | ShdPnd
  uint64_t sig_blocked = 0;
  int seccomp = 0;  // 0 none, 1 strict, 2 filter
  char state = '?';
};
absl::StatusOr<ProcStatus> ReadStatus(pid_t pid, pid_t tid = 0);

// Whole small procfs files (auxv, cmdline).
absl::StatusOr<std::string> ReadProcFile(pid_t pid, absl::string_view name);
// Any small file by path; NotFound when absent.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_PROCFS_H_
