// FlameGraph "folded stacks": one line per path with self values,
// `frame;frame;frame value`, the input of Brendan Gregg's flamegraph.pl,
// difffolded.pl, speedscope and inferno.
#ifndef GORETAIN_ANALYSIS_FOLDED_H_
#define GORETAIN_ANALYSIS_FOLDED_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "analysis/tree.h"

namespace goretain::analysis {

struct FoldedOptions {
  enum class Value { kBytes, kCount };
  Value value = Value::kBytes;  // which self value ends each line
};

// Writes one line per node whose chosen self value is non-zero, in pre-order of
// the tree (so the output is deterministic). Frames are FrameLabel()s with
// FoldedEscape() applied. Fails only when the stream fails.
absl::Status WriteFolded(const PathTree& tree, std::ostream& out,
                         const FoldedOptions& opts = {});
absl::Status WriteFoldedFile(const PathTree& tree, const std::string& path,
                             const FoldedOptions& opts = {});

// Makes a frame safe inside a folded line: '\' → "\\", ';' → "\x3b" (Go type
// names contain ';': `struct { a int; b int }`), newline → "\n", carriage
// return → "\r". flamegraph.pl never sees a separator inside a frame and shows
// the escape as text.
std::string FoldedEscape(std::string_view frame);
// The inverse of FoldedEscape; unknown escapes are kept as they are.
std::string FoldedUnescape(std::string_view frame);

struct FoldedStack {
  std::vector<std::string> frames;  // unescaped
  uint64_t value = 0;
};

// Parses folded stacks (ours or any tool's: the value is the text after the
// last space). Blank lines are skipped; a line without a value, or with an
// empty frame, is an error naming the line number.
absl::StatusOr<std::vector<FoldedStack>> ReadFolded(std::istream& in);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_FOLDED_H_
