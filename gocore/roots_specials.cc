// Roots that hang off spans (finalizers, cleanups, weak handles) and the runtime's queues of
// finalizers and cleanups waiting to run — as the runtime's markrootSpans and fixed roots scan
// them.
#include "absl/strings/str_cat.h"
#include "gocore/internal/roots_internal.h"

namespace goretain::gocore::internal {
namespace {

constexpr int kMaxListLength = 1 << 22;

uint64_t Field(const DwarfInfo& d, const std::string& type, const std::string& field,
               uint64_t dflt) {
  auto f = d.FieldPath(type, field);
  return f.ok() ? f->offset : dflt;
}

// Root with the given pointer words of a region, skipping nil words.
void AddRoot(const AddressSpace& mem, RootKind kind, const std::string& name, uint64_t addr,
             const std::vector<uint64_t>& offsets, std::vector<Root>* out) {
  Root r{kind, name, addr, offsets.empty() ? 0 : offsets.back() + 8, 0};
  for (uint64_t off : offsets) {
    auto v = mem.ReadU64(addr + off);
    if (v && *v != 0) r.pointers.emplace_back(static_cast<uint32_t>(off), *v);
  }
  if (!r.pointers.empty()) out->push_back(std::move(r));
}

}  // namespace

void CollectSpecialRoots(const Program& p, const FuncTable& ft, const HeapIndex& heap,
                         std::vector<Root>* out, DamageCounters* damage) {
  const DwarfInfo& d = p.dwarf();
  const AddressSpace& mem = p.mem();
  const int64_t kFinalizer = d.Constant("runtime._KindSpecialFinalizer").value_or(-1);
  const int64_t kWeak = d.Constant("runtime._KindSpecialWeakHandle").value_or(-1);
  const int64_t kCleanup = d.Constant("runtime._KindSpecialCleanup").value_or(-1);
  auto specials_f = d.FieldPath("runtime.mspan", "specials");
  auto offset_f = d.FieldPath("runtime.special", "offset");
  auto kind_f = d.FieldPath("runtime.special", "kind");
  if (specials_f.ok() && offset_f.ok() && kind_f.ok()) {
    const uint64_t fin_fn = Field(d, "runtime.specialfinalizer", "fn", 0);
    const uint64_t weak_handle = Field(d, "runtime.specialWeakHandle", "handle", 0);
    // 1.24–1.25: specialCleanup.fn; 1.26: specialCleanup.cleanup{call, fn, arg}.
    std::vector<uint64_t> cleanup_words;
    if (auto c = d.FieldPath("runtime.specialCleanup", "cleanup"); c.ok()) {
      cleanup_words = {c->offset, c->offset + 8, c->offset + 16};
    } else if (auto c = d.FieldPath("runtime.specialCleanup", "fn"); c.ok()) {
      cleanup_words = {c->offset};
    }
    uint64_t visited = 0;
    for (const HeapSpan& s : heap.spans()) {
      // Every span record is read once: its pages are not kept resident (about 100 bytes a
      // span; they would stay mapped until the analysis gives them back).
      if (++visited % 8192 == 0) p.core().file().ReleaseResidentPages();
      uint64_t sp = mem.ReadU64(s.mspan + specials_f->offset).value_or(0);
      for (int n = 0; sp != 0 && n < kMaxListLength; n++) {
        uint64_t off = 0;
        uint8_t kind = 0;
        if (!mem.Read(sp + offset_f->offset, &off, std::min<uint64_t>(offset_f->size, 8)) ||
            !mem.Read(sp + kind_f->offset, &kind, 1)) {
          (*damage)["bad_special"]++;
          break;
        }
        if (kind == kFinalizer && fin_fn != 0) {
          std::string fname = "runtime.SetFinalizer";
          AddRoot(mem, RootKind::kFinalizer, fname + ".fn", sp, {fin_fn}, out);
          // The finalized object is not kept alive by its finalizer, but everything it points
          // to is.
          uint64_t obj = s.base + off / s.elemsize * s.elemsize;
          uint64_t interior = 0;
          if (auto ref = heap.FindObjectRef(obj, &interior)) {
            const HeapSpan& os = heap.spans()[ref->span];
            Root r{RootKind::kFinalizer, fname + ".obj", ref->addr, os.elemsize, 0};
            heap.VisitPointersAt(os, ref->addr, heap.RecordedType(*ref, damage),
                                 [&](uint64_t o, uint64_t v) {
                                   r.pointers.emplace_back(static_cast<uint32_t>(o), v);
                                 });
            if (!r.pointers.empty()) out->push_back(std::move(r));
          }
        } else if (kind == kWeak && weak_handle != 0) {
          AddRoot(mem, RootKind::kWeakHandle, "weak.Make.handle", sp, {weak_handle}, out);
        } else if (kind == kCleanup && !cleanup_words.empty()) {
          AddRoot(mem, RootKind::kCleanup, "runtime.AddCleanup", sp, cleanup_words, out);
        }
        sp = mem.ReadU64(sp).value_or(0);  // special.next is the first field
      }
    }
  }

  // Finalizers queued to run: runtime.allfin blocks (finblock ≤1.25, finBlock 1.26).
  std::string fb = d.TypeByName("runtime.finBlock") ? "runtime.finBlock" : "runtime.finblock";
  if (auto allfin = p.GlobalAddress("runtime.allfin"); allfin.ok()) {
    uint64_t alllink = Field(d, fb, "alllink", 0), cnt = Field(d, fb, "cnt", 16),
             fin = Field(d, fb, "fin", 24);
    uint64_t fsize = d.SizeOf("runtime.finalizer").value_or(40);
    uint64_t arg = Field(d, "runtime.finalizer", "arg", 8);
    uint64_t b = mem.ReadU64(*allfin).value_or(0);
    for (int n = 0; b != 0 && n < kMaxListLength; n++) {
      uint32_t count = mem.ReadU32(b + cnt).value_or(0);
      for (uint32_t i = 0; i < count && i < 4096; i++) {
        AddRoot(mem, RootKind::kQueue, "runtime.finq", b + fin + i * fsize, {0, arg}, out);
      }
      b = mem.ReadU64(b + alllink).value_or(0);
    }
  }
  // Cleanups queued to run (1.25+): runtime.gcCleanups.all blocks.
  if (auto q = p.GlobalAddress("runtime.gcCleanups"); q.ok()) {
    uint64_t all = Field(d, "runtime.cleanupQueue", "all", 0);
    uint64_t alllink = Field(d, "runtime.cleanupBlockHeader", "alllink", 16);
    uint64_t nfield = Field(d, "runtime.cleanupBlockHeader", "n", 24);
    uint64_t cleanups = Field(d, "runtime.cleanupBlock", "cleanups", 32);
    uint64_t csize = d.SizeOf("runtime.cleanupFn").value_or(24);
    uint64_t b = mem.ReadU64(*q + all).value_or(0);
    for (int n = 0; b != 0 && n < kMaxListLength; n++) {
      uint32_t count = mem.ReadU32(b + nfield).value_or(0);
      for (uint32_t i = 0; i < count && i < 4096; i++) {
        AddRoot(mem, RootKind::kQueue, "runtime.gcCleanups", b + cleanups + i * csize,
                {0, 8, 16}, out);
      }
      b = mem.ReadU64(b + alllink).value_or(0);
    }
  }
}

}  // namespace goretain::gocore::internal
