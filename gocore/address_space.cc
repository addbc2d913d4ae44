#include "gocore/address_space.h"

#include <unistd.h>

#include <algorithm>

namespace goretain::gocore {
namespace {
alignas(64) const uint8_t kZeros[AddressSpace::kZeroBufferSize] = {};
}  // namespace

void AddressSpace::Remove(uint64_t start, uint64_t size) {
  if (size == 0) return;
  const uint64_t end = start + size;
  std::vector<Range> out;
  out.reserve(ranges_.size() + 2);
  for (const Range& r : ranges_) {
    if (r.end <= start || r.start >= end) {
      out.push_back(r);
      continue;
    }
    if (r.start < start) {
      Range left = r;
      left.end = start;
      out.push_back(left);
    }
    if (r.end > end) {
      Range right = r;
      if (right.data) right.data += end - r.start;
      right.start = end;
      out.push_back(right);
    }
  }
  ranges_ = std::move(out);
}

void AddressSpace::Add(uint64_t start, uint64_t size, const uint8_t* data, Source source,
                       bool writable) {
  if (size == 0) return;
  Remove(start, size);
  Range nr{start, start + size, data, source, writable};
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), start,
                             [](const Range& r, uint64_t a) { return r.start < a; });
  ranges_.insert(it, nr);
}

int AddressSpace::Find(uint64_t addr) const {
  int hint = last_.load(std::memory_order_relaxed);
  if (hint < static_cast<int>(ranges_.size()) && ranges_[hint].start <= addr &&
      addr < ranges_[hint].end) {
    return hint;
  }
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                             [](uint64_t a, const Range& r) { return a < r.start; });
  if (it == ranges_.begin()) return -1;
  --it;
  if (addr >= it->end) return -1;
  int idx = static_cast<int>(it - ranges_.begin());
  last_.store(idx, std::memory_order_relaxed);
  return idx;
}

const uint8_t* AddressSpace::Ptr(uint64_t addr, size_t n) const {
  int i = Find(addr);
  if (i < 0) return nullptr;
  const Range& r = ranges_[i];
  if (n > r.end - addr) return nullptr;
  if (r.data == nullptr) return n <= kZeroBufferSize ? kZeros : nullptr;
  return r.data + (addr - r.start);
}

bool AddressSpace::Read(uint64_t addr, void* out, size_t n) const {
  auto* dst = static_cast<uint8_t*>(out);
  while (n > 0) {
    int i = Find(addr);
    if (i < 0) return false;
    const Range& r = ranges_[i];
    size_t chunk = std::min<uint64_t>(n, r.end - addr);
    if (r.data) {
      std::memcpy(dst, r.data + (addr - r.start), chunk);
    } else {
      std::memset(dst, 0, chunk);
    }
    dst += chunk;
    addr += chunk;
    n -= chunk;
  }
  return true;
}

bool AddressSpace::ReadFar(uint64_t addr, void* out, size_t n) const {
  if (far_fd_ < 0) return Read(addr, out, n);
  auto* dst = static_cast<uint8_t*>(out);
  while (n > 0) {
    int i = Find(addr);
    if (i < 0) return false;
    const Range& r = ranges_[i];
    const size_t chunk = std::min<uint64_t>(n, r.end - addr);
    const uint8_t* src = r.data == nullptr ? nullptr : r.data + (addr - r.start);
    if (src == nullptr) {
      std::memset(dst, 0, chunk);
    } else if (src >= far_base_ && src + chunk <= far_base_ + far_size_) {
      const ssize_t got = ::pread(far_fd_, dst, chunk, src - far_base_);
      if (got != static_cast<ssize_t>(chunk)) return false;
    } else {
      std::memcpy(dst, src, chunk);
    }
    dst += chunk;
    addr += chunk;
    n -= chunk;
  }
  return true;
}

bool AddressSpace::Present(uint64_t addr, uint64_t n) const {
  if (n > ~uint64_t{0} - addr) return false;
  while (n > 0) {
    int i = Find(addr);
    if (i < 0) return false;
    const uint64_t chunk = std::min<uint64_t>(n, ranges_[i].end - addr);
    addr += chunk;
    n -= chunk;
  }
  return true;
}

std::optional<uint32_t> AddressSpace::ReadU32(uint64_t addr) const {
  uint32_t v;
  if (!Read(addr, &v, 4)) return std::nullopt;
  return v;
}
std::optional<uint16_t> AddressSpace::ReadU16(uint64_t addr) const {
  uint16_t v;
  if (!Read(addr, &v, 2)) return std::nullopt;
  return v;
}
std::optional<uint8_t> AddressSpace::ReadU8(uint64_t addr) const {
  uint8_t v;
  if (!Read(addr, &v, 1)) return std::nullopt;
  return v;
}

std::optional<std::string> AddressSpace::ReadCString(uint64_t addr, size_t max_len) const {
  std::string s;
  for (size_t i = 0; i < max_len; i++) {
    auto c = ReadU8(addr + i);
    if (!c) return std::nullopt;
    if (*c == 0) return s;
    s.push_back(static_cast<char>(*c));
  }
  return s;
}

std::optional<std::string> AddressSpace::ReadBytes(uint64_t addr, size_t n) const {
  std::string s(n, '\0');
  if (!Read(addr, s.data(), n)) return std::nullopt;
  return s;
}

std::optional<AddressSpace::Source> AddressSpace::SourceOf(uint64_t addr) const {
  int i = Find(addr);
  if (i < 0) return std::nullopt;
  return ranges_[i].source;
}

bool AddressSpace::IsWritable(uint64_t addr) const {
  int i = Find(addr);
  return i >= 0 && ranges_[i].writable;
}

}  // namespace goretain::gocore
