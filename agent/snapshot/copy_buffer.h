// Memory that receives the pages copied out of a target. Reserved and faulted
// in before the target is frozen, so the copy during the pause never waits for
// our own page faults.
#ifndef GORETAIN_AGENT_SNAPSHOT_COPY_BUFFER_H_
#define GORETAIN_AGENT_SNAPSHOT_COPY_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace goretain::agent::snapshot {

// Owns anonymous private mappings (chunks) and hands out contiguous pieces of
// them. Pointers stay valid until the buffer is destroyed. Not thread-safe.
class CopyBuffer {
 public:
  CopyBuffer() = default;
  // A buffer over [base, base + size), memory someone else owns (a piece of
  // another CopyBuffer handed to one copying thread). It never grows: Allocate
  // past its end returns nullptr.
  CopyBuffer(uint8_t* base, size_t size);
  ~CopyBuffer();
  CopyBuffer(const CopyBuffer&) = delete;
  CopyBuffer& operator=(const CopyBuffer&) = delete;

  // Maps `bytes` more and touches every page now (MAP_POPULATE).
  // ResourceExhausted when the memory is not there.
  absl::Status Reserve(size_t bytes);
  // A contiguous piece of `bytes`; maps another chunk (not populated: slower to
  // fill, but it keeps a snapshot going when the reserve was short) when the
  // reserve is used up. nullptr when even that fails.
  uint8_t* Allocate(size_t bytes);
  // Returns the unused tail of the last Allocate (a short read) to the reserve.
  void GiveBack(size_t bytes);

  size_t reserved() const { return reserved_; }
  size_t used() const { return used_; }

 private:
  struct Chunk {
    uint8_t* base = nullptr;
    size_t size = 0;
    size_t used = 0;
  };
  absl::Status MapChunk(size_t bytes, bool populate);
  std::vector<Chunk> chunks_;
  size_t current_ = 0;  // index of the chunk Allocate takes from
  size_t reserved_ = 0, used_ = 0;
  bool owned_ = true;  // false: a view; neither unmaps nor grows
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_COPY_BUFFER_H_
