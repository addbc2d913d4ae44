// The last line of defence for a pause: if the snapshotting thread is stuck (a
// copy blocked in the kernel, say on a userfaultfd-registered page) past a
// deadline, kill this whole process. The kernel then detaches every tracee and
// the target runs on. A thread, not a process: a stuck thread does not stop its
// siblings from running.
#ifndef GORETAIN_AGENT_SNAPSHOT_WATCHDOG_H_
#define GORETAIN_AGENT_SNAPSHOT_WATCHDOG_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace goretain::agent::snapshot {

// Armed on construction, disarmed (and its thread joined) on destruction.
// Thread-safe.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::steady_clock::time_point deadline);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_WATCHDOG_H_
