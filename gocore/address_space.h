// The target's virtual memory as one bounds-checked reader over file mappings.
#ifndef GORETAIN_GOCORE_ADDRESS_SPACE_H_
#define GORETAIN_GOCORE_ADDRESS_SPACE_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace goretain::gocore {

// Virtual memory of the target, assembled from layers: higher layers hide lower ones. A range is
// either backed by bytes of a mapped file, reads as zeros, or is absent. Reads never go outside
// the mappings: a read touching an absent byte fails as a whole.
//
// Thread-safe for concurrent reads after construction (the lookup cache is a relaxed atomic hint).
class AddressSpace {
 public:
  enum class Source : uint8_t { kCore, kExecutable, kZero };
  AddressSpace();
  ~AddressSpace();
  AddressSpace(const AddressSpace& o);
  AddressSpace& operator=(const AddressSpace& o);

  // Adds a layer range; later calls take precedence over earlier ones where they overlap.
  // `data` (nullptr for zeros) must outlive the address space.
  void Add(uint64_t start, uint64_t size, const uint8_t* data, Source source, bool writable);
  // Removes [start, start+size) from every layer (e.g. core bytes missing from a truncated file).
  void Remove(uint64_t start, uint64_t size);

  // Copies n bytes at addr into out; false if any byte is absent.
  bool Read(uint64_t addr, void* out, size_t n) const;
  // A pointer to n contiguous bytes at addr when they lie in one range, else nullptr. Zero ranges
  // are served from a shared zero buffer when n <= kZeroBufferSize.
  const uint8_t* Ptr(uint64_t addr, size_t n) const;

  std::optional<uint64_t> ReadU64(uint64_t addr) const {
    if (const uint8_t* p = Ptr(addr, 8)) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
    return std::nullopt;
  }
  std::optional<uint32_t> ReadU32(uint64_t addr) const;
  std::optional<uint16_t> ReadU16(uint64_t addr) const;
  std::optional<uint8_t> ReadU8(uint64_t addr) const;
  // Reads a C string of at most max_len bytes (without the NUL).
  std::optional<std::string> ReadCString(uint64_t addr, size_t max_len = 4096) const;
  std::optional<std::string> ReadBytes(uint64_t addr, size_t n) const;

  // Reads for a walk that must not keep pages of a mapped file resident (the one-pass tree reads
  // a few words of objects it is not scanning, all over the heap): once SetFarFile is called,
  // ReadFar and the *Far readers copy bytes of ranges mapped from [base, base+size) of the file
  // open as `fd` with pread, which leaves the mapping's pages alone, through a direct-mapped cache
  // of 1,024 blocks of 1 KiB (a third of such reads hit it). Before, they are Read. Not copied with the address space. ReadFar is then
  // for one thread at a time (the cache is not locked).
  void SetFarFile(int fd, const uint8_t* base, size_t size);
  bool ReadFar(uint64_t addr, void* out, size_t n) const;
  std::optional<uint64_t> ReadU64Far(uint64_t addr) const {
    uint64_t v;
    if (!ReadFar(addr, &v, 8)) return std::nullopt;
    return v;
  }
  std::optional<uint8_t> ReadU8Far(uint64_t addr) const {
    uint8_t v;
    if (!ReadFar(addr, &v, 1)) return std::nullopt;
    return v;
  }

  bool Contains(uint64_t addr) const { return Find(addr) >= 0; }
  // Whether every byte of [addr, addr+n) is present (so a Read of it would succeed).
  bool Present(uint64_t addr, uint64_t n) const;
  // Which layer backs addr (nullopt when absent).
  std::optional<Source> SourceOf(uint64_t addr) const;
  bool IsWritable(uint64_t addr) const;

  struct Range {
    uint64_t start, end;
    const uint8_t* data;  // nullptr: zeros
    Source source;
    bool writable;
  };
  const std::vector<Range>& ranges() const { return ranges_; }

  static constexpr size_t kZeroBufferSize = 1 << 16;

 private:
  int Find(uint64_t addr) const;
  std::vector<Range> ranges_;  // sorted by start, non-overlapping
  struct FarFile;
  std::unique_ptr<FarFile> far_;
  mutable std::atomic<int> last_{0};
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_ADDRESS_SPACE_H_
