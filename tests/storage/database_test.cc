#include "storage/database.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/match.h"
#include "storage/repository.h"
#include "tests/testing/fixtures.h"

namespace goretain::storage {
namespace {

using goretain::testing::TempDir;

TEST(DatabaseTest, CreatesSchemaAndReopens) {
  TempDir tmp;
  std::string path = tmp.File("g.db");
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->SchemaVersion(), Database::LatestSchemaVersion());
    Repository repo(db->get());
    auto id = repo.UpsertTarget({.node = "n1", .namespace_ = "shop", .pod = "cart-1",
                                 .container = "cart", .executable_path = "/app/cart"});
    ASSERT_TRUE(id.ok()) << id.status();
    auto again = repo.UpsertTarget({.node = "n1", .namespace_ = "shop", .pod = "cart-1",
                                    .container = "cart", .executable_path = "/app/cart"});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*id, *again);
  }
  auto db = Database::Open(path);  // second open: migrations already applied
  ASSERT_TRUE(db.ok()) << db.status();
  Repository repo(db->get());
  auto all = repo.ListTargets("", "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].pod, "cart-1");
  EXPECT_EQ((*all)[0].snapshot_count, 0);
  auto none = repo.ListTargets("other-namespace", "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(DatabaseTest, RefusesAFileThatIsNotADatabase) {
  TempDir tmp;
  std::ofstream(tmp.File("junk.db")) << std::string(8192, 'x');
  auto db = Database::Open(tmp.File("junk.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_TRUE(absl::StrContains(db.status().message(), "junk.db")) << db.status();
}

TEST(DatabaseTest, RefusesANewerSchema) {
  TempDir tmp;
  {
    auto db = Database::Open(tmp.File("g.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version=999").ok());
  }
  auto db = Database::Open(tmp.File("g.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_TRUE(absl::StrContains(db.status().message(), "newer")) << db.status();
}

TEST(DatabaseTest, FailedTransactionLeavesNothing) {
  TempDir tmp;
  auto db = Database::Open(tmp.File("g.db"));
  ASSERT_TRUE(db.ok());
  absl::Status s = InTransaction(**db, [&]() -> absl::Status {
    Repository repo(db->get());
    auto id = repo.UpsertTarget({.node = "n", .pod = "p"});
    if (!id.ok()) return id.status();
    return absl::InternalError("injected");
  });
  EXPECT_FALSE(s.ok());
  Repository repo(db->get());
  auto all = repo.ListTargets("", "");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

}  // namespace
}  // namespace goretain::storage
