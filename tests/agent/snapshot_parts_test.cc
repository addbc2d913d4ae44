// The snapshotter's parts on this test process's own memory: procfs parsing,
// mapping selection, pagemap (both paths), the copy, the core writer.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "agent/snapshot/capture_internal.h"
#include "agent/snapshot/core_writer.h"
#include "agent/snapshot/headroom.h"
#include "agent/snapshot/memory_copy.h"
#include "agent/snapshot/output_file.h"
#include "agent/snapshot/pagemap.h"
#include "agent/snapshot/procfs.h"
#include "agent/snapshot/selection.h"
#include "tests/agent/snapshot_testing.h"

namespace goretain::agent::snapshot {
namespace {

using goretain::testing::CoreView;
using goretain::testing::DirEntries;
using goretain::testing::TempDir;

constexpr uint64_t kPage = 4096;
using Clock = std::chrono::steady_clock;

TEST(ProcfsTest, ParsesMapsLines) {
  auto maps = ParseMaps(
      "7f0000001000-7f0000003000 rw-p 00000000 00:00 0 \n"
      "00400000-00452000 r-xp 00001000 fe:01 1234                     /opt/my "
      "app/bin (deleted)\n"
      "7ffc0000-7ffc1000 rw-p 00000000 00:00 0                          "
      "[stack]\n",
      false);
  ASSERT_TRUE(maps.ok()) << maps.status();
  ASSERT_EQ(maps->size(), 3u);
  const Mapping& exe = (*maps)[0];  // sorted by address
  EXPECT_EQ(exe.start, 0x400000u);
  EXPECT_EQ(exe.end, 0x452000u);
  EXPECT_EQ(exe.offset, 0x1000u);
  EXPECT_EQ(exe.dev_major, 0xfeu);
  EXPECT_EQ(exe.inode, 1234u);
  EXPECT_EQ(exe.path, "/opt/my app/bin (deleted)");
  EXPECT_TRUE(exe.readable && exe.executable && !exe.writable && !exe.shared);
  EXPECT_TRUE(exe.IsFileBacked());
  EXPECT_EQ((*maps)[1].path, "[stack]");
  EXPECT_EQ((*maps)[2].path, "");
  EXPECT_FALSE((*maps)[2].IsFileBacked());
  EXPECT_FALSE(ParseMaps("garbage\n", false).ok());
}

TEST(ProcfsTest, ParsesSmapsVmFlags) {
  auto maps = ParseMaps(
      "7f0000001000-7f0000003000 rw-p 00000000 00:00 0 \n"
      "Size:                  8 kB\n"
      "VmFlags: rd wr mr mw me ac dd sd\n"
      "7f0000003000-7f0000004000 rw-s 00000000 00:01 77                        "
      " /memfd:x (deleted)\n"
      "Size:                  4 kB\n"
      "VmFlags: rd wr sh mr mw me ms sd\n",
      true);
  ASSERT_TRUE(maps.ok()) << maps.status();
  ASSERT_EQ(maps->size(), 2u);
  EXPECT_TRUE((*maps)[0].HasVmFlag("dd"));
  EXPECT_FALSE((*maps)[0].HasVmFlag("d"));
  EXPECT_TRUE((*maps)[1].vm_flags_known);
  EXPECT_FALSE((*maps)[1].IsFileBacked())
      << "memfd is shared memory, not a file";
}

TEST(ProcfsTest, ReadsThisProcess) {
  auto st = ReadStat(getpid());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->ppid, getppid());
  EXPECT_GT(st->start_time_ticks, 0u);
  auto status = ReadStatus(getpid());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->tgid, getpid());
  auto tasks = ListTasks(getpid());
  ASSERT_TRUE(tasks.ok());
  EXPECT_NE(std::find(tasks->begin(), tasks->end(), getpid()), tasks->end());
  EXPECT_EQ(ReadStat(999999999).status().code(), absl::StatusCode::kNotFound);
}

Mapping Map(const char* perms, const std::string& path, uint64_t inode = 0,
            const std::string& flags = "") {
  Mapping m;
  m.start = 0x1000;
  m.end = 0x3000;
  m.readable = perms[0] == 'r';
  m.writable = perms[1] == 'w';
  m.executable = perms[2] == 'x';
  m.shared = perms[3] == 's';
  m.path = path;
  m.inode = inode;
  m.vm_flags = flags;
  m.vm_flags_known = !flags.empty();
  return m;
}

TEST(SelectionTest, FollowsTheKernelsDumpRules) {
  EXPECT_EQ(Classify(Map("---p", "")),
            MappingClass::kSkip);  // Go's arena reservations
  EXPECT_EQ(Classify(Map("rw-p", "")), MappingClass::kAnonymous);
  EXPECT_EQ(Classify(Map("rw-p", "[heap]")), MappingClass::kAnonymous);
  EXPECT_EQ(Classify(Map("rw-p", "[stack]")), MappingClass::kAnonymous);
  EXPECT_EQ(Classify(Map("rw-p", "", 0, "rd wr mr mw me dd")),
            MappingClass::kSkip);
  EXPECT_EQ(Classify(Map("rw-p", "", 0, "rd wr io")), MappingClass::kSkip);
  EXPECT_EQ(Classify(Map("r--p", "[vvar]")), MappingClass::kSkip);
  EXPECT_EQ(Classify(Map("r--p", "[vvar_vclock]")), MappingClass::kSkip);
  EXPECT_EQ(Classify(Map("r-xp", "[vdso]")), MappingClass::kWhole);
  EXPECT_EQ(Classify(Map("r-xp", "/bin/x", 5)), MappingClass::kFilePrivate);
  EXPECT_EQ(Classify(Map("rw-p", "/bin/x", 5)), MappingClass::kFilePrivate);
  EXPECT_EQ(Classify(Map("rw-s", "/data/file", 5)), MappingClass::kSkip);
  EXPECT_EQ(Classify(Map("rw-s", "/memfd:buf (deleted)", 5)),
            MappingClass::kAnonymous);
  EXPECT_EQ(Classify(Map("rw-s", "/dev/zero (deleted)", 5)),
            MappingClass::kAnonymous);
}

// An anonymous area of this process with chosen pages touched.
class OwnMemory {
 public:
  explicit OwnMemory(size_t pages) : size_(pages * kPage) {
    base_ = static_cast<uint8_t*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~OwnMemory() { munmap(base_, size_); }
  uint64_t addr(size_t page) const {
    return reinterpret_cast<uint64_t>(base_) + page * kPage;
  }
  void Write(size_t page, uint8_t value) {
    memset(base_ + page * kPage, value, kPage);
  }
  uint8_t Read(size_t page) const {
    return *const_cast<volatile uint8_t*>(base_ + page * kPage);
  }
  uint8_t* base() { return base_; }

 private:
  uint8_t* base_;
  size_t size_;
};

bool KernelAtLeast(int major, int minor) {
  utsname u;
  uname(&u);
  int a = 0, b = 0;
  sscanf(u.release, "%d.%d", &a, &b);
  return a > major || (a == major && b >= minor);
}

class PagemapTest : public ::testing::TestWithParam<bool> {};

TEST_P(PagemapTest, FindsTouchedPagesOnly) {
  OwnMemory mem(64);
  mem.Write(0, 1);
  mem.Write(5, 2);
  mem.Write(6, 3);
  mem.Write(7, 4);
  mem.Write(63, 5);
  auto pm = Pagemap::Open(getpid(), GetParam());
  ASSERT_TRUE(pm.ok()) << pm.status();
  if (GetParam() && KernelAtLeast(6, 7)) {
    EXPECT_TRUE((*pm)->uses_scan_ioctl())
        << "PAGEMAP_SCAN exists since Linux 6.7";
  }
  std::vector<PageRun> runs;
  ASSERT_TRUE((*pm)->DataRuns(mem.addr(0), mem.addr(64), &runs).ok());
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].start, mem.addr(0));
  EXPECT_EQ(runs[0].end, mem.addr(1));
  EXPECT_EQ(runs[1].start, mem.addr(5));
  EXPECT_EQ(runs[1].end, mem.addr(8));
  EXPECT_EQ(runs[2].start, mem.addr(63));
  EXPECT_EQ(runs[2].end, mem.addr(64));
  auto anon = (*pm)->HasAnonymousPage(mem.addr(0), mem.addr(64));
  ASSERT_TRUE(anon.ok());
  EXPECT_TRUE(*anon);
  anon = (*pm)->HasAnonymousPage(mem.addr(8), mem.addr(63));
  ASSERT_TRUE(anon.ok());
  EXPECT_FALSE(*anon);
}

TEST_P(PagemapTest, ReadFaultedPagesAreZeroPagesOrData) {
  // A page only read maps the shared zero page: PAGEMAP_SCAN says so (a hole),
  // the pagemap read path cannot tell and copies it (zeros, which the writer
  // then leaves as a hole).
  OwnMemory mem(4);
  ASSERT_EQ(mem.Read(2), 0);
  auto pm = Pagemap::Open(getpid(), GetParam());
  ASSERT_TRUE(pm.ok());
  std::vector<PageRun> runs;
  ASSERT_TRUE((*pm)->DataRuns(mem.addr(0), mem.addr(4), &runs).ok());
  if ((*pm)->uses_scan_ioctl()) {
    EXPECT_TRUE(runs.empty());
  } else {
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].start, mem.addr(2));
  }
}

TEST_P(PagemapTest, CopyOnWritePagesOfAFileMapping) {
  TempDir dir;
  std::string path = dir.File("f");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4 * kPage), 0);
  auto* p = static_cast<uint8_t*>(
      mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
  close(fd);
  ASSERT_NE(p, MAP_FAILED);
  uint64_t a = reinterpret_cast<uint64_t>(p);
  volatile uint8_t sink = p[0];  // a page-cache page: a file page
  (void)sink;
  auto pm = Pagemap::Open(getpid(), GetParam());
  ASSERT_TRUE(pm.ok());
  auto anon = (*pm)->HasAnonymousPage(a, a + 4 * kPage);
  ASSERT_TRUE(anon.ok());
  EXPECT_FALSE(*anon);
  p[3 * kPage] = 7;  // copy-on-write: now an anonymous page
  anon = (*pm)->HasAnonymousPage(a, a + 4 * kPage);
  ASSERT_TRUE(anon.ok());
  EXPECT_TRUE(*anon);
  munmap(p, 4 * kPage);
}

INSTANTIATE_TEST_SUITE_P(ScanIoctlAndReads, PagemapTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "scan" : "read";
                         });

TEST(CopyTest, CopiesRunsAndSkipsAnUnreadablePage) {
  OwnMemory mem(16);
  for (size_t i = 0; i < 16; ++i) mem.Write(i, static_cast<uint8_t>(i + 1));
  ASSERT_EQ(mprotect(mem.base() + 9 * kPage, kPage, PROT_NONE), 0);
  std::vector<PageRun> runs = {{mem.addr(0), mem.addr(4)},
                               {mem.addr(8), mem.addr(16)}};
  CopyBuffer buffer;
  ASSERT_TRUE(buffer.Reserve(8 * kPage).ok());
  std::vector<Region> regions;
  CopyStats stats;
  auto st = CopyRuns(getpid(), runs, &buffer,
                     Clock::now() + std::chrono::seconds(10), &regions, &stats);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats.unreadable_pages, 1u);
  EXPECT_EQ(stats.bytes, 11 * kPage);
  uint64_t pages = 0;
  for (const Region& r : regions) {
    for (uint64_t a = r.addr; a < r.addr + r.size; a += kPage) {
      size_t page = (a - mem.addr(0)) / kPage;
      EXPECT_NE(page, 9u) << "the PROT_NONE page cannot have been copied";
      EXPECT_EQ(r.data[a - r.addr], page + 1) << "page " << page;
      ++pages;
    }
  }
  EXPECT_EQ(pages, 11u);
  mprotect(mem.base() + 9 * kPage, kPage, PROT_READ | PROT_WRITE);
}

TEST(CopyTest, StopsAtTheDeadline) {
  OwnMemory mem(4);
  mem.Write(0, 1);
  CopyBuffer buffer;
  std::vector<Region> regions;
  CopyStats stats;
  auto st =
      CopyRuns(getpid(), {{mem.addr(0), mem.addr(1)}}, &buffer,
               Clock::now() - std::chrono::milliseconds(1), &regions, &stats);
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(regions.empty());
}

TEST(CopyTest, ParallelCopyKeepsEveryPageInOrder) {
  // Two mappings of 24 MiB with holes: three threads' shares cut through runs
  // and mappings.
  constexpr size_t kPages = 6144;
  OwnMemory a(kPages), b(kPages);
  CopyPlan plan;
  for (OwnMemory* m : {&a, &b}) {
    Segment seg;
    seg.mapping.start = m->addr(0);
    seg.mapping.end = m->addr(kPages);
    seg.dump_size = kPages * kPage;
    std::vector<PageRun> runs;
    for (size_t p = 0; p < kPages; ++p) {
      if (p % 7 == 3) continue;  // a hole every 7 pages
      m->Write(p, static_cast<uint8_t>(p * 13 + (m == &b)));
      if (!runs.empty() && runs.back().end == m->addr(p)) {
        runs.back().end += kPage;
      } else {
        runs.push_back({m->addr(p), m->addr(p + 1)});
      }
      plan.bytes += kPage;
    }
    plan.segments.push_back(seg);
    plan.runs.push_back(runs);
  }
  CopyBuffer buffer;
  ASSERT_TRUE(buffer.Reserve(plan.bytes).ok());
  std::vector<Segment> out;
  CopyStats stats;
  SnapshotOptions options;
  const uint64_t planned = plan.bytes;
  auto st = CopyPlanned(getpid(), std::move(plan),
                        Clock::now() + std::chrono::seconds(30), options,
                        &buffer, &out, &stats, /*threads=*/3);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats.bytes, planned);
  ASSERT_EQ(out.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    OwnMemory& m = s == 0 ? a : b;
    uint64_t last_end = 0, pages = 0;
    for (const Region& r : out[s].regions) {
      EXPECT_GE(r.addr, last_end) << "regions out of order";
      last_end = r.addr + r.size;
      for (uint64_t x = r.addr; x < r.addr + r.size; x += kPage) {
        size_t p = (x - m.addr(0)) / kPage;
        ASSERT_NE(p % 7, 3u) << "a hole was copied";
        ASSERT_EQ(r.data[x - r.addr], static_cast<uint8_t>(p * 13 + s));
        ++pages;
      }
    }
    EXPECT_EQ(pages, kPages - kPages / 7 - (kPages % 7 > 3 ? 1 : 0));
  }
}

// A hand-made image: what the writer emits is what an independent reader finds.
TEST(CoreWriterTest, RoundTrip) {
  ProcessImage img;
  img.process.pid = 4242;
  img.process.stat.comm = "gopher";
  img.process.stat.ppid = 1;
  img.process.cmdline = std::string("gopher\0-x\0", 10);
  img.process.auxv = std::string("\x06\0\0\0\0\0\0\0\0\x10\0\0\0\0\0\0", 16);
  for (pid_t tid : {4242, 4243}) {
    ThreadState t;
    t.tid = tid;
    t.regs.rip = 0x401000 + tid;
    t.regs.rsp = 0x7ff000 + tid;
    t.regs.fs_base = tid * 16;
    img.threads.push_back(t);
  }
  static uint8_t data[3 * 4096];
  memset(data, 0xab, sizeof data);
  memset(data + 4096, 0, 4096);  // a zero page in the middle: a hole
  Segment heap;
  heap.mapping = Map("rw-p", "");
  heap.mapping.start = 0xc000000000;
  heap.mapping.end = 0xc000000000 + 8 * kPage;
  heap.policy = DumpPolicy::kPresentPages;
  heap.dump_size = heap.mapping.size();
  heap.regions.push_back({heap.mapping.start + kPage, 3 * kPage, data});
  Segment text;
  text.mapping = Map("r-xp", "/usr/bin/gopher", 99);
  text.mapping.start = 0x400000;
  text.mapping.end = 0x500000;
  text.mapping.offset = 0x1000;
  img.segments = {text, heap};

  TempDir dir;
  auto out = OutputFile::Create(dir.File("core"));
  ASSERT_TRUE(out.ok()) << out.status();
  auto stats = WriteCore(img, (*out)->fd(), dir.File("core"));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(DirEntries(dir.path()).empty()) << "no name before Commit";
  ASSERT_TRUE((*out)->Commit().ok());
  EXPECT_EQ(stats->zero_pages_skipped, 1u);
  EXPECT_EQ(stats->data_bytes, 2 * kPage);

  auto core = CoreView::Open(dir.File("core"));
  ASSERT_NE(core, nullptr);
  EXPECT_EQ(core->type, ET_CORE);
  ASSERT_EQ(core->threads.size(), 2u);
  EXPECT_EQ(core->threads[1].tid, 4243);
  EXPECT_EQ(core->threads[1].regs.rip, 0x401000u + 4243);
  EXPECT_EQ(core->threads[1].regs.fs_base, 4243u * 16);
  EXPECT_EQ(core->psinfo_pid, 4242);
  EXPECT_EQ(core->psinfo_fname, "gopher");
  EXPECT_EQ(core->auxv, img.process.auxv);
  ASSERT_EQ(core->files.size(), 1u);
  EXPECT_EQ(core->files[0].path, "/usr/bin/gopher");
  EXPECT_EQ(core->files[0].page_offset, 1u);
  ASSERT_EQ(core->loads.size(), 2u);
  EXPECT_EQ(core->loads[0].filesz, 0u);
  EXPECT_EQ(core->loads[0].flags, static_cast<uint32_t>(PF_R | PF_X));
  EXPECT_EQ(core->loads[1].filesz, 8 * kPage);
  EXPECT_EQ(core->loads[1].offset % kPage, 0u);
  EXPECT_EQ(*core->Read(heap.mapping.start, kPage),
            std::string(kPage, '\0'));  // absent
  EXPECT_EQ(*core->Read(heap.mapping.start + kPage, kPage),
            std::string(kPage, '\xab'));
  EXPECT_EQ(*core->Read(heap.mapping.start + 2 * kPage, kPage),
            std::string(kPage, '\0'));
  EXPECT_EQ(*core->Read(heap.mapping.start + 3 * kPage, kPage),
            std::string(kPage, '\xab'));
  // Sparse: the absent and zero pages take no blocks (allow the headers' page
  // and slack).
  EXPECT_LE(core->disk_bytes, 2 * kPage + 3 * kPage);
  // gdb-readable notes order: PRPSINFO, then per thread PRSTATUS (+FP state),
  // AUXV, FILE last.
  EXPECT_EQ(core->note_types.front(), static_cast<uint32_t>(NT_PRPSINFO));
  EXPECT_EQ(core->note_types.back(), static_cast<uint32_t>(NT_FILE));
}

TEST(CoreWriterTest, MoreThan65535MappingsUseExtendedNumbering) {
  ProcessImage img;
  img.process.pid = 1;
  img.threads.push_back(ThreadState{});
  for (uint64_t i = 0; i < 70000; ++i) {
    Segment s;
    s.mapping = Map("---p", "");
    s.mapping.start = 0x10000000 + i * 2 * kPage;
    s.mapping.end = s.mapping.start + kPage;
    img.segments.push_back(s);
  }
  TempDir dir;
  auto out = OutputFile::Create(dir.File("core"));
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(WriteCore(img, (*out)->fd(), dir.File("core")).ok());
  ASSERT_TRUE((*out)->Commit().ok());
  auto core = CoreView::Open(dir.File("core"));
  ASSERT_NE(core, nullptr);
  EXPECT_EQ(core->loads.size(), 70000u);
}

// A fake cgroup v1 tree mirroring this process's memory cgroup path: the
// tightest ancestor wins, and the machine's MemAvailable bounds it all.
TEST(HeadroomTest, TightestMemoryCgroupLevelWins) {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cg, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    std::string controllers = line.substr(a + 1, b - a - 1);
    if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      path = line.substr(b + 1);
    }
  }
  if (path.empty() || path == "/" || path.find('/', 1) == std::string::npos) {
    GTEST_SKIP() << "needs a v1 memory cgroup two levels deep, have '" << path
                 << "'";
  }
  TempDir root;
  std::string leaf = root.path() + "/memory" + path;
  std::string parent = leaf.substr(0, leaf.rfind('/'));
  std::filesystem::create_directories(leaf);
  auto put = [](const std::string& f, const std::string& v) {
    std::ofstream(f) << v << "\n";
  };
  put(leaf + "/memory.limit_in_bytes", std::to_string(100 << 20));
  put(leaf + "/memory.usage_in_bytes", std::to_string(30 << 20));
  put(parent + "/memory.limit_in_bytes", std::to_string(50 << 20));
  put(parent + "/memory.usage_in_bytes", std::to_string(45 << 20));
  auto h = ReadMemoryHeadroom(getpid(), root.path());
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->bytes, uint64_t{5} << 20);
  std::string parent_path = path.substr(0, path.rfind('/'));
  EXPECT_TRUE(absl::StrContains(h->limited_by, parent_path)) << h->limited_by;
  // "No limit" (v1 writes ~2^63) counts as none.
  put(parent + "/memory.limit_in_bytes", "9223372036854771712");
  h = ReadMemoryHeadroom(getpid(), root.path());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->bytes, uint64_t{70} << 20);
  // Without any cgroup files, the machine's available memory.
  h = ReadMemoryHeadroom(getpid(), root.path() + "/nothing");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(absl::StrContains(h->limited_by, "MemAvailable"));
  EXPECT_GT(h->bytes, 0u);
}

TEST(OutputFileTest, UncommittedLeavesNothingAndCommitReplaces) {
  TempDir dir;
  {
    auto out = OutputFile::Create(dir.File("core"));
    ASSERT_TRUE(out.ok());
    ASSERT_EQ(write((*out)->fd(), "abc", 3), 3);
  }
  EXPECT_TRUE(DirEntries(dir.path()).empty());
  int fd = open(dir.File("core").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_EQ(write(fd, "old", 3), 3);
  close(fd);
  auto out = OutputFile::Create(dir.File("core"));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(write((*out)->fd(), "new!", 4), 4);
  ASSERT_TRUE((*out)->Commit().ok());
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"core"});
  std::ifstream f(dir.File("core"));
  std::string content((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(content, "new!");
  EXPECT_FALSE(OutputFile::Create("/nonexistent-dir/x").ok());
}

}  // namespace
}  // namespace goretain::agent::snapshot
