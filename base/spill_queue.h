// A first-in first-out queue of trivially copyable records whose memory is bounded: records are
// kept in blocks, and when more blocks are waiting than the memory limit allows, the newest full
// blocks go to an unnamed temporary file and come back in order when their turn comes.
// A breadth-first walk of a heap holds a frontier of up to a fifth of all objects; this keeps
// that in a few MiB.
#ifndef GORETAIN_BASE_SPILL_QUEUE_H_
#define GORETAIN_BASE_SPILL_QUEUE_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"

namespace goretain {

// An unnamed read/write temporary file (O_TMPFILE, or created and unlinked at once) used as a
// FIFO of byte blocks; consumed ranges are given back to the file system as it goes.
class SpillFile {
 public:
  SpillFile() = default;
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends `size` bytes. The file is created in `dir` on first use.
  absl::Status Append(const std::string& dir, const void* data, size_t size);
  // Reads the oldest `size` bytes not read yet.
  absl::Status ReadFront(void* data, size_t size);
  uint64_t pending_bytes() const { return write_off_ - read_off_; }
  uint64_t written_bytes() const { return total_written_; }

 private:
  int fd_ = -1;
  uint64_t read_off_ = 0, write_off_ = 0, total_written_ = 0;
};

template <typename T>
class SpillQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // Keeps at most about `memory_limit` bytes of records in memory (at least three blocks of
  // `block_records` records each); the rest in a file in `dir`.
  explicit SpillQueue(size_t memory_limit, std::string dir = "", size_t block_records = 65536)
      : block_records_(block_records),
        max_blocks_(std::max<size_t>(3, memory_limit / (block_records * sizeof(T)))),
        dir_(dir.empty() ? DefaultDir() : std::move(dir)) {
    tail_.reserve(block_records_);
  }

  void Push(const T& v) {
    tail_.push_back(v);
    if (++size_ > max_size_) max_size_ = size_;
    if (tail_.size() == block_records_) MoveTail();
  }

  // The oldest record; false when the queue is empty or a file operation failed (status()).
  bool Pop(T* out) {
    if (head_pos_ == head_.size()) {
      if (!NextHead()) return false;
    }
    *out = head_[head_pos_++];
    size_--;
    return true;
  }

  size_t size() const { return size_; }
  // The first error of the spill file, if any (records may then have been lost).
  const absl::Status& status() const { return status_; }
  uint64_t spilled_bytes() const { return file_.written_bytes(); }
  size_t max_size() const { return max_size_; }

 private:
  static std::string DefaultDir() {
    const char* t = std::getenv("TMPDIR");
    return t != nullptr && *t != '\0' ? t : "/tmp";
  }

  // A full tail block joins the waiting blocks: in memory while there is room and nothing is in
  // the file (order: memory blocks, then file blocks, then the tail), else in the file.
  void MoveTail() {
    if (file_.pending_bytes() == 0 && middle_.size() + 2 < max_blocks_) {
      middle_.push_back(std::move(tail_));
    } else if (status_.ok()) {
      status_ = file_.Append(dir_, tail_.data(), tail_.size() * sizeof(T));
    }
    tail_ = std::vector<T>();
    tail_.reserve(block_records_);
  }

  bool NextHead() {
    head_pos_ = 0;
    head_.clear();
    if (!middle_.empty()) {
      head_ = std::move(middle_.front());
      middle_.pop_front();
      return true;
    }
    if (file_.pending_bytes() > 0 && status_.ok()) {
      head_.resize(block_records_);
      status_ = file_.ReadFront(head_.data(), block_records_ * sizeof(T));
      if (!status_.ok()) {
        head_.clear();
        return false;
      }
      return true;
    }
    if (tail_.empty()) return false;
    std::swap(head_, tail_);
    tail_.clear();
    return true;
  }

  size_t block_records_, max_blocks_;
  std::string dir_;
  std::vector<T> head_;  // being read from head_pos_
  size_t head_pos_ = 0;
  std::deque<std::vector<T>> middle_;  // full blocks in memory, older than the file's
  SpillFile file_;                     // full blocks, older than tail_
  std::vector<T> tail_;                // being written
  size_t size_ = 0, max_size_ = 0;
  absl::Status status_;
};

}  // namespace goretain

#endif  // GORETAIN_BASE_SPILL_QUEUE_H_
