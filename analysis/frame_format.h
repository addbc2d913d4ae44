// How frames and values are rendered in every exporter, so a frame reads the
// same in the folded stacks, the SVG, pprof and JSON.
#ifndef GORETAIN_ANALYSIS_FRAME_FORMAT_H_
#define GORETAIN_ANALYSIS_FRAME_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "analysis/path.h"

namespace goretain::analysis {

// The name shown for a folded "(other)" node.
inline constexpr std::string_view kOtherName = "(other)";

// A frame as people read it: roots and "(other)" by their name, edges as `label
// (type)` (or just the label when the type is unknown, e.g. untyped memory).
std::string FrameLabel(const Frame& frame);

// Stable lower-case name of a kind ("root_global", "field", …), used in JSON
// and pprof.
std::string_view FrameKindName(FrameKind kind);

// The Go package a frame belongs to, for colouring: the package of a root's
// name
// ("net/http.DefaultClient" → "net/http") or of the edge's target type
// ("map[string]*foo.Bar" → "foo"); "" for builtin types ("[]uint8").
std::string FramePackage(const Frame& frame);

// "12.3 MiB", "512 B": binary units, three significant digits,
// locale-independent.
std::string HumanBytes(uint64_t bytes);

// "1,234,567": thousands separated, locale-independent.
std::string GroupedNumber(uint64_t n);

// Lower-case 16-digit hex of a path id (JSON and SVG carry ids as strings:
// 64-bit integers do not survive JavaScript numbers).
std::string PathIdHex(uint64_t id);

// Replaces each invalid UTF-8 sequence with U+FFFD, so names read from a
// damaged core never make an XML or JSON writer fail.
std::string ValidUtf8(std::string_view s);

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_FRAME_FORMAT_H_
