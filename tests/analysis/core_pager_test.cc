// The thread that maps a file's pages ahead of a sweep and gives them back when asked: checked
// on a real file mapping through the process's own resident-page accounting.
#include "analysis/internal/core_pager.h"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/mapped_file.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace goretain::testing {
namespace {

using analysis::internal::CorePager;

// Waits up to 10 s for `done()`.
template <typename Fn>
bool WaitFor(Fn&& done) {
  for (int i = 0; i < 10000; i++) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

TEST(CorePagerTest, MapsAheadOfTheSweepAndGivesBackAllButWhatItStillNeeds) {
  TempDir tmp;
  constexpr size_t kSize = 64 << 20;
  WritePatternFile(tmp.File("core"), kSize, 13);
  auto f = MappedFile::Open(tmp.File("core"));
  ASSERT_TRUE(f.ok()) << f.status();
  const uint8_t* d = (*f)->data();
  uint64_t sum_before = 0;
  {
    std::ifstream in(tmp.File("core"), std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t i = 0; i < kSize; i += 4096) sum_before += static_cast<uint8_t>(all[i]);
  }
  (*f)->ReleaseResidentPages();
  ASSERT_LT(ResidentBytesOf(tmp.File("core")), uint64_t{1} << 20);

  constexpr size_t kAhead = 32;  // windows: 2 MiB
  CorePager pager(**f, kAhead);
  // A sweep reading the first byte of each 64 KiB of the file, every other one.
  std::vector<const uint8_t*> targets;
  for (size_t off = 0; off < kSize; off += 128 << 10) targets.push_back(d + off);
  const size_t n = targets.size();
  pager.Begin(&targets);
  EXPECT_TRUE(targets.empty());

  // Before the sweep reads anything, the thread maps the targets in its first 32 windows
  // (16 of them), and no further.
  pager.Reached(d);
  ASSERT_TRUE(WaitFor([&] { return pager.windows_mapped() >= kAhead / 2; }))
      << pager.windows_mapped();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(pager.windows_mapped(), kAhead / 2);
  const uint64_t ahead = ResidentBytesOf(tmp.File("core"));
  EXPECT_GE(ahead, (kAhead / 2) * (64 << 10)) << "the windows mapped are resident";

  // The sweep reads half the file: the thread keeps mapping in front of it.
  uint64_t sum = 0;
  for (size_t k = 0; k < n / 2; k++) {
    pager.Reached(d + k * (128 << 10));
    sum += d[k * (128 << 10)];
    for (size_t i = 4096; i < (128 << 10); i += 4096) sum += d[k * (128 << 10) + i];
  }
  const uint64_t swept = ResidentBytesOf(tmp.File("core"));
  EXPECT_GE(swept, uint64_t{24} << 20) << "half the file was read";

  // All but the window read now and the 2 MiB in front of it are given back.
  const uint8_t* at = d + (n / 2 - 1) * (128 << 10);
  pager.GiveBackAllBut(at);
  ASSERT_TRUE(WaitFor([&] { return pager.give_backs() >= 1; }));
  const uint64_t kept = ResidentBytesOf(tmp.File("core"));
  EXPECT_LE(kept, (kAhead + 1) * (64 << 10) + (2 << 20)) << "from " << swept;

  // The rest of the sweep; the bytes read are the file's.
  for (size_t k = n / 2; k < n; k++) {
    pager.Reached(d + k * (128 << 10));
    for (size_t i = 0; i < (128 << 10); i += 4096) sum += d[k * (128 << 10) + i];
  }
  pager.End(&targets);
  EXPECT_GE(targets.capacity(), n) << "the storage given to Begin comes back";
  EXPECT_EQ(sum, sum_before);
  EXPECT_GE(pager.windows_mapped(), kAhead / 2);
}

TEST(CorePagerTest, EndsAndStopsWhileTheThreadWaits) {
  TempDir tmp;
  std::ofstream(tmp.File("small"), std::ios::binary) << std::string(1 << 20, 'x');
  auto f = MappedFile::Open(tmp.File("small"));
  ASSERT_TRUE(f.ok());
  CorePager pager(**f, 4);
  for (int sweep = 0; sweep < 100; sweep++) {
    std::vector<const uint8_t*> targets = {(*f)->data(), (*f)->data() + (512 << 10)};
    pager.Begin(&targets);
    pager.End(&targets);
  }
  std::vector<const uint8_t*> none;
  pager.Begin(&none);
  pager.End(&none);
  SUCCEED();  // the destructor joins the thread: a hang here fails the test by its timeout
}

}  // namespace
}  // namespace goretain::testing
