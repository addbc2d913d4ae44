// Type inference over the reference graph: every reachable object gets the best Go type we can
// prove for it, and every edge a label (field name, index, $mapkey, $mapval, $chanbuf).
#ifndef GORETAIN_GOCORE_TYPING_H_
#define GORETAIN_GOCORE_TYPING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gocore/graph.h"
#include "gocore/heap.h"
#include "gocore/pclntab.h"
#include "gocore/program.h"
#include "gocore/roots.h"

namespace goretain::gocore {

// Sources of types, from the most to the least certain: the heap's own record (allocation header
// or span.largeType, mapped to DWARF through DW_AT_go_runtime_type), then DWARF types propagated
// from roots through pointers, slices (to cap), strings, interfaces (through the dynamic _type),
// maps (classic buckets and Swiss tables/groups), channels (buffer as [dataqsiz]elem) and
// closures (by function name). First proof wins, in a fixed order, so results are deterministic.
class Typing {
 public:
  struct TypeInfo {
    std::string name;   // Go type name of one value ("main.Node", "string", "closure main.f.func1")
    uint64_t size = 0;  // bytes of one value (0: opaque, no layout)
    DieOffset die = 0;  // DWARF type, 0 for synthetic types
    bool single = false;  // one value per object (closures): never shown or walked as an array
  };

  static absl::StatusOr<std::unique_ptr<Typing>> Infer(const Program& program, const HeapIndex& heap,
                                                       const TypeTable& rtypes, const FuncTable& ft,
                                                       const std::vector<Root>& roots,
                                                       const ObjectGraph& graph);

  // Type index of an object (0: untyped).
  uint32_t object_type(uint32_t id) const { return type_[id] & kTypeMask; }
  const TypeInfo& type(uint32_t t) const { return types_[t]; }
  // Display name of an object: "T", "[]T" when it holds several values, "unk<size>" if untyped.
  std::string ObjectTypeName(uint32_t id) const;
  // True when the object holds several values of its type (a slice backing array).
  bool HoldsSeveral(uint32_t id) const { return (type_[id] & kSeveral) != 0; }
  size_t num_types() const { return types_.size(); }
  size_t num_labels() const { return labels_.size(); }

  // Edge labels, parallel to the graph's edge arrays.
  const std::string& edge_label(size_t edge_index) const { return labels_[edge_label_[edge_index]]; }
  const std::string& root_edge_label(size_t root_edge_index) const {
    return labels_[root_edge_label_[root_edge_index]];
  }
  uint32_t edge_label_id(size_t edge_index) const { return edge_label_[edge_index]; }
  // Cache hints for traversals that know which objects and edges they read next.
  void PrefetchObject(uint32_t id) const { __builtin_prefetch(&type_[id]); }
  void PrefetchEdgeLabels(size_t edge_index) const { __builtin_prefetch(&edge_label_[edge_index]); }
  uint32_t root_edge_label_id(size_t i) const { return root_edge_label_[i]; }
  const std::string& label(uint32_t id) const { return labels_[id]; }

  uint64_t typed_bytes = 0, untyped_bytes = 0;  // over reachable objects

 private:
  class Engine;
  friend class Engine;
  Typing() = default;
  std::vector<TypeInfo> types_;
  // Per object: its type index, and in the top bits whether its first value starts after the
  // allocation header (kAfterHeader) and whether it holds several values of its type (kSeveral,
  // set once all types are known). One word, so that propagation reads one array per object.
  static constexpr uint32_t kAfterHeader = uint32_t{1} << 31, kSeveral = uint32_t{1} << 30,
                            kTypeMask = kSeveral - 1;
  std::vector<uint32_t> type_;
  const HeapIndex* heap_ = nullptr;
  std::vector<std::string> labels_;
  std::vector<uint32_t> edge_label_;
  std::vector<uint32_t> root_edge_label_;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_TYPING_H_
