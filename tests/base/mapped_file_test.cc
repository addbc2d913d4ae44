#include "base/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/testing/fixtures.h"

namespace goretain {
namespace {

using testing::TempDir;
using testing::WritePatternFile;

TEST(MappedFileTest, MapsTheWholeFileReadOnly) {
  TempDir tmp;
  std::ofstream(tmp.File("f")) << "hello, core";
  auto f = MappedFile::Open(tmp.File("f"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->size(), 11u);
  EXPECT_EQ(std::memcmp((*f)->data(), "hello, core", 11), 0);
  EXPECT_EQ((*f)->path(), tmp.File("f"));
}

// RssFile of this process, in bytes (pages of file mappings it has resident).
uint64_t RssFileBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  uint64_t kb = 0;
  while (status >> key) {
    if (key == "RssFile:") {
      status >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

TEST(MappedFileTest, ReleasingResidentPagesLowersRssAndKeepsTheBytes) {
  TempDir tmp;
  constexpr size_t kSize = 64 << 20;
  WritePatternFile(tmp.File("big"), kSize, 131);
  auto f = MappedFile::Open(tmp.File("big"));
  ASSERT_TRUE(f.ok()) << f.status();
  auto checksum = [&] {
    uint64_t sum = 0;
    for (size_t i = 0; i < kSize; i += 512) sum += (*f)->data()[i] * (i / 512 + 1);
    return sum;
  };
  const uint64_t before = checksum();
  const uint64_t resident = RssFileBytes();
  (*f)->ReleaseResidentPages();
  const uint64_t released = RssFileBytes();
  EXPECT_LT(released + (48 << 20), resident) << "RssFile " << resident << " -> " << released;
  EXPECT_EQ(checksum(), before);  // read back from the page cache, same bytes
}

TEST(MappedFileTest, ReleasingARangeDropsThosePagesOnly) {
  TempDir tmp;
  constexpr size_t kSize = 64 << 20;
  WritePatternFile(tmp.File("big"), kSize, 7);
  auto f = MappedFile::Open(tmp.File("big"));
  ASSERT_TRUE(f.ok()) << f.status();
  const uint8_t* d = (*f)->data();
  auto checksum = [&] {
    uint64_t sum = 0;
    for (size_t i = 0; i < kSize; i += 512) sum += d[i] * (i / 512 + 1);
    return sum;
  };
  const uint64_t before = checksum();
  const uint64_t resident = RssFileBytes();
  // 16 MiB in the middle, given unaligned ends (widened to whole pages), then a range reaching
  // past the end of the mapping (clamped).
  (*f)->ReleaseResidentPages(d + (16 << 20) + 100, d + (32 << 20) - 100);
  const uint64_t released = RssFileBytes();
  EXPECT_GE(resident - released, uint64_t{15} << 20) << resident << " -> " << released;
  EXPECT_LE(resident - released, uint64_t{17} << 20) << resident << " -> " << released;
  (*f)->ReleaseResidentPages(d + kSize - (1 << 20), d + kSize + (64 << 20));
  EXPECT_LE(RssFileBytes() + (uint64_t{1} << 19), released);
  EXPECT_EQ(checksum(), before);
}

TEST(MappedFileTest, EmptyFileHasNoData) {
  TempDir tmp;
  std::ofstream(tmp.File("empty"));
  auto f = MappedFile::Open(tmp.File("empty"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->size(), 0u);
}

TEST(MappedFileTest, ErrorsNameThePathAndTheReason) {
  auto missing = MappedFile::Open("/nonexistent/core");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/core"), absl::string_view::npos);
  auto dir = MappedFile::Open("/tmp");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MappedFileTest, ClosesItsDescriptor) {
  TempDir tmp;
  std::ofstream(tmp.File("f")) << "x";
  auto count_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  auto before = count_fds();
  {
    auto f = MappedFile::Open(tmp.File("f"));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(count_fds(), before + 1);
  }
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace goretain
