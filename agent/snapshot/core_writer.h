// Writing a ProcessImage as a standard ELF core file (ET_CORE), the layout the
// kernel and gdb's gcore produce, so gdb, viewcore, goref and gocore open it.
// docs/formats/core.md describes it.
#ifndef GORETAIN_AGENT_SNAPSHOT_CORE_WRITER_H_
#define GORETAIN_AGENT_SNAPSHOT_CORE_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/snapshot/process_image.h"

namespace goretain::agent::snapshot {

struct CoreWriteStats {
  uint64_t file_size = 0;  // apparent size
  // Bytes of memory written; the rest of the file is holes.
  uint64_t data_bytes = 0;
  uint64_t zero_pages_skipped = 0;
};

// Notes and program headers in the core's order: NT_PRPSINFO; per thread
// NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE; NT_AUXV; NT_FILE. Exposed for tests.
std::string BuildNotes(const ProcessImage& image);

// Writes `image` into `fd` (an empty regular file) with ftruncate + pwrite:
// pages absent in the target or entirely zero are holes, so the file is sparse.
// Errors name `path` and the cause (ResourceExhausted for a full disk or
// quota).
absl::StatusOr<CoreWriteStats> WriteCore(const ProcessImage& image, int fd,
                                         const std::string& path);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_CORE_WRITER_H_
