// Maps the pages of a read-only file mapping just ahead of a sweep over it in ascending address
// order, and gives back those the sweep asks it to, on a thread of its own: the sweep's thread
// seldom stops on a page fault or waits for the kernel to unmap pages.
#ifndef GORETAIN_ANALYSIS_INTERNAL_CORE_PAGER_H_
#define GORETAIN_ANALYSIS_INTERNAL_CORE_PAGER_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/mapped_file.h"

namespace goretain::analysis::internal {

class CorePager {
 public:
  // A window is the 64 KiB-aligned stretch of address space a page fault maps at least (the
  // kernel's fault-around; a large folio of the page cache may be mapped whole).
  static constexpr unsigned kWindowShift = 16;
  static uintptr_t Window(const uint8_t* p) {
    return reinterpret_cast<uintptr_t>(p) >> kWindowShift;
  }
  // The sweep's windows fewer than `ahead` windows in front of the one it reads in are mapped.
  CorePager(const MappedFile& file, size_t ahead);
  ~CorePager();
  CorePager(const CorePager&) = delete;
  CorePager& operator=(const CorePager&) = delete;

  // Starts a sweep that will read at the addresses in `targets` (mapped, ascending; one per
  // window is enough), in that order. Takes the vector's contents.
  void Begin(std::vector<const uint8_t*>* targets);
  // The sweep reads at p now (call at least each time it enters another window).
  void Reached(const uint8_t* p) { pos_.store(Window(p), std::memory_order_relaxed); }
  // Has the file's pages given back, but for those from p's window to `ahead` windows in front
  // of where the sweep is then: by the thread, unless it has not done the last such request
  // yet (then at once, so that pages resident stay bounded however the thread is scheduled).
  void GiveBackAllBut(const uint8_t* p) {
    if (give_back_.exchange(Window(p), std::memory_order_acq_rel) != 0) {
      if (uintptr_t keep = give_back_.exchange(0, std::memory_order_acquire)) GiveBack(keep);
    }
  }
  // Ends the sweep; returns once the thread has stopped mapping for it. `targets` gets back the
  // storage given to Begin, emptied.
  void End(std::vector<const uint8_t*>* targets);

  // Windows mapped and times pages were given back, over all sweeps.
  uint64_t windows_mapped() const { return mapped_.load(std::memory_order_relaxed); }
  uint64_t give_backs() const { return given_back_.load(std::memory_order_relaxed); }

 private:
  void Run();
  void Sweep();

  void GiveBack(uintptr_t keep_from);

  const MappedFile& file_;
  const size_t ahead_;
  std::vector<const uint8_t*> targets_;
  std::atomic<uintptr_t> pos_{0};        // window
  std::atomic<uintptr_t> give_back_{0};  // window to keep from; 0: nothing asked
  std::atomic<bool> end_{false};
  std::atomic<uint64_t> mapped_{0}, given_back_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t started_ = 0, finished_ = 0;  // sweeps, under mu_
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is set up
};

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_CORE_PAGER_H_
