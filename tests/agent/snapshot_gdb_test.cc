// Our cores against the reference tools: gdb opens them, and they hold what
// gdb's gcore holds.
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_split.h"
#include "agent/snapshot/snapshot.h"
#include "tests/agent/snapshot_testing.h"

namespace goretain::agent::snapshot {
namespace {

using goretain::testing::Child;
using goretain::testing::CoreView;
using goretain::testing::RunCommand;
using goretain::testing::TempDir;
using goretain::testing::Variant;
using goretain::testing::VariantByName;

SnapshotOptions Options(const std::string& path) {
  SnapshotOptions o;
  o.output_path = path;
  o.max_pause = std::chrono::seconds(30);
  return o;
}

class GdbTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GdbTest, InfoThreadsListsEveryThreadInGoCode) {
  const Variant& v = VariantByName(GetParam());
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  std::vector<pid_t> tids =
      goretain::testing::WaitForStableThreads(child.pid());
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), Options(dir.File("core")));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(goretain::testing::Tasks(child.pid()), tids)
      << "the idle fixture changed threads";

  auto g = RunCommand({"gdb", "-nx", "-batch", "-ex", "info threads",
                       v.Binary("idle"), dir.File("core")},
                      std::chrono::seconds(300));
  ASSERT_EQ(g.exit_code, 0) << g.err;
  // "* 1    LWP 1234          runtime.futex () at .../sys_linux_amd64.s:570"
  std::regex line_re(R"(^\*?\s+\d+\s+LWP (\d+)\s+(\S+) \()");
  std::set<pid_t> seen;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(g.out, '\n'))) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    seen.insert(std::stoi(m[1]));
    std::string fn = m[2];
    // Registers read right land in the Go runtime (threads park in futex,
    // epoll, usleep).
    EXPECT_TRUE(fn.find("runtime") != std::string::npos ||
                fn.find("syscall") != std::string::npos)
        << line;
  }
  EXPECT_EQ(std::vector<pid_t>(seen.begin(), seen.end()), tids)
      << g.out << g.err;
}

INSTANTIATE_TEST_SUITE_P(AllGoVersions, GdbTest,
                         ::testing::ValuesIn(goretain::testing::VariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace_if(
                               n.begin(), n.end(),
                               [](char c) { return !isalnum(c); }, '_');
                           return n;
                         });

class GcoreTest : public ::testing::TestWithParam<std::string> {};

// gcore (gdb) and our snapshotter on the same idle process: the same threads
// with the same registers, and every page of data gcore has is in our core,
// with the same bytes, or left to a file named in NT_FILE.
TEST_P(GcoreTest, OurCoreHoldsWhatGcoreHolds) {
  const Variant& v = VariantByName(GetParam());
  Child child({v.Binary("idle")});
  ASSERT_FALSE(child.ReadLine().empty());
  goretain::testing::WaitForStableThreads(child.pid());
  TempDir dir;
  auto r = TakeSnapshot(child.pid(), Options(dir.File("ours")));
  ASSERT_TRUE(r.ok()) << r.status();
  auto g = RunCommand(
      {"gcore", "-o", dir.File("gcore"), std::to_string(child.pid())},
      std::chrono::seconds(300));
  ASSERT_EQ(g.exit_code, 0) << g.out << g.err;
  auto ours = CoreView::Open(dir.File("ours"));
  auto theirs =
      CoreView::Open(dir.File("gcore." + std::to_string(child.pid())));
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);

  ASSERT_EQ(ours->threads.size(), theirs->threads.size());
  for (const auto& t : theirs->threads) {
    const auto* o = ours->FindThread(t.tid);
    ASSERT_NE(o, nullptr) << "thread " << t.tid << " missing";
    EXPECT_EQ(o->regs.rip, t.regs.rip) << "thread " << t.tid;
    EXPECT_EQ(o->regs.rsp, t.regs.rsp) << "thread " << t.tid;
    EXPECT_EQ(o->regs.fs_base, t.regs.fs_base) << "thread " << t.tid;
    // A timed wait interrupted by the first snapshot resumes through
    // restart_syscall (219), which the second one then sees.
    if (o->regs.orig_rax != 219 && t.regs.orig_rax != 219) {
      EXPECT_EQ(o->regs.orig_rax, t.regs.orig_rax) << "thread " << t.tid;
    }
  }

  const std::string zero(4096, '\0');
  uint64_t compared = 0, differ = 0, in_files = 0;
  for (const auto& l : theirs->loads) {
    for (uint64_t a = l.vaddr; a + 4096 <= l.vaddr + l.filesz; a += 4096) {
      auto page = theirs->Read(a, 4096);
      ASSERT_TRUE(page.has_value());
      if (*page == zero) continue;
      auto mine = ours->Read(a, 4096);
      if (!mine.has_value()) {
        // Not in our core: allowed only for read-only file contents, named in
        // NT_FILE.
        bool file = false;
        for (const auto& f : ours->files) file |= a >= f.start && a < f.end;
        EXPECT_TRUE(file && !(l.flags & PF_W))
            << "page 0x" << std::hex << a
            << " has data in gcore's core, not in ours";
        in_files++;
        continue;
      }
      ++compared;
      differ += *mine != *page;
    }
  }
  EXPECT_GT(compared, 100u);
  // The process is idle but not frozen between the two snapshots (gcore's
  // attach itself moves a few runtime words); nearly every page must be
  // identical.
  EXPECT_LE(differ, compared / 100 + 2)
      << differ << " of " << compared << " pages differ";
  RecordProperty("pages_compared", std::to_string(compared));
  RecordProperty("pages_left_to_files", std::to_string(in_files));
}

INSTANTIATE_TEST_SUITE_P(
    NonPieAndPie, GcoreTest,
    ::testing::Values(goretain::testing::NewestVariant().name,
                      goretain::testing::NewestVariant().name + "-pie"),
    [](const auto& info) {
      std::string n = info.param;
      std::replace_if(
          n.begin(), n.end(), [](char c) { return !isalnum(c); }, '_');
      return n;
    });

}  // namespace
}  // namespace goretain::agent::snapshot
