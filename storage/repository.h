// Typed access to goretain's tables. Everything SQL about targets and snapshots lives here.
#ifndef GORETAIN_STORAGE_REPOSITORY_H_
#define GORETAIN_STORAGE_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace goretain::storage {

struct TargetRow {
  int64_t id = 0;
  std::string node, namespace_, pod, container, executable_path;
  int64_t snapshot_count = 0;
  int64_t last_snapshot_unix_ns = 0;
};

// Borrow a Database; not thread-safe (one per thread or guarded by the caller).
class Repository {
 public:
  explicit Repository(Database* db) : db_(db) {}

  // Finds or creates the target row for a workload (node/namespace/pod/container/executable).
  absl::StatusOr<int64_t> UpsertTarget(const TargetRow& t);
  // Targets, optionally filtered by namespace and pod (empty = any), ordered by id.
  absl::StatusOr<std::vector<TargetRow>> ListTargets(const std::string& namespace_filter,
                                                     const std::string& pod_filter);

 private:
  Database* db_;
};

}  // namespace goretain::storage

#endif  // GORETAIN_STORAGE_REPOSITORY_H_
