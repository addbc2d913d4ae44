// The heap index: every in-use span and every allocated object of a Go heap, with the pointer
// bits the garbage collector would use for it.
#ifndef GORETAIN_GOCORE_HEAP_H_
#define GORETAIN_GOCORE_HEAP_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gocore/program.h"
#include "gocore/rtype.h"

namespace goretain::gocore {

// Where an object's pointer bits come from (see docs/formats/go-heap.md).
enum class PointerLayout : uint8_t {
  kNoScan,       // noscan span: no pointers
  kSpanBits,     // elemsize <= 512: bitmap at the end of the span
  kHeader,       // 512 < elemsize, small: *_type in the slot's first word, tiled after it
  kLargeType,    // large object: span.largeType tiled from the base (nil: no pointers yet)
};

struct HeapSpan {
  uint64_t base = 0;
  uint64_t npages = 0;
  uint64_t elemsize = 0;
  uint32_t nelems = 0;
  uint32_t first_object = 0;  // index of its first object in the object arrays
  uint32_t num_objects = 0;
  uint8_t spanclass = 0;
  PointerLayout layout = PointerLayout::kNoScan;
  uint32_t large_type = 0;       // TypeTable index for large spans (0: none)
  uint64_t heap_bits_addr = 0;   // kSpanBits: address of the span's pointer bitmap
  uint64_t mspan = 0;            // address of the runtime.mspan record (specials hang off it)
  uint32_t bits_offset = 0;      // first word of the span's allocation bits in alloc_words_
  uint32_t div_mul = 0;          // ⌈2^32 / elemsize⌉: slot = (offset * div_mul) >> 32 (small)

  // The slot addr falls in, for an address of the span's objects (no division).
  uint64_t SlotOf(uint64_t addr) const { return nelems == 1 ? 0 : ((addr - base) * div_mul) >> 32; }
  uint8_t sizeclass() const { return spanclass >> 1; }
  bool noscan() const { return spanclass & 1; }
};

struct HeapLayoutInfo {
  uint64_t page_size = 8192;
  uint64_t min_size_for_malloc_header = 512;
  uint64_t malloc_header_size = 8;
  uint64_t inline_mark_bits_size = 0;  // Green Tea: 128, else 0
  bool green_tea = false;
};

// Built once from a Program; immutable afterwards and safe for concurrent readers.
// Object ids are dense uint32 in address order. Memory: 10 bytes per object (span index, slot,
// type), about 1.1 bits per slot (allocation bits and their ranks) plus per span.
class HeapIndex {
 public:
  // Reads mheap_.allspans. Unusable input (no mheap_, unreadable span list) is an error; damage
  // local to a span (implausible fields, unreadable alloc bits) is counted in `damage` and the
  // span skipped.
  //
  // With `per_object` false, the index keeps only spans, allocation bits and page tables (about
  // 1.1 bits per slot): object ids, FindObjectRef and VisitPointersAt work, the per-object
  // accessors (object_addr, object_size, object_type, SpanOfObject, VisitPointers) do not, and
  // types recorded in allocation headers are read when asked for (RecordedType).
  static absl::StatusOr<std::unique_ptr<HeapIndex>> Build(const Program& program,
                                                          TypeTable* types,
                                                          DamageCounters* damage,
                                                          bool per_object = true);

  size_t num_objects() const { return num_objects_; }
  uint64_t object_addr(uint32_t id) const {
    const HeapSpan& s = spans_[span_[id]];
    return s.base + uint64_t{slot_[id]} * s.elemsize;
  }
  uint64_t object_size(uint32_t id) const { return spans_[span_[id]].elemsize; }
  // TypeTable index of the type the heap records for the object (header or largeType); 0 if none.
  uint32_t object_type(uint32_t id) const { return type_[id]; }
  uint32_t SpanOfObject(uint32_t id) const { return span_[id]; }
  const std::vector<HeapSpan>& spans() const { return spans_; }
  const HeapLayoutInfo& layout() const { return layout_; }

  // The object containing addr (interior pointers resolve to their object), if any. O(1).
  // With `interior`, also how far into the object addr points (0: at its first byte).
  std::optional<uint32_t> FindObject(uint64_t addr, uint64_t* interior = nullptr) const {
    uint64_t in = 0;
    auto ref = FindObjectRefInSpan(SpanAt(addr), addr, &in);
    if (!ref) return std::nullopt;
    if (interior != nullptr) *interior = in;
    return ref->id;
  }

  // FindObject's answer with where the object is: its span (index in spans()) and address.
  struct ObjectRef {
    uint32_t id;
    uint32_t span;
    uint64_t addr;
  };
  std::optional<ObjectRef> FindObjectRef(uint64_t addr, uint64_t* interior) const {
    return FindObjectRefInSpan(SpanAt(addr), addr, interior);
  }
  // Same, given what PrefetchSpanRecord(addr) returned.
  __attribute__((always_inline)) std::optional<ObjectRef> FindObjectRefInSpan(
      uint32_t si, uint64_t addr, uint64_t* interior) const {
    if (si == 0) return std::nullopt;
    const HeapSpan& s = spans_[si - 1];
    uint64_t off = addr - s.base;
    uint64_t slot = s.SlotOf(addr);
    if (slot >= s.nelems || off >= s.elemsize * s.nelems) return std::nullopt;
    uint32_t w = s.bits_offset + static_cast<uint32_t>(slot >> 6);
    uint64_t word = alloc_words_[w];
    uint64_t bit = uint64_t{1} << (slot & 63);
    if ((word & bit) == 0) return std::nullopt;
    *interior = off - slot * s.elemsize;
    return ObjectRef{
        s.first_object + alloc_rank_[w] + static_cast<uint32_t>(__builtin_popcountll(word & (bit - 1))),
        si - 1, s.base + slot * s.elemsize};
  }
  // Cache hints for a traversal that knows which objects it scans next: the page table entry of
  // addr first, then (once that is in cache) its span record and the object's first bytes.
  void PrefetchPageEntry(uint64_t addr) const {
    const uint64_t page = addr >> page_shift_;
    const uint64_t arena = page >> arena_shift_;
    if (arena - arena_min_ < arenas_.size() && arenas_[arena - arena_min_]) {
      __builtin_prefetch(&arenas_[arena - arena_min_][page & (pages_per_arena_ - 1)]);
    }
  }
  void PrefetchObject(uint64_t addr) const {
    const uint32_t si = SpanAt(addr);
    if (si == 0) return;
    const HeapSpan& s = spans_[si - 1];
    __builtin_prefetch(&s);
    if (const uint8_t* p = program_.mem().Ptr(addr, 8)) __builtin_prefetch(p);
    if (s.layout == PointerLayout::kSpanBits) {
      if (const uint8_t* b = program_.mem().Ptr(s.heap_bits_addr + (addr - s.base) / 64, 1)) {
        __builtin_prefetch(b);
      }
    }
  }
  // For FindObjectRef of a pointer whose page table entry was asked for: the span record, then
  // (with the returned span index + 1) the allocation bits and their rank.
  uint32_t PrefetchSpanRecord(uint64_t addr) const {
    const uint32_t si = SpanAt(addr);
    if (si != 0) __builtin_prefetch(&spans_[si - 1]);
    return si;
  }
  void PrefetchAllocBits(uint32_t span_plus_1, uint64_t addr) const {
    const HeapSpan& s = spans_[span_plus_1 - 1];
    const uint64_t slot = s.SlotOf(addr);
    if (slot >= s.nelems) return;
    const uint32_t w = s.bits_offset + static_cast<uint32_t>(slot >> 6);
    __builtin_prefetch(&alloc_words_[w]);
    __builtin_prefetch(&alloc_rank_[w]);
  }
  // The in-use span holding addr's page, if any.
  const HeapSpan* SpanOf(uint64_t addr) const {
    const uint32_t si = SpanAt(addr);
    return si == 0 ? nullptr : &spans_[si - 1];
  }
  // The type the heap records for the object at `addr` of span `s` (its allocation header or the
  // span's largeType), as a TypeTable index; 0 if none. Without per-object arrays it is read from
  // the core and interned in the TypeTable given to Build (not thread-safe then); damaged headers
  // are counted in `damage`.
  // With `far`, the header is read with AddressSpace::ReadFar.
  uint32_t RecordedType(const HeapSpan& s, uint64_t addr, DamageCounters* damage,
                        bool far = false) const;
  uint32_t RecordedType(const ObjectRef& o, DamageCounters* damage, bool far = false) const {
    return per_object_ ? type_[o.id] : RecordedType(spans_[o.span], o.addr, damage, far);
  }

  // Calls fn(offset, value) for every pointer word of the object whose value is non-zero; offset
  // is from the object's address (the slot start, header included).
  void ForEachPointer(uint32_t id, const std::function<void(uint64_t, uint64_t)>& fn) const {
    VisitPointers(id, fn);
  }
  // Same, inlined for hot loops (marking, graph building).
  template <typename Fn>
  void VisitPointers(uint32_t id, Fn&& fn) const {
    const HeapSpan& s = spans_[span_[id]];
    VisitPointersAt(s, s.base + uint64_t{slot_[id]} * s.elemsize, type_[id], fn);
  }
  // Same for the object at `a` in span `s` whose recorded type is `recorded_type`
  // (RecordedType; only read for header and large-type spans). In objects larger than
  // `chunk_bytes`, calls chunk() after each such stretch scanned (to give pages back).
  static constexpr uint64_t kNoChunks = ~uint64_t{0};
  template <typename Fn, typename Chunk = void (*)()>
  void VisitPointersAt(const HeapSpan& s, uint64_t a, uint32_t recorded_type, Fn&& fn,
                       uint64_t chunk_bytes = kNoChunks, Chunk&& chunk = [] {}) const;

  uint64_t total_bytes() const { return total_bytes_; }
  // Bytes this index holds (object arrays, allocation bits and ranks, spans, page tables).
  uint64_t MemoryBytes() const {
    uint64_t b = span_.capacity() * 4 + slot_.capacity() * 2 + type_.capacity() * 4 +
                 alloc_words_.capacity() * 8 + alloc_rank_.capacity() * 4 +
                 spans_.capacity() * sizeof(HeapSpan);
    for (const auto& a : arenas_) b += a ? pages_per_arena_ * 4 : 0;
    return b + far_arenas_.size() * pages_per_arena_ * 4;
  }

 private:
  HeapIndex(const Program& p, TypeTable* t) : program_(p), types_(*t), types_mut_(t) {}
  absl::Status Load(TypeTable* types, DamageCounters* damage);
  // Calls fn(slot) for each allocated slot of span s, in slot order.
  template <typename Fn>
  void ForEachAllocatedSlot(const HeapSpan& s, Fn fn) const;
  // Index + 1 of the in-use span holding addr's page; 0 if none.
  __attribute__((always_inline)) uint32_t SpanAt(uint64_t addr) const {
    const uint64_t page = addr >> page_shift_;
    const uint64_t arena = page >> arena_shift_;
    const uint32_t* pages;
    if (arena - arena_min_ < arenas_.size()) {
      pages = arenas_[arena - arena_min_].get();
    } else {
      auto it = far_arenas_.find(arena);
      pages = it == far_arenas_.end() ? nullptr : it->second.get();
    }
    return pages == nullptr ? 0 : pages[page & (pages_per_arena_ - 1)];
  }

  const Program& program_;
  const TypeTable& types_;
  TypeTable* types_mut_;  // for RecordedType without per-object arrays
  HeapLayoutInfo layout_;
  std::vector<HeapSpan> spans_;       // sorted by base
  std::vector<uint32_t> span_;        // per object: its span
  std::vector<uint16_t> slot_;        // per object: its slot in the span
  std::vector<uint32_t> type_;        // per object
  std::vector<uint64_t> alloc_words_; // per span, ⌈nelems/64⌉ words: bit n = slot n allocated
  std::vector<uint32_t> alloc_rank_;  // per word: allocated slots of the span before it
  // Page -> span lookup: per 64 MiB arena, span index + 1 for each page (0: no in-use span).
  // Arenas near the heap's lowest one are in a table; stray ones in a map.
  uint64_t arena_min_ = 0;
  std::vector<std::unique_ptr<uint32_t[]>> arenas_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<uint32_t[]>> far_arenas_;
  uint64_t pages_per_arena_ = 8192;
  // log2 of the page size and of pages_per_arena_ (both powers of two): the lookups shift, as a
  // division by a value read at run time costs tens of cycles.
  unsigned page_shift_ = 13, arena_shift_ = 13;
  uint64_t total_bytes_ = 0;
  size_t num_objects_ = 0;
  bool per_object_ = true;
};

template <typename Fn, typename Chunk>
void HeapIndex::VisitPointersAt(const HeapSpan& s, uint64_t a, uint32_t recorded_type, Fn&& fn,
                                uint64_t chunk_bytes, Chunk&& chunk) const {
  const AddressSpace& mem = program_.mem();
  // The object's bytes, when contiguous in one mapping (almost always).
  const uint8_t* data = mem.Ptr(a, s.elemsize);
  auto word = [&](uint64_t off) -> uint64_t {
    uint64_t v = 0;
    if (data != nullptr) {
      std::memcpy(&v, data + off, 8);
    } else {
      v = mem.ReadU64(a + off).value_or(0);
    }
    return v;
  };
  switch (s.layout) {
    case PointerLayout::kNoScan:
      return;
    case PointerLayout::kSpanBits: {
      const uint64_t words = s.elemsize / 8;
      const uint64_t first_bit = (a - s.base) / 8;
      const uint8_t* bits = mem.Ptr(s.heap_bits_addr + first_bit / 8, (first_bit % 8 + words + 7) / 8);
      for (uint64_t w = 0; w < words; w++) {
        const uint64_t bit = first_bit + w;
        uint8_t byte;
        if (bits != nullptr) {
          byte = bits[bit / 8 - first_bit / 8];
        } else if (auto b = mem.ReadU8(s.heap_bits_addr + bit / 8)) {
          byte = *b;
        } else {
          continue;
        }
        if ((byte >> (bit % 8)) & 1) {
          if (uint64_t v = word(w * 8)) fn(w * 8, v);
        }
      }
      return;
    }
    case PointerLayout::kHeader:
    case PointerLayout::kLargeType: {
      const uint32_t ti = recorded_type;
      if (ti == 0) return;
      const RuntimeType& t = types_.Get(ti);
      if (t.ptr_bytes == 0 || t.size == 0) return;
      const uint64_t start = s.layout == PointerLayout::kHeader ? layout_.malloc_header_size : 0;
      const uint64_t pwords = t.ptr_bytes / 8;
      uint64_t chunk_start = start;
      for (uint64_t e = start; e + 8 <= s.elemsize; e += t.size) {
        if (e - chunk_start >= chunk_bytes) {
          chunk();
          chunk_start = e;
        }
        for (uint64_t w = 0; w < pwords && e + w * 8 + 8 <= s.elemsize; w++) {
          if (t.IsPointerWord(w)) {
            if (uint64_t v = word(e + w * 8)) fn(e + w * 8, v);
          }
        }
      }
      return;
    }
  }
}

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_HEAP_H_
