#include "agent/snapshot/copy_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace goretain::agent::snapshot {
namespace {
constexpr size_t kPage = 4096;
constexpr size_t kMinChunk = 64 << 20;
size_t RoundUp(size_t n) { return (n + kPage - 1) & ~(kPage - 1); }
}  // namespace

CopyBuffer::CopyBuffer(uint8_t* base, size_t size) : owned_(false) {
  chunks_.push_back({base, size, 0});
  reserved_ = size;
}

CopyBuffer::~CopyBuffer() {
  if (!owned_) return;
  for (const Chunk& c : chunks_) munmap(c.base, c.size);
}

absl::Status CopyBuffer::MapChunk(size_t bytes, bool populate) {
  bytes = RoundUp(bytes);
  void* p =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes >> 20,
                     " MiB for the copy: ", strerror(errno)));
  }
  chunks_.push_back({static_cast<uint8_t*>(p), bytes, 0});
  reserved_ += bytes;
  return absl::OkStatus();
}

absl::Status CopyBuffer::Reserve(size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  return MapChunk(bytes, /*populate=*/true);
}

uint8_t* CopyBuffer::Allocate(size_t bytes) {
  while (current_ < chunks_.size() &&
         chunks_[current_].size - chunks_[current_].used < bytes) {
    ++current_;
  }
  if (current_ == chunks_.size()) {
    if (!owned_) return nullptr;
    if (!MapChunk(std::max(bytes, kMinChunk), /*populate=*/false).ok())
      return nullptr;
    current_ = chunks_.size() - 1;
  }
  Chunk& c = chunks_[current_];
  uint8_t* p = c.base + c.used;
  c.used += bytes;
  used_ += bytes;
  return p;
}

void CopyBuffer::GiveBack(size_t bytes) {
  if (current_ >= chunks_.size()) return;
  Chunk& c = chunks_[current_];
  bytes = std::min(bytes, c.used);
  c.used -= bytes;
  used_ -= bytes;
}

}  // namespace goretain::agent::snapshot
