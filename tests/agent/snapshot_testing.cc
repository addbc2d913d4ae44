#include "tests/agent/snapshot_testing.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace goretain::testing {
namespace {

bool PreadAll(int fd, void* buf, size_t size, uint64_t off) {
  char* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = pread(fd, p, size, static_cast<off_t>(off));
    if (n <= 0) return false;
    p += n;
    size -= n;
    off += n;
  }
  return true;
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

std::unique_ptr<CoreView> CoreView::Open(const std::string& path) {
  auto c = std::unique_ptr<CoreView>(new CoreView);
  c->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (c->fd_ < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return nullptr;
  }
  struct stat sb;
  fstat(c->fd_, &sb);
  c->file_size = sb.st_size;
  c->disk_bytes = static_cast<uint64_t>(sb.st_blocks) * 512;
  Elf64_Ehdr eh;
  if (!PreadAll(c->fd_, &eh, sizeof eh, 0) ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64) {
    ADD_FAILURE() << path << ": not an ELF64 file";
    return nullptr;
  }
  c->type = eh.e_type;
  c->machine = eh.e_machine;
  uint64_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM) {
    Elf64_Shdr sh;
    if (!PreadAll(c->fd_, &sh, sizeof sh, eh.e_shoff)) {
      ADD_FAILURE() << path << ": no section header 0 for PN_XNUM";
      return nullptr;
    }
    phnum = sh.sh_info;
  }
  std::vector<Elf64_Phdr> ph(phnum);
  if (!PreadAll(c->fd_, ph.data(), phnum * sizeof(Elf64_Phdr), eh.e_phoff)) {
    ADD_FAILURE() << path << ": program headers truncated";
    return nullptr;
  }
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_LOAD) {
      c->loads.push_back(
          {p.p_vaddr, p.p_memsz, p.p_offset, p.p_filesz, p.p_flags});
      if (p.p_filesz > 0 && p.p_offset + p.p_filesz > c->file_size) {
        ADD_FAILURE() << path << ": PT_LOAD at " << std::hex << p.p_vaddr
                      << " past end of file";
      }
      continue;
    }
    if (p.p_type != PT_NOTE) continue;
    std::string notes(p.p_filesz, '\0');
    if (!PreadAll(c->fd_, notes.data(), notes.size(), p.p_offset)) {
      ADD_FAILURE() << path << ": PT_NOTE truncated";
      return nullptr;
    }
    size_t off = 0;
    auto align4 = [](size_t v) { return (v + 3) & ~size_t{3}; };
    while (off + sizeof(Elf64_Nhdr) <= notes.size()) {
      Elf64_Nhdr nh;
      memcpy(&nh, notes.data() + off, sizeof nh);
      size_t name_off = off + sizeof nh;
      size_t desc_off = name_off + align4(nh.n_namesz);
      if (desc_off + nh.n_descsz > notes.size()) {
        ADD_FAILURE() << path << ": note overruns PT_NOTE";
        return nullptr;
      }
      const char* desc = notes.data() + desc_off;
      c->note_types.push_back(nh.n_type);
      std::string name(notes.data() + name_off,
                       nh.n_namesz ? nh.n_namesz - 1 : 0);
      if (name == "CORE" && nh.n_type == NT_PRSTATUS &&
          nh.n_descsz >= sizeof(elf_prstatus)) {
        elf_prstatus st;
        memcpy(&st, desc, sizeof st);
        Thread t{st.pr_pid, {}};
        memcpy(&t.regs, &st.pr_reg, sizeof t.regs);
        c->threads.push_back(t);
      } else if (name == "CORE" && nh.n_type == NT_PRPSINFO &&
                 nh.n_descsz >= sizeof(elf_prpsinfo)) {
        elf_prpsinfo ps;
        memcpy(&ps, desc, sizeof ps);
        c->psinfo_pid = ps.pr_pid;
        c->psinfo_fname =
            std::string(ps.pr_fname, strnlen(ps.pr_fname, sizeof ps.pr_fname));
      } else if (name == "CORE" && nh.n_type == NT_AUXV) {
        c->auxv.assign(desc, nh.n_descsz);
      } else if (name == "CORE" && nh.n_type == NT_FILE && nh.n_descsz >= 16) {
        uint64_t count, page;
        memcpy(&count, desc, 8);
        memcpy(&page, desc + 8, 8);
        const char* names = desc + 16 + count * 24;
        const char* end = desc + nh.n_descsz;
        for (uint64_t i = 0; i < count && names < end; ++i) {
          File f;
          memcpy(&f.start, desc + 16 + i * 24, 8);
          memcpy(&f.end, desc + 16 + i * 24 + 8, 8);
          memcpy(&f.page_offset, desc + 16 + i * 24 + 16, 8);
          f.path = std::string(names, strnlen(names, end - names));
          names += f.path.size() + 1;
          c->files.push_back(f);
        }
      }
      off = desc_off + align4(nh.n_descsz);
    }
  }
  return c;
}

CoreView::~CoreView() {
  if (fd_ >= 0) close(fd_);
}

const CoreView::Thread* CoreView::FindThread(pid_t tid) const {
  for (const Thread& t : threads) {
    if (t.tid == tid) return &t;
  }
  return nullptr;
}

const CoreView::Load* CoreView::FindLoad(uint64_t addr) const {
  for (const Load& l : loads) {
    if (addr >= l.vaddr && addr < l.vaddr + l.memsz) return &l;
  }
  return nullptr;
}

std::optional<std::string> CoreView::Read(uint64_t addr, uint64_t size) const {
  const Load* l = FindLoad(addr);
  if (l == nullptr || addr + size > l->vaddr + l->filesz) return std::nullopt;
  std::string out(size, '\0');
  if (!PreadAll(fd_, out.data(), size, l->offset + (addr - l->vaddr)))
    return std::nullopt;
  return out;
}

StallMeter::StallMeter(const Variant& v, int heap_mib,
                       const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {v.Binary("stallmeter"), "-heap-mib",
                                   std::to_string(heap_mib)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv);
  std::string line = child_->ReadLine(std::chrono::seconds(120));
  if (line.empty()) {
    ADD_FAILURE() << "stallmeter did not start";
    return;
  }
  ready_ = nlohmann::json::parse(line, nullptr, false);
  if (ready_.is_discarded() || !ready_.contains("pid")) {
    ADD_FAILURE() << "stallmeter said: " << line;
    ready_ = nullptr;
  }
}

nlohmann::json StallMeter::Report(std::chrono::milliseconds timeout) {
  kill(child_->pid(), SIGUSR1);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::string line = child_->ReadLine(left);
    if (line.empty()) break;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("max_stall_ms")) return j;
  }
  return nullptr;
}

::testing::AssertionResult IsRunningUntraced(pid_t pid,
                                             std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  std::string why;
  while (true) {
    why.clear();
    for (pid_t tid : Tasks(pid)) {
      std::string status = ReadText("/proc/" + std::to_string(pid) + "/task/" +
                                    std::to_string(tid) + "/status");
      std::istringstream in(status);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("State:", 0) == 0 &&
            (line.find("(stopped)") != std::string::npos ||
             line.find("tracing stop") != std::string::npos)) {
          why += " thread " + std::to_string(tid) + " " + line + ";";
        }
        if (line.rfind("TracerPid:", 0) == 0 && line != "TracerPid:\t0") {
          why += " thread " + std::to_string(tid) + " " + line + ";";
        }
      }
    }
    if (Tasks(pid).empty())
      return ::testing::AssertionFailure() << "process " << pid << " is gone";
    if (why.empty()) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << "process " << pid << ":" << why;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<pid_t> Tasks(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const std::string& name : DirEntries(dir)) {
    if (name != "." && name != "..") out.push_back(std::stoi(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t tid : Tasks(pid)) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/task/" +
                    std::to_string(tid) + "/children");
    pid_t c;
    while (f >> c) out.push_back(c);
  }
  return out;
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

int CountOpenFds() {
  return static_cast<int>(DirEntries("/proc/self/fd").size());
}

CommandResult RunAsUser(uid_t uid, const std::vector<std::string>& argv) {
  TempDir tmp;
  chmod(tmp.path().c_str(), 0777);
  std::string out_path = tmp.File("out"), err_path = tmp.File("err");
  CommandResult r;
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    dup2(out, 1);
    dup2(err, 2);
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
      _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = ReadText(out_path);
  r.err = ReadText(err_path);
  return r;
}

std::vector<pid_t> WaitForStableThreads(pid_t pid) {
  std::vector<pid_t> prev = Tasks(pid);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<pid_t> now = Tasks(pid);
    if (now == prev) return now;
    prev = now;
  }
  return prev;
}

const Variant& NewestVariant() {
  // The manifest lists variants oldest Go first; the plain (non-PIE) build of
  // the newest.
  const auto& all = Variants();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (!it->pie && it->experiment.empty()) return *it;
  }
  return all.back();
}

}  // namespace goretain::testing
