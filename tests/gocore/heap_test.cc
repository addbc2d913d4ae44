// The heap index against the Go runtime's own numbers, on every supported Go version and build
// variant: a fixture builds known structures, measures them with runtime.MemStats, and we read a
// gcore core of it.
#include "gocore/heap.h"

#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "gocore/counters.h"
#include "gocore/heap_summary.h"
#include "gocore/program.h"
#include "nlohmann/json.hpp"
#include "tests/testing/fixtures.h"

namespace goretain::gocore {
namespace {

using goretain::testing::Child;
using goretain::testing::TempDir;
using goretain::testing::Variant;
using goretain::testing::VariantByName;

class HeapTest : public ::testing::TestWithParam<std::string> {};

// Reads a Go slice header {ptr, len, cap} at addr.
std::pair<uint64_t, uint64_t> ReadSlice(const Program& p, uint64_t addr) {
  return {p.mem().ReadU64(addr).value_or(0), p.mem().ReadU64(addr + 8).value_or(0)};
}

TEST_P(HeapTest, MatchesTheRuntimeAndThePlantedStructures) {
  const Variant& v = VariantByName(GetParam());
  TempDir tmp;
  Child child({v.Binary("shapes")});
  std::string line = child.ReadLine(std::chrono::seconds(120));
  ASSERT_FALSE(line.empty()) << "fixture did not start";
  auto fx = nlohmann::json::parse(line);
  std::string err;
  std::string core = goretain::testing::Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;
  child.Kill();

  auto program = Program::Open(core, {.exe_path = v.Binary("shapes")});
  ASSERT_TRUE(program.ok()) << program.status();
  const Program& p = **program;
  EXPECT_EQ(p.build_info().go_version, fx["go_version"].get<std::string>());
  EXPECT_EQ(p.exe().is_pie(), v.pie);
  if (v.pie) {
    EXPECT_NE(p.bias(), 0u);
  }

  auto types = TypeTable::Create(p);
  ASSERT_TRUE(types.ok()) << types.status();
  DamageCounters damage;
  auto heap = HeapIndex::Build(p, types->get(), &damage);
  ASSERT_TRUE(heap.ok()) << heap.status();
  EXPECT_TRUE(damage.empty()) << damage.begin()->first;
  const HeapIndex& h = **heap;
  bool green_tea = v.experiment == "greenteagc" || v.toolchain >= "go1.26";
  EXPECT_EQ(h.layout().green_tea, green_tea);

  // Ground truth 1: bytes and objects as the runtime counts them (ReadMemStats after GC).
  const double heap_alloc = fx["heap_alloc"].get<double>();
  const double heap_objects = fx["heap_objects"].get<double>();
  EXPECT_NEAR(double(h.total_bytes()), heap_alloc, heap_alloc * 0.005)
      << "ours " << h.total_bytes() << " runtime HeapAlloc " << heap_alloc;
  EXPECT_NEAR(double(h.num_objects()), heap_objects, heap_objects * 0.01)
      << "ours " << h.num_objects() << " runtime HeapObjects " << heap_objects;
  auto counters = ReadRuntimeCounters(p);
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_EQ(counters->num_gc, fx["num_gc"].get<uint32_t>());
  EXPECT_EQ(counters->gc_phase, 0u);
  EXPECT_NEAR(double(counters->heap_marked), heap_alloc, heap_alloc * 0.005);

  // Ground truth 2: the types the heap records for the objects the fixture planted.
  std::map<std::string, int> recorded;
  for (uint32_t i = 0; i < h.num_objects(); i++) {
    std::string n = RecordedTypeName(h, **types, i);
    if (!n.empty()) recorded[n]++;
  }
  for (const auto& [name, count] : fx["planted_types"].items()) {
    EXPECT_EQ(recorded[name], count.get<int>()) << "objects typed " << name;
  }

  // Ground truth 3: pointer bits. Walk the planted linked list (span heap bits) by following
  // the pointer at offset 0 of each node.
  auto list_addr = p.GlobalAddress("main.list");
  ASSERT_TRUE(list_addr.ok());
  uint64_t node = p.mem().ReadU64(*list_addr).value_or(0);
  int nodes = 0;
  while (node != 0 && nodes <= fx["list_len"].get<int>()) {
    auto id = h.FindObject(node);
    ASSERT_TRUE(id.has_value()) << "list node " << nodes << " not in the heap";
    ASSERT_EQ(h.object_addr(*id), node);
    uint64_t next = 0;
    int ptrs = 0;
    h.ForEachPointer(*id, [&](uint64_t off, uint64_t val) {
      ptrs++;
      if (off == 0) next = val;
    });
    EXPECT_LE(ptrs, 2);  // next and label's data pointer are the only pointer words
    node = next;
    nodes++;
  }
  EXPECT_EQ(nodes, fx["list_len"].get<int>());

  // Slices of pointers (header objects for 100..4000 elements, large for 20000): every element
  // is a pointer word resolving to a Payload object, and nothing else is.
  auto ps = p.GlobalAddress("main.ptrSlices");
  ASSERT_TRUE(ps.ok());
  auto [outer, nslices] = ReadSlice(p, *ps);
  ASSERT_EQ(nslices, 5u);
  for (uint64_t i = 0; i < nslices; i++) {
    auto [arr, len] = ReadSlice(p, outer + i * 24);
    auto id = h.FindObject(arr);
    ASSERT_TRUE(id.has_value());
    uint64_t base = h.object_addr(*id);
    uint64_t count = 0;
    bool all_payload = true;
    h.ForEachPointer(*id, [&](uint64_t off, uint64_t val) {
      if (base + off >= arr && base + off < arr + len * 8) count++;
      auto target = h.FindObject(val);
      if (!target || h.object_size(*target) < 32) all_payload = false;
    });
    EXPECT_EQ(count, len) << "slice of " << len << " pointers";
    EXPECT_TRUE(all_payload);
  }

  // A large object of a type with more than 16384 pointer words (mask built on demand in 1.24+):
  // every 7th element is set.
  auto bp = p.GlobalAddress("main.bigPtrs");
  ASSERT_TRUE(bp.ok());
  auto big = h.FindObject(p.mem().ReadU64(*bp).value_or(0));
  ASSERT_TRUE(big.has_value());
  uint64_t big_ptrs = 0;
  h.ForEachPointer(*big, [&](uint64_t off, uint64_t) {
    EXPECT_EQ(off / 8 % 7, 0u);
    big_ptrs++;
  });
  EXPECT_EQ(big_ptrs, (20000u + 6) / 7);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, HeapTest,
                         ::testing::ValuesIn(goretain::testing::VariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace goretain::gocore
