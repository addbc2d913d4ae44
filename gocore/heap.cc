#include "gocore/heap.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr uint64_t kArenaBytes = uint64_t{64} << 20;

// mspan field offsets and widths, from DWARF by name.
struct SpanFields {
  uint64_t size = 0;
  DwarfInfo::FieldRef start_addr, npages, freeindex, nelems, alloc_bits, spanclass, state,
      elemsize, large_type;
  uint64_t in_use = 1, dead = 0, manual = 2;
};

uint64_t ReadField(const uint8_t* rec, const DwarfInfo::FieldRef& f) {
  uint64_t v = 0;
  std::memcpy(&v, rec + f.offset, std::min<uint64_t>(f.size ? f.size : 8, 8));
  return v;
}

}  // namespace

template <typename Fn>
void HeapIndex::ForEachAllocatedSlot(const HeapSpan& s, Fn fn) const {
  const uint32_t nw = (s.nelems + 63) / 64;
  for (uint32_t k = 0; k < nw; k++) {
    for (uint64_t w = alloc_words_[s.bits_offset + k]; w != 0; w &= w - 1) {
      fn(k * 64 + static_cast<uint32_t>(__builtin_ctzll(w)));
    }
  }
}

absl::StatusOr<std::unique_ptr<HeapIndex>> HeapIndex::Build(const Program& program,
                                                            TypeTable* types,
                                                            DamageCounters* damage,
                                                            bool per_object) {
  std::unique_ptr<HeapIndex> h(new HeapIndex(program, types));
  h->per_object_ = per_object;
  RETURN_IF_ERROR(h->Load(types, damage));
  return h;
}

absl::Status HeapIndex::Load(TypeTable* types, DamageCounters* damage) {
  const DwarfInfo& d = program_.dwarf();
  const AddressSpace& mem = program_.mem();
  ASSIGN_OR_RETURN(int64_t page_size, program_.Constant("runtime._PageSize", "runtime.pageSize"));
  if (page_size <= 0 || uint64_t(page_size) > kArenaBytes || (page_size & (page_size - 1)) != 0) {
    return absl::DataLossError(
        absl::StrFormat("runtime page size %d is not a power of two up to 64 MiB", page_size));
  }
  layout_.page_size = static_cast<uint64_t>(page_size);
  pages_per_arena_ = kArenaBytes / layout_.page_size;
  page_shift_ = static_cast<unsigned>(__builtin_ctzll(layout_.page_size));
  arena_shift_ = static_cast<unsigned>(__builtin_ctzll(pages_per_arena_));
  ASSIGN_OR_RETURN(int64_t min_hdr, program_.Constant("runtime.minSizeForMallocHeader",
                                                      "internal/runtime/gc.MinSizeForMallocHeader"));
  layout_.min_size_for_malloc_header = static_cast<uint64_t>(min_hdr);
  ASSIGN_OR_RETURN(int64_t hdr, program_.Constant("runtime.mallocHeaderSize",
                                                  "internal/runtime/gc.MallocHeaderSize"));
  layout_.malloc_header_size = static_cast<uint64_t>(hdr);
  // Green Tea is a build-time choice; its per-span inline mark bits have a DWARF type whose size
  // is 128 when the experiment is on and 0 (or absent) when it is off.
  if (auto s = d.SizeOf("runtime.spanInlineMarkBits"); s.ok()) {
    layout_.inline_mark_bits_size = *s;
    layout_.green_tea = *s > 0;
  }

  SpanFields sf;
  ASSIGN_OR_RETURN(sf.size, d.SizeOf("runtime.mspan"));
  ASSIGN_OR_RETURN(sf.start_addr, d.FieldPath("runtime.mspan", "startAddr"));
  ASSIGN_OR_RETURN(sf.npages, d.FieldPath("runtime.mspan", "npages"));
  ASSIGN_OR_RETURN(sf.freeindex, d.FieldPath("runtime.mspan", "freeindex"));
  ASSIGN_OR_RETURN(sf.nelems, d.FieldPath("runtime.mspan", "nelems"));
  ASSIGN_OR_RETURN(sf.alloc_bits, d.FieldPath("runtime.mspan", "allocBits"));
  ASSIGN_OR_RETURN(sf.spanclass, d.FieldPath("runtime.mspan", "spanclass"));
  ASSIGN_OR_RETURN(sf.state, d.FieldPath("runtime.mspan", "state"));
  sf.state.size = 1;  // mSpanStateBox{s atomic.Uint8}: one byte
  ASSIGN_OR_RETURN(sf.elemsize, d.FieldPath("runtime.mspan", "elemsize"));
  ASSIGN_OR_RETURN(sf.large_type, d.FieldPath("runtime.mspan", "largeType"));
  ASSIGN_OR_RETURN(int64_t in_use, program_.Constant("runtime.mSpanInUse"));
  sf.in_use = static_cast<uint64_t>(in_use);
  sf.dead = static_cast<uint64_t>(program_.Constant("runtime.mSpanDead").value_or(0));
  sf.manual = static_cast<uint64_t>(program_.Constant("runtime.mSpanManual").value_or(2));

  ASSIGN_OR_RETURN(uint64_t mheap, program_.GlobalAddress("runtime.mheap_"));
  ASSIGN_OR_RETURN(auto allspans_f, d.FieldPath("runtime.mheap", "allspans"));
  auto allspans = mem.ReadU64(mheap + allspans_f.offset);
  auto nspans = mem.ReadU64(mheap + allspans_f.offset + 8);
  if (!allspans || !nspans || *nspans > (uint64_t{1} << 32)) {
    return absl::DataLossError("runtime.mheap_.allspans is unreadable: not a usable Go heap");
  }
  std::vector<uint64_t> span_ptrs(*nspans);
  if (!mem.Read(*allspans, span_ptrs.data(), *nspans * 8)) {
    return absl::DataLossError(absl::StrFormat(
        "runtime.mheap_.allspans (%d spans at 0x%x) is unreadable", *nspans, *allspans));
  }

  // Pass 1: the in-use spans, checked, in address order (so that objects come out sorted).
  struct Pending {
    HeapSpan span;
    uint64_t freeindex, alloc_bits;
  };
  std::vector<Pending> pending;
  std::vector<uint8_t> rec(sf.size);
  // Without per-object arrays (a walk that keeps its memory small), the core's pages read here
  // (span records, allocation bits) are given back every so many spans rather than kept
  // resident, about 100 bytes per span.
  uint64_t read_spans = 0;
  auto read_one_span = [&] {
    if (!per_object_ && ++read_spans % 8192 == 0) program_.core().file().ReleaseResidentPages();
  };
  for (uint64_t sp : span_ptrs) {
    read_one_span();
    if (!mem.Read(sp, rec.data(), rec.size())) {
      (*damage)["unreadable_span"]++;
      continue;
    }
    uint64_t state = ReadField(rec.data(), sf.state);
    if (state != sf.in_use) {
      if (state != sf.dead && state != sf.manual) (*damage)["bad_span_state"]++;
      continue;
    }
    HeapSpan s;
    s.mspan = sp;
    s.base = ReadField(rec.data(), sf.start_addr);
    s.npages = ReadField(rec.data(), sf.npages);
    s.elemsize = ReadField(rec.data(), sf.elemsize);
    s.nelems = static_cast<uint32_t>(ReadField(rec.data(), sf.nelems));
    s.spanclass = static_cast<uint8_t>(ReadField(rec.data(), sf.spanclass));
    uint64_t freeindex = ReadField(rec.data(), sf.freeindex);
    uint64_t span_bytes = s.npages * layout_.page_size;
    bool large = s.sizeclass() == 0;
    if (s.npages == 0 || s.npages > (uint64_t{1} << 31) || s.base % layout_.page_size != 0 ||
        s.elemsize == 0 || s.nelems == 0 || s.elemsize * s.nelems > span_bytes ||
        (large && s.nelems != 1) || freeindex > s.nelems || !mem.Present(s.base, span_bytes)) {
      (*damage)["bad_span"]++;
      continue;
    }
    if (s.noscan()) {
      s.layout = PointerLayout::kNoScan;
    } else if (large) {
      s.layout = PointerLayout::kLargeType;
      if (uint64_t lt = ReadField(rec.data(), sf.large_type)) {
        auto ti = types->Intern(lt);
        if (ti.ok()) {
          s.large_type = *ti;
        } else {
          (*damage)["bad_type_pointer"]++;
        }
      }
    } else if (s.elemsize <= layout_.min_size_for_malloc_header) {
      s.layout = PointerLayout::kSpanBits;
      uint64_t bitmap = span_bytes / 8 / 8;
      s.heap_bits_addr = s.base + span_bytes - bitmap;
      if (layout_.green_tea && s.elemsize >= 16) s.heap_bits_addr -= layout_.inline_mark_bits_size;
    } else {
      s.layout = PointerLayout::kHeader;
    }
    pending.push_back({s, freeindex, ReadField(rec.data(), sf.alloc_bits)});
  }
  std::sort(pending.begin(), pending.end(),
            [](const Pending& a, const Pending& b) { return a.span.base < b.span.base; });

  // Pass 2: objects. Allocation bits of every kept span first (so the arrays are sized once).
  std::vector<uint8_t> bits;
  uint64_t count = 0, words = 0;
  uint64_t prev_end = 0;
  for (Pending& pd : pending) {
    read_one_span();
    const HeapSpan& s = pd.span;
    if (s.base < prev_end) {
      (*damage)["overlapping_span"]++;
      pd.span.nelems = 0;  // dropped below
      continue;
    }
    prev_end = s.base + s.npages * layout_.page_size;
    bits.resize((s.nelems + 7) / 8);
    if (!mem.Read(pd.alloc_bits, bits.data(), bits.size())) {
      (*damage)["unreadable_alloc_bits"]++;
      pd.span.nelems = 0;
      continue;
    }
    words += (s.nelems + 63) / 64;
  }
  alloc_words_.assign(words, 0);
  alloc_rank_.assign(words, 0);
  spans_.reserve(pending.size());
  uint32_t w0 = 0;
  for (const Pending& pd : pending) {
    read_one_span();
    HeapSpan s = pd.span;
    if (s.nelems == 0) continue;
    bits.resize((s.nelems + 7) / 8);
    mem.Read(pd.alloc_bits, bits.data(), bits.size());
    s.bits_offset = w0;
    s.div_mul = s.nelems == 1 ? 0 : static_cast<uint32_t>(0xffffffffull / s.elemsize + 1);
    uint32_t nw = (s.nelems + 63) / 64;
    for (uint32_t n = 0; n < s.nelems; n++) {
      // Slots below freeindex are allocated whatever allocBits says (set again at sweep).
      if (n < pd.freeindex || ((bits[n >> 3] >> (n & 7)) & 1)) {
        alloc_words_[w0 + (n >> 6)] |= uint64_t{1} << (n & 63);
      }
    }
    uint32_t rank = 0;
    for (uint32_t k = 0; k < nw; k++) {
      alloc_rank_[w0 + k] = rank;
      rank += static_cast<uint32_t>(__builtin_popcountll(alloc_words_[w0 + k]));
    }
    s.first_object = static_cast<uint32_t>(count);
    s.num_objects = rank;
    count += rank;
    w0 += nw;
    spans_.push_back(s);
  }
  if (count >= (uint64_t{1} << 32) - 1) {
    return absl::ResourceExhaustedError("more than 2^32 heap objects");
  }
  num_objects_ = count;
  for (const HeapSpan& s : spans_) total_bytes_ += s.elemsize * s.num_objects;
  if (per_object_) {
    // Each object's span and slot are filled on a second thread, its recorded type here (this
    // reads allocation headers from the core and interns types, which only this thread may do):
    // the two write different arrays from the same allocation bits, and each thread takes the
    // page faults of its own arrays (0.2 to 1 s at 41 M objects on one thread, most of it faults).
    std::jthread places([this, count] {
      span_.resize(count);
      slot_.resize(count);
      for (uint32_t si = 0; si < spans_.size(); si++) {
        uint32_t id = spans_[si].first_object;
        ForEachAllocatedSlot(spans_[si], [&](uint32_t n) {
          span_[id] = si;
          slot_[id] = static_cast<uint16_t>(n);
          id++;
        });
      }
    });
    type_.assign(count, 0);
    for (const HeapSpan& s : spans_) {
      if (s.layout == PointerLayout::kLargeType) {
        if (s.num_objects != 0) type_[s.first_object] = s.large_type;  // nelems is 1
        continue;
      }
      if (s.layout != PointerLayout::kHeader) continue;
      uint32_t id = s.first_object;
      ForEachAllocatedSlot(s, [&](uint32_t n) {
        auto tp = mem.ReadU64(s.base + uint64_t{n} * s.elemsize);
        if (tp && *tp != 0) {
          auto ti = types->Intern(*tp);
          if (ti.ok()) {
            type_[id] = *ti;
          } else {
            (*damage)["bad_type_pointer"]++;
          }
        }
        id++;
      });
    }
    places.join();
  }

  // Page -> span table.
  uint64_t amin = ~uint64_t{0}, amax = 0;
  for (const HeapSpan& s : spans_) {
    uint64_t first = s.base / layout_.page_size / pages_per_arena_;
    uint64_t last = (s.base / layout_.page_size + s.npages - 1) / pages_per_arena_;
    amin = std::min(amin, first);
    amax = std::max(amax, last);
  }
  arena_min_ = spans_.empty() ? 0 : amin;
  constexpr uint64_t kMaxTableArenas = 1 << 16;  // 4 TiB of address space
  if (!spans_.empty()) arenas_.resize(std::min(amax - amin + 1, kMaxTableArenas));
  for (uint32_t i = 0; i < spans_.size(); i++) {
    const HeapSpan& s = spans_[i];
    for (uint64_t pg = 0; pg < s.npages; pg++) {
      uint64_t page = s.base / layout_.page_size + pg;
      uint64_t arena = page / pages_per_arena_;
      std::unique_ptr<uint32_t[]>& table =
          arena - arena_min_ < arenas_.size() ? arenas_[arena - arena_min_] : far_arenas_[arena];
      if (!table) {
        table.reset(new uint32_t[pages_per_arena_]);
        std::memset(table.get(), 0, pages_per_arena_ * sizeof(uint32_t));
      }
      table[page % pages_per_arena_] = i + 1;
    }
  }
  return absl::OkStatus();
}

uint32_t HeapIndex::RecordedType(const HeapSpan& s, uint64_t addr, DamageCounters* damage,
                                 bool far) const {
  if (s.layout == PointerLayout::kLargeType) return s.large_type;
  if (s.layout != PointerLayout::kHeader) return 0;
  auto tp = far ? program_.mem().ReadU64Far(addr) : program_.mem().ReadU64(addr);
  if (!tp || *tp == 0) return 0;
  auto ti = types_mut_->Intern(*tp);
  if (!ti.ok()) {
    (*damage)["bad_type_pointer"]++;
    return 0;
  }
  return *ti;
}

}  // namespace goretain::gocore
