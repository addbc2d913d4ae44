// goretain: the command-line tool. Offline core analysis and collector queries.
#include "CLI/CLI.hpp"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"goretain: who keeps your Go heap alive"};
  app.require_subcommand(1);
  std::function<int()> run;
  goretain::cli::RegisterCommands(app, &run);
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 2;
}
