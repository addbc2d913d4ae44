#include "analysis/streaming_tree.h"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "analysis/heap_graph.h"
#include "analysis/internal/core_pager.h"
#include "analysis/internal/path_trie.h"
#include "analysis/reference_tree.h"
#include "analysis/tree_builder.h"
#include "base/spill_queue.h"
#include "base/status_macros.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNone = internal::kNoNode;

// One object of the chunk being scanned: where it is, its path node and its type word.
struct Item {
  uint64_t addr;
  uint32_t node;
  uint32_t word;
};
// One object of the frontier, queued: its span (index in spans()) and slot, so that taking it
// off the queue needs no page table lookup, its path node and type word. 16 bytes.
struct Queued {
  uint32_t span, slot;
  uint32_t node;
  uint32_t word;
};

}  // namespace

absl::StatusOr<StreamingResult> BuildStreamingBfsTree(gocore::LoadedCore& core,
                                                      const StreamingOptions& opts) {
  const gocore::HeapIndex& heap = *core.heap;
  const auto& roots = core.roots.roots;
  ASSIGN_OR_RETURN(std::unique_ptr<gocore::StreamingTyper> typer,
                   gocore::StreamingTyper::Create(*core.program, heap, core.rtypes.get(),
                                                  *core.funcs));
  const size_t n = heap.num_objects();
  std::vector<uint64_t> mark((n + 63) / 64, 0);

  internal::Trie trie(opts.max_depth);
  internal::Strings strings;
  trie.empty_type_ = strings.Id("");
  const std::vector<uint32_t> order = DeterministicRootOrder(roots);
  std::vector<uint32_t> root_node(roots.size(), kNone);
  for (uint32_t r : order) {
    root_node[r] = trie.Child(kNone, RootFrameKind(roots[r].kind), strings.Id(roots[r].name),
                              trie.empty_type_);
  }

  // Frame name ids, made once per type (single value / several values) or untyped size, and per
  // edge label.
  std::vector<uint32_t> name_single, name_several;
  absl::flat_hash_map<uint64_t, uint32_t> untyped_names;
  auto type_name = [&](uint32_t word, uint64_t size) -> uint32_t {
    const uint32_t t = typer->type_index(word);
    if (t == 0) {
      auto [it, fresh] = untyped_names.try_emplace(size, 0);
      if (fresh) it->second = strings.Id(typer->NameOfWord(word, size));
      return it->second;
    }
    std::vector<uint32_t>& names = typer->several(word) ? name_several : name_single;
    if (t >= names.size()) names.resize(t + 1 + t / 2, kNone);
    if (names[t] == kNone) names[t] = strings.Id(DisplayTypeName(typer->NameOfWord(word, size)));
    return names[t];
  };
  std::vector<std::pair<FrameKind, uint32_t>> label_frames;
  auto child = [&](uint32_t parent, uint32_t label_id, uint32_t word, uint64_t size) {
    if (label_id >= label_frames.size()) {
      label_frames.resize(label_id + 1 + label_id / 2, {FrameKind::kPointer, kNone});
    }
    auto& frame = label_frames[label_id];
    if (frame.second == kNone) {
      const std::string label = typer->label(label_id);
      frame = {EdgeFrameKind(label), strings.Id(label)};
    }
    return trie.Child(parent, frame.first, frame.second, type_name(word, size));
  };

  StreamingResult out;
  std::vector<uint64_t> self_bytes, self_count;
  struct Agg {
    uint64_t bytes = 0, count = 0;
  };
  // Per type index and several-values flag (typed names do not depend on the size), and per
  // size for untyped objects.
  std::vector<Agg> by_word;
  absl::flat_hash_map<uint64_t, Agg> untyped_by_size;
  // Blocks of at most 1 MiB, at least 8 per budget.
  SpillQueue<Queued> queue(opts.queue_memory, opts.spill_dir,
                           std::clamp<size_t>(opts.queue_memory / sizeof(Queued) / 8, 1024, 65536));
  // An object reached for the first time: marked, typed, given its path, queued.
  auto reach = [&](const gocore::HeapIndex::ObjectRef& ref, const gocore::HeapSpan& span,
                   uint32_t word, uint32_t parent, uint32_t label_id) {
    const uint64_t size = span.elemsize;
    const uint32_t node = child(parent, label_id, word, size);
    if (node >= self_bytes.size()) {
      self_bytes.resize(trie.nodes_.size() + 1024, 0);
      self_count.resize(trie.nodes_.size() + 1024, 0);
    }
    self_bytes[node] += size;
    self_count[node]++;
    const uint32_t key = typer->type_index(word) * 2 + (typer->several(word) ? 1 : 0);
    Agg* a;
    if (typer->type_index(word) == 0) {
      a = &untyped_by_size[size];
    } else {
      if (key >= by_word.size()) by_word.resize(key + 1 + key / 2);
      a = &by_word[key];
    }
    Agg& agg = *a;
    agg.bytes += size;
    agg.count++;
    out.reachable_objects++;
    out.reachable_bytes += size;
    queue.Push({ref.span, static_cast<uint32_t>(span.SlotOf(ref.addr)), node, word});
    if (opts.progress && (out.reachable_objects & ((1 << 20) - 1)) == 0) {
      opts.progress(out.reachable_objects);
    }
  };
  auto test_and_mark = [&](uint32_t id) {
    uint64_t& w = mark[id >> 6];
    const uint64_t bit = uint64_t{1} << (id & 63);
    if (w & bit) return false;
    w |= bit;
    return true;
  };

  // Pages of the core read so far (span records, stacks) are not needed again soon.
  const MappedFile& core_file = core.program->core().file();
  core_file.ReleaseResidentPages();
  // Random reads of objects the walk is not scanning (a target's allocation header, a func
  // value's code pointer, a sync.Map node's tag) go through pread: they would map a window of
  // pages each.
  core.program->UseFarReadsOfCore();
  const gocore::AddressSpace& mem = core.program->mem();
  gocore::DamageCounters rescan_damage;  // headers read again when scanning: counted once

  // The frontier is taken from the queue in chunks. Each chunk's objects are scanned in address
  // order (phase A): their pointers are looked up and, for targets not yet marked, typed while
  // the source's bytes are at hand; the pages of the core behind the scan are given back as it
  // goes, so resident core pages stay within `release_core_every`. Then (phase B) the chunk's
  // objects are taken in queue order and their edges in offset order: a target not yet marked
  // is marked, given its path and queued. That is the order of a walk one object at a time, so
  // the tree is the same; only where the core's bytes are read from changes.
  // By default about 1 % of the objects and 1/256 of the heap's bytes: memory that grows with
  // the heap as the index does, and fewer passes over a large heap.
  const size_t chunk_max =
      opts.chunk_objects != 0
          ? std::min<size_t>(opts.chunk_objects, size_t{1} << 24)
          : std::clamp<size_t>(n / 100, size_t{1} << 16, size_t{1} << 20);
  const uint64_t chunk_words =
      (opts.chunk_bytes != 0 ? opts.chunk_bytes
                             : std::clamp<uint64_t>(heap.total_bytes() / 256, 2 << 20, 32 << 20)) /
      8;
  // Objects larger than this (a span of their own) are scanned in phase B, in queue order, their
  // targets reached as they are found: their edges could be too many to hold.
  constexpr uint64_t kDirectScanBytes = 32 << 10;
  // Chunks with at most this many objects to scan skip the two phases (see below).
  constexpr size_t kSmallChunk = 64;
  std::vector<Item> chunk;
  // Objects of the chunk to scan in phase A (indices in chunk, queue order), then the same in
  // address order, by 4 KiB page (a counting sort; queue order within a page).
  std::vector<uint32_t> to_scan, by_addr, page_count;
  // An edge found in phase A to a target not marked then. 24 bytes.
  struct Edge {
    uint64_t addr;  // target
    uint32_t id, span, word;
    uint32_t label;  // | kBadHeader: the target's allocation header named no type (damage)
  };
  constexpr uint32_t kBadHeader = uint32_t{1} << 31;
  std::vector<Edge> edges;
  std::vector<uint32_t> edge_begin, edge_count;  // per object of the chunk: its edges
  constexpr uint32_t kScanInB = ~uint32_t{0};     // edge_begin of an object scanned in phase B
  std::vector<uint32_t> chunk_span;              // per object of the chunk: its span
  // Pointers found in objects, in scan order: value, offset, source (index in chunk).
  constexpr size_t kMaxPending = 4096;
  struct Pending {
    uint64_t value;
    uint32_t off, item;
    uint32_t span_plus_1 = 0;
    bool found = false;
    gocore::HeapIndex::ObjectRef ref{};
    uint64_t interior = 0;
  };
  std::vector<Pending> pending;
  pending.reserve(kMaxPending);
  // Damage found reading targets' headers in phase A: counted in phase B, once per target
  // reached, as a walk one object at a time counts it.
  gocore::DamageCounters far_damage;
  // In phase A, a second thread maps the core's windows just ahead of the scan (2 MiB) and
  // gives pages back when asked (`paging`).
  std::optional<internal::CorePager> pager;
  if (opts.page_ahead && std::thread::hardware_concurrency() > 1) {
    pager.emplace(core_file, /*ahead=*/32);
  }
  bool paging = false;
  std::vector<const uint8_t*> page_targets;  // the windows phase A will enter, in order
  // Looks the pending pointers up, in passes over them (page table entry, span record,
  // allocation bits, mark word), each pass asking for what the next one reads. In phase A
  // (`reach_now` false) an edge is kept for each target not marked yet; in phase B the target is
  // marked and reached at once.
  auto resolve_pending = [&](bool reach_now) {
    for (Pending& p : pending) p.span_plus_1 = heap.PrefetchSpanRecord(p.value);
    for (Pending& p : pending) {
      if (p.span_plus_1 != 0) heap.PrefetchAllocBits(p.span_plus_1, p.value);
    }
    for (Pending& p : pending) {
      if (p.span_plus_1 == 0) continue;
      if (auto ref = heap.FindObjectRefInSpan(p.span_plus_1, p.value, &p.interior)) {
        p.found = true;
        p.ref = *ref;
        __builtin_prefetch(&mark[ref->id >> 6]);
      }
    }
    for (const Pending& p : pending) {
      if (!p.found) continue;
      const Item& src = chunk[p.item];
      const gocore::HeapSpan& tspan = heap.spans()[p.ref.span];
      uint32_t label_id = 0;
      if (reach_now) {
        if (!test_and_mark(p.ref.id)) continue;
        const uint32_t word = typer->ObjectTarget(
            src.word, src.addr, p.off, p.interior == 0, p.ref.addr, tspan,
            heap.RecordedType(p.ref, &core.damage, /*far=*/true), &label_id);
        reach(p.ref, tspan, word, src.node, label_id);
        continue;
      }
      if ((mark[p.ref.id >> 6] >> (p.ref.id & 63)) & 1) continue;
      const size_t damage_before = far_damage.size();
      const uint32_t recorded = heap.RecordedType(p.ref, &far_damage, /*far=*/true);
      const bool bad = far_damage.size() != damage_before;
      far_damage.clear();
      const uint32_t word = typer->ObjectTargetUncounted(
          src.word, src.addr, p.off, p.interior == 0, p.ref.addr, tspan, recorded, &label_id);
      if (edge_count[p.item]++ == 0) edge_begin[p.item] = static_cast<uint32_t>(edges.size());
      edges.push_back({p.ref.addr, p.ref.id, p.ref.span, word, label_id | (bad ? kBadHeader : 0)});
    }
    pending.clear();
  };
  // Pages of the core's mapping are given back once the scan has entered more than
  // `release_core_every` bytes' worth of 64 KiB windows since the last time (a fault maps the
  // window around the page it needs). Pending pointers are resolved first: typing them reads
  // words of their sources.
  const uint64_t window_budget = std::max<uint64_t>(opts.release_core_every >> 16, 1);
  uint64_t windows = 0, last_window = ~uint64_t{0};
  bool phase_b = false;
  // With the pager at work, all but the window `keep` points into and those mapped in front
  // of it.
  auto give_back = [&](const uint8_t* keep = nullptr) {
    resolve_pending(phase_b);
    if (paging && keep != nullptr) {
      pager->GiveBackAllBut(keep);
    } else {
      core_file.ReleaseResidentPages();
    }
    windows = 0;
    last_window = ~uint64_t{0};
  };
  auto touch = [&](const uint8_t* p) {
    const uint64_t w = reinterpret_cast<uintptr_t>(p) >> 16;
    if (w == last_window) return;
    if (paging) pager->Reached(p);
    if (windows == window_budget) give_back(p);
    last_window = w;
    windows++;
  };
  // Scans the chunk's object i: its pointers go to `pending`.
  auto scan = [&](uint32_t i, const gocore::HeapSpan& span) {
    const Item& it = chunk[i];
    if (const uint8_t* p = mem.Ptr(it.addr, span.elemsize)) touch(p);
    const uint32_t recorded = heap.RecordedType(span, it.addr, &rescan_damage);
    heap.VisitPointersAt(
        span, it.addr, recorded,
        [&](uint64_t off, uint64_t v) {
          heap.PrefetchPageEntry(v);
          pending.push_back({v, static_cast<uint32_t>(off), i});
          if (pending.size() == kMaxPending) resolve_pending(phase_b);
        },
        opts.release_core_every, [&] { give_back(); });
  };
  const uint64_t heap_base = heap.spans().empty() ? 0 : heap.spans().front().base;
  auto sort_by_page = [&] {
    uint64_t lo = ~uint64_t{0}, hi = 0;
    for (uint32_t i : to_scan) {
      lo = std::min(lo, (chunk[i].addr - heap_base) >> 12);
      hi = std::max(hi, (chunk[i].addr - heap_base) >> 12);
    }
    by_addr.resize(to_scan.size());
    if (hi - lo >= std::max<uint64_t>(4 * to_scan.size(), 1 << 16)) {  // a sparse heap
      std::copy(to_scan.begin(), to_scan.end(), by_addr.begin());
      std::sort(by_addr.begin(), by_addr.end(),
                [&](uint32_t a, uint32_t b) { return chunk[a].addr < chunk[b].addr; });
      return;
    }
    page_count.assign(hi - lo + 2, 0);
    for (uint32_t i : to_scan) page_count[((chunk[i].addr - heap_base) >> 12) - lo + 1]++;
    for (size_t w = 1; w < page_count.size(); w++) page_count[w] += page_count[w - 1];
    for (uint32_t i : to_scan) by_addr[page_count[((chunk[i].addr - heap_base) >> 12) - lo]++] = i;
  };

  // Sized once (a vector that doubles holds both copies while it grows). A chunk's edges are at
  // most its objects' pointer words: the budget, plus the last object taken (at most 4,096).
  chunk.reserve(chunk_max);
  to_scan.reserve(chunk_max);
  by_addr.reserve(chunk_max);
  chunk_span.reserve(chunk_max);
  edge_begin.reserve(chunk_max);
  edge_count.reserve(chunk_max);
  edges.reserve(chunk_words + kDirectScanBytes / 8);
  for (size_t g0 = 0; g0 < order.size();) {
    size_t g1 = g0;
    while (g1 < order.size() && roots[order[g1]].kind == roots[order[g0]].kind) g1++;
    for (size_t gi = g0; gi < g1; gi++) {
      const uint32_t r = order[gi];
      for (const auto& [off, v] : roots[r].pointers) {
        uint64_t interior = 0;
        auto ref = heap.FindObjectRef(v, &interior);
        if (!ref || !test_and_mark(ref->id)) continue;
        const gocore::HeapSpan& span = heap.spans()[ref->span];
        uint32_t label_id = 0;
        const uint32_t word =
            typer->RootTarget(roots[r], off, ref->addr, span,
                              heap.RecordedType(*ref, &core.damage, /*far=*/true), &label_id);
        reach(*ref, span, word, root_node[r], label_id);
      }
    }
    for (;;) {
      chunk.clear();
      to_scan.clear();
      chunk_span.clear();
      edge_begin.clear();
      edge_count.clear();
      // Objects to scan in phase A, and the words they hold: a bound on the edges kept.
      // Taken from the queue 64 at a time, their span records asked for in one pass and read in
      // the next, so that the cache misses of different objects overlap.
      uint64_t words = 0;
      for (;;) {
        const size_t first = chunk.size();
        Queued q;
        while (chunk.size() < std::min(first + 64, chunk_max) && queue.Pop(&q)) {
          chunk.push_back({q.slot, q.node, q.word});  // the slot until the span is read
          chunk_span.push_back(q.span);
          __builtin_prefetch(&heap.spans()[q.span]);
        }
        if (chunk.size() == first) break;
        for (size_t i = first; i < chunk.size(); i++) {
          edge_begin.push_back(0);
          edge_count.push_back(0);
          const gocore::HeapSpan& span = heap.spans()[chunk_span[i]];
          chunk[i].addr = span.base + chunk[i].addr * span.elemsize;
          if (span.layout == gocore::PointerLayout::kNoScan) continue;
          // Large objects, and those taken past the chunk's budget of words, are scanned in
          // phase B.
          if (span.elemsize > kDirectScanBytes || words >= chunk_words) {
            edge_begin.back() = kScanInB;
            continue;
          }
          words += span.elemsize / 8;
          to_scan.push_back(static_cast<uint32_t>(i));
        }
        if (chunk.size() == chunk_max || words >= chunk_words) break;
      }
      if (chunk.empty()) break;
      if (to_scan.size() <= kSmallChunk) {
        // Few objects to scan (the tail of a linked list is one per step): read where they are,
        // in queue order, their targets reached at once.
        phase_b = true;
        for (uint32_t i = 0; i < chunk.size(); i++) {
          const gocore::HeapSpan& span = heap.spans()[chunk_span[i]];
          if (span.layout != gocore::PointerLayout::kNoScan) scan(i, span);
        }
        resolve_pending(true);
        continue;
      }
      // Phase A: the chunk's objects with pointers, in address order.
      phase_b = false;
      sort_by_page();
      edges.clear();
      if (pager) {
        using internal::CorePager;
        for (uint32_t i : by_addr) {
          const uint8_t* p = mem.Ptr(chunk[i].addr, heap.spans()[chunk_span[i]].elemsize);
          if (p != nullptr && (page_targets.empty() ||
                               CorePager::Window(p) > CorePager::Window(page_targets.back()))) {
            page_targets.push_back(p);
          }
        }
        give_back();  // what phase B of the last chunk mapped
        pager->Begin(&page_targets);
        paging = true;
      }
      for (size_t k = 0; k < by_addr.size(); k++) {
        // The chunk's records are read in an order unrelated to theirs: asked for ahead.
        if (k + 16 < by_addr.size()) {
          __builtin_prefetch(&chunk[by_addr[k + 16]]);
          __builtin_prefetch(&chunk_span[by_addr[k + 16]]);
        }
        if (k + 8 < by_addr.size()) __builtin_prefetch(&heap.spans()[chunk_span[by_addr[k + 8]]]);
        const uint32_t i = by_addr[k];
        scan(i, heap.spans()[chunk_span[i]]);
      }
      resolve_pending(false);
      if (paging) {
        pager->End(&page_targets);
        paging = false;
        give_back();
      }
      // Phase B: queue order.
      phase_b = true;
      for (uint32_t i = 0; i < chunk.size(); i++) {
        const Item src = chunk[i];
        if (edge_begin[i] == kScanInB) {
          const gocore::HeapSpan& span = heap.spans()[chunk_span[i]];
          scan(i, span);
          resolve_pending(true);
          // What a large object mapped is not counted in windows: given back at once.
          if (span.elemsize > kDirectScanBytes) give_back();
          continue;
        }
        for (uint32_t e = edge_begin[i], end = e + edge_count[i]; e < end; e++) {
          const Edge& edge = edges[e];
          if (!test_and_mark(edge.id)) continue;
          if (edge.label & kBadHeader) core.damage["bad_type_pointer"]++;
          const gocore::HeapSpan& tspan = heap.spans()[edge.span];
          typer->Count(edge.word, tspan.elemsize);
          reach({edge.id, edge.span, edge.addr}, tspan, edge.word, src.node,
                edge.label & ~kBadHeader);
        }
      }
    }
    if (!queue.status().ok()) return queue.status();
    g0 = g1;
  }
  core_file.ReleaseResidentPages();

  out.unreachable_objects = n - out.reachable_objects;
  out.unreachable_bytes = heap.total_bytes() - out.reachable_bytes;
  out.typed_bytes = typer->typed_bytes();
  out.untyped_bytes = typer->untyped_bytes();
  out.max_frontier = queue.max_size();
  out.spilled_bytes = queue.spilled_bytes();

  std::map<std::string, std::pair<uint64_t, uint64_t>> types;
  for (uint32_t key = 0; key < by_word.size(); key++) {
    if (by_word[key].count == 0) continue;
    auto& t = types[typer->NameOfWord(typer->MakeWord(key / 2, key % 2 == 1), 0)];
    t.first += by_word[key].bytes;
    t.second += by_word[key].count;
  }
  for (const auto& [size, agg] : untyped_by_size) {
    auto& t = types[typer->NameOfWord(0, size)];
    t.first += agg.bytes;
    t.second += agg.count;
  }
  for (const auto& [name, v] : types) out.types.push_back({name, v.first, v.second});
  std::stable_sort(out.types.begin(), out.types.end(),
                   [](const TypeTotal& x, const TypeTotal& y) { return x.bytes > y.bytes; });

  out.tree = internal::MakeTree(trie, strings, self_bytes, self_count, {});
  return out;
}

}  // namespace goretain::analysis
