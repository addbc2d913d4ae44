// Retention-path frames, their canonical form and stable path ids.
#ifndef GORETAIN_ANALYSIS_PATH_H_
#define GORETAIN_ANALYSIS_PATH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace goretain::analysis {

// Mirrors goretain.v1.FrameKind (values are the same, so conversion is a cast).
enum class FrameKind : uint8_t {
  kUnspecified = 0,
  kRootGlobal = 1,
  kRootStack = 2,
  kRootFinalizer = 3,
  kRootCleanup = 4,
  kRootOther = 5,
  kField = 6,
  kIndex = 7,
  kMapKey = 8,
  kMapValue = 9,
  kChanBuf = 10,
  kPointer = 11,
  kOther = 12,
};

bool IsRootKind(FrameKind k);

// One step of a retention path: for roots the root's name, for edges the edge label and the Go
// type of the object the edge reaches.
struct Frame {
  FrameKind kind = FrameKind::kUnspecified;
  std::string name;
  std::string type;

  bool operator==(const Frame&) const = default;
};

struct CanonicalOptions {
  int max_depth = 32;  // frames after the root; deeper frames are cut (the cut is counted by callers)
};

// Returns `index_label` ("[17]") bucketed: "[0]".."[9]" stay, larger become "[10+]".
std::string BucketIndex(uint64_t index);

// The canonical form of a path: addresses never appear (callers give labels and types only),
// index labels bucketed, consecutive non-root frames of the same type collapsed into the first
// (a linked list `next *Node` → `next *Node` → … becomes one frame), depth capped.
std::vector<Frame> Canonicalize(const std::vector<Frame>& frames, const CanonicalOptions& opts = {});

// Stable 64-bit id of a child frame under a parent path id (0 = no parent). Deterministic across
// processes, machines and releases of goretain (FNV-1a 64 over the frame's fields, then mixed);
// never 0.
uint64_t ChildPathId(uint64_t parent_id, const Frame& frame);

// Id of a whole (already canonical) path: ChildPathId folded over the frames.
uint64_t PathId(const std::vector<Frame>& canonical_frames);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_PATH_H_
