#include "gocore/graph.h"

#include <thread>

namespace goretain::gocore {

absl::StatusOr<std::unique_ptr<ObjectGraph>> ObjectGraph::Build(const HeapIndex& heap,
                                                                const std::vector<Root>& roots) {
  std::unique_ptr<ObjectGraph> g(new ObjectGraph);
  const size_t n = heap.num_objects();
  if (n >= (uint64_t{1} << 32) - 1) return absl::ResourceExhaustedError("more than 2^32 objects");
  // Edges of every object, in id order (one pass over the heap; after a GC almost every object is
  // reachable, so recording the few unreachable ones costs less than a second pass).
  // Two halves of the id range on two threads, then joined.
  g->row_.resize(n + 1);
  const uint32_t mid = static_cast<uint32_t>(n / 2);
  std::vector<Edge> upper;
  // Per half: the (few) edges that point inside their target, by index in that half.
  std::vector<uint64_t> lower_inside, upper_inside;
  auto scan = [&heap, &g](uint32_t from, uint32_t to, std::vector<Edge>* out,
                          std::vector<uint64_t>* inside) {
    out->reserve((to - from) + (to - from) / 2);
    for (uint32_t id = from; id < to; id++) {
      g->row_[id] = static_cast<uint32_t>(out->size());
      heap.VisitPointers(id, [&](uint64_t off, uint64_t v) {
        uint64_t interior = 0;
        if (auto t = heap.FindObject(v, &interior)) {
          if (interior != 0) inside->push_back(out->size());
          out->push_back({*t, static_cast<uint32_t>(off)});
        }
      });
    }
  };
  std::thread second(scan, mid, static_cast<uint32_t>(n), &upper, &upper_inside);
  scan(0, mid, &g->edges_, &lower_inside);
  second.join();
  const uint64_t lower = g->edges_.size();
  if (lower + upper.size() >= (uint64_t{1} << 32) - 1) {
    return absl::ResourceExhaustedError("more than 2^32 edges");
  }
  for (uint32_t id = mid; id < n; id++) g->row_[id] += static_cast<uint32_t>(lower);
  g->edges_.insert(g->edges_.end(), upper.begin(), upper.end());
  std::vector<Edge>().swap(upper);
  g->row_[n] = static_cast<uint32_t>(g->edges_.size());
  g->edges_.shrink_to_fit();
  g->inside_.assign((g->edges_.size() + 63) / 64, 0);
  for (uint64_t e : lower_inside) g->inside_[e >> 6] |= uint64_t{1} << (e & 63);
  for (uint64_t e : upper_inside) {
    e += lower;
    g->inside_[e >> 6] |= uint64_t{1} << (e & 63);
  }

  // Root edges, then the mark from them over the edge arrays.
  g->mark_.assign((n + 63) / 64, 0);
  std::vector<uint32_t> stack;
  auto mark = [&](uint32_t id) {
    uint64_t& w = g->mark_[id >> 6];
    uint64_t bit = uint64_t{1} << (id & 63);
    if (w & bit) return;
    w |= bit;
    stack.push_back(id);
  };
  g->root_row_.reserve(roots.size() + 1);
  g->root_row_.push_back(0);
  for (const Root& r : roots) {
    for (const auto& [off, v] : r.pointers) {
      if (auto id = heap.FindObject(v)) {
        g->root_edges_.push_back({*id, off});
        mark(*id);
      }
    }
    g->root_row_.push_back(static_cast<uint32_t>(g->root_edges_.size()));
  }
  while (!stack.empty()) {
    uint32_t id = stack.back();
    stack.pop_back();
    for (const Edge& e : g->OutEdges(id)) mark(e.target);
  }
  for (uint32_t id = 0; id < n; id++) {
    uint64_t size = heap.object_size(id);
    if (g->reachable(id)) {
      g->reachable_objects++;
      g->reachable_bytes += size;
    } else {
      g->unreachable_objects++;
      g->unreachable_bytes += size;
    }
  }
  return g;
}

}  // namespace goretain::gocore
