#include "agent/snapshot/watchdog.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace goretain::agent::snapshot {

Watchdog::Watchdog(std::chrono::steady_clock::time_point deadline) {
  thread_ = std::thread([this, deadline] {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, deadline, [this] { return disarmed_; })) return;
    static const char kMsg[] =
        "goretain: snapshot pause overran its deadline; killing the "
        "snapshotter so the kernel "
        "resumes the target\n";
    (void)!write(STDERR_FILENO, kMsg, strlen(kMsg));
    kill(getpid(), SIGKILL);
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    disarmed_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace goretain::agent::snapshot
