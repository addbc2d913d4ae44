#include "gocore/graph.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace goretain::gocore {

absl::StatusOr<std::unique_ptr<ObjectGraph>> ObjectGraph::Build(const HeapIndex& heap,
                                                                const std::vector<Root>& roots) {
  auto g = BuildEdges(heap, roots);
  if (g.ok()) (*g)->Mark(heap);
  return g;
}

absl::StatusOr<std::unique_ptr<ObjectGraph>> ObjectGraph::BuildEdges(
    const HeapIndex& heap, const std::vector<Root>& roots) {
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
  // Pointers are looked up in batches, in passes over the batch (page table entry, span record,
  // allocation bits, then the lookup), each pass asking for what the next one reads: one
  // pointer's lookups depend on each other, different pointers' do not. Edges still come in
  // object order, then pointer order.
  struct Pending {
    uint64_t value;
    uint32_t off, source, span_plus_1;
  };
  constexpr size_t kBatch = 1024;
  auto scan = [&](uint32_t which) {
    Scanner& sc = scanners[which];
    sc.edges.reserve(n - n / 4);  // about 1.5 edges per object, half of them each
    std::vector<Pending> pending;
    pending.reserve(kBatch);
    for (uint32_t c; (c = next_chunk.fetch_add(1, std::memory_order_relaxed)) < num_chunks;) {
      Chunk& ch = chunks[c];
      ch.scanner = which;
      ch.edges_begin = sc.edges.size();
      ch.inside_begin = sc.inside.size();
      // Objects before row_done have their row start; the next object's is set when its first
      // pointer is looked up (or, without pointers, with the one after it).
      uint32_t row_done = c * chunk_size;
      auto set_rows_up_to = [&](uint32_t id) {
        for (; row_done < id; row_done++) {
          g->row_[row_done] = static_cast<uint32_t>(sc.edges.size() - ch.edges_begin);
        }
      };
      auto look_up = [&] {
        for (Pending& p : pending) p.span_plus_1 = heap.PrefetchSpanRecord(p.value);
        for (const Pending& p : pending) {
          if (p.span_plus_1 != 0) heap.PrefetchAllocBits(p.span_plus_1, p.value);
        }
        for (const Pending& p : pending) {
          set_rows_up_to(p.source + 1);
          if (p.span_plus_1 == 0) continue;
          uint64_t interior = 0;
          if (auto t = heap.FindObjectRefInSpan(p.span_plus_1, p.value, &interior)) {
            if (interior != 0) sc.inside.push_back(static_cast<uint32_t>(sc.edges.size()));
            sc.edges.push_back({t->id, p.off});
          }
        }
        pending.clear();
      };
      for (uint32_t id = c * chunk_size; id < chunk_end(c); id++) {
        heap.VisitPointers(id, [&](uint64_t off, uint64_t v) {
          heap.PrefetchPageEntry(v);
          pending.push_back({v, static_cast<uint32_t>(off), id, 0});
          if (pending.size() == kBatch) look_up();
        });
      }
      look_up();
      set_rows_up_to(chunk_end(c));
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
  // Each chunk's place in the joined array, then the copies on both threads (split by edges):
  // the copy and the page faults of the new array took 0.16 to 0.84 s on one thread at 40 M
  // objects. The interior-pointer bits are set afterwards, on one thread (chunks share words).
  std::vector<uint32_t> chunk_base(num_chunks + 1, 0);
  for (uint32_t c = 0; c < num_chunks; c++) {
    chunk_base[c + 1] =
        chunk_base[c] + static_cast<uint32_t>(chunks[c].edges_end - chunks[c].edges_begin);
  }
  g->edges_.resize(total);  // not written: Edge() leaves it as it is
  auto copy_chunks = [&](uint32_t c0, uint32_t c1) {
    for (uint32_t c = c0; c < c1; c++) {
      const Chunk& ch = chunks[c];
      const Scanner& sc = scanners[ch.scanner];
      for (uint32_t id = c * chunk_size; id < chunk_end(c); id++) g->row_[id] += chunk_base[c];
      std::copy(sc.edges.begin() + ch.edges_begin, sc.edges.begin() + ch.edges_end,
                g->edges_.begin() + chunk_base[c]);
    }
  };
  const uint32_t split = static_cast<uint32_t>(
      std::upper_bound(chunk_base.begin(), chunk_base.end(), chunk_base[num_chunks] / 2) -
      chunk_base.begin() - 1);
  {
    std::jthread second(copy_chunks, split, num_chunks);
    copy_chunks(0, split);
  }
  g->inside_.assign((total + 63) / 64, 0);
  for (uint32_t c = 0; c < num_chunks; c++) {
    const Chunk& ch = chunks[c];
    const Scanner& sc = scanners[ch.scanner];
    for (size_t k = ch.inside_begin; k < ch.inside_end; k++) {
      const uint64_t e = chunk_base[c] + (sc.inside[k] - ch.edges_begin);
      g->inside_[e >> 6] |= uint64_t{1} << (e & 63);
    }
  }
  g->row_[n] = static_cast<uint32_t>(total);
  for (Scanner& sc : scanners) {
    std::vector<Edge>().swap(sc.edges);
    std::vector<uint32_t>().swap(sc.inside);
  }

  // Root edges: each root's pointers into the heap, in the root's order.
  g->root_row_.reserve(roots.size() + 1);
  g->root_row_.push_back(0);
  for (const Root& r : roots) {
    for (const auto& [off, v] : r.pointers) {
      if (auto id = heap.FindObject(v)) g->root_edges_.push_back({*id, off});
    }
    g->root_row_.push_back(static_cast<uint32_t>(g->root_edges_.size()));
  }
  g->mark_.assign((n + 63) / 64, 0);
  return g;
}

void ObjectGraph::Mark(const HeapIndex& heap) {
  // From the root edges over the edge arrays: breadth-first, so that the queue says which
  // objects come next and their rows, edges and mark words can be asked for ahead.
  const size_t n = num_objects();
  std::vector<uint32_t> queue;
  queue.reserve(n);  // at most every object; grown by doubling, it would be copied ~log n times
  auto mark = [&](uint32_t id) {
    uint64_t& w = mark_[id >> 6];
    uint64_t bit = uint64_t{1} << (id & 63);
    if (w & bit) return;
    w |= bit;
    queue.push_back(id);
  };
  for (const Edge& e : root_edges_) mark(e.target);
  for (size_t i = 0; i < queue.size(); i++) {
    constexpr size_t kRowAhead = 16, kEdgeAhead = 8, kTargetAhead = 4, kTargetsPrefetched = 8;
    if (i + kRowAhead < queue.size()) PrefetchRow(queue[i + kRowAhead]);
    if (i + kEdgeAhead < queue.size()) PrefetchEdges(queue[i + kEdgeAhead]);
    if (i + kTargetAhead < queue.size()) {
      const auto next = OutEdges(queue[i + kTargetAhead]);
      for (size_t k = 0; k < next.size() && k < kTargetsPrefetched; k++) {
        __builtin_prefetch(&mark_[next[k].target >> 6]);
      }
    }
    const auto edges = OutEdges(queue[i]);
    for (size_t k = 0; k < edges.size(); k++) {
      if (k + kTargetsPrefetched < edges.size()) {  // objects with many pointers
        __builtin_prefetch(&mark_[edges[k + kTargetsPrefetched].target >> 6]);
      }
      mark(edges[k].target);
    }
  }
  std::vector<uint32_t>().swap(queue);
  for (uint32_t id = 0; id < n; id++) {
    uint64_t size = heap.object_size(id);
    if (reachable(id)) {
      reachable_objects++;
      reachable_bytes += size;
    } else {
      unreachable_objects++;
      unreachable_bytes += size;
    }
  }
}

}  // namespace goretain::gocore
