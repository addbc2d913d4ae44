// Self-contained interactive SVG flame graphs of a PathTree, and differential
// ones of a TreeDiff. One file, inline script, no network: click a frame to
// zoom, "Reset Zoom", "Search" (regex; matches highlighted and their share
// shown), tooltips with bytes, objects, share and retained bytes. The layout is
// an icicle: roots at the top under "all", each path below its parent, widths
// proportional to cum_bytes. Output is deterministic: the same tree gives the
// same bytes.
#ifndef GORETAIN_ANALYSIS_FLAME_SVG_H_
#define GORETAIN_ANALYSIS_FLAME_SVG_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "analysis/tree.h"
#include "analysis/tree_diff.h"

namespace goretain::analysis {

struct SvgOptions {
  std::string title = "Reference flame graph";
  // E.g. the core file; a totals line is always shown after it.
  std::string subtitle;
  int width = 1200;        // px, the whole image
  int pad_x = 10;          // px left and right of the frames
  int header_height = 60;  // px above the "all" row (titles, buttons)
  int footer_height = 28;  // px below the deepest row (details, matches)
  int frame_height = 16;   // px per depth level, including a 1 px gap
  int font_size = 11;      // px, monospace
  // Narrower frames (and their subtrees) are left out, as flamegraph.pl's
  // --minwidth: it bounds the file size of huge trees.
  double min_width_px = 0.1;

  // Where a frame is drawn: row `depth` (0 = "all", 1 = the roots) starts at
  // this y.
  int RowY(int depth) const { return header_height + depth * frame_height; }
  // Width in px available to the frames.
  int DrawWidth() const { return width - 2 * pad_x; }
};

// Colours: by frame kind (global roots warm reds, goroutine-stack roots blues,
// finalizer and cleanup roots purples, "(other)" and untyped memory greys) and,
// within a kind, by the Go package of the root or of the edge's type, so one
// package keeps one colour in every graph.
absl::Status WriteFlameSvg(const PathTree& tree, std::ostream& out,
                           const SvgOptions& opts = {});
absl::Status WriteFlameSvgFile(const PathTree& tree, const std::string& path,
                               const SvgOptions& opts = {});

// Differential flame graph: frames and widths from the newer tree
// (`diff.current`), colour by the growth of each frame's subtree (delta of
// cum_bytes): grown red, shrunk blue, intensity by |delta| relative to the
// largest |delta| drawn, unchanged grey; tooltips give both values and the
// delta. Paths that disappeared have no width and are not drawn.
absl::Status WriteDiffFlameSvg(const TreeDiff& diff, std::ostream& out,
                               const SvgOptions& opts = {});
absl::Status WriteDiffFlameSvgFile(const TreeDiff& diff,
                                   const std::string& path,
                                   const SvgOptions& opts = {});

}  // namespace goretain::analysis

#endif  // GORETAIN_ANALYSIS_FLAME_SVG_H_
