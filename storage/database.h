// The one thin wrapper over sqlite3: connections, statements, transactions, schema migrations.
// Nothing outside storage/ calls the SQLite API.
#ifndef GORETAIN_STORAGE_DATABASE_H_
#define GORETAIN_STORAGE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace goretain::storage {

// A prepared statement (RAII over sqlite3_stmt). Bind with 1-based indexes, Step() until it
// returns false. Not thread-safe; owned by one thread at a time, like its Database.
class Statement {
 public:
  ~Statement();
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, double v);
  Statement& Bind(int i, absl::string_view v);
  Statement& BindBlob(int i, absl::string_view v);
  Statement& BindNull(int i);

  // Advances; true when a row is available, false when done. Errors name the SQL.
  absl::StatusOr<bool> Step();
  // Runs to completion, ignoring rows.
  absl::Status Run();
  absl::Status Reset();

  int64_t ColumnInt(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One SQLite connection in WAL mode with foreign keys on. Open() creates the file if needed and
// brings its schema to the newest version, one transaction per migration step; a database written
// by a newer goretain (higher version) is refused rather than damaged.
class Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  int64_t LastInsertRowId() const;
  int SchemaVersion() const { return schema_version_; }
  const std::string& path() const { return path_; }

  // Newest schema version this build knows.
  static int LatestSchemaVersion();

 private:
  Database(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Migrate();

  std::string path_;
  sqlite3* db_;
  int schema_version_ = 0;
};

// Runs `fn` inside BEGIN IMMEDIATE … COMMIT; rolls back if `fn` fails or the commit fails.
absl::Status InTransaction(Database& db, const std::function<absl::Status()>& fn);

}  // namespace goretain::storage

#endif  // GORETAIN_STORAGE_DATABASE_H_
