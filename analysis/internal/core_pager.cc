#include "analysis/internal/core_pager.h"

#include <algorithm>
#include <chrono>

namespace goretain::analysis::internal {

CorePager::CorePager(const MappedFile& file, size_t ahead)
    : file_(file), ahead_(std::max<size_t>(ahead, 1)), thread_([this] { Run(); }) {}

CorePager::~CorePager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    end_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
  thread_.join();
}

void CorePager::Begin(std::vector<const uint8_t*>* targets) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets_.swap(*targets);
    targets->clear();
    pos_.store(targets_.empty() ? 0 : Window(targets_.front()), std::memory_order_relaxed);
    end_.store(false, std::memory_order_relaxed);
    started_++;
  }
  cv_.notify_all();
}

void CorePager::End(std::vector<const uint8_t*>* targets) {
  std::unique_lock<std::mutex> lock(mu_);
  end_.store(true, std::memory_order_release);
  cv_.notify_all();
  cv_.wait(lock, [&] { return finished_ == started_; });
  // A give-back asked for at the end of the sweep.
  if (uintptr_t keep = give_back_.exchange(0, std::memory_order_acquire)) GiveBack(keep);
  targets_.swap(*targets);
  targets->clear();
}

void CorePager::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || started_ != finished_; });
    if (stop_) return;
    lock.unlock();
    Sweep();
    lock.lock();
    finished_ = started_;
    cv_.notify_all();
  }
}

void CorePager::GiveBack(uintptr_t keep_from) {
  const uintptr_t keep_to = std::max(keep_from, pos_.load(std::memory_order_relaxed)) + ahead_;
  file_.ReleaseResidentPages(file_.data(),
                             reinterpret_cast<const uint8_t*>(keep_from << kWindowShift));
  file_.ReleaseResidentPages(reinterpret_cast<const uint8_t*>(keep_to << kWindowShift),
                             file_.data() + file_.size());
  given_back_.fetch_add(1, std::memory_order_relaxed);
}

void CorePager::Sweep() {
  const std::vector<const uint8_t*>& t = targets_;
  size_t next = 0;  // t[next]: the next target whose window may need mapping
  uintptr_t last_mapped = 0;
  while (!end_.load(std::memory_order_acquire)) {
    if (uintptr_t keep = give_back_.exchange(0, std::memory_order_acquire)) {
      GiveBack(keep);
      last_mapped = 0;  // its window may have gone
      continue;
    }
    const uintptr_t at = pos_.load(std::memory_order_relaxed);
    while (next < t.size() && Window(t[next]) < at) next++;
    if (next < t.size() && Window(t[next]) < at + ahead_) {
      if (Window(t[next]) != last_mapped) {
        // Reading one byte maps its window.
        (void)*reinterpret_cast<const volatile uint8_t*>(t[next]);
        mapped_.fetch_add(1, std::memory_order_relaxed);
        last_mapped = Window(t[next]);
      }
      next++;
      continue;
    }
    // Nothing to do until the sweep moves on.
    std::this_thread::sleep_for(std::chrono::microseconds(10));
  }
}

}  // namespace goretain::analysis::internal
