#include "cli/commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "agent/discovery.h"

namespace goretain::cli {
namespace {

int NotAvailable(const std::string& name) {
  std::fprintf(stderr, "goretain: '%s' is not available yet in this build\n", name.c_str());
  return 2;
}

void RegisterPs(CLI::App& app, std::function<int()>* run) {
  auto* cmd = app.add_subcommand("ps", "list the Go processes on this machine");
  auto proc_root = std::make_shared<std::string>("/proc");
  cmd->add_option("--proc", *proc_root, "procfs mount")->capture_default_str();
  cmd->callback([run, proc_root] {
    *run = [proc_root] {
      auto procs = agent::ListGoProcesses(*proc_root);
      if (!procs.ok()) {
        std::fprintf(stderr, "goretain: %s\n", std::string(procs.status().message()).c_str());
        return 1;
      }
      std::printf("%-8s %-24s %-16s %s\n", "PID", "GO", "COMMAND", "EXECUTABLE");
      for (const auto& p : *procs) {
        std::printf("%-8d %-24s %-16s %s\n", p.pid, p.go_version.c_str(), p.comm.c_str(),
                    p.exe_path.c_str());
      }
      return 0;
    };
  });
}

}  // namespace

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "goretain: %s\n", std::string(status.message()).c_str());
  return kExitError;
}

int ReportDamage(const std::map<std::string, uint64_t>& damage) {
  if (damage.empty()) return kExitOk;
  std::string list;
  for (const auto& [k, v] : damage) {
    if (!list.empty()) list += ", ";
    list += k + "=" + std::to_string(v);
  }
  std::fprintf(stderr, "goretain: the input is damaged (%s); results cover what was readable\n",
               list.c_str());
  return kExitDamaged;
}

namespace {
double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Progress::Progress(std::string command)
    : command_(std::move(command)),
      tty_(isatty(2) == 1),
      timings_(std::getenv("GORETAIN_TIMINGS") != nullptr),
      start_(Now()) {}
Progress::~Progress() {
  Done();
  if (timings_) std::fprintf(stderr, "%s: end (%.2f s)\n", command_.c_str(), Now() - start_);
}
void Progress::Phase(const std::string& what) {
  if (timings_) {
    std::fprintf(stderr, "%s: %s (%.2f s)\n", command_.c_str(), what.c_str(), Now() - start_);
    return;
  }
  if (!tty_) return;
  std::fprintf(stderr, "\r\033[K%s: %s … (%.1f s)", command_.c_str(), what.c_str(), Now() - start_);
  active_ = true;
}
void Progress::Update(const std::string& what) {
  if (timings_ || !tty_) return;
  std::fprintf(stderr, "\r\033[K%s: %s … (%.1f s)", command_.c_str(), what.c_str(), Now() - start_);
  active_ = true;
}
void Progress::Note(const std::string& what) const {
  if (timings_) std::fprintf(stderr, "%s: %s (%.2f s)\n", command_.c_str(), what.c_str(), Now() - start_);
}
void Progress::Done() {
  if (tty_ && active_) std::fprintf(stderr, "\r\033[K");
  active_ = false;
}

void RegisterCommands(CLI::App& app, std::function<int()>* run) {
  RegisterPs(app, run);
  RegisterHeap(app, run);
  RegisterRoots(app, run);
  RegisterAnalyze(app, run);
  RegisterSnapshot(app, run);
  // Subcommands that later work adds; listed so that users see the whole tool.
  const std::pair<const char*, const char*> later[] = {
      {"targets", "targets known to the collector"},
      {"snapshots", "snapshots of a target stored by the collector"},
      {"diff", "diff two stored snapshots"},
      {"growth", "retention paths that keep growing"},
      {"alerts", "alerts raised by the collector"},
      {"flamegraph", "flame graph of a stored snapshot"},
  };
  for (const auto& [name, help] : later) {
    auto* cmd = app.add_subcommand(name, std::string(help) + " (not available yet)");
    cmd->allow_extras();
    std::string n = name;
    cmd->callback([run, n] { *run = [n] { return NotAvailable(n); }; });
  }
}

}  // namespace goretain::cli
