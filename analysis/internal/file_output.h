// Writing an exporter's output to a file path: all-or-nothing, with errors that
// name the file.
#ifndef GORETAIN_ANALYSIS_INTERNAL_FILE_OUTPUT_H_
#define GORETAIN_ANALYSIS_INTERNAL_FILE_OUTPUT_H_

#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace goretain::analysis::internal {

// Calls `write` with a stream on a temporary file beside `path`, then renames
// it over `path`, so readers never see half a file and a failed write leaves an
// existing `path` untouched. Fails when the file cannot be created, `write`
// fails, or the stream reports an error.
absl::Status WriteFileAtomically(
    const std::string& path,
    const std::function<absl::Status(std::ostream&)>& write);

// Turns a stream's failure state into a status naming `what` was written.
absl::Status StreamStatus(const std::ostream& out, const char* what);

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_FILE_OUTPUT_H_
