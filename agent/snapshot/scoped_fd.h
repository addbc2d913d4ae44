// An owned file descriptor (RAII). Every descriptor the snapshotter opens is
// O_CLOEXEC and held by one of these, so no path (error, early return,
// exception from a callback) leaks one.
#ifndef GORETAIN_AGENT_SNAPSHOT_SCOPED_FD_H_
#define GORETAIN_AGENT_SNAPSHOT_SCOPED_FD_H_

#include <unistd.h>

#include <utility>

namespace goretain::agent::snapshot {

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() { Reset(); }
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_SCOPED_FD_H_
