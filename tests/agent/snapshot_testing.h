// Helpers for the snapshot tests: an ELF core reader written independently of
// the core writer (plain <elf.h> structs over pread), the stall-meter fixture,
// and checks on a live target.
#ifndef GORETAIN_TESTS_AGENT_SNAPSHOT_TESTING_H_
#define GORETAIN_TESTS_AGENT_SNAPSHOT_TESTING_H_

#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/testing/fixtures.h"

namespace goretain::testing {

// An ELF core file, read with pread. Only what the tests check.
class CoreView {
 public:
  struct Load {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags;
  };
  struct Thread {
    pid_t tid;
    user_regs_struct regs;
  };
  struct File {
    uint64_t start, end, page_offset;
    std::string path;
  };
  // Fails the current test (and returns nullptr) on a malformed file.
  static std::unique_ptr<CoreView> Open(const std::string& path);
  ~CoreView();

  uint16_t type = 0, machine = 0;
  std::vector<Load> loads;
  std::vector<Thread> threads;  // NT_PRSTATUS order
  std::vector<File> files;      // NT_FILE
  std::vector<uint32_t> note_types;
  std::string auxv;
  pid_t psinfo_pid = 0;
  std::string psinfo_fname;
  uint64_t file_size = 0, disk_bytes = 0;

  const Thread* FindThread(pid_t tid) const;
  const Load* FindLoad(uint64_t addr) const;
  // Bytes of [addr, addr+size) inside one PT_LOAD with file data; nullopt
  // outside.
  std::optional<std::string> Read(uint64_t addr, uint64_t size) const;

 private:
  int fd_ = -1;
};

// The stallmeter fixture (tests/fixtures/go/stallmeter): a Go process that
// measures the longest stall it feels, with a live heap of heap_mib MiB.
class StallMeter {
 public:
  StallMeter(const Variant& v, int heap_mib,
             const std::vector<std::string>& extra_args = {});
  pid_t pid() const { return child_->pid(); }
  const nlohmann::json& ready() const { return ready_; }
  bool started() const { return !ready_.is_null(); }
  // Asks for the meter (SIGUSR1) and returns its answer, or null JSON after
  // `timeout`. Resets the meter in the target.
  nlohmann::json Report(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Child& child() { return *child_; }

 private:
  std::unique_ptr<Child> child_;
  nlohmann::json ready_;
};

// Every thread of `pid` is untraced and not stopped, within `within`.
::testing::AssertionResult IsRunningUntraced(
    pid_t pid, std::chrono::milliseconds within = std::chrono::seconds(2));
// Thread ids in /proc/PID/task.
std::vector<pid_t> Tasks(pid_t pid);
// Child processes of every thread of `pid` (/proc/PID/task/*/children).
std::vector<pid_t> ChildrenOf(pid_t pid);
// Names in a directory (hidden ones too), sorted.
std::vector<std::string> DirEntries(const std::string& dir);
// Open descriptors of this process.
int CountOpenFds();
// Runs argv as user/group `uid` (fork, setgid, setuid, exec), capturing its
// output.
CommandResult RunAsUser(uid_t uid, const std::vector<std::string>& argv);
// Sleeps until the thread set of `pid` is the same twice, 200 ms apart (an idle
// Go process).
std::vector<pid_t> WaitForStableThreads(pid_t pid);
// The variant tests use when one is enough: the newest Go.
const Variant& NewestVariant();

}  // namespace goretain::testing

#endif  // GORETAIN_TESTS_AGENT_SNAPSHOT_TESTING_H_
