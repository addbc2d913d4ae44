// The collector's gRPC server: Ingest, Query and Alerts services over one SQLite database.
#ifndef GORETAIN_COLLECTOR_SERVER_H_
#define GORETAIN_COLLECTOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace goretain::collector {

struct ServerOptions {
  std::string listen_address = "127.0.0.1:7070";  // "host:0" picks a free port
  std::string database_path = "goretain.db";
};

// A running collector. Start() binds and serves on background threads; the destructor shuts the
// server down and waits for in-flight calls. Thread-safe.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& opts);
  virtual ~Server() = default;
  virtual int port() const = 0;
  // Blocks until Shutdown() is called from another thread (or a signal handler path).
  virtual void Wait() = 0;
  virtual void Shutdown() = 0;
};

}  // namespace goretain::collector

#endif  // GORETAIN_COLLECTOR_SERVER_H_
