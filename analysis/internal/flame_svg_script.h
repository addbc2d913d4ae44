// The script embedded in every flame-graph SVG (written for goretain; no
// third-party code). It reads the layout from data-* attributes that
// flame_svg.cc writes:
//   <svg data-total data-pad data-dw data-cw data-minw>  total bytes, left pad,
//   drawing width,
//                                                        char width, narrowest
//                                                        frame drawn (px)
//   <g class="f" data-id data-o data-v data-d>           path id, offset and
//   width in bytes, depth
// URL parameters (query or fragment): s=REGEX searches, z=PATHID zooms, on
// load.
#ifndef GORETAIN_ANALYSIS_INTERNAL_FLAME_SVG_SCRIPT_H_
#define GORETAIN_ANALYSIS_INTERNAL_FLAME_SVG_SCRIPT_H_

namespace goretain::analysis::internal {

inline constexpr const char kFlameSvgScript[] = R"JS(
"use strict";
var G = {frames: [], byId: {}, zoomed: null, term: null};
var MATCH_FILL = "rgb(230,0,230)";

function attrNum(el, name) { return Number(el.getAttribute(name)); }

function init() {
  var svg = document.documentElement;
  G.total = attrNum(svg, "data-total") || 1;
  G.pad = attrNum(svg, "data-pad");
  G.dw = attrNum(svg, "data-dw");
  G.cw = attrNum(svg, "data-cw");
  G.minw = attrNum(svg, "data-minw");
  G.details = document.getElementById("details");
  G.matched = document.getElementById("matched");
  G.reset = document.getElementById("reset");
  G.search = document.getElementById("search");
  var groups = document.querySelectorAll("g.f");
  for (var i = 0; i < groups.length; i++) {
    var g = groups[i];
    var title = g.querySelector("title").textContent;
    var f = {
      g: g, rect: g.querySelector("rect"), text: g.querySelector("text"),
      id: g.getAttribute("data-id"), o: attrNum(g, "data-o"), v: attrNum(g, "data-v"),
      d: attrNum(g, "data-d"), label: title.split("\n")[0],
      info: title.split("\n").join("  \u00b7  ")
    };
    f.fill = f.rect.getAttribute("fill");
    G.frames.push(f);
    G.byId[f.id] = f;
    g.addEventListener("click", onFrameClick.bind(null, f));
    g.addEventListener("mouseover", showDetails.bind(null, f));
    g.addEventListener("mouseout", showDetails.bind(null, null));
  }
  G.reset.addEventListener("click", unzoom);
  G.search.addEventListener("click", onSearchClick);
  window.addEventListener("keydown", onKey);
  var params = new URLSearchParams(location.search.slice(1) + "&" + location.hash.slice(1));
  var z = params.get("z");
  if (z && G.byId[z]) zoom(G.byId[z]);
  var s = params.get("s");
  if (s) search(s);
}

function showDetails(f) { G.details.textContent = f ? f.info : " "; }

// The label as it fits in w px: whole, cut with "..", or nothing when not even 3 chars fit.
function fit(label, w) {
  var n = Math.floor((w - 6) / G.cw);
  if (n >= label.length) return label;
  if (n < 3) return "";
  return label.slice(0, n - 2) + "..";
}

function place(f, x, w) {
  f.g.style.display = "";
  f.rect.setAttribute("x", x.toFixed(2));
  f.rect.setAttribute("width", (w >= 3 ? w - 1 : w).toFixed(2));
  f.text.setAttribute("x", (x + 3).toFixed(2));
  f.text.textContent = fit(f.label, w);
}

// Shows z across the full width: its ancestors span the width too (dimmed), its descendants are
// rescaled, everything else is hidden. Offsets nest (a child's bytes lie inside its parent's),
// so a frame is in z's subtree exactly when its interval lies inside z's.
function zoom(z) {
  G.zoomed = z.d === 0 ? null : z;
  var lo = z.o, hi = z.o + z.v, span = z.v || 1;
  for (var i = 0; i < G.frames.length; i++) {
    var f = G.frames[i];
    var x = -1, w = 0;
    if (f.d <= z.d) {
      if (f.o <= lo && f.o + f.v >= hi) { x = 0; w = G.dw; }
    } else if (f.o >= lo && f.o + f.v <= hi) {
      x = (f.o - lo) / span * G.dw;
      w = f.v / span * G.dw;
    }
    if (x < 0 || w < G.minw) {
      f.g.style.display = "none";
      continue;
    }
    place(f, G.pad + x, w);
    f.g.style.opacity = f.d < z.d ? "0.6" : "";
  }
  G.reset.style.opacity = G.zoomed ? "1" : "0.3";
}

function unzoom() { zoom(G.frames[0]); }

function onFrameClick(f) { zoom(f); }

// Highlights the frames whose label matches `term` (a regular expression) and shows the share
// of all bytes they cover; nested matches are counted once.
function search(term) {
  var re;
  try { re = new RegExp(term); } catch (e) { G.matched.textContent = "bad regex"; return; }
  G.term = term;
  var spans = [];
  for (var i = 0; i < G.frames.length; i++) {
    var f = G.frames[i];
    var hit = f.d > 0 && re.test(f.label);
    f.rect.setAttribute("fill", hit ? MATCH_FILL : f.fill);
    if (hit) spans.push([f.o, f.o + f.v]);
  }
  spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
  var covered = 0, end = -1;
  for (var j = 0; j < spans.length; j++) {
    if (spans[j][1] <= end) continue;
    covered += spans[j][1] - Math.max(spans[j][0], end);
    end = spans[j][1];
  }
  G.matched.textContent = "Matched: " + (100 * covered / G.total).toFixed(2) + "% (" +
      spans.length + " frames)";
  G.search.textContent = "Reset Search";
}

function resetSearch() {
  G.term = null;
  for (var i = 0; i < G.frames.length; i++) G.frames[i].rect.setAttribute("fill", G.frames[i].fill);
  G.matched.textContent = "";
  G.search.textContent = "Search";
}

function onSearchClick() {
  if (G.term !== null) { resetSearch(); return; }
  var term = prompt("Search frames (regular expression):", "");
  if (term) search(term);
}

function onKey(e) {
  if ((e.ctrlKey && e.key === "f") || e.key === "/") {
    e.preventDefault();
    onSearchClick();
  } else if (e.key === "Escape") {
    unzoom();
    resetSearch();
  }
}
)JS";

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_FLAME_SVG_SCRIPT_H_
