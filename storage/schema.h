// goretain's SQLite schema, as an ordered list of migrations (docs/formats/storage.md).
#ifndef GORETAIN_STORAGE_SCHEMA_H_
#define GORETAIN_STORAGE_SCHEMA_H_

#include <span>
#include "absl/strings/string_view.h"
#include "absl/strings/string_view.h"

namespace goretain::storage {

// Migration i (0-based) takes the schema from version i to i+1. Never edit a released step;
// append a new one.
std::span<const absl::string_view> Migrations();

}  // namespace goretain::storage

#endif  // GORETAIN_STORAGE_SCHEMA_H_
