#include "agent/discovery.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "gocore/buildinfo.h"

namespace goretain::agent {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<GoProcess> InspectProcess(pid_t pid, const std::string& proc_root) {
  std::string dir = absl::StrCat(proc_root, "/", pid);
  if (::access(dir.c_str(), F_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("process ", pid, " does not exist"));
  }
  GoProcess p;
  p.pid = pid;
  char buf[4096];
  ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("process ", pid, ": cannot read its executable: ", std::strerror(errno)));
  }
  p.exe_path.assign(buf, n);
  // Read the executable through /proc/PID/exe: works across mount namespaces and after the file
  // was replaced on disk.
  ASSIGN_OR_RETURN(gocore::BuildInfo bi, gocore::ReadBuildInfo(dir + "/exe"));
  p.go_version = bi.go_version;
  p.main_path = bi.main_path;
  std::string stat = ReadSmallFile(dir + "/stat");
  // comm is in parentheses and may contain spaces; fields after the last ')' are fixed.
  size_t open = stat.find('('), close = stat.rfind(')');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    p.comm = stat.substr(open + 1, close - open - 1);
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    // After ')' field 3 (state) is index 0; starttime is field 22 -> index 19.
    if (f.size() > 19) absl::SimpleAtoi(f[19], &p.start_time_ticks);
  }
  return p;
}

absl::StatusOr<std::vector<GoProcess>> ListGoProcesses(const std::string& proc_root) {
  DIR* d = ::opendir(proc_root.c_str());
  if (d == nullptr) {
    return absl::UnavailableError(absl::StrCat(proc_root, ": ", std::strerror(errno)));
  }
  std::vector<GoProcess> out;
  while (dirent* e = ::readdir(d)) {
    pid_t pid;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid <= 0) continue;
    auto p = InspectProcess(pid, proc_root);
    if (p.ok()) out.push_back(std::move(*p));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const GoProcess& a, const GoProcess& b) { return a.pid < b.pid; });
  return out;
}

}  // namespace goretain::agent
