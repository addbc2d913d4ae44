#include "gocore/typing.h"

#include <dwarf.h>

#include <algorithm>
#include <deque>

#include "absl/container/node_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr int kGoKindChan = 18, kGoKindInterface = 20, kGoKindMap = 21,
              kGoKindSlice = 23, kGoKindString = 24;
constexpr size_t kMaxSlotsPerType = 1 << 20;

enum class SlotKind : uint8_t { kPtr, kSlice, kString, kEface, kIface, kFunc, kUnsafe, kChanBuf, kMapDir };

struct Slot {
  uint32_t offset;
  uint32_t label;
  SlotKind kind;
  DieOffset target;  // pointee (kPtr), element (kSlice, kChanBuf), table type (kMapDir)
  // kPtr, kSlice, kChanBuf: the interned type of `target` once known, when it does not depend
  // on the value pointed at (0: not yet, or it does).
  mutable uint32_t target_type = 0;
};

struct Layout {
  std::vector<Slot> slots;  // sorted by offset
  bool map_internal = false;  // buckets, groups, tables: their index labels carry no meaning
};

// The runtime names classic map buckets "map.bucket[K]V"; DWARF calls them "bucket<K,V>".
std::string ClassicBucketName(const std::string& name) {
  const std::string prefix = "map.bucket[";
  if (name.rfind(prefix, 0) != 0) return "";
  int depth = 1;
  for (size_t i = prefix.size(); i < name.size(); i++) {
    if (name[i] == '[') depth++;
    if (name[i] == ']' && --depth == 0) {
      return "bucket<" + name.substr(prefix.size(), i - prefix.size()) + "," + name.substr(i + 1) +
             ">";
    }
  }
  return "";
}

std::string BucketIndex(uint64_t i) { return i < 10 ? absl::StrCat("[", i, "]") : "[10+]"; }

// Text between the first '<' and the matching last '>' of a synthesized DWARF name.
std::string Inner(const std::string& name) {
  size_t a = name.find('<'), b = name.rfind('>');
  return a == std::string::npos || b == std::string::npos || b <= a ? "" : name.substr(a + 1, b - a - 1);
}

}  // namespace

class Typing::Engine {
 public:
  // `roots` and `graph` may be null for a StreamingTyper (Run needs them, Start does not).
  Engine(Typing* out, const Program& p, const HeapIndex& heap, const TypeTable& rtypes,
         const FuncTable& ft, const std::vector<Root>* roots, const ObjectGraph* graph)
      : t_(*out), p_(p), d_(p.dwarf()), mem_(p.mem()), heap_(heap), rtypes_(rtypes), ft_(ft),
        roots_(roots), graph_(graph) {}

  // What every use needs: type 0 (untyped), label 0 (""), and the runtime's layout facts.
  void Start() {
    t_.heap_ = &heap_;
    header_size_ = heap_.layout().malloc_header_size;
    t_.header_size_ = header_size_;
    t_.types_.push_back({});  // 0: untyped
    t_.labels_.push_back("");
    Label("");
    if (auto md = p_.GlobalAddress("runtime.firstmoduledata"); md.ok()) {
      if (auto f = d_.FieldPath("runtime.moduledata", "types"); f.ok()) {
        types_base_ = mem_.ReadU64(*md + f->offset).value_or(0);
      }
    }
    if (auto f = d_.FieldPath("internal/abi.ITab", "Type"); f.ok()) {
      itab_type_ = f->offset;
    } else if (auto f = d_.FieldPath("runtime.itab", "_type"); f.ok()) {
      itab_type_ = f->offset;
    }
    if (auto c = d_.Constant("internal/abi.TFlagDirectIface")) {
      direct_tflag_ = static_cast<uint8_t>(*c);
    } else {
      direct_kind_ = static_cast<uint8_t>(d_.Constant("internal/abi.KindDirectIface").value_or(32));
    }
  }

  absl::Status Run() {
    const ObjectGraph& graph = *graph_;
    const std::vector<Root>& roots = *roots_;
    const size_t n = heap_.num_objects();
    Start();
    t_.type_.assign(n, 0);
    // 1. What the heap records. A record with no DWARF type (a runtime-internal or reflect-made
    //    type: a name without a layout, e.g. a Swiss map's directory, recorded as `*maps.table`)
    //    is kept for last: a type propagated from a root gives the object a layout, so what it
    //    points to is typed too. Until then such an object's word holds only kAfterHeader.
    std::deque<uint32_t> queue;
    std::vector<std::pair<uint32_t, uint32_t>> name_only;  // (object, type) applied after 2.
    for (uint32_t id = 0; id < n; id++) {
      if (!graph.reachable(id)) continue;
      uint32_t rt = heap_.object_type(id);
      if (rt == 0) continue;
      uint32_t ti = FromRuntimeType(rtypes_.Get(rt).addr);
      if (ti == 0) continue;
      const HeapSpan& s = heap_.spans()[heap_.SpanOfObject(id)];
      const uint32_t header = s.layout == PointerLayout::kHeader ? kAfterHeader : 0;
      if (t_.types_[ti].die == 0) {
        t_.type_[id] = header;
        name_only.emplace_back(id, ti);
        continue;
      }
      t_.type_[id] = ti | header;
      queue.push_back(id);
    }
    // 2. Roots, in order, then propagation through typed objects.
    for (uint32_t r = 0; r < roots.size(); r++) {
      if (roots[r].type == 0) continue;
      const Layout& L = LayoutOf(roots[r].type);
      auto edges = graph.RootEdges(r);
      for (const Edge& e : edges) {
        if (const Slot* s = Find(L, e.offset)) {
          Apply(*s, Value{kNoObject, roots[r].addr}, e, /*at_start=*/false, &queue);
        }
      }
    }
    while (!queue.empty()) {
      // Objects further down the queue: ask for their row offsets, then their edges and type
      // words, then their targets' type words, some objects before each is needed (the loop is
      // bound by these random reads).
      constexpr size_t kRowAhead = 32, kEdgeAhead = 16, kTargetAhead = 8, kTargetsPrefetched = 8;
      if (queue.size() > kRowAhead) graph.PrefetchRow(queue[kRowAhead]);
      if (queue.size() > kEdgeAhead) {
        graph.PrefetchEdges(queue[kEdgeAhead]);
        __builtin_prefetch(&t_.type_[queue[kEdgeAhead]]);
      }
      if (queue.size() > kTargetAhead) {
        const auto next = graph.OutEdges(queue[kTargetAhead]);
        for (size_t k = 0; k < next.size() && k < kTargetsPrefetched; k++) {
          __builtin_prefetch(&t_.type_[next[k].target]);
        }
      }
      uint32_t id = queue.front();
      queue.pop_front();
      const uint32_t word = t_.type_[id];
      const uint32_t ti = word & kTypeMask;
      // By value: Apply may add types, and types_ then moves.
      const uint64_t size = t_.types_[ti].size;
      const bool single = t_.types_[ti].single;
      if (t_.types_[ti].die == 0 || size == 0) continue;
      const Layout& L = LayoutOfType(ti);
      const uint64_t base = Base(word);
      const auto edges = graph.OutEdges(id);
      const size_t first = graph.first_edge(id);
      for (size_t k = 0; k < edges.size(); k++) {
        // Objects with many pointers (slices' arrays, map groups): ask for the type words of the
        // targets some edges ahead (the first kTargetsPrefetched were asked for above).
        if (k + kTargetsPrefetched < edges.size()) {
          __builtin_prefetch(&t_.type_[edges[k + kTargetsPrefetched].target]);
        }
        const Edge& e = edges[k];
        if (e.offset < base) continue;
        uint64_t rel = e.offset - base;
        if (!single) rel %= size;
        if (const Slot* s = Find(L, rel)) {
          Apply(*s, Value{id, e.offset - rel}, e, !graph.PointsInside(first + k), &queue);
        }
      }
    }
    for (const auto& [id, ti] : name_only) {
      if ((t_.type_[id] & kTypeMask) == 0) t_.type_[id] |= ti;
    }
    // 3. Labels: each type's slots and their labels, kept for EdgeLabelId (edges are labelled
    //    when a tree asks, not all of them here); root edges, few, labelled now.
    t_.label_layouts_.resize(t_.types_.size());
    for (uint32_t ti = 1; ti < t_.types_.size(); ti++) FillLabelLayout(ti);
    t_.root_edge_label_.clear();
    for (uint32_t r = 0; r < roots.size(); r++) {
      const Layout* L = roots[r].type ? &LayoutOf(roots[r].type) : nullptr;
      for (const Edge& e : graph.RootEdges(r)) {
        const Slot* s = L ? Find(*L, e.offset) : nullptr;
        t_.root_edge_label_.push_back(s ? s->label : 0);
      }
    }
    // Totals, and the "holds several values" flag kept with the type so that later readers need
    // not look up the object's size.
    if (t_.types_.size() > kTypeMask) {
      return absl::ResourceExhaustedError(absl::StrCat(t_.types_.size(), " types: more than 2^30"));
    }
    for (uint32_t id = 0; id < n; id++) {
      if (!graph.reachable(id)) continue;
      const uint64_t size = heap_.object_size(id);
      const uint32_t ti = t_.type_[id] & kTypeMask;
      if (ti == 0) {
        t_.untyped_bytes += size;
        continue;
      }
      t_.typed_bytes += size;
      const TypeInfo& info = t_.types_[ti];
      if (HoldsSeveralValues(info, size, Base(t_.type_[id]))) {
        t_.type_[id] |= kSeveral;
      }
    }
    return absl::OkStatus();
  }

  // For StreamingTyper: the slot of an object whose type word is `word` at byte `offset` of the
  // object (null: untyped, no layout, or no pointer slot there).
  const Slot* SlotAt(uint32_t word, uint64_t offset) {
    const uint32_t ti = word & kTypeMask;
    if (ti == 0) return nullptr;
    const TypeInfo& info = t_.types_[ti];
    if (info.die == 0 || info.size == 0) return nullptr;
    const uint64_t base = Base(word);
    if (offset < base) return nullptr;
    uint64_t rel = offset - base;
    if (!info.single) rel %= info.size;
    return Find(LayoutOfType(ti), rel);
  }
  const Slot* RootSlot(const Root& root, uint64_t offset) {
    return root.type == 0 ? nullptr : Find(LayoutOf(root.type), offset);
  }
  // The type word of an object (at `target_addr`, in `span`, with heap record `recorded`) found
  // through `slot` (null: none) whose word is at `word_addr`: the heap record if it has a layout,
  // else what the slot proves, else the record's name. The same order as Run's.
  uint32_t TargetWord(const Slot* slot, uint64_t word_addr, bool at_start, uint64_t target_addr,
                      const HeapSpan& span, uint32_t recorded) {
    const uint32_t header = span.layout == PointerLayout::kHeader ? kAfterHeader : 0;
    uint32_t ti = 0, name_only = 0;
    if (recorded != 0) {
      ti = FromRuntimeType(rtypes_.Get(recorded).addr);
      if (ti != 0 && t_.types_[ti].die == 0) {
        name_only = ti;
        ti = 0;
      }
    }
    if (ti == 0 && slot != nullptr) {
      ti = InferTarget(
          *slot, at_start, [word_addr] { return word_addr; },
          [&] { return target_addr + Base(header); }, [&] { return target_addr + span.elemsize; });
    }
    if (ti == 0) ti = name_only;
    uint32_t word = ti | header;
    if (ti != 0 && HoldsSeveralValues(t_.types_[ti], span.elemsize, Base(header))) word |= kSeveral;
    return word;
  }
  // The edge label id of a slot of the object's type `word` (after t_.label_layouts_ has the
  // type's layout).
  uint32_t LabelIdOf(uint32_t word, uint64_t offset) {
    const uint32_t ti = word & kTypeMask;
    if (ti >= t_.label_layouts_.size()) t_.label_layouts_.resize(t_.types_.size());
    if (ti != 0 && ti >= label_filled_.size()) label_filled_.resize(t_.types_.size(), false);
    if (ti != 0 && !label_filled_[ti]) {
      label_filled_[ti] = true;
      FillLabelLayout(ti);
    }
    return t_.EdgeLabelIdOfWord(word, offset);
  }
  void CountBytes(uint32_t word, uint64_t size) {
    ((word & kTypeMask) != 0 ? t_.typed_bytes : t_.untyped_bytes) += size;
  }

  // t_.label_layouts_[ti] from the type's slots (label_layouts_ must have room for ti).
  void FillLabelLayout(uint32_t ti) {
    const TypeInfo& info = t_.types_[ti];
    if (info.die == 0 || info.size == 0) return;
    const Layout& L = LayoutOfType(ti);
    Typing::LabelLayout& out = t_.label_layouts_[ti];
    out.size = info.size;
    out.single = info.single;
    out.map_internal = L.map_internal;
    out.slots.reserve(L.slots.size());
    for (const Slot& slot : L.slots) out.slots.emplace_back(slot.offset, slot.label);
  }

 private:
  static constexpr uint32_t kAfterHeader = Typing::kAfterHeader, kSeveral = Typing::kSeveral,
                            kTypeMask = Typing::kTypeMask;
  // Where an object's first value starts, from its type word.
  uint64_t Base(uint32_t type_word) const { return (type_word & kAfterHeader) ? header_size_ : 0; }
  // An object of `object_size` bytes whose values of type `info` start at `base` holds several
  // of them (a slice's backing array) rather than one.
  static bool HoldsSeveralValues(const TypeInfo& info, uint64_t object_size, uint64_t base) {
    return !info.single && info.size > 0 && object_size - base >= 2 * info.size;
  }

  uint32_t Label(const std::string& s) {
    auto [it, fresh] = label_ids_.try_emplace(s, static_cast<uint32_t>(t_.labels_.size()));
    if (fresh) t_.labels_.push_back(s);
    return it->second;
  }

  DieOffset Underlying(DieOffset t) {
    for (int i = 0; i < 16 && d_.Tag(t) == DW_TAG_typedef; i++) {
      auto k = d_.GoKind(t);
      if (k && (*k == kGoKindInterface || *k == kGoKindMap || *k == kGoKindChan)) break;
      auto r = d_.ReferencedType(t);
      if (!r) break;
      t = *r;
    }
    return t;
  }

  // Cached by the DIE asked for and by its underlying DIE: libdw lookups happen once per type,
  // not once per object.
  uint32_t Intern(DieOffset die) {
    if (auto it = by_die_.find(die); it != by_die_.end()) return it->second;
    DieOffset u = Underlying(die);
    uint32_t idx;
    if (auto it = by_die_.find(u); it != by_die_.end()) {
      idx = it->second;
    } else {
      idx = static_cast<uint32_t>(t_.types_.size());
      t_.types_.push_back({d_.TypeName(u), d_.TypeSize(u).value_or(0), u});
      by_die_.emplace(u, idx);
    }
    by_die_.emplace(die, idx);
    return idx;
  }

  uint32_t Synthetic(const std::string& name) {
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    uint32_t idx = static_cast<uint32_t>(t_.types_.size());
    t_.types_.push_back({name, 0, 0});
    by_name_.emplace(name, idx);
    return idx;
  }

  // A closure's type: named after its function, laid out from the function's captured variables
  // (DWARF closure offsets). Its key in layouts_ is a die offset no DWARF entry can have.
  uint32_t Closure(const Func& f) {
    std::string name = "func " + ft_.FuncName(f);
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    DieOffset key = (DieOffset{1} << 62) | f.entry;
    Layout L;
    uint64_t size = 8;
    for (const auto& cv : d_.ClosureVariables(f.entry - p_.bias())) {
      Flatten(cv.type, cv.offset, cv.name, false, 0, &L.slots);
      size = std::max(size, cv.offset + d_.TypeSize(cv.type).value_or(8));
    }
    std::sort(L.slots.begin(), L.slots.end(),
              [](const Slot& a, const Slot& b) { return a.offset < b.offset; });
    layouts_.emplace(key, std::move(L));
    uint32_t idx = static_cast<uint32_t>(t_.types_.size());
    t_.types_.push_back({name, size, key, /*single=*/true});
    by_name_.emplace(name, idx);
    return idx;
  }

  // The DWARF type of a runtime _type, or a synthetic one named like the runtime names it.
  uint32_t FromRuntimeType(uint64_t rtype_addr) {
    if (rtype_addr >= types_base_ && types_base_ != 0) {
      if (auto die = d_.TypeByRuntimeOffset(rtype_addr - types_base_)) return Intern(*die);
    }
    if (auto it = synthetic_rt_.find(rtype_addr); it != synthetic_rt_.end()) return it->second;
    // No DW_AT_go_runtime_type points here: look the name up (map groups are "noalg." in
    // DWARF), else keep the runtime's name without a layout (types made by reflect).
    auto idx = const_cast<TypeTable&>(rtypes_).Intern(rtype_addr);
    uint32_t out = 0;
    if (idx.ok() && !rtypes_.Get(*idx).name.empty()) {
      const std::string& name = rtypes_.Get(*idx).name;
      if (auto die = d_.TypeByName(name)) {
        out = Intern(*die);
      } else if (auto die = d_.TypeByName("noalg." + name)) {
        out = Intern(*die);
      } else if (auto die = d_.TypeByName(ClassicBucketName(name))) {
        out = Intern(*die);
      } else {
        out = Synthetic(name);
      }
    }
    synthetic_rt_.emplace(rtype_addr, out);
    return out;
  }

  // Types whose real layout depends on a tag in the value: sync.Map's HashTrieMap stores
  // *node[K,V] that are entry[K,V] or indirect[K,V] according to node.isEntry. When only one
  // of the two fits between `value_addr` and `object_end` (the end of the object holding it),
  // that one, without reading the tag: the read would be the walk's only access to the target.
  template <typename ObjectEnd>
  DieOffset Refine(DieOffset die, uint64_t value_addr, ObjectEnd&& object_end_fn, bool* tagged) {
    auto [it, fresh] = refine_.try_emplace(die);
    Refinement& r = it->second;
    if (fresh) {
      std::string name = d_.TypeName(Underlying(die));
      const std::string node = "internal/sync.node[";
      auto is_entry = d_.FieldPath(Underlying(die), "isEntry");
      if (absl::StartsWith(name, node) && is_entry.ok()) {
        std::string args = name.substr(node.size());
        r.tagged = true;
        r.tag_offset = is_entry->offset;
        r.when_set = d_.TypeByName("internal/sync.entry[" + args).value_or(die);
        r.when_clear = d_.TypeByName("internal/sync.indirect[" + args).value_or(die);
        r.set_size = d_.TypeSize(r.when_set).value_or(0);
        r.clear_size = d_.TypeSize(r.when_clear).value_or(0);
      }
    }
    *tagged = r.tagged;
    if (!r.tagged) return die;
    if (const uint64_t object_end = object_end_fn();
        value_addr < object_end && r.set_size != 0 && r.clear_size != 0) {
      const uint64_t room = object_end - value_addr;
      const bool set_fits = r.set_size <= room, clear_fits = r.clear_size <= room;
      if (set_fits != clear_fits) return set_fits ? r.when_set : r.when_clear;
    }
    auto b = mem_.ReadU8Far(value_addr + r.tag_offset);  // in the target
    if (!b) return die;
    return *b ? r.when_set : r.when_clear;
  }

  // LayoutOf(types_[ti].die), cached per type index (layouts_ never moves its values).
  const Layout& LayoutOfType(uint32_t ti) {
    if (ti >= layout_of_type_.size()) layout_of_type_.resize(t_.types_.size(), nullptr);
    const Layout*& L = layout_of_type_[ti];
    if (L == nullptr) L = &LayoutOf(t_.types_[ti].die);
    return *L;
  }

  const Layout& LayoutOf(DieOffset die) {
    if (auto it = layouts_.find(die); it != layouts_.end()) return it->second;  // closures
    die = Underlying(die);
    if (auto it = layouts_.find(die); it != layouts_.end()) return it->second;
    Layout L;
    std::string name = d_.TypeName(die);
    L.map_internal = absl::StartsWith(name, "bucket<") || absl::StrContains(name, "map.group[") ||
                     absl::StartsWith(name, "*table<") || absl::StartsWith(name, "table<");
    Flatten(die, 0, "", false, 0, &L.slots);
    std::sort(L.slots.begin(), L.slots.end(),
              [](const Slot& a, const Slot& b) { return a.offset < b.offset; });
    return layouts_.emplace(die, std::move(L)).first->second;
  }

  void Flatten(DieOffset die, uint64_t base, const std::string& prefix, bool map_slot, int depth,
               std::vector<Slot>* out) {
    if (depth > 24 || out->size() > kMaxSlotsPerType) return;
    int tag = d_.Tag(die);
    auto kind = d_.GoKind(die);
    auto add = [&](SlotKind k, DieOffset target) {
      out->push_back({static_cast<uint32_t>(base), Label(prefix), k, target});
    };
    switch (tag) {
      case DW_TAG_pointer_type: {
        auto r = d_.ReferencedType(die);
        add(r ? SlotKind::kPtr : SlotKind::kUnsafe, r.value_or(0));
        return;
      }
      case DW_TAG_subroutine_type:
        add(SlotKind::kFunc, 0);
        return;
      case DW_TAG_typedef: {
        auto r = d_.ReferencedType(die);
        if (!r) return;
        if (kind && *kind == kGoKindInterface) {
          std::string under = d_.TypeName(*r);
          // The data word; the type word points at static type data.
          out->push_back({static_cast<uint32_t>(base + 8), Label(prefix),
                          under == "runtime.eface" ? SlotKind::kEface : SlotKind::kIface, 0});
          return;
        }
        Flatten(*r, base, prefix, map_slot, depth + 1, out);
        return;
      }
      case DW_TAG_structure_type: {
        if (kind && *kind == kGoKindString) {
          add(SlotKind::kString, 0);
          return;
        }
        if (kind && *kind == kGoKindSlice) {
          const auto& fields = d_.StructFields(die);
          DieOffset elem = 0;
          if (!fields.empty()) elem = d_.ReferencedType(fields[0].type).value_or(0);
          add(SlotKind::kSlice, elem);
          return;
        }
        std::string sname = d_.TypeName(die);
        bool bucket = absl::StartsWith(sname, "bucket<");
        bool group_slot = absl::StartsWith(sname, "noalg.struct { key ");
        bool hchan = absl::StartsWith(sname, "hchan<");
        bool swiss_map = absl::StartsWith(sname, "map<");
        // sync/atomic.Pointer[T]{_ [0]*T; _ noCopy; v unsafe.Pointer}: v points to a T.
        DieOffset atomic_target = 0;
        if (absl::StartsWith(sname, "sync/atomic.Pointer[")) {
          for (const auto& f : d_.StructFields(die)) {
            auto arr = d_.ArrayInfo(f.type);
            if (f.name == "_" && arr && arr->second == 0) {
              atomic_target = d_.ReferencedType(arr->first).value_or(0);
            }
          }
        }
        for (const auto& f : d_.StructFields(die)) {
          std::string label = prefix.empty() ? f.name : prefix + "." + f.name;
          bool in_map = false;
          if ((bucket && f.name == "keys") || (group_slot && f.name == "key")) {
            label = "$mapkey";
            in_map = true;
          } else if ((bucket && (f.name == "values" || f.name == "elems")) ||
                     (group_slot && f.name == "elem")) {
            label = "$mapval";
            in_map = true;
          } else if (absl::StrContains(sname, "map.group[") && f.name == "slots") {
            label = prefix;
            in_map = true;
          }
          if (atomic_target != 0 && f.name == "v") {
            out->push_back({static_cast<uint32_t>(base + f.offset), Label(label), SlotKind::kPtr,
                            atomic_target});
            continue;
          }
          if (hchan && f.name == "buf") {
            auto elem = d_.TypeByName(Inner(sname));
            out->push_back({static_cast<uint32_t>(base + f.offset), Label("$chanbuf"),
                            SlotKind::kChanBuf, elem.value_or(0)});
            continue;
          }
          if (swiss_map && f.name == "dirPtr") {
            auto table = d_.TypeByName("table<" + Inner(sname) + ">");
            out->push_back({static_cast<uint32_t>(base + f.offset), Label(label),
                            SlotKind::kMapDir, table.value_or(0)});
            continue;
          }
          Flatten(f.type, base + f.offset, label, in_map, depth + 1, out);
        }
        return;
      }
      case DW_TAG_array_type: {
        auto info = d_.ArrayInfo(die);
        if (!info || info->second <= 0) return;
        uint64_t esize = d_.TypeSize(info->first).value_or(0);
        if (esize == 0) return;
        size_t before = out->size();
        for (int64_t i = 0; i < info->second && out->size() <= kMaxSlotsPerType; i++) {
          std::string label = map_slot ? prefix : prefix + BucketIndex(i);
          Flatten(info->first, base + i * esize, label, false, depth + 1, out);
          if (i == 0 && out->size() == before) return;  // element has no pointers
        }
        return;
      }
      default:
        return;
    }
  }

  static const Slot* Find(const Layout& L, uint64_t offset) {
    auto it = std::lower_bound(L.slots.begin(), L.slots.end(), offset,
                               [](const Slot& s, uint64_t o) { return s.offset < o; });
    if (it == L.slots.end() || it->offset != offset) return nullptr;
    return &*it;
  }

  // Where the value holding a slot starts: `offset` bytes into heap object `object`, or at
  // address `offset` when object is kNoObject (roots). The object's address is looked up only
  // when the value has to be read.
  static constexpr uint32_t kNoObject = ~uint32_t{0};
  struct Value {
    uint32_t object;
    uint64_t offset;
  };
  uint64_t AddressOf(const Value& v) const {
    return v.object == kNoObject ? v.offset : heap_.object_addr(v.object) + v.offset;
  }

  // Types the object `e.target` from slot `s` of `value`. `at_start`: the graph saw that the
  // pointer equals the target's address, so a pointer, slice or channel slot whose target type
  // is already known needs no read of the pointer, nor of the target's address.
  void Apply(const Slot& s, const Value& value, const Edge& e, bool at_start,
             std::deque<uint32_t>* queue) {
    const uint32_t target = e.target;
    // Untyped, or a heap record without a layout (its word holds at most kAfterHeader).
    const uint32_t header = t_.type_[target];
    if ((header & kTypeMask) != 0) return;
    const uint32_t ti = InferTarget(
        s, at_start, [&] { return AddressOf(value) + s.offset; },
        [&] { return heap_.object_addr(target) + Base(header); },
        [&] { return heap_.object_addr(target) + heap_.object_size(target); });
    if (ti == 0) return;
    t_.type_[target] = ti | header;
    queue->push_back(target);
  }

 public:
  // The type slot `s` proves for the object it points to (0: none). `word_addr()` is the
  // address of the slot's word, `target_value()` that of the target's first value (its address
  // past any allocation header), `target_end()` where the target object ends; each is asked for
  // only when needed. `at_start` as for Apply.
  template <typename WordAddr, typename TargetValue, typename TargetEnd>
  uint32_t InferTarget(const Slot& s, bool at_start, WordAddr&& word_addr_fn,
                       TargetValue&& target_value, TargetEnd&& target_end) {
    if (at_start && s.target_type != 0 &&
        (s.kind == SlotKind::kPtr || s.kind == SlotKind::kSlice || s.kind == SlotKind::kChanBuf)) {
      return t_.types_[s.target_type].size == 0 ? 0 : s.target_type;
    }
    return InferAt(s, at_start, word_addr_fn(), target_value, target_end);
  }

 private:
  template <typename TargetValue, typename TargetEnd>
  uint32_t InferAt(const Slot& s, bool at_start, const uint64_t word_addr,
                   TargetValue& target_value, TargetEnd& target_end) {
    uint64_t v = mem_.ReadU64(word_addr).value_or(0);
    // The target's address: where the graph saw the pointer at the target's first byte, the
    // pointer itself (word_addr is the edge's word), which spares the index's random reads.
    uint64_t obj = at_start && v != 0 ? v : target_value();
    uint32_t ti = 0;
    DieOffset value_type = 0;  // type of the value v points at
    switch (s.kind) {
      case SlotKind::kPtr:
      case SlotKind::kSlice:
      case SlotKind::kChanBuf:
        if (s.target_type != 0) {
          ti = s.target_type;
          const uint64_t size = t_.types_[ti].size;
          if (size == 0 || v < obj || (v - obj) % size != 0) return 0;
        } else {
          value_type = s.target;
        }
        break;
      case SlotKind::kString:
        if (string_type_ == 0) string_type_ = Synthetic("string");
        ti = string_type_;
        break;
      case SlotKind::kFunc: {
        uint64_t pc = mem_.ReadU64Far(v).value_or(0);  // in the target
        if (auto f = ft_.FindFunc(pc)) ti = Closure(*f);
        if (ti == 0 || v != obj) return 0;
        return ti;
      }
      case SlotKind::kMapDir: {
        // Swiss map: dirLen (the next word) == 0 means dirPtr is one group, else an array of
        // *table.
        uint64_t dir_len = mem_.ReadU64(word_addr + 8).value_or(0);
        if (s.target == 0) break;
        if (dir_len == 0) {
          auto groups = d_.FieldPath(s.target, "groups.data");
          if (groups.ok()) value_type = d_.ReferencedType(groups->type).value_or(0);
        } else {
          value_type = d_.TypeByName("*" + d_.TypeName(s.target)).value_or(0);
        }
        break;
      }
      case SlotKind::kEface:
      case SlotKind::kIface: {
        uint64_t tw = mem_.ReadU64(word_addr - 8).value_or(0);
        if (tw == 0) break;
        uint64_t rt = s.kind == SlotKind::kEface ? tw : mem_.ReadU64(tw + itab_type_).value_or(0);
        if (rt == 0) break;
        uint32_t dyn = FromRuntimeType(rt);
        if (dyn == 0) break;
        bool direct = false;
        if (auto idx = const_cast<TypeTable&>(rtypes_).Intern(rt); idx.ok()) {
          const RuntimeType& r = rtypes_.Get(*idx);
          direct = direct_tflag_ ? (r.tflag & direct_tflag_) != 0 : (r.kind_raw & direct_kind_) != 0;
        }
        if (!direct) {
          ti = dyn;
        } else if (DieOffset die = t_.types_[dyn].die) {
          // The data word is the value itself (a pointer-shaped type): type what it points at.
          const Layout& L = LayoutOf(die);
          if (const Slot* inner = Find(L, 0)) {
            return InferAt(*inner, /*at_start=*/false, word_addr, target_value, target_end);
          }
          return 0;
        }
        break;
      }
      case SlotKind::kUnsafe:
        return 0;
    }
    if (value_type != 0) {
      bool tagged = false;
      uint32_t vt = Intern(Refine(value_type, v, target_end, &tagged));
      if (!tagged && (s.kind == SlotKind::kPtr || s.kind == SlotKind::kSlice ||
                      s.kind == SlotKind::kChanBuf)) {
        s.target_type = vt;
      }
      uint64_t size = t_.types_[vt].size;
      if (size == 0 || v < obj || (v - obj) % size != 0) return 0;
      ti = vt;
    }
    return ti;
  }

 private:
  Typing& t_;
  const Program& p_;
  const DwarfInfo& d_;
  const AddressSpace& mem_;
  const HeapIndex& heap_;
  const TypeTable& rtypes_;
  const FuncTable& ft_;
  const std::vector<Root>* roots_;
  const ObjectGraph* graph_;
  uint64_t types_base_ = 0, itab_type_ = 8;
  uint8_t direct_tflag_ = 0, direct_kind_ = 32;
  absl::flat_hash_map<DieOffset, uint32_t> by_die_;
  struct Refinement {
    bool tagged = false;
    uint64_t tag_offset = 0;
    DieOffset when_set = 0, when_clear = 0;
    uint64_t set_size = 0, clear_size = 0;  // 0: unknown
  };
  absl::flat_hash_map<DieOffset, Refinement> refine_;
  absl::flat_hash_map<std::string, uint32_t> by_name_;
  absl::flat_hash_map<uint64_t, uint32_t> synthetic_rt_;
  absl::flat_hash_map<std::string, uint32_t> label_ids_;
  // Node-based: Layout references stay valid while new layouts are added during propagation.
  absl::node_hash_map<DieOffset, Layout> layouts_;
  std::vector<const Layout*> layout_of_type_;
  std::vector<bool> label_filled_;  // StreamingTyper: label_layouts_ filled per type
  uint32_t string_type_ = 0;
  uint64_t header_size_ = 8;
};

absl::StatusOr<std::unique_ptr<Typing>> Typing::Infer(const Program& program, const HeapIndex& heap,
                                                      const TypeTable& rtypes, const FuncTable& ft,
                                                      const std::vector<Root>& roots,
                                                      const ObjectGraph& graph) {
  std::unique_ptr<Typing> t(new Typing);
  Engine e(t.get(), program, heap, rtypes, ft, &roots, &graph);
  RETURN_IF_ERROR(e.Run());
  return t;
}

std::string Typing::label(uint32_t id) const {
  const std::string& inner = labels_[id / kLabelVariants];
  const uint32_t variant = id % kLabelVariants;
  if (variant == 0) return inner;
  const std::string index = BucketIndex(variant - 1);
  return inner.empty() ? index : index + "." + inner;
}

std::string Typing::ObjectTypeName(uint32_t id) const {
  return NameOfWord(type_[id], heap_->object_size(id));
}

std::string Typing::NameOfWord(uint32_t word, uint64_t size) const {
  const uint32_t ti = word & kTypeMask;
  if (ti == 0) return absl::StrCat("unk", size);
  if (word & kSeveral) return "[]" + types_[ti].name;
  return types_[ti].name;
}

StreamingTyper::StreamingTyper() = default;
StreamingTyper::~StreamingTyper() = default;

absl::StatusOr<std::unique_ptr<StreamingTyper>> StreamingTyper::Create(const Program& program,
                                                                       const HeapIndex& heap,
                                                                       TypeTable* rtypes,
                                                                       const FuncTable& ft) {
  std::unique_ptr<StreamingTyper> st(new StreamingTyper);
  st->typing_.reset(new Typing);
  st->engine_ = std::make_unique<Typing::Engine>(st->typing_.get(), program, heap, *rtypes, ft,
                                                 nullptr, nullptr);
  st->engine_->Start();
  return st;
}

uint32_t StreamingTyper::RootTarget(const Root& root, uint32_t offset, uint64_t target_addr,
                                    const HeapSpan& span, uint32_t recorded, uint32_t* label_id) {
  Typing::Engine& e = *engine_;
  const auto* slot = e.RootSlot(root, offset);
  *label_id = slot == nullptr ? 0 : slot->label * Typing::kLabelVariants;
  // As in Typing: a root's slot never counts as pointing at its target's start.
  const uint32_t word =
      e.TargetWord(slot, root.addr + offset, /*at_start=*/false, target_addr, span, recorded);
  e.CountBytes(word, span.elemsize);
  return word;
}

uint32_t StreamingTyper::ObjectTarget(uint32_t source_word, uint64_t source_addr, uint32_t offset,
                                      bool at_start, uint64_t target_addr, const HeapSpan& span,
                                      uint32_t recorded, uint32_t* label_id) {
  const uint32_t word = ObjectTargetUncounted(source_word, source_addr, offset, at_start,
                                              target_addr, span, recorded, label_id);
  Count(word, span.elemsize);
  return word;
}

uint32_t StreamingTyper::ObjectTargetUncounted(uint32_t source_word, uint64_t source_addr,
                                               uint32_t offset, bool at_start,
                                               uint64_t target_addr, const HeapSpan& span,
                                               uint32_t recorded, uint32_t* label_id) {
  Typing::Engine& e = *engine_;
  *label_id = e.LabelIdOf(source_word, offset);
  const auto* slot = e.SlotAt(source_word, offset);
  return e.TargetWord(slot, source_addr + offset, at_start, target_addr, span, recorded);
}

void StreamingTyper::Count(uint32_t word, uint64_t size) { engine_->CountBytes(word, size); }

std::string StreamingTyper::NameOfWord(uint32_t word, uint64_t size) const {
  return typing_->NameOfWord(word, size);
}
std::string StreamingTyper::label(uint32_t id) const { return typing_->label(id); }
uint64_t StreamingTyper::typed_bytes() const { return typing_->typed_bytes; }
uint64_t StreamingTyper::untyped_bytes() const { return typing_->untyped_bytes; }

}  // namespace goretain::gocore
