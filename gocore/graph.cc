#include "gocore/graph.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace goretain::gocore {

absl::StatusOr<std::unique_ptr<ObjectGraph>> ObjectGraph::Build(const HeapIndex& heap,
                                                                const std::vector<Root>& roots) {
  std::unique_ptr<ObjectGraph> g(new ObjectGraph);
  const size_t n = heap.num_objects();
  if (n >= (uint64_t{1} << 32) - 1) return absl::ResourceExhaustedError("more than 2^32 objects");
  // Edges of every object, in id order (one pass over the heap; after a GC almost every object is
  // reachable, so recording the few unreachable ones costs less than a second pass). The id range
  // is cut into chunks that two threads take in turn, each appending to its own buffer (pointer
  // density varies along the heap: fixed halves left one thread idle for half the scan); the
  // chunks are then joined in id order.
  g->row_.resize(n + 1);
  struct Scanner {
    std::vector<Edge> edges;
    std::vector<uint32_t> inside;  // indices in `edges` of pointers past their target's start
  };
  struct Chunk {
    uint32_t scanner;
    size_t edges_begin, edges_end, inside_begin, inside_end;
  };
  constexpr uint32_t kMinChunk = 16384, kChunks = 256;
  const uint32_t chunk_size =
      std::max<uint32_t>(kMinChunk, static_cast<uint32_t>((n + kChunks - 1) / kChunks));
  const uint32_t num_chunks = static_cast<uint32_t>((n + chunk_size - 1) / chunk_size);
  auto chunk_end = [n, chunk_size](uint32_t c) {
    return static_cast<uint32_t>(std::min<uint64_t>(n, (uint64_t{c} + 1) * chunk_size));
  };
  std::vector<Chunk> chunks(num_chunks);
  Scanner scanners[2];
  std::atomic<uint32_t> next_chunk{0};
  auto scan = [&](uint32_t which) {
    Scanner& sc = scanners[which];
    sc.edges.reserve(n - n / 4);  // about 1.5 edges per object, half of them each
    for (uint32_t c; (c = next_chunk.fetch_add(1, std::memory_order_relaxed)) < num_chunks;) {
      Chunk& ch = chunks[c];
      ch.scanner = which;
      ch.edges_begin = sc.edges.size();
      ch.inside_begin = sc.inside.size();
      for (uint32_t id = c * chunk_size; id < chunk_end(c); id++) {
        g->row_[id] = static_cast<uint32_t>(sc.edges.size() - ch.edges_begin);  // in the chunk
        heap.VisitPointers(id, [&](uint64_t off, uint64_t v) {
          uint64_t interior = 0;
          if (auto t = heap.FindObject(v, &interior)) {
            if (interior != 0) sc.inside.push_back(static_cast<uint32_t>(sc.edges.size()));
            sc.edges.push_back({*t, static_cast<uint32_t>(off)});
          }
        });
      }
      ch.edges_end = sc.edges.size();
      ch.inside_end = sc.inside.size();
    }
  };
  {
    std::thread second(scan, 1);
    scan(0);
    second.join();
  }
  const uint64_t total = scanners[0].edges.size() + scanners[1].edges.size();
  if (total >= (uint64_t{1} << 32) - 1) return absl::ResourceExhaustedError("more than 2^32 edges");
  g->edges_.reserve(total);
  g->inside_.assign((total + 63) / 64, 0);
  for (uint32_t c = 0; c < num_chunks; c++) {
    const Chunk& ch = chunks[c];
    const Scanner& sc = scanners[ch.scanner];
    const uint32_t base = static_cast<uint32_t>(g->edges_.size());
    for (uint32_t id = c * chunk_size; id < chunk_end(c); id++) g->row_[id] += base;
    g->edges_.insert(g->edges_.end(), sc.edges.begin() + ch.edges_begin,
                     sc.edges.begin() + ch.edges_end);
    for (size_t k = ch.inside_begin; k < ch.inside_end; k++) {
      const uint64_t e = base + (sc.inside[k] - ch.edges_begin);
      g->inside_[e >> 6] |= uint64_t{1} << (e & 63);
    }
  }
  g->row_[n] = static_cast<uint32_t>(total);
  for (Scanner& sc : scanners) {
    std::vector<Edge>().swap(sc.edges);
    std::vector<uint32_t>().swap(sc.inside);
  }

  // Root edges, then the mark from them over the edge arrays: breadth-first, so that the queue
  // says which objects come next and their rows, edges and mark words can be asked for ahead.
  g->mark_.assign((n + 63) / 64, 0);
  std::vector<uint32_t> queue;
  queue.reserve(n);  // at most every object; grown by doubling, it would be copied ~log n times
  auto mark = [&](uint32_t id) {
    uint64_t& w = g->mark_[id >> 6];
    uint64_t bit = uint64_t{1} << (id & 63);
    if (w & bit) return;
    w |= bit;
    queue.push_back(id);
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
  for (size_t i = 0; i < queue.size(); i++) {
    constexpr size_t kRowAhead = 16, kEdgeAhead = 8, kTargetAhead = 4, kTargetsPrefetched = 8;
    if (i + kRowAhead < queue.size()) g->PrefetchRow(queue[i + kRowAhead]);
    if (i + kEdgeAhead < queue.size()) g->PrefetchEdges(queue[i + kEdgeAhead]);
    if (i + kTargetAhead < queue.size()) {
      const auto next = g->OutEdges(queue[i + kTargetAhead]);
      for (size_t k = 0; k < next.size() && k < kTargetsPrefetched; k++) {
        __builtin_prefetch(&g->mark_[next[k].target >> 6]);
      }
    }
    const auto edges = g->OutEdges(queue[i]);
    for (size_t k = 0; k < edges.size(); k++) {
      if (k + kTargetsPrefetched < edges.size()) {  // objects with many pointers
        __builtin_prefetch(&g->mark_[edges[k + kTargetsPrefetched].target >> 6]);
      }
      mark(edges[k].target);
    }
  }
  std::vector<uint32_t>().swap(queue);
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
