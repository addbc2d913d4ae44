#include "analysis/frame_format.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace goretain::analysis {
namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '/' ||
         c == '-' || c == '.' || c == '%' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// The package of the first qualified name in a Go type or symbol string: the
// text before the last '.' of the first identifier run that contains one
// ("*map[string]*foo/bar.T" → "foo/bar").
std::string FirstPackage(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (!IsIdentChar(s[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < s.size() && IsIdentChar(s[j])) j++;
    std::string_view word = s.substr(i, j - i);
    // The package ends at the first dot after the last slash: Go escapes dots
    // in the last path element of symbol names ("gopkg.in/yaml%2ev3.Node"), and
    // "main.Func.var" (a goroutine frame root) is still package "main".
    size_t slash = word.rfind('/');
    size_t dot = word.find('.', slash == std::string_view::npos ? 0 : slash);
    if (dot != std::string_view::npos && dot > 0)
      return std::string(word.substr(0, dot));
    i = j;
  }
  return "";
}

}  // namespace

std::string FrameLabel(const Frame& frame) {
  if (IsRootKind(frame.kind) || frame.kind == FrameKind::kOther ||
      frame.type.empty()) {
    return frame.name;
  }
  if (frame.name.empty()) return absl::StrCat("(", frame.type, ")");
  return absl::StrCat(frame.name, " (", frame.type, ")");
}

std::string_view FrameKindName(FrameKind kind) {
  switch (kind) {
    case FrameKind::kUnspecified:
      return "unspecified";
    case FrameKind::kRootGlobal:
      return "root_global";
    case FrameKind::kRootStack:
      return "root_stack";
    case FrameKind::kRootFinalizer:
      return "root_finalizer";
    case FrameKind::kRootCleanup:
      return "root_cleanup";
    case FrameKind::kRootOther:
      return "root_other";
    case FrameKind::kField:
      return "field";
    case FrameKind::kIndex:
      return "index";
    case FrameKind::kMapKey:
      return "map_key";
    case FrameKind::kMapValue:
      return "map_value";
    case FrameKind::kChanBuf:
      return "chan_buf";
    case FrameKind::kPointer:
      return "pointer";
    case FrameKind::kOther:
      return "other";
  }
  return "unspecified";
}

std::string FramePackage(const Frame& frame) {
  if (IsRootKind(frame.kind)) return FirstPackage(frame.name);
  return FirstPackage(frame.type);
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B",   "KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  if (v >= 100) return absl::StrFormat("%.0f %s", v, kUnits[u]);
  if (v >= 10) return absl::StrFormat("%.1f %s", v, kUnits[u]);
  return absl::StrFormat("%.2f %s", v, kUnits[u]);
}

std::string GroupedNumber(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string PathIdHex(uint64_t id) { return absl::StrFormat("%016x", id); }

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; k++) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len > 1) {
      // Reject overlong forms and surrogates, which strict JSON/XML parsers
      // refuse.
      uint32_t cp = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
      for (size_t k = 1; k < len; k++)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
           !(len == 4 && cp < 0x10000) && !(cp >= 0xd800 && cp <= 0xdfff) &&
           cp <= 0x10ffff;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xef\xbf\xbd");
      i++;
    }
  }
  return out;
}

}  // namespace goretain::analysis
