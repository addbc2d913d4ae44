// Synthetic retention trees with totals known by construction, shared by the
// analysis tests.
#ifndef GORETAIN_TESTS_ANALYSIS_TEST_TREES_H_
#define GORETAIN_TESTS_ANALYSIS_TEST_TREES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/path.h"
#include "analysis/tree.h"
#include "analysis/tree_builder.h"

namespace goretain::analysis::testing {

inline Frame Global(const std::string& n) {
  return {FrameKind::kRootGlobal, n, ""};
}
inline Frame Stack(const std::string& n) {
  return {FrameKind::kRootStack, n, ""};
}
inline Frame Field(const std::string& n, const std::string& t) {
  return {FrameKind::kField, n, t};
}
inline Frame MapVal(const std::string& t) {
  return {FrameKind::kMapValue, "$mapval", t};
}
inline Frame Index(const std::string& n, const std::string& t) {
  return {FrameKind::kIndex, n, t};
}

struct Sample {
  std::vector<Frame> path;
  uint64_t bytes;
  uint64_t count;
  uint64_t retained = 0;
};

// The "session cache leak" heap, as a test reads it:
//   main.sessionCache   7,000,000 B  1,100 objects
//     $mapval (*main.Session)        1,000,000 B self, 1,000 objects
//       history ([]main.Entry)       6,000,000 B self,   100 objects
//   net/http.DefaultClient 2,000,000 B
//     Transport (*net/http.Transport)      1,500,000 B, 3 objects
//     Jar (net/http.CookieJar)               500,000 B, 2 objects
//   main.worker.buf (goroutine root) 500,000 B, 10 objects (self)
//   main.small0 .. main.small9      1,000 B, 1 object each (self)
// total 9,510,000 B in 1,125 objects.
inline constexpr uint64_t kSessionBytes = 7'000'000, kClientBytes = 2'000'000,
                          kWorkerBytes = 500'000, kSmallBytes = 1'000,
                          kTotalBytes = 9'510'000, kTotalCount = 1'125;

inline std::vector<Sample> SessionSamples(uint64_t history_bytes = 6'000'000) {
  std::vector<Sample> s = {
      {{Global("main.sessionCache"), MapVal("*main.Session")},
       1'000'000,
       1'000,
       0},
      {{Global("main.sessionCache"), MapVal("*main.Session"),
        Field("history", "[]main.Entry")},
       history_bytes,
       100,
       0},
      {{Global("net/http.DefaultClient"),
        Field("Transport", "*net/http.Transport")},
       1'500'000,
       3},
      {{Global("net/http.DefaultClient"), Field("Jar", "net/http.CookieJar")},
       500'000,
       2},
      {{Stack("main.worker.buf")}, 500'000, 10},
  };
  for (int i = 0; i < 10; i++)
    s.push_back({{Global("main.small" + std::to_string(i))}, 1'000, 1});
  return s;
}

inline PathTree BuildTree(const std::vector<Sample>& samples) {
  PathTreeBuilder b;
  for (const Sample& s : samples) {
    absl::Status st = b.Add(s.path, s.bytes, s.count, s.retained);
    if (!st.ok()) std::abort();
  }
  return std::move(b).Build();
}

inline PathTree SessionTree() { return BuildTree(SessionSamples()); }

// Index of the node with path `frames` (canonical), or -1.
inline int FindNode(const PathTree& t, const std::vector<Frame>& frames) {
  uint64_t id = PathId(frames);
  for (size_t i = 0; i < t.nodes.size(); i++) {
    if (t.nodes[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace goretain::analysis::testing

#endif  // GORETAIN_TESTS_ANALYSIS_TEST_TREES_H_
