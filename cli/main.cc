// goretain: the command-line tool. Offline core analysis and collector queries.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "base/cpu.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  if (absl::Status cpu = goretain::CheckCpu(); !cpu.ok()) {
    std::fprintf(stderr, "goretain: %s\n", std::string(cpu.message()).c_str());
    return 2;
  }
  CLI::App app{"goretain: who keeps your Go heap alive"};
  app.require_subcommand(1);
  std::function<int()> run;
  goretain::cli::RegisterCommands(app, &run);
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 2;
}
