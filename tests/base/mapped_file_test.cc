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

TEST(MappedFileTest, MapsTheWholeFileReadOnly) {
  TempDir tmp;
  std::ofstream(tmp.File("f")) << "hello, core";
  auto f = MappedFile::Open(tmp.File("f"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->size(), 11u);
  EXPECT_EQ(std::memcmp((*f)->data(), "hello, core", 11), 0);
  EXPECT_EQ((*f)->path(), tmp.File("f"));
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
