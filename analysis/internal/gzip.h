// Deterministic gzip (RFC 1952) of a byte string with zlib.
#ifndef GORETAIN_ANALYSIS_INTERNAL_GZIP_H_
#define GORETAIN_ANALYSIS_INTERNAL_GZIP_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace goretain::analysis::internal {

// Compresses `data` into a gzip member with mtime 0 and no file name, so equal
// input gives equal bytes. Fails only if zlib reports an error (out of memory).
absl::StatusOr<std::string> Gzip(std::string_view data);

// Decompresses a gzip stream (for tests and readers of our files).
absl::StatusOr<std::string> Gunzip(std::string_view data);

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_GZIP_H_
