// Finding the Go processes on this machine from /proc.
#ifndef GORETAIN_AGENT_DISCOVERY_H_
#define GORETAIN_AGENT_DISCOVERY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace goretain::agent {

struct GoProcess {
  pid_t pid = 0;
  uint64_t start_time_ticks = 0;  // /proc/PID/stat field 22; (pid, start time) names a process
  std::string exe_path;            // readlink of /proc/PID/exe as the process sees it
  std::string go_version;          // from the executable's .go.buildinfo
  std::string main_path;           // main package path from the build info
  std::string comm;
};

// Scans `proc_root` (normally "/proc") for processes whose executable is a Go program. Processes
// that vanish or whose executable cannot be read (permissions, kernel threads) are skipped, not
// errors; only an unreadable proc_root fails.
absl::StatusOr<std::vector<GoProcess>> ListGoProcesses(const std::string& proc_root = "/proc");

// Reads one process; NotFound if it is gone, InvalidArgument if it is not a Go program.
absl::StatusOr<GoProcess> InspectProcess(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace goretain::agent

#endif  // GORETAIN_AGENT_DISCOVERY_H_
