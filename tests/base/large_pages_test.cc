// Large allocations of a program linked with base/large_pages.cc land on transparent huge pages
// (where the kernel offers them only to programs that ask, as Debian's does by default); small
// ones are left alone.
#include "base/large_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace goretain {
namespace {

std::string ThpMode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  auto open = line.find('['), close = line.find(']');
  return open == std::string::npos || close == std::string::npos
             ? ""
             : line.substr(open + 1, close - open - 1);
}

// AnonHugePages of the mapping holding p, in bytes (-1 if not found).
int64_t AnonHugePagesAt(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      return std::stoll(line.substr(strlen("AnonHugePages:"))) * 1024;
    }
  }
  return -1;
}

TEST(LargePagesTest, LargeAllocationIsOnHugePagesSmallOneIsNot) {
  const std::string mode = ThpMode();
  if (mode != "madvise") GTEST_SKIP() << "transparent huge pages are '" << mode << "', not madvise";
  constexpr size_t kLarge = size_t{64} << 20;
  std::unique_ptr<char[]> large(new char[kLarge]);
  std::memset(large.get(), 1, kLarge);
  const int64_t huge = AnonHugePagesAt(large.get() + kLarge / 2);
  ASSERT_GE(huge, 0) << "no mapping found for the allocation";
  // All but the unaligned ends (at most 2 MiB each) when the kernel has huge pages to give.
  EXPECT_GE(huge, static_cast<int64_t>(kLarge / 2)) << "AnonHugePages " << huge;

  constexpr size_t kSmall = kLargeAllocation - 4096;
  std::unique_ptr<char[]> small(new char[kSmall]);
  std::memset(small.get(), 1, kSmall);
  EXPECT_EQ(AnonHugePagesAt(small.get() + kSmall / 2), 0);
}

// An allocation the compiler cannot leave out: n bytes from operator new[], written.
char* Allocated(size_t n) {
  char* p = new char[n];
  std::memset(p, 1, n);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

// A freed large block is kept and given to the next allocation of about its size (its pages
// are already there); one that no kept block fits frees kept blocks first.
TEST(LargePagesTest, FreedLargeBlockServesTheNextAllocationOfItsSize) {
  ReleaseFreedLargeBlocks();
  constexpr size_t kLarge = size_t{64} << 20;
  char* a = Allocated(kLarge);
  const uintptr_t a_addr = reinterpret_cast<uintptr_t>(a);
  delete[] a;
  EXPECT_GE(FreedLargeBlockBytes(), kLarge);
  char* b = Allocated(kLarge - 4096);  // a little smaller: still fits
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b), a_addr);
  EXPECT_EQ(FreedLargeBlockBytes(), 0u);
  delete[] b;

  // Half the size: too small a request for the kept block (it would waste half of it), so the
  // block is freed before the new one is allocated.
  char* c = Allocated(kLarge / 2);
  EXPECT_EQ(FreedLargeBlockBytes(), 0u);
  delete[] c;
  EXPECT_GE(FreedLargeBlockBytes(), kLarge / 2);
  // Small allocations and frees leave kept blocks alone.
  delete[] Allocated(4096);
  EXPECT_GE(FreedLargeBlockBytes(), kLarge / 2);
  ReleaseFreedLargeBlocks();
  EXPECT_EQ(FreedLargeBlockBytes(), 0u);
}

}  // namespace
}  // namespace goretain
