#include "analysis/internal/file_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace goretain::analysis::internal {

absl::Status StreamStatus(const std::ostream& out, const char* what) {
  if (out.good()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(what, ": output stream failed while writing"));
}

absl::Status WriteFileAtomically(
    const std::string& path,
    const std::function<absl::Status(std::ostream&)>& write) {
  // The pid keeps two processes writing the same output from clobbering each
  // other's temp file.
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  absl::Status status;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
    }
    status = write(out);
    out.flush();
    if (status.ok() && !out.good()) {
      status = absl::DataLossError(
          absl::StrCat("writing ", tmp, " failed (disk full?)"));
    }
    out.close();
    if (status.ok() && out.fail()) {
      status = absl::DataLossError(absl::StrCat("closing ", tmp, " failed"));
    }
  }
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::UnavailableError(absl::StrCat(
        "cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

}  // namespace goretain::analysis::internal
