// The goretain CLI's subcommands, registered on a CLI11 app. Each returns the process exit code:
// 0 success, 1 failure (message printed on stderr), 2 usage or unavailable.
#ifndef GORETAIN_CLI_COMMANDS_H_
#define GORETAIN_CLI_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace goretain::cli {

// Adds every subcommand to `app`; when one is parsed, `*run` is set to its action.
void RegisterCommands(CLI::App& app, std::function<int()>* run);

}  // namespace goretain::cli

#endif  // GORETAIN_CLI_COMMANDS_H_
