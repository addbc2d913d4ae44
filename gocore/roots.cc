#include "gocore/roots.h"

#include "base/status_macros.h"
#include "gocore/internal/roots_internal.h"

namespace goretain::gocore {

const char* RootKindName(RootKind k) {
  switch (k) {
    case RootKind::kGlobal: return "global";
    case RootKind::kUnnamedGlobal: return "unnamed global";
    case RootKind::kStack: return "stack";
    case RootKind::kStackUnnamed: return "stack (unnamed slots)";
    case RootKind::kStackConservative: return "stack (conservative)";
    case RootKind::kFinalizer: return "finalizer";
    case RootKind::kCleanup: return "cleanup";
    case RootKind::kWeakHandle: return "weak handle";
    case RootKind::kQueue: return "queue";
  }
  return "?";
}

namespace internal {

bool ReadBitmap(const AddressSpace& mem, uint64_t addr, uint64_t nbits, std::vector<uint8_t>* out) {
  out->resize((nbits + 7) / 8);
  return out->empty() || mem.Read(addr, out->data(), out->size());
}

}  // namespace internal

absl::StatusOr<RootSet> CollectRoots(const Program& p, const FuncTable& ft, const HeapIndex& heap,
                                     DamageCounters* damage) {
  RootSet rs;
  RETURN_IF_ERROR(internal::CollectGlobalRoots(p, &rs.roots, damage));
  ASSIGN_OR_RETURN(rs.goroutines, ReadGoroutines(p, ft, damage));
  for (const Goroutine& g : rs.goroutines) {
    internal::CollectStackRoots(p, ft, heap, g, &rs.roots, damage);
  }
  internal::CollectSpecialRoots(p, ft, heap, &rs.roots, damage);
  return rs;
}

}  // namespace goretain::gocore
