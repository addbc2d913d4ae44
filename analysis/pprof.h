// pprof's profile.proto (gzipped), so `go tool pprof` (-top, -traces, -tree,
// -http, -diff_base) reads our retention trees the way Go people read heap
// profiles.
#ifndef GORETAIN_ANALYSIS_PPROF_H_
#define GORETAIN_ANALYSIS_PPROF_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "analysis/tree.h"

namespace goretain::analysis {

struct PprofOptions {
  // Profile.time_nanos; 0 leaves it out (deterministic bytes).
  int64_t time_nanos = 0;
  // Profile.comment, e.g. the core file and Go version.
  std::vector<std::string> comments;
};

// The uncompressed profile.proto bytes of `tree`:
//   sample_type = [inuse_objects/count, inuse_space/bytes], default
//   inuse_space; one Function + Location per distinct frame (Function.name =
//   FrameLabel, system_name = the kind name), all in one dummy Mapping
//   (has_functions, so pprof never tries to symbolise); one Sample per node
//   with non-zero self values: location stack leaf first, values [self_count,
//   self_bytes].
// Ids and the string table are assigned in pre-order of the tree, so equal
// trees give equal bytes.
std::string EncodePprof(const PathTree& tree, const PprofOptions& opts = {});

// EncodePprof, gzipped (mtime 0), as `go tool pprof` expects `.pb.gz` files.
absl::StatusOr<std::string> EncodePprofGzip(const PathTree& tree,
                                            const PprofOptions& opts = {});
absl::Status WritePprof(const PathTree& tree, std::ostream& out,
                        const PprofOptions& opts = {});
absl::Status WritePprofFile(const PathTree& tree, const std::string& path,
                            const PprofOptions& opts = {});

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_PPROF_H_
