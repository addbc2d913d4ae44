// Goroutine stack roots: live slots from the stack maps (locals, arguments), stack objects reached
// from them, conservatively scanned frames, registers of running goroutines. Slots are named by
// the DWARF variables that cover them.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "gocore/internal/roots_internal.h"

namespace goretain::gocore::internal {
namespace {

constexpr int32_t kArgsSizeUnknown = -0x80000000;

struct StackObject {
  uint64_t addr, size, ptr_bytes, gcdata;
  int32_t frame;
  bool scanned = false;
};

struct StackMap {
  int32_t n = 0, nbit = 0;
};

// Bitmap `index` of the stack map at addr; false when absent or out of range.
bool StackMapBits(const AddressSpace& mem, uint64_t addr, int32_t index, std::vector<uint8_t>* bits,
                  int32_t* nbit) {
  StackMap sm;
  if (addr == 0 || !mem.Read(addr, &sm, 8) || sm.n <= 0 || sm.nbit < 0 || index < 0 ||
      index >= sm.n || sm.nbit > (1 << 24)) {
    return false;
  }
  *nbit = sm.nbit;
  uint64_t row = (uint64_t(sm.nbit) + 7) / 8;
  return ReadBitmap(mem, addr + 8 + row * index, sm.nbit, bits);
}

class FrameScanner {
 public:
  FrameScanner(const Program& p, const FuncTable& ft, const HeapIndex& heap, const Goroutine& g,
               std::vector<Root>* out, DamageCounters* damage)
      : p_(p), mem_(p.mem()), ft_(ft), heap_(heap), g_(g), out_(out), damage_(damage) {}

  void Run() {
    // Stack objects first: inner frames often hold pointers to their callers' objects.
    for (size_t i = 0; i < g_.frames.size(); i++) RegisterObjects(static_cast<int32_t>(i));
    for (size_t i = 0; i < g_.frames.size(); i++) ScanFrame(static_cast<int32_t>(i));
    if (!g_.registers.empty()) {
      Root r{RootKind::kStackConservative, "registers", 0, 0, 0, g_.id, 0};
      for (size_t i = 0; i < g_.registers.size(); i++) {
        if (IsHeapPointer(g_.registers[i])) {
          r.pointers.emplace_back(static_cast<uint32_t>(i * 8), g_.registers[i]);
        }
      }
      Emit(std::move(r));
    }
    // Where unwinding stopped early, the rest of the stack is scanned conservatively.
    if (g_.unwind_incomplete) ScanWholeStack();
    // Stack objects are scanned only once a live pointer reaches them (as the runtime does);
    // they may point to each other, so iterate.
    for (bool progress = true; progress;) {
      progress = false;
      for (StackObject& so : objects_) {
        if (so.scanned || !reached_.count(so.addr)) continue;
        so.scanned = true;
        progress = true;
        ScanStackObject(so);
      }
    }
    Flush();
  }

 private:
  bool IsHeapPointer(uint64_t v) const { return heap_.FindObject(v).has_value(); }

  void NotePointer(uint64_t v) {
    if (v < g_.stack_lo || v >= g_.stack_hi) return;
    for (const StackObject& so : objects_) {
      if (v >= so.addr && v < so.addr + so.size) reached_.insert(so.addr);
    }
  }

  void Emit(Root r) {
    if (r.pointers.empty()) return;
    for (const auto& [off, v] : r.pointers) NotePointer(v);
    out_->push_back(std::move(r));
  }

  // Groups slot addresses (with their values) by the DWARF variable covering them.
  void EmitSlots(int32_t fi, const std::vector<uint64_t>& slots) {
    if (slots.empty()) return;
    const StackFrame& fr = g_.frames[fi];
    uint64_t link_pc = (fi == 0 ? fr.pc : fr.pc - 1) - p_.bias();
    auto vars = p_.dwarf().StackVariables(link_pc);
    // Keyed by frame and qualified variable name: two DWARF entries of one name in a frame
    // (shadowed or split variables), or slots found in the frame and in its stack objects, make
    // one root.
    auto& by_var = pending_[fi];
    auto [uit, ufresh] = unnamed_.try_emplace(fi);
    Root& unnamed = uit->second;
    if (ufresh) {
      unnamed = Root{RootKind::kStackUnnamed, fr.function + ".(unnamed slots)", fr.sp,
                     fr.fp - fr.sp, 0, g_.id, fi};
    }
    for (uint64_t a : slots) {
      auto v = mem_.ReadU64(a);
      if (!v || *v == 0) continue;
      bool named = false;
      for (size_t k = 0; k < vars.size(); k++) {
        uint64_t va = fr.fp + vars[k].cfa_offset;
        if (a >= va && a < va + vars[k].size) {
          std::string name = vars[k].function + "." + vars[k].name;
          auto [it, fresh] = by_var.try_emplace(name);
          if (fresh) {
            it->second = Root{RootKind::kStack, name, va, vars[k].size, vars[k].type, g_.id, fi};
          }
          Root& r = it->second;
          if (va < r.addr) {
            // Widen the region to cover both slots; offsets stay relative to its start.
            for (auto& [off, val] : r.pointers) off += static_cast<uint32_t>(r.addr - va);
            r.size += r.addr - va;
            r.addr = va;
            r.type = 0;  // no single DWARF type describes the union
          } else if (va + vars[k].size > r.addr + r.size) {
            r.size = va + vars[k].size - r.addr;
            if (va != r.addr) r.type = 0;
          }
          r.pointers.emplace_back(static_cast<uint32_t>(a - r.addr), *v);
          named = true;
          break;
        }
      }
      if (!named) unnamed.pointers.emplace_back(static_cast<uint32_t>(a - fr.sp), *v);
      NotePointer(*v);
    }
  }

  // Emits the roots EmitSlots gathered, by frame, then name.
  void Flush() {
    for (auto& [fi, by_var] : pending_) {
      for (auto& [name, r] : by_var) {
        std::sort(r.pointers.begin(), r.pointers.end());
        r.pointers.erase(std::unique(r.pointers.begin(), r.pointers.end()), r.pointers.end());
        Emit(std::move(r));
      }
      auto u = unnamed_.find(fi);
      if (u != unnamed_.end()) Emit(std::move(u->second));
    }
    pending_.clear();
    unnamed_.clear();
  }

  void ScanConservative(int32_t fi, uint64_t lo, uint64_t hi, const std::string& name) {
    Root r{RootKind::kStackConservative, name, lo, hi - lo, 0, g_.id, fi};
    for (uint64_t a = lo & ~7ull; a + 8 <= hi; a += 8) {
      auto v = mem_.ReadU64(a);
      if (!v) {
        // Absent from the core: go on where memory starts again (words of a range are 8-aligned
        // in practice; an unaligned start is rounded up).
        const auto& ranges = mem_.ranges();
        auto next = std::upper_bound(
            ranges.begin(), ranges.end(), a,
            [](uint64_t x, const AddressSpace::Range& r) { return x < r.start; });
        if (next == ranges.end()) break;
        a = ((next->start + 7) & ~7ull) - 8;
        continue;
      }
      if (*v == 0) continue;
      if (IsHeapPointer(*v)) {
        r.pointers.emplace_back(static_cast<uint32_t>(a - lo), *v);
      } else {
        NotePointer(*v);
      }
    }
    Emit(std::move(r));
  }

  void ScanWholeStack() {
    if (g_.stack_hi <= g_.stack_lo) return;
    uint64_t lo = g_.frames.empty() ? g_.stack_lo : g_.frames.back().fp;
    ScanConservative(-1, lo, g_.stack_hi, "(unwound stack, conservative)");
  }

  void ScanFrame(int32_t fi) {
    const StackFrame& fr = g_.frames[fi];
    const Func& f = fr.func;
    int32_t args_words = f.args == kArgsSizeUnknown ? 0 : f.args / 8;
    if (fr.conservative) {
      if (fr.varp > fr.sp) ScanConservative(fi, fr.sp, fr.varp, fr.function + ".(conservative)");
      if (args_words > 0) {
        ScanConservative(fi, fr.argp, fr.argp + 8ull * args_words,
                         fr.function + ".(conservative args)");
      }
      return;
    }
    uint64_t target = fr.pc;
    int32_t index = -1;
    if (target != f.entry) index = ft_.PCData(f, kPcdataStackMapIndex, target - 1);
    if (index < 0) index = 0;
    std::vector<uint64_t> slots;
    std::vector<uint8_t> bits;
    int32_t nbit = 0;
    if (fr.varp > fr.sp) {
      uint64_t locals = ft_.FuncData(f, kFuncdataLocalsPointerMaps);
      if (locals != 0) {
        if (StackMapBits(mem_, locals, index, &bits, &nbit)) {
          uint64_t base = fr.varp - 8ull * nbit;
          for (int32_t w = 0; w < nbit; w++) {
            if ((bits[w / 8] >> (w % 8)) & 1) slots.push_back(base + 8ull * w);
          }
        } else {
          (*damage_)["bad_stack_map"]++;
        }
      }
    }
    if (args_words > 0) {
      uint64_t args = ft_.FuncData(f, kFuncdataArgsPointerMaps);
      if (args != 0 && StackMapBits(mem_, args, index, &bits, &nbit)) {
        for (int32_t w = 0; w < nbit && w < args_words; w++) {
          if ((bits[w / 8] >> (w % 8)) & 1) slots.push_back(fr.argp + 8ull * w);
        }
      }
    }
    EmitSlots(fi, slots);
  }

  void RegisterObjects(int32_t fi) {
    const StackFrame& fr = g_.frames[fi];
    const Func& f = fr.func;
    if (fr.conservative) return;
    // Stack objects of the frame (address-taken variables): scanned later if reached.
    if (uint64_t so = ft_.FuncData(f, kFuncdataStackObjects)) {
      auto n = mem_.ReadU64(so);
      if (n && *n < 4096) {
        for (uint64_t i = 0; i < *n; i++) {
          int32_t rec[4];
          if (!mem_.Read(so + 8 + 16 * i, rec, 16)) break;
          uint64_t addr = rec[0] < 0 ? fr.varp + int64_t(rec[0]) : fr.argp + int64_t(rec[0]);
          if (addr < fr.sp || rec[1] <= 0 || rec[2] <= 0) continue;
          objects_.push_back({addr, uint64_t(rec[1]), uint64_t(rec[2]),
                              rodata_ + static_cast<uint32_t>(rec[3]), fi});
        }
      }
    }
  }

  void ScanStackObject(const StackObject& so) {
    std::vector<uint8_t> bits;
    uint64_t words = so.ptr_bytes / 8;
    if (!ReadBitmap(mem_, so.gcdata, words, &bits)) {
      (*damage_)["bad_stack_object"]++;
      return;
    }
    std::vector<uint64_t> slots;
    for (uint64_t w = 0; w < words; w++) {
      if ((bits[w / 8] >> (w % 8)) & 1) slots.push_back(so.addr + 8 * w);
    }
    EmitSlots(so.frame, slots);
  }

 public:
  uint64_t rodata_ = 0;

 private:
  const Program& p_;
  const AddressSpace& mem_;
  const FuncTable& ft_;
  const HeapIndex& heap_;
  const Goroutine& g_;
  std::vector<Root>* out_;
  DamageCounters* damage_;
  std::vector<StackObject> objects_;
  std::map<int32_t, std::map<std::string, Root>> pending_;
  std::map<int32_t, Root> unnamed_;
  std::set<uint64_t> reached_;
};

}  // namespace

void CollectStackRoots(const Program& p, const FuncTable& ft, const HeapIndex& heap,
                       const Goroutine& g, std::vector<Root>* out, DamageCounters* damage) {
  FrameScanner s(p, ft, heap, g, out, damage);
  if (auto md = p.GlobalAddress("runtime.firstmoduledata"); md.ok()) {
    if (auto f = p.dwarf().FieldPath("runtime.moduledata", "rodata"); f.ok()) {
      s.rodata_ = p.mem().ReadU64(*md + f->offset).value_or(0);
    }
  }
  s.Run();
}

}  // namespace goretain::gocore::internal
