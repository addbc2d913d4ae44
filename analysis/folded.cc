#include "analysis/folded.h"

#include <charconv>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "analysis/frame_format.h"
#include "analysis/internal/file_output.h"

namespace goretain::analysis {

std::string FoldedEscape(std::string_view frame) {
  std::string out;
  out.reserve(frame.size());
  for (char c : frame) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case ';':
        out += "\\x3b";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string FoldedUnescape(std::string_view frame) {
  std::string out;
  out.reserve(frame.size());
  for (size_t i = 0; i < frame.size(); i++) {
    if (frame[i] != '\\' || i + 1 == frame.size()) {
      out.push_back(frame[i]);
      continue;
    }
    std::string_view rest = frame.substr(i + 1);
    if (rest.front() == '\\') {
      out.push_back('\\');
      i += 1;
    } else if (rest.front() == 'n') {
      out.push_back('\n');
      i += 1;
    } else if (rest.front() == 'r') {
      out.push_back('\r');
      i += 1;
    } else if (rest.substr(0, 3) == "x3b") {
      out.push_back(';');
      i += 3;
    } else {
      out.push_back('\\');
    }
  }
  return out;
}

absl::Status WriteFolded(const PathTree& tree, std::ostream& out,
                         const FoldedOptions& opts) {
  // Nodes are in pre-order, so the current stack text only ever grows by one
  // frame or is cut back to an ancestor's: memory stays O(depth) however large
  // the tree.
  std::string stack;
  // (node, length of `stack` up to and with it)
  std::vector<std::pair<uint32_t, size_t>> open;
  for (uint32_t i = 0; i < tree.nodes.size(); i++) {
    const TreeNode& n = tree.nodes[i];
    while (!open.empty() && open.back().first != n.parent) open.pop_back();
    stack.resize(open.empty() ? 0 : open.back().second);
    if (!open.empty()) stack.push_back(';');
    stack += FoldedEscape(FrameLabel(n.frame));
    open.emplace_back(i, stack.size());
    uint64_t v = opts.value == FoldedOptions::Value::kBytes ? n.self_bytes
                                                            : n.self_count;
    if (v != 0) out << stack << ' ' << v << '\n';
  }
  return internal::StreamStatus(out, "folded stacks");
}

absl::Status WriteFoldedFile(const PathTree& tree, const std::string& path,
                             const FoldedOptions& opts) {
  return internal::WriteFileAtomically(
      path, [&](std::ostream& out) { return WriteFolded(tree, out, opts); });
}

absl::StatusOr<std::vector<FoldedStack>> ReadFolded(std::istream& in) {
  std::vector<FoldedStack> stacks;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos || space == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "folded stacks: line ", line_no, " has no \"stack value\" form"));
    }
    FoldedStack s;
    std::string_view value(line.data() + space + 1, line.size() - space - 1);
    auto [end, ec] =
        std::from_chars(value.data(), value.data() + value.size(), s.value);
    if (ec != std::errc() || end != value.data() + value.size() ||
        value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("folded stacks: line ", line_no, ": value \"",
                       std::string(value), "\" is not a count"));
    }
    std::string_view stack(line.data(), space);
    size_t start = 0;
    while (true) {
      size_t semi = stack.find(';', start);
      std::string_view f = stack.substr(
          start, semi == std::string_view::npos ? semi : semi - start);
      if (f.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "folded stacks: line ", line_no, " has an empty frame"));
      }
      s.frames.push_back(FoldedUnescape(f));
      if (semi == std::string_view::npos) break;
      start = semi + 1;
    }
    stacks.push_back(std::move(s));
  }
  if (in.bad()) return absl::DataLossError("folded stacks: read error");
  return stacks;
}

}  // namespace goretain::analysis
