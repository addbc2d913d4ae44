// goretain-collector: stores snapshots from agents, diffs them, raises alerts, answers queries.
#include <csignal>
#include <thread>

#include "CLI/CLI.hpp"
#include "collector/server.h"
#include "spdlog/spdlog.h"

namespace {
goretain::collector::Server* g_server = nullptr;
void OnSignal(int) {
  // Shutdown from a helper thread: gRPC's Shutdown is not async-signal-safe.
  if (g_server) std::thread([] { g_server->Shutdown(); }).detach();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"goretain-collector: stores Go heap snapshots, finds growing retention paths"};
  goretain::collector::ServerOptions opts;
  app.add_option("--listen", opts.listen_address, "gRPC listen address (host:port; port 0 = any)")
      ->capture_default_str();
  app.add_option("--db", opts.database_path, "SQLite database file")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto server = goretain::collector::Server::Start(opts);
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return 1;
  }
  g_server = server->get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  (*server)->Wait();
  g_server = nullptr;
  return 0;
}
