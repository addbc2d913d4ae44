#include "base/spill_queue.h"

#include <deque>
#include <random>

#include "gtest/gtest.h"

namespace goretain {
namespace {

struct Rec {
  uint64_t a;
  uint32_t b, c;
};

// Interleaved pushes and pops against std::deque: the order survives blocks going to the file
// and coming back, and memory holds only a few blocks.
TEST(SpillQueueTest, KeepsFifoOrderThroughTheFile) {
  SpillQueue<Rec> q(/*memory_limit=*/4 * 64 * sizeof(Rec), "", /*block_records=*/64);
  std::deque<Rec> ref;
  std::mt19937_64 rng(7);
  uint64_t next = 0;
  for (int round = 0; round < 200; round++) {
    int pushes = static_cast<int>(rng() % 3000), pops = static_cast<int>(rng() % 2500);
    for (int i = 0; i < pushes; i++) {
      Rec r{next, static_cast<uint32_t>(next * 3), static_cast<uint32_t>(next ^ 0x55)};
      next++;
      q.Push(r);
      ref.push_back(r);
    }
    for (int i = 0; i < pops; i++) {
      Rec got;
      bool ok = q.Pop(&got);
      ASSERT_EQ(ok, !ref.empty());
      if (!ok) break;
      ASSERT_EQ(got.a, ref.front().a);
      ASSERT_EQ(got.b, ref.front().b);
      ASSERT_EQ(got.c, ref.front().c);
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
  }
  Rec got;
  while (q.Pop(&got)) {
    ASSERT_FALSE(ref.empty());
    ASSERT_EQ(got.a, ref.front().a);
    ref.pop_front();
  }
  EXPECT_TRUE(ref.empty());
  EXPECT_TRUE(q.status().ok()) << q.status();
  EXPECT_GT(q.spilled_bytes(), 0u);
  EXPECT_GT(q.max_size(), 4u * 64);
}

// A queue that never outgrows its memory never touches the file system.
TEST(SpillQueueTest, SmallQueueStaysInMemory) {
  SpillQueue<Rec> q(1 << 20, "/nonexistent-dir", 64);
  for (uint64_t i = 0; i < 1000; i++) q.Push({i, 0, 0});
  Rec r;
  for (uint64_t i = 0; i < 1000; i++) {
    ASSERT_TRUE(q.Pop(&r));
    ASSERT_EQ(r.a, i);
  }
  EXPECT_FALSE(q.Pop(&r));
  EXPECT_EQ(q.spilled_bytes(), 0u);
  EXPECT_TRUE(q.status().ok());
}

// Where the file cannot be made, the queue says so instead of losing records silently.
TEST(SpillQueueTest, UnwritableDirectoryIsAnError) {
  SpillQueue<Rec> q(3 * 64 * sizeof(Rec), "/nonexistent-dir", 64);
  for (uint64_t i = 0; i < 64 * 10; i++) q.Push({i, 0, 0});
  EXPECT_FALSE(q.status().ok());
  EXPECT_NE(q.status().message().find("/nonexistent-dir"), std::string::npos) << q.status();
}

}  // namespace
}  // namespace goretain
