#include "analysis/flame_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/frame_format.h"
#include "analysis/internal/file_output.h"
#include "analysis/internal/flame_svg_script.h"

namespace goretain::analysis {
namespace {

// Monospace glyphs are ~0.6 em wide (DejaVu Sans Mono: 0.602), so labels can be
// cut to fit without measuring text.
constexpr double kCharWidthEm = 0.6;

// One drawn rectangle. Offsets and widths are in bytes; pixels are derived when
// writing.
struct Box {
  std::string id;  // path id in hex; "all" for the whole
  int depth = 0;
  uint64_t offset = 0;
  uint64_t value = 0;
  std::string label;
  std::string title;  // first line must be the label (the script reads it back)
  std::string fill;
};

std::string Rgb(int r, int g, int b) {
  return absl::StrFormat("rgb(%d,%d,%d)", r, g, b);
}

uint32_t Fnv32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// HSL (h in degrees, s and l in [0,1]) to "rgb(r,g,b)" with integer rounding,
// so colours are the same on every machine.
std::string Hsl(double h, double s, double l) {
  double c = (1 - std::fabs(2 * l - 1)) * s;
  double hp = std::fmod(h, 360.0) / 60.0;
  double x = c * (1 - std::fabs(std::fmod(hp, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) {
    r = c, g = x;
  } else if (hp < 2) {
    r = x, g = c;
  } else if (hp < 3) {
    g = c, b = x;
  } else if (hp < 4) {
    g = x, b = c;
  } else if (hp < 5) {
    r = x, b = c;
  } else {
    r = c, b = x;
  }
  double m = l - c / 2;
  auto q = [&](double v) {
    return static_cast<int>(std::lround((v + m) * 255));
  };
  return Rgb(q(r), q(g), q(b));
}

std::string FrameFill(const Frame& f) {
  if (f.kind == FrameKind::kOther) return Rgb(190, 190, 190);
  std::string pkg = FramePackage(f);
  uint32_t h = Fnv32(pkg);
  // Hue within the kind's band, and up to +10% lightness to separate packages
  // of similar hue.
  double jitter = (h % 1000) / 1000.0;
  double light = ((h >> 10) % 100) / 1000.0;
  switch (f.kind) {
    case FrameKind::kRootGlobal:
      return Hsl(0 + 20 * jitter, 0.70, 0.50 + light);
    case FrameKind::kRootStack:
      return Hsl(195 + 30 * jitter, 0.60, 0.55 + light);
    case FrameKind::kRootFinalizer:
    case FrameKind::kRootCleanup:
      return Hsl(270 + 30 * jitter, 0.45, 0.60 + light);
    case FrameKind::kRootOther:
      return Hsl(35, 0.25, 0.55 + light);
    default:
      break;
  }
  // Untyped memory is reported, but not coloured as if we knew what it is.
  if (f.type.empty()) return Rgb(215, 215, 215);
  // Builtin types yellow, package types the classic flame oranges.
  if (pkg.empty()) return Hsl(50 + 8 * jitter, 0.75, 0.62 + light);
  return Hsl(18 + 34 * jitter, 0.80, 0.58 + light);
}

// Escapes text for XML content and attribute values. Control characters that
// XML 1.0 forbids become U+FFFD; '\n' stays (titles use it to separate lines).
std::string Xml(std::string_view s) {
  std::string v = ValidUtf8(s);
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += "\xef\xbf\xbd";
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0.00%";
  return absl::StrFormat(
      "%.2f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string SignedBytes(int64_t d) {
  uint64_t mag =
      d < 0 ? uint64_t(0) - static_cast<uint64_t>(d) : static_cast<uint64_t>(d);
  return absl::StrCat(d < 0 ? "-" : "+", HumanBytes(mag), " (",
                      d < 0 ? "-" : "+", GroupedNumber(mag), " bytes)");
}

std::string SignedCount(int64_t d) {
  uint64_t mag =
      d < 0 ? uint64_t(0) - static_cast<uint64_t>(d) : static_cast<uint64_t>(d);
  return absl::StrCat(d < 0 ? "-" : "+", GroupedNumber(mag));
}

std::string FitLabel(const std::string& label, double w, double char_w) {
  // Same rule as the script's fit(); counts bytes, which is exact for ASCII
  // names.
  auto n = static_cast<int64_t>(std::floor((w - 6) / char_w));
  if (n >= static_cast<int64_t>(label.size())) return label;
  if (n < 3) return "";
  return label.substr(0, static_cast<size_t>(n - 2)) + "..";
}

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

// A 1 px gap between siblings wide enough to spare it, so neighbours of one
// package (one colour) stay apart; the script's place() does the same.
double RectWidth(double w) { return w >= 3 ? w - 1 : w; }

// Lays out children left to right inside their parent, skipping frames too
// narrow to draw. `children_of(i)` gives a node's children in drawing order,
// `width_of(i)` its bytes.
template <typename ChildrenFn, typename WidthFn, typename BoxFn>
void LayOut(const std::vector<uint32_t>& tops, ChildrenFn children_of,
            WidthFn width_of, BoxFn make_box, double px_per_byte, double min_px,
            std::vector<Box>& boxes) {
  struct Item {
    uint32_t node;
    int depth;
    uint64_t offset;
  };
  std::vector<Item> stack;
  auto push_children = [&](const std::vector<uint32_t>& kids, int depth,
                           uint64_t offset) {
    std::vector<Item> items;
    for (uint32_t k : kids) {
      uint64_t w = width_of(k);
      if (w > 0 && static_cast<double>(w) * px_per_byte >= min_px)
        items.push_back({k, depth, offset});
      offset += w;
    }
    stack.insert(stack.end(), items.rbegin(), items.rend());
  };
  push_children(tops, 1, 0);
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    Box b = make_box(it.node);
    b.depth = it.depth;
    b.offset = it.offset;
    b.value = width_of(it.node);
    boxes.push_back(std::move(b));
    push_children(children_of(it.node), it.depth + 1, it.offset);
  }
}

absl::Status WriteSvg(const std::vector<Box>& boxes, uint64_t total,
                      const std::string& totals_line, std::ostream& out,
                      const SvgOptions& opts) {
  int max_depth = 0;
  for (const Box& b : boxes) max_depth = std::max(max_depth, b.depth);
  const int height = opts.RowY(max_depth + 1) + opts.footer_height;
  const double dw = opts.DrawWidth();
  const double char_w = kCharWidthEm * opts.font_size;
  const double px_per_byte = total == 0 ? 0 : dw / static_cast<double>(total);
  const int fh = opts.frame_height;
  const int mid = opts.width / 2;

  out << "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      << "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\""
      << opts.width << "\" height=\"" << height << "\" viewBox=\"0 0 "
      << opts.width << ' ' << height << "\" data-total=\"" << total
      << "\" data-pad=\"" << opts.pad_x << "\" data-dw=\"" << opts.DrawWidth()
      << "\" data-cw=\"" << Num(char_w) << "\" data-minw=\""
      << Num(opts.min_width_px) << "\" onload=\"init()\">\n"
      << "<style>\n"
      << "text { font-family: 'DejaVu Sans Mono', monospace; font-size: "
      << opts.font_size << "px; fill: rgb(0,0,0); }\n"
      << "#title { font-size: " << opts.font_size + 6 << "px; }\n"
      << ".btn { cursor: pointer; fill: rgb(0,0,160); }\n"
      << "g.f { cursor: pointer; }\n"
      << "g.f text { pointer-events: none; }\n"
      << "g.f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
      << "</style>\n"
      << "<script type=\"text/ecmascript\"><![CDATA["
      << internal::kFlameSvgScript << "]]></script>\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << opts.width << "\" height=\""
      << height << "\" fill=\"rgb(248,248,248)\"/>\n"
      << "<text id=\"title\" x=\"" << mid
      << "\" y=\"22\" text-anchor=\"middle\">" << Xml(opts.title) << "</text>\n"
      << "<text id=\"subtitle\" x=\"" << mid
      << "\" y=\"38\" text-anchor=\"middle\">"
      << Xml(opts.subtitle.empty()
                 ? totals_line
                 : absl::StrCat(opts.subtitle, " \u2014 ", totals_line))
      << "</text>\n"
      << "<text id=\"reset\" class=\"btn\" x=\"" << opts.pad_x << "\" y=\""
      << opts.header_height - 6
      << "\" style=\"opacity:0.3\">Reset Zoom</text>\n"
      << "<text id=\"search\" class=\"btn\" x=\"" << opts.width - opts.pad_x
      << "\" y=\"" << opts.header_height - 6
      << "\" text-anchor=\"end\">Search</text>\n"
      << "<text id=\"details\" x=\"" << opts.pad_x << "\" y=\"" << height - 10
      << "\"> </text>\n"
      << "<text id=\"matched\" x=\"" << opts.width - opts.pad_x << "\" y=\""
      << height - 10 << "\" text-anchor=\"end\"></text>\n"
      << "<g id=\"frames\">\n";
  for (const Box& b : boxes) {
    double x = opts.pad_x + static_cast<double>(b.offset) * px_per_byte;
    double w = static_cast<double>(b.value) * px_per_byte;
    int y = opts.RowY(b.depth);
    out << "<g class=\"f\" data-id=\"" << b.id << "\" data-o=\"" << b.offset
        << "\" data-v=\"" << b.value << "\" data-d=\"" << b.depth
        << "\"><title>" << Xml(b.title) << "</title><rect x=\"" << Num(x)
        << "\" y=\"" << y << "\" width=\"" << Num(RectWidth(w))
        << "\" height=\"" << fh - 1 << "\" fill=\"" << b.fill
        << "\"/><text x=\"" << Num(x + 3) << "\" y=\"" << y + fh - 5 << "\">"
        << Xml(FitLabel(b.label, w, char_w)) << "</text></g>\n";
  }
  out << "</g>\n</svg>\n";
  return internal::StreamStatus(out, "SVG flame graph");
}

std::string ValuesTitle(const std::string& label, uint64_t bytes,
                        uint64_t count, uint64_t self, uint64_t retained,
                        uint64_t total) {
  std::string t = absl::StrCat(
      label, "\n", HumanBytes(bytes), " (", GroupedNumber(bytes), " bytes), ",
      Percent(bytes, total), " of total\n", GroupedNumber(count), " objects");
  if (self != bytes) absl::StrAppend(&t, "\nself: ", HumanBytes(self));
  if (retained != 0) absl::StrAppend(&t, "\nretained: ", HumanBytes(retained));
  return t;
}

// Grown: pale pink → red, shrunk: pale blue → blue; any change gets at least a
// visible tint, and the strongest stays light enough for black labels.
std::string DeltaFill(int64_t delta, uint64_t max_abs) {
  if (delta == 0 || max_abs == 0) return Rgb(225, 225, 225);
  double mag =
      std::fabs(static_cast<double>(delta)) / static_cast<double>(max_abs);
  double t = 0.15 + 0.85 * std::min(1.0, mag);
  int other = static_cast<int>(std::lround(230 - 190 * t));
  return delta > 0 ? Rgb(255, other, other) : Rgb(other, other, 255);
}

}  // namespace

absl::Status WriteFlameSvg(const PathTree& tree, std::ostream& out,
                           const SvgOptions& opts) {
  const uint64_t total = tree.total_bytes;
  const double px =
      total == 0 ? 0 : opts.DrawWidth() / static_cast<double>(total);
  std::vector<Box> boxes;
  // "all" has no bytes of its own; passing self = total leaves the "self:" line
  // out.
  boxes.push_back({"all", 0, 0, total, "all",
                   ValuesTitle("all", total, tree.total_count, total, 0, total),
                   Rgb(200, 200, 200)});
  LayOut(
      tree.tops,
      [&](uint32_t i) -> const std::vector<uint32_t>& {
        return tree.nodes[i].children;
      },
      [&](uint32_t i) { return tree.nodes[i].cum_bytes; },
      [&](uint32_t i) {
        const TreeNode& n = tree.nodes[i];
        Box b;
        b.id = PathIdHex(n.id);
        b.label = FrameLabel(n.frame);
        b.title = ValuesTitle(b.label, n.cum_bytes, n.cum_count, n.self_bytes,
                              n.retained_bytes, total);
        b.fill = FrameFill(n.frame);
        return b;
      },
      px, opts.min_width_px, boxes);
  std::string totals = absl::StrCat(
      HumanBytes(total), " in ", GroupedNumber(tree.total_count), " objects");
  return WriteSvg(boxes, total, totals, out, opts);
}

absl::Status WriteDiffFlameSvg(const TreeDiff& diff, std::ostream& out,
                               const SvgOptions& opts) {
  const uint64_t total = diff.current_total_bytes;
  const double px =
      total == 0 ? 0 : opts.DrawWidth() / static_cast<double>(total);
  auto width_of = [&](uint32_t i) { return diff.nodes[i].current.cum_bytes; };
  // Intensity is relative to the largest change among the frames that will be
  // drawn.
  uint64_t max_abs = 0;
  for (const DiffNode& n : diff.nodes) {
    if (static_cast<double>(n.current.cum_bytes) * px < opts.min_width_px)
      continue;
    max_abs = std::max(max_abs,
                       static_cast<uint64_t>(std::llabs(n.delta_cum_bytes())));
  }
  auto title = [&](const std::string& label, const DiffSide& b,
                   const DiffSide& c, int64_t dbytes, int64_t dcount) {
    std::string growth =
        b.cum_bytes == 0
            ? std::string("new")
            : absl::StrFormat("%+.2f%%", 100.0 * static_cast<double>(dbytes) /
                                             static_cast<double>(b.cum_bytes));
    return absl::StrCat(
        label, "\nnow: ", HumanBytes(c.cum_bytes), " (",
        GroupedNumber(c.cum_bytes), " bytes), ", GroupedNumber(c.cum_count),
        " objects, ", Percent(c.cum_bytes, total),
        " of total\nbase: ", HumanBytes(b.cum_bytes), " (",
        GroupedNumber(b.cum_bytes), " bytes), ", GroupedNumber(b.cum_count),
        " objects\ndelta: ", SignedBytes(dbytes), ", ", growth, ", ",
        SignedCount(dcount), " objects");
  };
  DiffSide all_base{true, 0, 0, diff.base_total_bytes, diff.base_total_count,
                    0};
  DiffSide all_now{
      true, 0, 0, diff.current_total_bytes, diff.current_total_count, 0};
  const int64_t dall = diff.delta_total_bytes();
  const int64_t dall_count = static_cast<int64_t>(diff.current_total_count) -
                             static_cast<int64_t>(diff.base_total_count);
  std::vector<Box> boxes;
  boxes.push_back(
      {"all", 0, 0, total, "all",
       title("all", all_base, all_now, dall, dall_count),
       DeltaFill(dall, std::max<uint64_t>(max_abs, std::llabs(dall)))});
  LayOut(
      diff.tops,
      [&](uint32_t i) -> const std::vector<uint32_t>& {
        return diff.nodes[i].children;
      },
      width_of,
      [&](uint32_t i) {
        const DiffNode& n = diff.nodes[i];
        Box b;
        b.id = PathIdHex(n.id);
        b.label = FrameLabel(n.frame);
        b.title = title(b.label, n.base, n.current, n.delta_cum_bytes(),
                        n.delta_cum_count());
        b.fill = DeltaFill(n.delta_cum_bytes(), max_abs);
        return b;
      },
      px, opts.min_width_px, boxes);
  std::string totals = absl::StrCat(
      "base ", HumanBytes(diff.base_total_bytes), ", now ", HumanBytes(total),
      ", delta ", SignedBytes(dall), "; red grew, blue shrank");
  return WriteSvg(boxes, total, totals, out, opts);
}

absl::Status WriteFlameSvgFile(const PathTree& tree, const std::string& path,
                               const SvgOptions& opts) {
  return internal::WriteFileAtomically(
      path, [&](std::ostream& out) { return WriteFlameSvg(tree, out, opts); });
}

absl::Status WriteDiffFlameSvgFile(const TreeDiff& diff,
                                   const std::string& path,
                                   const SvgOptions& opts) {
  return internal::WriteFileAtomically(path, [&](std::ostream& out) {
    return WriteDiffFlameSvg(diff, out, opts);
  });
}

}  // namespace goretain::analysis
