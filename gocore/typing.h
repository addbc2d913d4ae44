// Type inference over the reference graph: every reachable object gets the best Go type we can
// prove for it, and every edge a label (field name, index, $mapkey, $mapval, $chanbuf).
#ifndef GORETAIN_GOCORE_TYPING_H_
#define GORETAIN_GOCORE_TYPING_H_

#include <algorithm>
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
  // Edge labels: a field path ("history", "a.b"), "[i]" or "[i].field" in objects that hold
  // several values (i bucketed: 0..9, 10+), "$mapkey", "$mapval", "$chanbuf", or "" (no type, or
  // no slot there). Computed from the source object's type when asked for (only the edges a
  // tree keeps need one), as ids below label_id_limit(); label(id) spells one out.
  uint32_t EdgeLabelId(uint32_t id, uint32_t offset) const {
    return EdgeLabelIdOfWord(type_[id], offset);
  }
  // Same for an object whose type word (index and flags, as kept per object) is `word`.
  uint32_t EdgeLabelIdOfWord(uint32_t word, uint32_t offset) const {
    const uint32_t ti = word & kTypeMask;
    const LabelLayout& L = label_layouts_[ti];
    const uint64_t base = (word & kAfterHeader) ? header_size_ : 0;
    if (L.size == 0 || offset < base) return 0;
    const uint64_t rel = offset - base;
    const uint32_t slot_label = L.Find(L.single ? rel : rel % L.size);
    if ((word & kSeveral) && !L.map_internal) {
      return slot_label * kLabelVariants + 1 + static_cast<uint32_t>(std::min<uint64_t>(rel / L.size, 10));
    }
    return slot_label * kLabelVariants;
  }
  uint32_t root_edge_label_id(size_t root_edge_index) const {
    return root_edge_label_[root_edge_index] * kLabelVariants;
  }
  uint32_t label_id_limit() const { return static_cast<uint32_t>(labels_.size()) * kLabelVariants; }
  std::string label(uint32_t id) const;
  // ObjectTypeName of an object of `size` bytes whose type word is `word`.
  std::string NameOfWord(uint32_t word, uint64_t size) const;
  // Cache hint for traversals that know which objects they read next.
  void PrefetchObject(uint32_t id) const { __builtin_prefetch(&type_[id]); }

  uint64_t typed_bytes = 0, untyped_bytes = 0;  // over reachable objects

 private:
  class Engine;
  friend class Engine;
  friend class StreamingTyper;
  Typing() = default;
  std::vector<TypeInfo> types_;
  // Per object: its type index, and in the top bits whether its first value starts after the
  // allocation header (kAfterHeader) and whether it holds several values of its type (kSeveral,
  // set once all types are known). One word, so that propagation reads one array per object.
  static constexpr uint32_t kAfterHeader = uint32_t{1} << 31, kSeveral = uint32_t{1} << 30,
                            kTypeMask = kSeveral - 1;
  std::vector<uint32_t> type_;
  const HeapIndex* heap_ = nullptr;
  // Label ids: slot label × kLabelVariants + variant (0: the slot's own label; 1 + i: "[i]"
  // before it, i = 0..10 where 10 stands for 10+).
  static constexpr uint32_t kLabelVariants = 12;
  // Per type: where its pointer slots are and their labels, for EdgeLabelId.
  struct LabelLayout {
    uint64_t size = 0;  // bytes of one value; 0: no layout (every label "")
    bool single = false, map_internal = false;
    std::vector<std::pair<uint32_t, uint32_t>> slots;  // (offset, slot label), by offset
    uint32_t Find(uint64_t offset) const {
      auto it = std::lower_bound(slots.begin(), slots.end(), offset,
                                 [](const auto& s, uint64_t o) { return s.first < o; });
      return it != slots.end() && it->first == offset ? it->second : 0;
    }
  };
  std::vector<LabelLayout> label_layouts_;
  uint64_t header_size_ = 8;
  std::vector<std::string> labels_;  // slot labels; labels_[0] is ""
  std::vector<uint32_t> root_edge_label_;
};

// Types for a traversal that never holds the whole graph (`analyze --low-memory`): Typing's
// rules applied to one edge at a time, as the traversal discovers objects. An object's type
// comes from its heap record if that has a layout, else from the slot of the edge that reached it
// first (so an object first reached from an untyped one stays untyped, where Typing may still
// type it through another edge), else from the record's name. Type words are kept by the caller
// (one uint32 per object it holds); typed and untyped bytes are summed over the targets asked for.
class StreamingTyper {
 public:
  static absl::StatusOr<std::unique_ptr<StreamingTyper>> Create(const Program& program,
                                                                const HeapIndex& heap,
                                                                TypeTable* rtypes,
                                                                const FuncTable& ft);
  ~StreamingTyper();

  // Type word of the object at `target_addr` (its slot start, in `span`, with heap record
  // `recorded`: HeapIndex::RecordedType) that the word at `offset` of `root` points to; the
  // edge's label id in *label_id.
  uint32_t RootTarget(const Root& root, uint32_t offset, uint64_t target_addr, const HeapSpan& span,
                      uint32_t recorded, uint32_t* label_id);
  // Same for the word at `offset` of the object at `source_addr` whose type word is
  // `source_word`; `at_start` when the pointer equals the target's address.
  uint32_t ObjectTarget(uint32_t source_word, uint64_t source_addr, uint32_t offset,
                        bool at_start, uint64_t target_addr, const HeapSpan& span,
                        uint32_t recorded, uint32_t* label_id);
  // ObjectTarget without adding the target's bytes to typed_bytes() or untyped_bytes() (for
  // a walk that asks before it knows whether the target is new): Count them once it is.
  uint32_t ObjectTargetUncounted(uint32_t source_word, uint64_t source_addr, uint32_t offset,
                                 bool at_start, uint64_t target_addr, const HeapSpan& span,
                                 uint32_t recorded, uint32_t* label_id);
  void Count(uint32_t word, uint64_t size);
  // Display name for an object of `size` bytes ("T", "[]T", "unk<size>").
  std::string NameOfWord(uint32_t word, uint64_t size) const;
  std::string label(uint32_t id) const;
  uint32_t type_index(uint32_t word) const { return word & Typing::kTypeMask; }
  bool several(uint32_t word) const { return (word & Typing::kSeveral) != 0; }
  uint32_t MakeWord(uint32_t type_index, bool several) const {
    return type_index | (several ? Typing::kSeveral : 0);
  }
  uint64_t typed_bytes() const;
  uint64_t untyped_bytes() const;

 private:
  StreamingTyper();
  std::unique_ptr<Typing> typing_;
  std::unique_ptr<Typing::Engine> engine_;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_TYPING_H_
