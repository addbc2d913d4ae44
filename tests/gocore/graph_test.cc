// Roots, the reference graph, retained sizes and types against what the fixture measured with the
// Go runtime itself, on every Go version and build variant; gcore cores and kernel cores.
#include "gocore/graph.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "analysis/heap_graph.h"
#include "gocore/loaded_core.h"
#include "nlohmann/json.hpp"
#include "tests/testing/fixtures.h"

namespace goretain::gocore {
namespace {

using goretain::testing::Child;
using goretain::testing::TempDir;
using goretain::testing::Variant;
using goretain::testing::VariantByName;

struct DumpedGoroutine {
  std::string state;
  std::vector<std::string> functions;
};

// Parses runtime.Stack(all=true) output: "goroutine N [state]:" then function/file line pairs.
std::map<int64_t, DumpedGoroutine> ParseStacks(const std::string& dump) {
  std::map<int64_t, DumpedGoroutine> out;
  DumpedGoroutine* cur = nullptr;
  for (absl::string_view line : absl::StrSplit(dump, '\n')) {
    if (absl::StartsWith(line, "goroutine ")) {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
      int64_t id = std::stoll(parts[1]);
      cur = &out[id];
      size_t a = line.find('['), b = line.find_first_of(",]", a);
      cur->state = std::string(line.substr(a + 1, b - a - 1));
    } else if (cur != nullptr && !line.empty() && line[0] != '\t' &&
               !absl::StartsWith(line, "created by")) {
      size_t paren = line.rfind('(');
      cur->functions.emplace_back(line.substr(0, paren));
    }
  }
  return out;
}

// True if `want` appears in order within `have`.
bool IsSubsequence(const std::vector<std::string>& want, const std::vector<std::string>& have) {
  size_t i = 0;
  for (const auto& h : have) {
    if (i < want.size() && h == want[i]) i++;
  }
  return i == want.size();
}

struct Totals {
  uint64_t reachable_bytes, reachable_objects, objects, bytes;
};

class GraphTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GraphTest, RootsRetainedSizesTypesAndGoroutinesMatchTheRuntime) {
  const Variant& v = VariantByName(GetParam());
  TempDir tmp;
  // Started through a shell so that it can dump core (kernel core in tmp) on SIGQUIT.
  Child child({"/bin/sh", "-c",
               "ulimit -c unlimited; cd '" + tmp.path() + "' && exec '" + v.Binary("shapes") + "'"},
              {"GOTRACEBACK=crash"});
  std::string line = child.ReadLine(std::chrono::seconds(120));
  ASSERT_FALSE(line.empty());
  auto fx = nlohmann::json::parse(line);
  std::string err;
  std::string core = goretain::testing::Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;

  auto lc = LoadCore(core, {.exe_path = v.Binary("shapes")});
  ASSERT_TRUE(lc.ok()) << lc.status();
  const LoadedCore& c = **lc;
  EXPECT_TRUE(c.damage.empty()) << c.damage.begin()->first;
  const ObjectGraph& g = *c.graph;

  // Which edges point inside their target agrees with the pointers in memory: the fixture's
  // records[i].next = &records[i-1] point into an array, most pointers at an object's start.
  uint64_t inside = 0, at_start = 0;
  for (uint32_t id = 0; id < c.heap->num_objects(); id++) {
    const auto edges = g.OutEdges(id);
    for (size_t k = 0; k < edges.size(); k++) {
      const uint64_t ptr =
          c.program->mem().ReadU64(c.heap->object_addr(id) + edges[k].offset).value_or(0);
      const bool want = ptr != c.heap->object_addr(edges[k].target);
      ASSERT_EQ(g.PointsInside(g.first_edge(id) + k), want) << "edge " << k << " of object " << id;
      (want ? inside : at_start)++;
    }
  }
  EXPECT_GE(inside, 9999u);
  EXPECT_GT(at_start, inside);

  // Our mark from the roots keeps what the runtime's last GC kept.
  const double heap_alloc = fx["heap_alloc"];
  EXPECT_NEAR(double(g.reachable_bytes), heap_alloc, heap_alloc * 0.01)
      << "reachable " << g.reachable_bytes << " vs HeapAlloc " << heap_alloc;

  // Retained size of each planted structure's root equals what the runtime measured for it.
  analysis::HeapGraph hg(*c.heap, g, c.roots.roots);
  auto ret = hg.ComputeRetention();
  std::map<std::string, uint64_t> retained_by_name;
  std::map<std::string, std::vector<int64_t>> goroutines_by_name;
  for (uint32_t r = 0; r < c.roots.roots.size(); r++) {
    const Root& root = c.roots.roots[r];
    retained_by_name[root.name] += ret.retained(hg.RootNode(r));
    if (root.goroutine >= 0) goroutines_by_name[root.name].push_back(root.goroutine);
  }
  for (const auto& [name, m] : fx["structures"].items()) {
    std::string root = m["root"];
    ASSERT_TRUE(retained_by_name.count(root)) << "no root named " << root;
    if (name == "finalized") continue;  // its contents are kept by the finalizer root too
    double want = m["bytes"];
    EXPECT_NEAR(double(retained_by_name[root]), want, want * 0.01)
        << name << ": retained by " << root;
  }
  // What a finalized object points to is kept alive by its finalizer too (so no single root
  // dominates the fixture's 1 MiB buffer): a finalizer root points at it.
  bool finalizer_keeps_buffer = false;
  for (uint32_t r = 0; r < c.roots.roots.size(); r++) {
    if (c.roots.roots[r].name != "runtime.SetFinalizer.obj") continue;
    for (const Edge& e : g.RootEdges(r)) {
      finalizer_keeps_buffer |= c.heap->object_size(e.target) >= (1u << 20);
    }
  }
  EXPECT_TRUE(finalizer_keeps_buffer);

  // Goroutine-local roots carry their goroutine, whose trace shows the function.
  const auto& workers = goroutines_by_name["main.worker.buf"];
  EXPECT_EQ(workers.size(), 4u);
  for (int64_t id : workers) {
    bool found = false;
    for (const Goroutine& gr : c.roots.goroutines) {
      if (gr.id != id) continue;
      for (const auto& fr : gr.frames) {
        for (const auto& call : fr.calls) found |= call.function == "main.worker";
      }
    }
    EXPECT_TRUE(found) << "goroutine " << id << " has no main.worker frame";
  }

  // Types for (nearly) everything: from Go 1.23 all but a few kilobytes of runtime internals;
  // Go 1.22's DWARF has no closure layouts, so captured variables stay untyped.
  const double typed_share = absl::StartsWith(GetParam(), "go1.22") ? 0.985 : 0.999;
  EXPECT_GE(double(c.typing->typed_bytes), typed_share * double(g.reachable_bytes))
      << "untyped " << c.typing->untyped_bytes;

  // Every goroutine of the fixture's own runtime.Stack dump, with its state and functions.
  auto dumped = ParseStacks(fx["stacks"]);
  ASSERT_GE(dumped.size(), 5u);
  for (const auto& [id, dg] : dumped) {
    const Goroutine* ours = nullptr;
    for (const Goroutine& gr : c.roots.goroutines) {
      if (gr.id == id) ours = &gr;
    }
    ASSERT_NE(ours, nullptr) << "goroutine " << id << " missing";
    std::vector<std::string> have;
    for (const auto& fr : ours->frames) {
      for (const auto& call : fr.calls) have.push_back(call.function);
    }
    std::vector<std::string> want = dg.functions;
    if (id == 1) {
      // main was running runtime.Stack when it dumped; compare from main.main outwards.
      auto it = std::find(want.begin(), want.end(), "main.main");
      ASSERT_NE(it, want.end());
      want.erase(want.begin(), it);
    } else {
      // A goroutine parked on something (chan receive, select, sleep…) stays so until the core is
      // taken; one that was runnable, running or in a syscall at the dump may have moved on (the
      // signal goroutine goes runnable → syscall as it re-enters its wait).
      std::string state = ours->wait_reason.empty() ? ours->status_name : ours->wait_reason;
      const bool transient =
          dg.state == "runnable" || dg.state == "running" || dg.state == "syscall";
      if (!transient) {
        EXPECT_EQ(state, dg.state) << "goroutine " << id;
      }
    }
    EXPECT_TRUE(IsSubsequence(want, have))
        << "goroutine " << id << ": dump " << absl::StrJoin(want, " < ") << "; ours "
        << absl::StrJoin(have, " < ");
  }
  Totals gcore_totals{g.reachable_bytes, g.reachable_objects, c.heap->num_objects(),
                      c.heap->total_bytes()};

  // The kernel's core of the same idle process gives the same totals.
  ASSERT_EQ(kill(child.pid(), SIGQUIT), 0);
  int status = 0;
  waitpid(child.pid(), &status, 0);
  std::string kcore = tmp.File("core");
  ASSERT_TRUE(std::filesystem::exists(kcore)) << "no kernel core in " << tmp.path();
  auto kc = LoadCore(kcore, {.exe_path = v.Binary("shapes")});
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ((*kc)->heap->num_objects(), gcore_totals.objects);
  EXPECT_EQ((*kc)->heap->total_bytes(), gcore_totals.bytes);
  EXPECT_EQ((*kc)->graph->reachable_objects, gcore_totals.reachable_objects);
  EXPECT_EQ((*kc)->graph->reachable_bytes, gcore_totals.reachable_bytes);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, GraphTest,
                         ::testing::ValuesIn(goretain::testing::VariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace goretain::gocore
