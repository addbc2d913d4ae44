#include "collector/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "goretain/v1/query.grpc.pb.h"
#include "storage/database.h"
#include "storage/repository.h"
#include "tests/testing/fixtures.h"

namespace goretain::collector {
namespace {

using goretain::testing::TempDir;

TEST(CollectorServerTest, ListsTargetsFromItsDatabaseOverGrpc) {
  TempDir tmp;
  std::string db_path = tmp.File("c.db");
  {
    auto db = storage::Database::Open(db_path);
    ASSERT_TRUE(db.ok());
    storage::Repository repo(db->get());
    ASSERT_TRUE(repo.UpsertTarget({.node = "n1", .namespace_ = "shop", .pod = "cart-1"}).ok());
    ASSERT_TRUE(repo.UpsertTarget({.node = "n1", .namespace_ = "ops", .pod = "mon-1"}).ok());
  }
  auto server = Server::Start({.listen_address = "127.0.0.1:0", .database_path = db_path});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Query::NewStub(channel);
  grpc::ClientContext ctx;
  v1::ListTargetsRequest req;
  req.set_namespace_("shop");
  v1::ListTargetsResponse resp;
  grpc::Status st = stub->ListTargets(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.targets_size(), 1);
  EXPECT_EQ(resp.targets(0).identity().pod(), "cart-1");

  // What is not built yet says so instead of pretending.
  grpc::ClientContext ctx2;
  v1::DiffResponse dresp;
  st = stub->Diff(&ctx2, v1::DiffRequest(), &dresp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(CollectorServerTest, UnusableDatabaseIsAnError) {
  auto server =
      Server::Start({.listen_address = "127.0.0.1:0", .database_path = "/nonexistent/dir/c.db"});
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace goretain::collector
