// Builds a PathTree from (path, bytes, count) samples: the one place that knows
// how nodes are interned, how cumulative values are summed and how children are
// ordered, so every producer of trees (the heap-graph walk, tests, the
// collector's stored paths) gives identical trees.
#ifndef GORETAIN_ANALYSIS_TREE_BUILDER_H_
#define GORETAIN_ANALYSIS_TREE_BUILDER_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "analysis/path.h"
#include "analysis/tree.h"

namespace goretain::analysis {

// Accumulates samples into path nodes keyed by stable path id. Not thread-safe;
// cheap to move.
//
//   PathTreeBuilder b;
//   b.Add({root, field}, 4096, 2);
//   PathTree t = std::move(b).Build();
class PathTreeBuilder {
 public:
  explicit PathTreeBuilder(CanonicalOptions canonical = {})
      : canonical_(canonical) {}

  // Adds `bytes`/`count` to the self values of the path `frames` (canonicalised
  // first, so raw paths with addresses-free labels may be given) and
  // `retained_bytes` to its retained value (retained values are per path and
  // are not summed up the tree: dominated sets nest). Fails, adding nothing,
  // when the path is empty or does not start with a root frame (or an
  // "(other)" frame standing for folded roots).
  absl::Status Add(const std::vector<Frame>& frames, uint64_t bytes,
                   uint64_t count, uint64_t retained_bytes = 0);

  // Distinct frames that hashed to an id already taken by another frame under
  // the same parent (never seen in practice with 64-bit ids; counted so it
  // cannot go unnoticed). Such samples are merged into the node that owns the
  // id.
  uint64_t id_collisions() const { return id_collisions_; }

  // The finished tree: cumulative values, children ordered (cum_bytes desc,
  // then id), nodes renumbered in pre-order. The result does not depend on the
  // order samples were added in.
  PathTree Build() &&;

 private:
  uint32_t Intern(uint32_t parent, uint64_t parent_id, const Frame& frame);

  CanonicalOptions canonical_;
  PathTree tree_;
  absl::flat_hash_map<uint64_t, uint32_t> by_id_;
  uint64_t id_collisions_ = 0;
};

// Recomputes cum_bytes/cum_count and totals from self values, orders children
// and tops (cum_bytes desc, then id) and renumbers nodes in pre-order. For code
// that edits a tree's nodes directly; `parent` links must be valid and acyclic,
// `children`/`tops` are rebuilt from them.
void FinalizeTree(PathTree& tree);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_TREE_BUILDER_H_
