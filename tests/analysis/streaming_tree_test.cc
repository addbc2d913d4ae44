// The one-pass breadth-first tree (`analyze --low-memory`) on a real core: its chunked walk
// (each chunk's objects scanned in address order, their targets reached in queue order) gives the
// tree of a walk one object at a time, whatever the chunk size, and keeps the core's pages that it
// maps within its budget.
#include "analysis/streaming_tree.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "analysis/folded.h"
#include "gocore/loaded_core.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace goretain::testing {
namespace {

struct Walk {
  std::string folded;  // bytes, then counts
  uint64_t reachable_objects = 0, reachable_bytes = 0, typed_bytes = 0;
  uint64_t max_resident_core = 0;  // sampled every millisecond during the walk
};

Walk RunWalk(const std::string& core, const std::string& exe, analysis::StreamingOptions opts) {
  Walk w;
  auto lc = gocore::LoadCoreSpansOnly(core, {.exe_path = exe});
  EXPECT_TRUE(lc.ok()) << lc.status();
  if (!lc.ok()) return w;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_resident{0};
  std::thread sampler([&] {
    while (!done.load()) {
      const uint64_t r = ResidentBytesOf(core);
      if (r > max_resident.load()) max_resident.store(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  auto result = analysis::BuildStreamingBfsTree(**lc, opts);
  done.store(true);
  sampler.join();
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return w;
  std::ostringstream bytes, counts;
  EXPECT_TRUE(analysis::WriteFolded(result->tree, bytes).ok());
  EXPECT_TRUE(analysis::WriteFolded(result->tree, counts,
                                    {.value = analysis::FoldedOptions::Value::kCount})
                  .ok());
  w.folded = bytes.str() + counts.str();
  w.reachable_objects = result->reachable_objects;
  w.reachable_bytes = result->reachable_bytes;
  w.typed_bytes = result->typed_bytes;
  w.max_resident_core = max_resident.load();
  return w;
}

TEST(StreamingTreeTest, ChunksGiveTheOneAtATimeTreeAndBoundTheCoresResidentPages) {
  const Variant& v = Variants().back();
  TempDir tmp;
  // About 1.3 M objects, 64 MiB of heap.
  Child child({v.Binary("shapes"), "-scale", "2"});
  ASSERT_FALSE(child.ReadLine(std::chrono::seconds(120)).empty()) << "shapes did not start";
  std::string err;
  const std::string core = Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;
  child.Kill();
  const std::string exe = v.Binary("shapes");

  // Chunks of one object take the path that reads each object where it is, in queue order: the
  // walk one object at a time.
  analysis::StreamingOptions one;
  one.chunk_objects = 1;
  const Walk reference = RunWalk(core, exe, one);
  ASSERT_GT(reference.reachable_objects, 1000000u);
  ASSERT_FALSE(reference.folded.empty());

  analysis::StreamingOptions defaults;
  analysis::StreamingOptions small;  // many chunks, each scanned in address order
  small.chunk_objects = 2000;
  small.chunk_bytes = 64 << 10;
  small.release_core_every = 1 << 20;
  analysis::StreamingOptions large;  // the whole frontier at once
  large.chunk_objects = 1 << 20;
  large.chunk_bytes = 1ull << 30;
  large.release_core_every = 1ull << 40;  // never gives pages back while walking
  // The same without the thread that maps the core's pages ahead of the scan.
  analysis::StreamingOptions defaults_alone = defaults, small_alone = small;
  defaults_alone.page_ahead = small_alone.page_ahead = false;
  for (const auto& [name, opts] :
       {std::pair{"defaults", defaults}, std::pair{"small", small}, std::pair{"large", large},
        std::pair{"defaults_alone", defaults_alone}, std::pair{"small_alone", small_alone}}) {
    SCOPED_TRACE(name);
    const Walk w = RunWalk(core, exe, opts);
    RecordProperty(std::string(name) + "_max_resident_core", std::to_string(w.max_resident_core));
    EXPECT_EQ(w.reachable_objects, reference.reachable_objects);
    EXPECT_EQ(w.reachable_bytes, reference.reachable_bytes);
    EXPECT_EQ(w.typed_bytes, reference.typed_bytes);
    EXPECT_TRUE(w.folded == reference.folded) << "the tree differs from the one-at-a-time walk's";
    if (opts.release_core_every < (1ull << 40)) {
      // The windows counted, as many again for span bitmaps in a window next to their objects',
      // and the pages of span records, stacks and type data read since pages were last given
      // back; with the pager, the 2 MiB it maps in front of the scan.
      EXPECT_LE(w.max_resident_core,
                2 * opts.release_core_every + (4 << 20) + (opts.page_ahead ? 2 << 20 : 0));
    }
    if (std::string(name) == "large") {
      // Without giving pages back the walk keeps much of the 64 MiB heap resident: the sampling
      // above sees what the walk maps.
      EXPECT_GE(w.max_resident_core, 16u << 20);
    }
  }
}

}  // namespace
}  // namespace goretain::testing
