#include "tests/testing/fixtures.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace goretain::testing {
namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "test setup: %s\n", msg.c_str());
  std::abort();
}

std::vector<char*> Argv(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string FixturesDir() {
  if (const char* e = std::getenv("GORETAIN_FIXTURES")) return e;
  return GORETAIN_DEFAULT_FIXTURES_DIR;
}

const std::vector<Variant>& Variants() {
  static const std::vector<Variant> variants = [] {
    std::string path = FixturesDir() + "/manifest.tsv";
    std::ifstream f(path);
    if (!f) Die(path + " not found: run tests/fixtures/build.sh " + FixturesDir());
    std::vector<Variant> out;
    std::string line;
    while (std::getline(f, line)) {
      std::vector<std::string> c = absl::StrSplit(line, '\t');
      if (c.size() != 5) continue;
      Variant v{c[0], c[1], c[2] == "1", c[3] == "-" ? "" : c[3], c[4]};
      out.push_back(v);
    }
    if (out.empty()) Die(path + " lists no variants");
    return out;
  }();
  return variants;
}

std::vector<std::string> VariantNames() {
  std::vector<std::string> out;
  for (const auto& v : Variants()) out.push_back(v.name);
  return out;
}

const Variant& VariantByName(const std::string& name) {
  for (const auto& v : Variants()) {
    if (v.name == name) return v;
  }
  Die("no fixture variant " + name);
}

std::string BinaryPath(const std::string& name) {
  return std::string(GORETAIN_BINARY_DIR) + "/" +
         (name == "goretain" ? "cli/" : name == "goretain-agent" ? "agent/" : "collector/") + name;
}

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  TempDir tmp;
  std::string out_path = tmp.File("out"), err_path = tmp.File("err");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  auto args = Argv(argv);
  CommandResult r;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    r.err = "cannot spawn " + argv[0];
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.err = "timed out; ";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_path);
  r.err += slurp(err_path);
  return r;
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
             bool stdin_pipe) {
  int p[2], q[2] = {-1, -1};
  if (pipe2(p, O_CLOEXEC) != 0) Die("pipe failed");
  if (stdin_pipe && pipe2(q, O_CLOEXEC) != 0) Die("pipe failed");
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) env.push_back(*e);
  for (const auto& e : extra_env) env.push_back(e);
  auto args = Argv(argv);
  auto envp = Argv(env);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) Die("fork failed");
  if (pid_ == 0) {
    // The child dies with the test process, even when a timeout kills the test binary.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(p[1], 1);
    if (stdin_pipe) {
      dup2(q[0], 0);
    } else {
      int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(p[1]);
  out_fd_ = p[0];
  if (stdin_pipe) {
    close(q[0]);
    in_fd_ = q[1];
  }
}

bool Child::WriteLine(const std::string& line) {
  std::string l = line + "\n";
  return in_fd_ >= 0 && write(in_fd_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
}

Child::~Child() {
  Kill();
  if (out_fd_ >= 0) close(out_fd_);
  if (in_fd_ >= 0) close(in_fd_);
}

void Child::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
}

std::string Child::ReadLine(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd pfd{out_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return "";
    char tmp[4096];
    ssize_t n = read(out_fd_, tmp, sizeof tmp);
    if (n <= 0) return "";
    buf_.append(tmp, n);
  }
}

std::string Gcore(pid_t pid, const std::string& dir, std::string* error) {
  std::string prefix = dir + "/core";
  CommandResult r = RunCommand({"gcore", "-o", prefix, std::to_string(pid)});
  std::string path = prefix + "." + std::to_string(pid);
  if (r.exit_code != 0 || !std::filesystem::exists(path)) {
    if (error) *error = "gcore failed: " + r.out + r.err;
    return "";
  }
  return path;
}

void WritePatternFile(const std::string& path, size_t size, size_t step) {
  std::ofstream out(path, std::ios::binary);
  std::string block(1 << 20, '\0');
  for (size_t b = 0; b < size / block.size(); b++) {
    for (size_t i = 0; i < block.size(); i++) block[i] = static_cast<char>((b * step + i) & 0xff);
    out.write(block.data(), block.size());
  }
}

uint64_t ResidentBytesOf(const std::string& path) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool in = false;
  uint64_t total = 0;
  while (std::getline(f, line)) {
    std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (w.empty()) continue;
    if (w[0].find('-') != std::string::npos && w[0].back() != ':') {
      in = w.size() >= 6 && w.back() == path;
    } else if (in && w[0] == "Rss:" && w.size() >= 2) {
      uint64_t kib = 0;
      if (absl::SimpleAtoi(w[1], &kib)) total += kib << 10;
    }
  }
  return total;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "goretain-test.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace goretain::testing
