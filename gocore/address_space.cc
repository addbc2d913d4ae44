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

struct AddressSpace::FarFile {
  static constexpr size_t kPage = 1024, kPages = 1024;
  int fd;
  const uint8_t* base;
  size_t size;
  uint64_t tag[kPages] = {};  // file page + 1 held by each slot; 0: none
  uint32_t valid[kPages] = {};  // bytes read into the slot (short at the end of the file)
  std::unique_ptr<uint8_t[]> pages{new uint8_t[kPages * kPage]};

  // Copies n bytes at file offset `off` (within one page or more) through the cache.
  bool Read(uint64_t off, uint8_t* dst, size_t n) {
    while (n > 0) {
      const uint64_t page = off / kPage;
      const size_t slot = page % kPages;
      uint8_t* buf = pages.get() + slot * kPage;
      if (tag[slot] != page + 1) {
        const ssize_t got = ::pread(fd, buf, kPage, static_cast<off_t>(page * kPage));
        if (got <= 0) return false;
        tag[slot] = page + 1;
        valid[slot] = static_cast<uint32_t>(got);
      }
      const size_t in = off % kPage, take = std::min(n, kPage - in);
      if (in + take > valid[slot]) return false;
      std::memcpy(dst, buf + in, take);
      dst += take;
      off += take;
      n -= take;
    }
    return true;
  }
};

AddressSpace::AddressSpace() = default;
AddressSpace::~AddressSpace() = default;

AddressSpace::AddressSpace(const AddressSpace& o) : ranges_(o.ranges_) {}

AddressSpace& AddressSpace::operator=(const AddressSpace& o) {
  ranges_ = o.ranges_;
  last_.store(0, std::memory_order_relaxed);
  far_.reset();
  return *this;
}

void AddressSpace::SetFarFile(int fd, const uint8_t* base, size_t size) {
  far_.reset(new FarFile{fd, base, size});
}

bool AddressSpace::ReadFar(uint64_t addr, void* out, size_t n) const {
  if (far_ == nullptr) return Read(addr, out, n);
  auto* dst = static_cast<uint8_t*>(out);
  while (n > 0) {
    int i = Find(addr);
    if (i < 0) return false;
    const Range& r = ranges_[i];
    const size_t chunk = std::min<uint64_t>(n, r.end - addr);
    const uint8_t* src = r.data == nullptr ? nullptr : r.data + (addr - r.start);
    if (src == nullptr) {
      std::memset(dst, 0, chunk);
    } else if (src >= far_->base && src + chunk <= far_->base + far_->size) {
      if (!far_->Read(src - far_->base, dst, chunk)) return false;
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
