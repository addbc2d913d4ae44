// The goretain CLI's subcommands, registered on a CLI11 app. Each returns the process exit code:
// 0 success, 1 failure (message printed on stderr), 2 usage or unavailable.
#ifndef GORETAIN_CLI_COMMANDS_H_
#define GORETAIN_CLI_COMMANDS_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"

namespace CLI {
class App;
}

namespace goretain::cli {

// Adds every subcommand to `app`; when one is parsed, `*run` is set to its action.
void RegisterCommands(CLI::App& app, std::function<int()>* run);

// One subcommand each (cli/<name>_command.cc).
void RegisterHeap(CLI::App& app, std::function<int()>* run);
void RegisterRoots(CLI::App& app, std::function<int()>* run);
void RegisterAnalyze(CLI::App& app, std::function<int()>* run);  // analyze, diff-cores
void RegisterSnapshot(CLI::App& app, std::function<int()>* run);

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDamaged = 3;  // results printed, but the input was damaged

// Prints "goretain: <message>" on stderr and returns kExitError.
int Fail(const absl::Status& status);
// Prints the damage counters (if any) on stderr; returns kExitDamaged if any, else kExitOk.
int ReportDamage(const std::map<std::string, uint64_t>& damage);

// Progress of long phases on stderr, only when stderr is a terminal; with GORETAIN_TIMINGS set
// in the environment, one line per phase with the time it started (for benchmarks and logs).
class Progress {
 public:
  explicit Progress(std::string command);
  ~Progress();
  void Phase(const std::string& what);
  // Progress within a phase: shown on a terminal only (no line per update with timings).
  void Update(const std::string& what);
  // With GORETAIN_TIMINGS only: a timestamped line for work that ends on another thread.
  void Note(const std::string& what) const;
  void Done();

 private:
  std::string command_;
  bool tty_;
  bool timings_;
  bool active_ = false;
  double start_;
};

}  // namespace goretain::cli

#endif  // GORETAIN_CLI_COMMANDS_H_
