#include "storage/repository.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace goretain::storage {
namespace {

// Containers of a workload share a key across pod restarts only when the caller leaves the pod out;
// a key is simply the identity fields joined with NUL.
std::string WorkloadKey(const TargetRow& t) {
  return absl::StrCat(t.node, std::string(1, '\0'), t.namespace_, std::string(1, '\0'), t.pod,
                      std::string(1, '\0'), t.container, std::string(1, '\0'), t.executable_path);
}

}  // namespace

absl::StatusOr<int64_t> Repository::UpsertTarget(const TargetRow& t) {
  ASSIGN_OR_RETURN(Statement ins, db_->Prepare(
      "INSERT INTO targets(node, namespace, pod, container, executable_path, workload_key) "
      "VALUES(?,?,?,?,?,?) ON CONFLICT(workload_key) DO NOTHING"));
  ins.Bind(1, t.node).Bind(2, t.namespace_).Bind(3, t.pod).Bind(4, t.container)
      .Bind(5, t.executable_path).BindBlob(6, WorkloadKey(t));
  RETURN_IF_ERROR(ins.Run());
  ASSIGN_OR_RETURN(Statement q, db_->Prepare("SELECT id FROM targets WHERE workload_key = ?"));
  q.BindBlob(1, WorkloadKey(t));
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return absl::InternalError("storage: target vanished after insert");
  return q.ColumnInt(0);
}

absl::StatusOr<std::vector<TargetRow>> Repository::ListTargets(const std::string& namespace_filter,
                                                               const std::string& pod_filter) {
  ASSIGN_OR_RETURN(Statement q, db_->Prepare(
      "SELECT t.id, t.node, t.namespace, t.pod, t.container, t.executable_path, "
      "       COUNT(s.id), COALESCE(MAX(s.taken_at_unix_ns), 0) "
      "FROM targets t LEFT JOIN snapshots s ON s.target_id = t.id "
      "WHERE (?1 = '' OR t.namespace = ?1) AND (?2 = '' OR t.pod = ?2) "
      "GROUP BY t.id ORDER BY t.id"));
  q.Bind(1, namespace_filter).Bind(2, pod_filter);
  std::vector<TargetRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    TargetRow t;
    t.id = q.ColumnInt(0);
    t.node = q.ColumnText(1);
    t.namespace_ = q.ColumnText(2);
    t.pod = q.ColumnText(3);
    t.container = q.ColumnText(4);
    t.executable_path = q.ColumnText(5);
    t.snapshot_count = q.ColumnInt(6);
    t.last_snapshot_unix_ns = q.ColumnInt(7);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace goretain::storage
