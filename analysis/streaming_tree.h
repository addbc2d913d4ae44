// The breadth-first reference tree of a core in one pass over the heap, without the reference
// graph: `goretain analyze --low-memory`. Memory is a mark bit per object, the span index, the
// path trie and a frontier queue that spills to a temporary file; no dominators, so no retained
// sizes.
#ifndef GORETAIN_ANALYSIS_STREAMING_TREE_H_
#define GORETAIN_ANALYSIS_STREAMING_TREE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/tree.h"
#include "gocore/loaded_core.h"

namespace goretain::analysis {

// Reachable bytes and objects of one type name.
struct TypeTotal {
  std::string name;
  uint64_t bytes = 0, count = 0;
};

struct StreamingOptions {
  int max_depth = 32;  // as ReferenceTreeOptions::max_depth
  // Frontier records kept in memory before the queue spills to a file in `spill_dir`
  // ($TMPDIR or /tmp when empty).
  size_t queue_memory = 16 << 20;
  std::string spill_dir;
  // The frontier is scanned in chunks of at most this many objects (36 bytes each while the
  // chunk is scanned) holding at most about this many bytes of objects with pointers (a bound on
  // the edges a chunk keeps: 24 bytes per pointer word). 0: 1 % of the heap's objects (at least
  // 65,536, at most 2^20) and 1/256 of its bytes (2 to 32 MiB).
  size_t chunk_objects = 0;
  uint64_t chunk_bytes = 0;
  // The core is mapped: its pages that the walk maps are given back once it has entered this
  // many bytes' worth of 64 KiB windows (otherwise they would stay resident up to the heap's
  // size).
  uint64_t release_core_every = 4 << 20;
  // While the chunk's objects are scanned in address order, a second thread maps the core's
  // pages just ahead of the scan and gives back those behind it (when the machine has more than
  // one CPU): the page faults and releases, a sixth of the walk's time, then overlap the scan.
  bool page_ahead = true;
  // Called now and then with the objects reached so far.
  std::function<void(uint64_t reached)> progress;
};

struct StreamingResult {
  PathTree tree;  // unfolded; retained_bytes 0 everywhere (not computed)
  uint64_t reachable_objects = 0, reachable_bytes = 0;
  uint64_t unreachable_objects = 0, unreachable_bytes = 0;
  uint64_t typed_bytes = 0, untyped_bytes = 0;
  std::vector<TypeTotal> types;  // largest first, then by name
  uint64_t max_frontier = 0;     // records in the queue at its longest
  uint64_t spilled_bytes = 0;    // written to the spill file
};

// The reference tree of ReferenceTreeOptions{kBfs} from a core loaded with LoadCoreSpansOnly:
// the same traversal (roots one kind at a time, in DeterministicRootOrder, edges by offset, each
// object under the first path that reaches it) and the same canonical paths; types come from a
// StreamingTyper, so an object first reached from an untyped one may stay untyped where the full
// analysis types it. Deterministic.
absl::StatusOr<StreamingResult> BuildStreamingBfsTree(gocore::LoadedCore& core,
                                                      const StreamingOptions& opts);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_STREAMING_TREE_H_
