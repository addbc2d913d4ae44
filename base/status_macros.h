// Error-propagation helpers over absl::Status / absl::StatusOr (as in Perfetto and gRPC code).
#ifndef GORETAIN_BASE_STATUS_MACROS_H_
#define GORETAIN_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GORETAIN_CONCAT_INNER_(a, b) a##b
#define GORETAIN_CONCAT_(a, b) GORETAIN_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status goretain_status_ = (expr);         \
    if (!goretain_status_.ok()) return goretain_status_; \
  } while (0)

// `lhs = value of expr` where expr is an absl::StatusOr<T>; returns its status on error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(GORETAIN_CONCAT_(goretain_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // GORETAIN_BASE_STATUS_MACROS_H_
