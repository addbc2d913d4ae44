// goretain-agent: the node agent. Watches the Go processes of this machine.
#include "CLI/CLI.hpp"
#include "agent/discovery.h"
#include "base/cpu.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  if (absl::Status cpu = goretain::CheckCpu(); !cpu.ok()) {
    spdlog::error("{}", std::string(cpu.message()));
    return 2;
  }
  CLI::App app{"goretain-agent: watches Go processes on this node and snapshots leaking ones"};
  std::string proc_root = "/proc";
  bool once = false;
  app.add_option("--proc", proc_root, "procfs mount of the host")->capture_default_str();
  app.add_flag("--list-once", once, "list the Go processes found and exit");
  CLI11_PARSE(app, argc, argv);

  if (!once) {
    spdlog::error("monitoring, triggers and upload are not available yet; only --list-once works");
    return 2;
  }
  auto procs = goretain::agent::ListGoProcesses(proc_root);
  if (!procs.ok()) {
    spdlog::error("{}", procs.status().ToString());
    return 1;
  }
  for (const auto& p : *procs) {
    spdlog::info("pid {} {} ({}) {}", p.pid, p.comm, p.go_version, p.exe_path);
  }
  return 0;
}
