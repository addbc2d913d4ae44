#include "collector/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "goretain/v1/alerts.grpc.pb.h"
#include "goretain/v1/ingest.grpc.pb.h"
#include "goretain/v1/query.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "storage/database.h"
#include "storage/repository.h"

namespace goretain::collector {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status NotYet(const char* what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(what, " is not available yet in this collector"));
}

// Serialises access to the one SQLite connection.
struct Store {
  std::mutex mu;
  std::unique_ptr<storage::Database> db;
};

class QueryService final : public v1::Query::Service {
 public:
  explicit QueryService(Store* store) : store_(store) {}

  grpc::Status ListTargets(grpc::ServerContext*, const v1::ListTargetsRequest* req,
                           v1::ListTargetsResponse* resp) override {
    std::lock_guard<std::mutex> lock(store_->mu);
    storage::Repository repo(store_->db.get());
    auto rows = repo.ListTargets(req->namespace_(), req->pod());
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const auto& r : *rows) {
      v1::Target* t = resp->add_targets();
      t->set_id(r.id);
      t->set_snapshot_count(r.snapshot_count);
      auto* id = t->mutable_identity();
      id->set_node(r.node);
      id->set_namespace_(r.namespace_);
      id->set_pod(r.pod);
      id->set_container(r.container);
      id->set_executable_path(r.executable_path);
      if (r.last_snapshot_unix_ns > 0) {
        t->mutable_last_snapshot_at()->set_seconds(r.last_snapshot_unix_ns / 1000000000);
        t->mutable_last_snapshot_at()->set_nanos(r.last_snapshot_unix_ns % 1000000000);
      }
    }
    return grpc::Status::OK;
  }
  grpc::Status ListSnapshots(grpc::ServerContext*, const v1::ListSnapshotsRequest*,
                             v1::ListSnapshotsResponse*) override {
    return NotYet("ListSnapshots");
  }
  grpc::Status GetTree(grpc::ServerContext*, const v1::GetTreeRequest*,
                       v1::GetTreeResponse*) override {
    return NotYet("GetTree");
  }
  grpc::Status Diff(grpc::ServerContext*, const v1::DiffRequest*, v1::DiffResponse*) override {
    return NotYet("Diff");
  }
  grpc::Status Growth(grpc::ServerContext*, const v1::GrowthRequest*,
                      v1::GrowthResponse*) override {
    return NotYet("Growth");
  }

 private:
  Store* store_;
};

class IngestService final : public v1::Ingest::Service {
 public:
  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<v1::IngestMessage>*,
                      v1::IngestAck*) override {
    return NotYet("Ingest.Upload");
  }
};

class AlertsService final : public v1::Alerts::Service {
 public:
  grpc::Status ListAlerts(grpc::ServerContext*, const v1::ListAlertsRequest*,
                          v1::ListAlertsResponse*) override {
    return NotYet("ListAlerts");
  }
  grpc::Status WatchAlerts(grpc::ServerContext*, const v1::WatchAlertsRequest*,
                           grpc::ServerWriter<v1::Alert>*) override {
    return NotYet("WatchAlerts");
  }
};

class ServerImpl final : public Server {
 public:
  ServerImpl() : query_(&store_) {}
  ~ServerImpl() override { Shutdown(); }

  absl::Status Init(const ServerOptions& opts) {
    ASSIGN_OR_RETURN(store_.db, storage::Database::Open(opts.database_path));
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder b;
    b.AddListeningPort(opts.listen_address, grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&query_);
    b.RegisterService(&ingest_);
    b.RegisterService(&alerts_);
    server_ = b.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("collector: cannot listen on ", opts.listen_address));
    }
    spdlog::info("collector listening on port {} (database {})", port_, opts.database_path);
    return absl::OkStatus();
  }
  int port() const override { return port_; }
  void Wait() override {
    if (server_) server_->Wait();
  }
  void Shutdown() override {
    std::call_once(shutdown_once_, [this] {
      if (server_) server_->Shutdown();
    });
  }

 private:
  Store store_;
  QueryService query_;
  IngestService ingest_;
  AlertsService alerts_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& opts) {
  auto s = std::make_unique<ServerImpl>();
  RETURN_IF_ERROR(s->Init(opts));
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace goretain::collector
