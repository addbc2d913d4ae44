#include "storage/schema.h"

namespace goretain::storage {
namespace {

// Version 1: targets, builds, snapshots, interned frames, a per-target path trie shared by all
// snapshots of the target, and per-snapshot path samples.
constexpr absl::string_view kV1 = R"sql(
CREATE TABLE targets (
  id INTEGER PRIMARY KEY,
  node TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL DEFAULT '',
  pod TEXT NOT NULL DEFAULT '',
  container TEXT NOT NULL DEFAULT '',
  executable_path TEXT NOT NULL DEFAULT '',
  workload_key TEXT NOT NULL UNIQUE
);
CREATE TABLE builds (
  id INTEGER PRIMARY KEY,
  build_id TEXT NOT NULL UNIQUE,
  go_version TEXT NOT NULL DEFAULT ''
);
CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  target_id INTEGER NOT NULL REFERENCES targets(id),
  build_id INTEGER REFERENCES builds(id),
  pid INTEGER NOT NULL DEFAULT 0,
  taken_at_unix_ns INTEGER NOT NULL,
  header BLOB NOT NULL,
  heap_marked INTEGER NOT NULL DEFAULT 0,
  reachable_bytes INTEGER NOT NULL DEFAULT 0,
  num_gc INTEGER NOT NULL DEFAULT 0,
  pause_us INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX snapshots_by_target ON snapshots(target_id, taken_at_unix_ns);
CREATE TABLE frames (
  id INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  UNIQUE(kind, name, type)
);
CREATE TABLE paths (
  target_id INTEGER NOT NULL REFERENCES targets(id),
  path_id INTEGER NOT NULL,
  parent_path_id INTEGER NOT NULL,
  frame_id INTEGER NOT NULL REFERENCES frames(id),
  PRIMARY KEY (target_id, path_id)
) WITHOUT ROWID;
CREATE TABLE path_samples (
  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
  path_id INTEGER NOT NULL,
  self_bytes INTEGER NOT NULL,
  self_count INTEGER NOT NULL,
  cum_bytes INTEGER NOT NULL,
  cum_count INTEGER NOT NULL,
  retained_bytes INTEGER NOT NULL,
  PRIMARY KEY (snapshot_id, path_id)
) WITHOUT ROWID;
)sql";

constexpr absl::string_view kMigrations[] = {kV1};

}  // namespace

std::span<const absl::string_view> Migrations() { return kMigrations; }

}  // namespace goretain::storage
