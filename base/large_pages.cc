// Replaces the global operator new and delete of the program it is linked into: large
// allocations (the analysis's per-object and per-edge arrays: tens of MB to GBs) ask the kernel
// for transparent huge pages, and freed ones are kept for the next large allocation of about their
// size. See large_pages.h.
#include "base/large_pages.h"

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace goretain {
namespace {

// Freed large blocks, kept for a later large allocation they fit. One that none fits frees kept
// blocks of at least its size first, so that keeping them does not add to the program's peak.
class BlockCache {
 public:
  void* Take(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t best = blocks_.size();
    for (size_t i = 0; i < blocks_.size(); i++) {
      const size_t size = blocks_[i].size;
      if (size >= n && size - n <= n / 4 && (best == blocks_.size() || size < blocks_[best].size)) {
        best = i;
      }
    }
    if (best == blocks_.size()) {
      // The new block's pages are paid for by kept ones, the largest first (the ones least
      // likely to fit what comes next).
      std::sort(blocks_.begin(), blocks_.end(),
                [](const Block& a, const Block& b) { return a.size < b.size; });
      for (size_t freed = 0; freed < n && !blocks_.empty(); blocks_.pop_back()) {
        freed += blocks_.back().size;
        std::free(blocks_.back().p);
      }
      return nullptr;
    }
    void* p = blocks_[best].p;
    blocks_[best] = blocks_.back();
    blocks_.pop_back();
    return p;
  }

  // False if the block cannot be kept (it is then the caller's to free).
  bool Keep(void* p, size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    if (blocks_.size() == blocks_.capacity()) return false;  // growing would allocate
    blocks_.push_back({p, size});
    return true;
  }

  size_t KeptBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t total = 0;
    for (const Block& b : blocks_) total += b.size;
    return total;
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Block& b : blocks_) std::free(b.p);
    blocks_.clear();
  }

  BlockCache() { blocks_.reserve(kMaxBlocks); }

 private:
  static constexpr size_t kMaxBlocks = 64;
  struct Block {
    void* p;
    size_t size;  // usable bytes
  };
  std::mutex mu_;
  std::vector<Block> blocks_;
};

// Made on first use and never destroyed: operator delete may run during static destruction.
BlockCache& Cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

}  // namespace

void AdviseLargePages(void* p, size_t n) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

void ReleaseFreedLargeBlocks() { Cache().Release(); }

size_t FreedLargeBlockBytes() { return Cache().KeptBytes(); }

}  // namespace goretain

void* operator new(std::size_t n) {
  if (n >= goretain::kLargeAllocation) {
    if (void* p = goretain::Cache().Take(n)) return p;
  }
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

void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  const size_t size = malloc_usable_size(p);
  if (size >= goretain::kLargeAllocation && goretain::Cache().Keep(p, size)) return;
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

// The other forms go through the two above, so that every block is freed the way it was taken
// (sanitizers intercept the forms a program leaves alone and report the mismatch).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { operator delete(p); }
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { operator delete(p); }
