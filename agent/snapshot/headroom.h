// How much more memory a process can get before something gives: the machine's
// MemAvailable and every memory cgroup limit above the process (v1 and v2, each
// ancestor), the smallest wins. The fork mode's guard: a copy-on-write child is
// charged to the same cgroup.
#ifndef GORETAIN_AGENT_SNAPSHOT_HEADROOM_H_
#define GORETAIN_AGENT_SNAPSHOT_HEADROOM_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace goretain::agent::snapshot {

struct MemoryHeadroom {
  uint64_t bytes = UINT64_MAX;
  std::string limited_by;  // "MemAvailable" or "memory cgroup /kubepods/pod1
                           // (limit …, usage …)"
};

// `cgroup_root` is where the cgroup file systems are mounted; tests point it
// elsewhere.
absl::StatusOr<MemoryHeadroom> ReadMemoryHeadroom(
    pid_t pid, const std::string& cgroup_root = "/sys/fs/cgroup");

// Under vm.overcommit_memory=2 (strict accounting), CommitLimit - Committed_AS:
// a fork is charged the private writable memory again. nullopt when accounting
// is not strict.
std::optional<uint64_t> StrictCommitHeadroom();

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_HEADROOM_H_
