// Replaces the global operator new of the program it is linked into so that large allocations
// (the analysis's per-object and per-edge arrays: tens of MB to GBs) ask the kernel for
// transparent huge pages. See large_pages.h.
#include "base/large_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace goretain {

void AdviseLargePages(void* p, size_t n) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace goretain

void* operator new(std::size_t n) {
  for (;;) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p != nullptr) {
      if (n >= goretain::kLargeAllocation) goretain::AdviseLargePages(p, n);
      return p;
    }
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}
