// JSON form of a PathTree, and the `paths[]` list the `goretain analyze -o
// x.json` summary embeds.
#ifndef GORETAIN_ANALYSIS_JSON_EXPORT_H_
#define GORETAIN_ANALYSIS_JSON_EXPORT_H_

#include <cstddef>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "analysis/tree.h"
#include "nlohmann/json.hpp"

namespace goretain::analysis {

struct JsonOptions {
  size_t max_paths = 0;  // entries of paths[]; 0 = every node
};

// `paths[]`: one entry per node, {id, frames[], retained_bytes, tree_bytes,
// objects, self_bytes, self_objects}, sorted by retained_bytes desc, then
// tree_bytes desc, then id; tree_bytes is the node's cum_bytes and objects its
// cum_count. Names are made valid UTF-8.
nlohmann::json PathsToJson(const PathTree& tree, size_t max_paths = 0);

// The whole tree: {format, total_bytes, total_objects, tops[], nodes[],
// paths[]} (see docs/formats/exporters.md). Ids are 16-digit hex strings:
// JavaScript numbers lose 64-bit ids. Builds the document in memory (about
// 1 KB per node): for large trees, WriteJson.
nlohmann::json TreeToJson(const PathTree& tree, const JsonOptions& opts = {});

// Streams the same document as TreeToJson, with the same key order, one node
// or path per line, without holding it in memory. Fails only when the stream
// fails.
absl::Status WriteJson(const PathTree& tree, std::ostream& out,
                       const JsonOptions& opts = {});
absl::Status WriteJsonFile(const PathTree& tree, const std::string& path,
                           const JsonOptions& opts = {});

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_JSON_EXPORT_H_
