// Bad input to `goretain heap`: a one-line error naming the problem and a non-zero exit, never a
// crash; damage local to spans is counted and the rest still read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gocore/heap.h"
#include "gocore/program.h"
#include "nlohmann/json.hpp"
#include "tests/testing/fixtures.h"

namespace goretain::testing {
namespace {

const Variant& Newest() { return Variants().back(); }

// Runs `goretain heap ARGS...`.
CommandResult Heap(std::vector<std::string> args) {
  args.insert(args.begin(), {BinaryPath("goretain"), "heap"});
  return RunCommand(args);
}

// The error contract: no crash, exit 1, one line on stderr that contains `what`.
void ExpectOneLineError(const CommandResult& r, const std::string& what) {
  EXPECT_EQ(r.signal, 0) << "crashed: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, what)) << "stderr: " << r.err;
  EXPECT_TRUE(absl::StartsWith(r.err, "goretain: ")) << r.err;
}

// Runs a program until it prints its first line, takes a gcore core of it into dir.
std::string CoreOf(const std::vector<std::string>& argv, const std::string& dir) {
  Child child(argv);
  if (child.ReadLine(std::chrono::seconds(60)).empty()) return "";
  std::string err;
  std::string core = Gcore(child.pid(), dir, &err);
  EXPECT_FALSE(core.empty()) << err;
  return core;
}

// Builds a one-file Go program with a toolchain and flags into dir/name.
std::string BuildGo(const std::string& toolchain, const std::string& go_mod_version,
                    const std::vector<std::string>& flags, const std::string& dir,
                    const std::string& name) {
  std::string src = dir + "/src-" + name;
  std::filesystem::create_directories(src);
  std::ofstream(src + "/go.mod") << "module example.com/" << name << "\n\ngo " << go_mod_version
                                 << "\n";
  std::ofstream(src + "/main.go") << R"(package main

import (
	"fmt"
	"os"
	"os/signal"
)

var keep [][]byte

func main() {
	for i := 0; i < 1000; i++ {
		keep = append(keep, make([]byte, 100))
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	fmt.Println("ready")
	<-c
}
)";
  std::vector<std::string> argv = {"env", "GOTOOLCHAIN=" + toolchain, "GOFLAGS=-buildvcs=false",
                                   "go", "-C", src, "build", "-o", dir + "/" + name};
  argv.insert(argv.end(), flags.begin(), flags.end());
  CommandResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir + "/" + name;
}

TEST(HeapBadInputTest, NotAnElfFile) {
  TempDir tmp;
  std::ofstream(tmp.File("notes.txt")) << "this is not a core\n";
  ExpectOneLineError(Heap({tmp.File("notes.txt"), "--exe", Newest().Binary("idle")}),
                     "not an ELF file");
}

TEST(HeapBadInputTest, ExecutableGivenAsCore) {
  ExpectOneLineError(Heap({Newest().Binary("idle")}), "not a core");
}

TEST(HeapBadInputTest, CoreOfANonGoProgram) {
  TempDir tmp;
  std::string core = CoreOf({"/bin/sh", "-c", "echo up; exec sleep 600"}, tmp.path());
  ASSERT_FALSE(core.empty());
  ExpectOneLineError(Heap({core}), "core of a non-Go program");
  // With a Go executable named for it, the mismatch is still caught.
  CommandResult r = Heap({core, "--exe", Newest().Binary("idle")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "non-Go program") ||
              absl::StrContains(r.err, "does not match"))
      << r.err;
}

TEST(HeapBadInputTest, ExecutableNotMatchingTheCore) {
  TempDir tmp;
  const Variant& v = Newest();
  std::string core = CoreOf({v.Binary("idle")}, tmp.path());
  ASSERT_FALSE(core.empty());
  // Another program built by the same toolchain.
  ExpectOneLineError(Heap({core, "--exe", v.Binary("shapes")}), "does not match the core");
  // The same program built by another toolchain.
  ExpectOneLineError(Heap({core, "--exe", Variants().front().Binary("idle")}),
                     "does not match the core");
}

TEST(HeapBadInputTest, ExecutableWithoutDwarf) {
  TempDir tmp;
  std::string exe = BuildGo(Newest().toolchain, "1.22", {"-ldflags=-w"}, tmp.path(), "nodwarf");
  std::string core = CoreOf({exe}, tmp.path());
  ASSERT_FALSE(core.empty());
  ExpectOneLineError(Heap({core, "--exe", exe}), "no DWARF");
}

TEST(HeapBadInputTest, GoOlderThan122) {
  TempDir tmp;
  CommandResult old = RunCommand({std::string(GORETAIN_SOURCE_DIR) + "/scripts/go-toolchains.sh",
                                  "--old"});
  ASSERT_EQ(old.exit_code, 0) << old.err;
  std::string toolchain(absl::StripTrailingAsciiWhitespace(old.out));
  ASSERT_TRUE(absl::StartsWith(toolchain, "go1.21")) << toolchain;
  std::string exe = BuildGo(toolchain, "1.21", {}, tmp.path(), "old");
  std::string core = CoreOf({exe}, tmp.path());
  ASSERT_FALSE(core.empty());
  ExpectOneLineError(Heap({core, "--exe", exe}), "Go 1.22 and newer");
}

TEST(HeapBadInputTest, TruncatedCore) {
  TempDir tmp;
  const Variant& v = Newest();
  std::string core = CoreOf({v.Binary("idle")}, tmp.path());
  ASSERT_FALSE(core.empty());
  std::filesystem::resize_file(core, std::filesystem::file_size(core) * 6 / 10);
  ExpectOneLineError(Heap({core, "--exe", v.Binary("idle")}), "truncated core");
  // Cut inside the notes: still a clean error.
  std::filesystem::resize_file(core, 1000);
  CommandResult r = Heap({core, "--exe", v.Binary("idle")});
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "truncated")) << r.err;
}

// Overwrites the elemsize of some in-use spans inside the core file: those spans are counted as
// damage, everything else is still read, and the exit code says the input was damaged.
// Overwrites `field` of ten in-use spans of 48-byte objects with `garbage`: each is counted as a
// bad span and skipped, the rest of the heap read.
void ExpectTenBadSpans(const std::string& field, uint64_t garbage) {
  TempDir tmp;
  const Variant& v = Newest();
  std::string core = CoreOf({v.Binary("shapes")}, tmp.path());
  ASSERT_FALSE(core.empty());

  CommandResult good = Heap({core, "--exe", v.Binary("shapes"), "--json"});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  auto good_json = nlohmann::json::parse(good.out);

  // Locate in-use mspans and their elemsize field in the core file.
  std::vector<uint64_t> file_offsets;
  {
    auto p = gocore::Program::Open(core, {.exe_path = v.Binary("shapes")});
    ASSERT_TRUE(p.ok()) << p.status();
    auto types = gocore::TypeTable::Create(**p);
    ASSERT_TRUE(types.ok());
    gocore::DamageCounters d;
    auto heap = gocore::HeapIndex::Build(**p, types->get(), &d);
    ASSERT_TRUE(heap.ok());
    const auto& dw = (*p)->dwarf();
    auto elemsize = dw.FieldPath("runtime.mspan", "elemsize");
    auto patched = dw.FieldPath("runtime.mspan", field);
    auto allspans = dw.FieldPath("runtime.mheap", "allspans");
    ASSERT_TRUE(elemsize.ok() && patched.ok() && allspans.ok());
    uint64_t mheap = *(*p)->GlobalAddress("runtime.mheap_");
    uint64_t arr = *(*p)->mem().ReadU64(mheap + allspans->offset);
    uint64_t n = *(*p)->mem().ReadU64(mheap + allspans->offset + 8);
    auto file_offset = [&](uint64_t va) -> int64_t {
      for (const auto& s : (*p)->core().segments()) {
        if (s.vaddr <= va && va + 8 <= s.vaddr + s.filesz) return s.offset + (va - s.vaddr);
      }
      return -1;
    };
    for (uint64_t i = 0; i < n && file_offsets.size() < 10; i++) {
      uint64_t span = *(*p)->mem().ReadU64(arr + i * 8);
      uint64_t es = *(*p)->mem().ReadU64(span + elemsize->offset);
      // Pick spans of 48-byte objects: the fixture has many.
      if (es != 48) continue;
      int64_t off = file_offset(span + patched->offset);
      if (off >= 0) file_offsets.push_back(off);
    }
  }
  ASSERT_EQ(file_offsets.size(), 10u);
  {
    std::fstream f(core, std::ios::in | std::ios::out | std::ios::binary);
    for (uint64_t off : file_offsets) {
      f.seekp(off);
      f.write(reinterpret_cast<const char*>(&garbage), 8);
    }
  }
  CommandResult bad = Heap({core, "--exe", v.Binary("shapes"), "--json"});
  EXPECT_EQ(bad.signal, 0);
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "damaged")) << bad.err;
  auto bad_json = nlohmann::json::parse(bad.out);
  EXPECT_EQ(bad_json["damage"]["bad_span"], 10);
  uint64_t good_objects = good_json["objects"], bad_objects = bad_json["objects"];
  EXPECT_LT(bad_objects, good_objects);
  // Ten 8 KiB spans of 48-byte objects hold at most 1700 objects: the rest was read.
  EXPECT_GE(bad_objects + 1710, good_objects);
}

TEST(HeapBadInputTest, CorruptedSpanDataIsCountedAndTheRestRead) {
  ExpectTenBadSpans("elemsize", 0x7fffffffffff1234ull);
}

// Found by fuzzing: a span claiming 2^30 pages (8 TiB) passed the checks and its page table entries
// were built one page at a time (minutes, gigabytes).
TEST(HeapBadInputTest, SpanLargerThanTheCoreIsCountedAndTheRestRead) {
  ExpectTenBadSpans("npages", uint64_t{1} << 30);
}

// Overwrites 8-byte words of a core file at the given virtual addresses (each must be backed by
// the file).
void PatchCore(const std::string& core, const std::string& exe,
               const std::vector<std::pair<uint64_t, uint64_t>>& words) {
  std::vector<std::pair<int64_t, uint64_t>> at;
  {
    auto p = gocore::Program::Open(core, {.exe_path = exe});
    ASSERT_TRUE(p.ok()) << p.status();
    for (const auto& [va, value] : words) {
      int64_t off = -1;
      for (const auto& s : (*p)->core().segments()) {
        if (s.vaddr <= va && va + 8 <= s.vaddr + s.filesz) off = s.offset + (va - s.vaddr);
      }
      ASSERT_GE(off, 0) << "0x" << std::hex << va << " is not in the core file";
      at.emplace_back(off, value);
    }
  }
  std::fstream f(core, std::ios::in | std::ios::out | std::ios::binary);
  for (const auto& [off, value] : at) {
    f.seekp(off);
    f.write(reinterpret_cast<const char*>(&value), 8);
  }
}

// Address of a field of a Go global (e.g. runtime.firstmoduledata.funcnametab.len).
uint64_t FieldAddress(const std::string& core, const std::string& exe, const std::string& global,
                      const std::string& type, const std::string& field) {
  auto p = gocore::Program::Open(core, {.exe_path = exe});
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return 0;
  auto g = (*p)->GlobalAddress(global);
  auto f = (*p)->dwarf().FieldPath(type, field);
  EXPECT_TRUE(g.ok() && f.ok()) << global << "." << field;
  return g.ok() && f.ok() ? *g + f->offset : 0;
}

// Found by fuzzing (tests/fuzz/fuzz_heap.cc): a damaged length of a pclntab table that the
// executable check does not compare (cutab) used to be allocated as is (std::bad_alloc, abort).
TEST(AnalyzeBadInputTest, DamagedFunctionTableLengthIsAnErrorNotACrash) {
  TempDir tmp;
  const Variant& v = Newest();
  std::string core = CoreOf({v.Binary("idle")}, tmp.path());
  ASSERT_FALSE(core.empty());
  const uint64_t len = FieldAddress(core, v.Binary("idle"), "runtime.firstmoduledata",
                                    "runtime.moduledata", "cutab.len");
  ASSERT_NE(len, 0u);
  PatchCore(core, v.Binary("idle"), {{len, uint64_t{1} << 60}});
  CommandResult r = RunCommand({BinaryPath("goretain"), "analyze", core, "--exe", v.Binary("idle"),
                                "-o", tmp.File("a.json")},
                               std::chrono::seconds(120));
  ExpectOneLineError(r, "cutab");
  EXPECT_FALSE(std::filesystem::exists(tmp.File("a.json")));
}

// Found by fuzzing: damaged stack bounds of a goroutine that cannot be unwound sent the
// conservative stack scan over 2^50 bytes of address space (it never finished).
TEST(AnalyzeBadInputTest, DamagedStackBoundsAreCountedAndTheRestRead) {
  TempDir tmp;
  const Variant& v = Newest();
  std::string core = CoreOf({v.Binary("idle")}, tmp.path());
  ASSERT_FALSE(core.empty());
  CommandResult good = RunCommand({BinaryPath("goretain"), "analyze", core, "--exe",
                                   v.Binary("idle"), "-o", tmp.File("good.json")});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  uint64_t g0 = 0, lo_off = 0, hi_off = 0;
  {
    auto p = gocore::Program::Open(core, {.exe_path = v.Binary("idle")});
    ASSERT_TRUE(p.ok()) << p.status();
    auto allgs = (*p)->GlobalAddress("runtime.allgs");
    auto lo = (*p)->dwarf().FieldPath("runtime.g", "stack.lo");
    auto hi = (*p)->dwarf().FieldPath("runtime.g", "stack.hi");
    ASSERT_TRUE(allgs.ok() && lo.ok() && hi.ok());
    auto array = (*p)->mem().ReadU64(*allgs);
    ASSERT_TRUE(array.has_value());
    g0 = (*p)->mem().ReadU64(*array).value_or(0);  // the main goroutine
    ASSERT_NE(g0, 0u);
    lo_off = lo->offset;
    hi_off = hi->offset;
  }
  // Bounds that hold no stack pointer (unwinding stops at once) and span 2^50 bytes.
  const uint64_t lo = uint64_t{1} << 44;
  PatchCore(core, v.Binary("idle"), {{g0 + lo_off, lo}, {g0 + hi_off, lo + (uint64_t{1} << 50)}});
  CommandResult bad = RunCommand({BinaryPath("goretain"), "analyze", core, "--exe",
                                  v.Binary("idle"), "-o", tmp.File("bad.json")},
                                 std::chrono::seconds(120));
  EXPECT_EQ(bad.signal, 0) << bad.err;
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "damaged")) << bad.err;
  std::ifstream bf(tmp.File("bad.json")), gf(tmp.File("good.json"));
  auto bad_json = nlohmann::json::parse(bf), good_json = nlohmann::json::parse(gf);
  EXPECT_EQ(bad_json["damage"]["implausible_stack_bounds"], 1);
  // The heap itself was read in full.
  EXPECT_EQ(bad_json["objects"], good_json["objects"]);
  EXPECT_EQ(bad_json["allocated_bytes"], good_json["allocated_bytes"]);
}

TEST(HeapCliTest, JsonReportsOurTotalsBesideTheRuntimes) {
  TempDir tmp;
  const Variant& v = Newest();
  Child child({v.Binary("shapes")});
  auto fx = nlohmann::json::parse(child.ReadLine(std::chrono::seconds(120)));
  std::string err;
  std::string core = Gcore(child.pid(), tmp.path(), &err);
  ASSERT_FALSE(core.empty()) << err;
  child.Kill();
  // The executable is found through the core's own file notes when --exe is left out.
  CommandResult r = Heap({core, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["go_version"], fx["go_version"]);
  double heap_alloc = fx["heap_alloc"];
  EXPECT_NEAR(j["allocated_bytes"].get<double>(), heap_alloc, heap_alloc * 0.005);
  EXPECT_NEAR(j["objects"].get<double>(), fx["heap_objects"].get<double>(),
              fx["heap_objects"].get<double>() * 0.01);
  EXPECT_EQ(j["runtime"]["numgc"], fx["num_gc"]);
  EXPECT_TRUE(j["runtime"].contains("heap_marked"));
  EXPECT_TRUE(j["runtime"].contains("heap_live"));
  uint64_t sum_bytes = 0, sum_objects = 0;
  bool saw_record = false;
  for (const auto& t : j["types"]) {
    sum_bytes += t["bytes"].get<uint64_t>();
    sum_objects += t["objects"].get<uint64_t>();
    if (t["name"] == "[]main.Record") saw_record = true;
  }
  EXPECT_EQ(sum_bytes, j["allocated_bytes"].get<uint64_t>());
  EXPECT_EQ(sum_objects, j["objects"].get<uint64_t>());
  EXPECT_TRUE(saw_record);
  // Text output names the same totals.
  CommandResult text = Heap({core});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(text.out, std::to_string(j["allocated_bytes"].get<uint64_t>())));
}

}  // namespace
}  // namespace goretain::testing
