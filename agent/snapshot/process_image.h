// What a snapshot captured, as plain structs: the capture fills them while the
// target is frozen (or from a copy-on-write child), the core writer turns them
// into an ELF core afterwards.
#ifndef GORETAIN_AGENT_SNAPSHOT_PROCESS_IMAGE_H_
#define GORETAIN_AGENT_SNAPSHOT_PROCESS_IMAGE_H_

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/snapshot/copy_buffer.h"
#include "agent/snapshot/procfs.h"

namespace goretain::agent::snapshot {

// One thread's state at the freeze.
struct ThreadState {
  pid_t tid = 0;
  user_regs_struct regs{};  // NT_PRSTATUS layout (PTRACE_GETREGSET)
  bool fpregs_valid = false;
  user_fpregs_struct fpregs{};  // NT_PRFPREG
  std::vector<uint8_t>
      xstate;  // NT_X86_XSTATE; empty when the kernel gave none
  uint64_t utime_ticks = 0, stime_ticks = 0;
  uint64_t sig_pending = 0, sig_blocked = 0;
};

// How much of a mapping goes into the core (the kernel's and gcore's rules, see
// docs/formats/core.md).
enum class DumpPolicy {
  kNone,          // PT_LOAD with no file data: unreadable, [vvar], VM_DONTDUMP,
                  // file-only content
  kPresentPages,  // anonymous memory: pages present or swapped; the rest are
                  // holes (zeros)
  kWhole,      // every page ([vdso], file mappings holding copy-on-write pages)
  kElfHeader,  // first page of an ELF file mapping, so tools can find build ids
};

// A copied piece of target memory; `data` points into the image's CopyBuffer.
struct Region {
  uint64_t addr = 0;
  uint64_t size = 0;
  const uint8_t* data = nullptr;
};

// One mapping of the target and what was copied of it. The PT_LOAD covers
// [start, end) with p_filesz = dump_size; bytes of [start, start + dump_size)
// outside `regions` read as zeros.
struct Segment {
  Mapping mapping;
  DumpPolicy policy = DumpPolicy::kNone;
  uint64_t dump_size = 0;
  // Sorted, non-overlapping, inside the dumped range.
  std::vector<Region> regions;
};

struct ProcessInfo {
  pid_t pid = 0;
  ProcStat stat;
  ProcStatus status;
  std::string cmdline;  // NUL-separated, as in /proc/PID/cmdline
  std::string auxv;     // raw /proc/PID/auxv
};

// Everything the core holds. Movable, not copyable (the buffer owns the copied
// memory).
struct ProcessImage {
  ProcessInfo process;
  // The thread group leader first, if it is alive.
  std::vector<ThreadState> threads;
  // Every mapping of the target, sorted by address.
  std::vector<Segment> segments;
  std::unique_ptr<CopyBuffer> buffer;
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_PROCESS_IMAGE_H_
