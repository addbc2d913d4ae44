// Test helpers: finding fixture binaries built by tests/fixtures/build.sh, running programs.
#ifndef GORETAIN_TESTS_TESTING_FIXTURES_H_
#define GORETAIN_TESTS_TESTING_FIXTURES_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace goretain::testing {

// One build variant of the fixtures: a Go toolchain plus options.
struct Variant {
  std::string name;        // "go1.25-greenteagc-pie"
  std::string toolchain;   // "go1.25.14"
  bool pie = false;
  std::string experiment;  // "" or "greenteagc"
  std::string dir;         // where its binaries are

  std::string Binary(const std::string& fixture) const { return dir + "/" + fixture; }
};

// Directory holding manifest.tsv (GORETAIN_FIXTURES env var, else the build tree's default).
std::string FixturesDir();
// All variants of the manifest; aborts the test binary with a clear message if there is none.
const std::vector<Variant>& Variants();
// Variant names, for INSTANTIATE_TEST_SUITE_P.
std::vector<std::string> VariantNames();
const Variant& VariantByName(const std::string& name);

// Path of a built goretain binary ("goretain", "goretain-agent", "goretain-collector").
std::string BinaryPath(const std::string& name);

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal (see signal)
  int signal = 0;
  std::string out, err;
};
// Runs argv to completion (no shell) and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::seconds timeout = std::chrono::seconds(600));

// A child process whose stdout is piped; killed (SIGKILL) and reaped on destruction.
class Child {
 public:
  // With stdin_pipe the child reads what WriteLine sends; otherwise its stdin is /dev/null.
  explicit Child(const std::vector<std::string>& argv,
                 const std::vector<std::string>& extra_env = {}, bool stdin_pipe = false);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reads one line of stdout (without '\n'); empty string on EOF or timeout.
  std::string ReadLine(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Sends one line to the child's stdin (needs stdin_pipe).
  bool WriteLine(const std::string& line);
  void Kill();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int in_fd_ = -1;
  std::string buf_;
};

// Takes a core of a running process with gdb's gcore; returns its path ("" on failure, with the
// reason in *error).
std::string Gcore(pid_t pid, const std::string& dir, std::string* error);

// Writes a file of `size` bytes (whole MiB) whose byte i of MiB b is (b * step + i) mod 256.
void WritePatternFile(const std::string& path, size_t size, size_t step);

// Resident bytes of this process's mappings of the file at `path` (/proc/self/smaps).
uint64_t ResidentBytesOf(const std::string& path);

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace goretain::testing

#endif  // GORETAIN_TESTS_TESTING_FIXTURES_H_
