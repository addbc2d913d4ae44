// Root collectors by kind (gocore/roots_*.cc), combined by CollectRoots.
#ifndef GORETAIN_GOCORE_INTERNAL_ROOTS_INTERNAL_H_
#define GORETAIN_GOCORE_INTERNAL_ROOTS_INTERNAL_H_

#include "gocore/roots.h"

namespace goretain::gocore::internal {

absl::Status CollectGlobalRoots(const Program& p, std::vector<Root>* out, DamageCounters* damage);
void CollectStackRoots(const Program& p, const FuncTable& ft, const HeapIndex& heap,
                       const Goroutine& g, std::vector<Root>* out, DamageCounters* damage);
void CollectSpecialRoots(const Program& p, const FuncTable& ft, const HeapIndex& heap,
                         std::vector<Root>* out, DamageCounters* damage);

// Reads n bits of a pointer bitmap at addr (bit i = word i). False if unreadable.
bool ReadBitmap(const AddressSpace& mem, uint64_t addr, uint64_t nbits, std::vector<uint8_t>* out);

}  // namespace goretain::gocore::internal

#endif  // GORETAIN_GOCORE_INTERNAL_ROOTS_INTERNAL_H_
