#include "analysis/streaming_tree.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "analysis/heap_graph.h"
#include "analysis/internal/path_trie.h"
#include "analysis/reference_tree.h"
#include "analysis/tree_builder.h"
#include "base/spill_queue.h"
#include "base/status_macros.h"

namespace goretain::analysis {
namespace {

constexpr uint32_t kNone = internal::kNoNode;

// One object of the frontier: where it is, its path node and its type word. 16 bytes.
struct Item {
  uint64_t addr;
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
  SpillQueue<Item> queue(opts.queue_memory, opts.spill_dir,
                         std::clamp<size_t>(opts.queue_memory / sizeof(Item) / 8, 1024, 65536));
  uint64_t scanned_bytes = 0, released_at = 0;
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
    queue.Push({ref.addr, node, word});
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
  gocore::DamageCounters rescan_damage;  // headers read again when scanning: counted once
  constexpr size_t kBatch = 128, kMaxPending = 4096;
  std::vector<Item> batch;
  batch.reserve(kBatch);
  // Pointers found in the batch's objects, in order: value, offset, source (index in batch).
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
  auto reach_pending = [&] {
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
      if (!p.found || !test_and_mark(p.ref.id)) continue;
      const Item& src = batch[p.item];
      const gocore::HeapSpan& tspan = heap.spans()[p.ref.span];
      uint32_t label_id = 0;
      const uint32_t word = typer->ObjectTarget(src.word, src.addr, p.off, p.interior == 0,
                                                p.ref.addr, tspan,
                                                heap.RecordedType(p.ref, &core.damage), &label_id);
      reach(p.ref, tspan, word, src.node, label_id);
    }
    pending.clear();
  };
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
                              heap.RecordedType(*ref, &core.damage), &label_id);
        reach(*ref, span, word, root_node[r], label_id);
      }
    }
    // Objects are scanned in batches, and their pointers looked up in passes over the batch
    // (page table entry, span record, allocation bits, mark word), each pass asking for what the
    // next one reads: the lookups of one pointer depend on each other, those of different
    // pointers do not. Targets are still reached in queue order, then pointer order.
    for (;;) {
      batch.clear();
      Item item;
      while (batch.size() < kBatch && queue.Pop(&item)) batch.push_back(item);
      if (batch.empty()) break;
      for (const Item& it : batch) heap.PrefetchPageEntry(it.addr);
      for (const Item& it : batch) heap.PrefetchObject(it.addr);
      for (uint32_t i = 0; i < batch.size(); i++) {
        const Item& it = batch[i];
        const gocore::HeapSpan* span = heap.SpanOf(it.addr);
        if (span == nullptr) continue;  // cannot happen: items come from FindObjectRef
        scanned_bytes += span->elemsize;
        const uint32_t recorded = heap.RecordedType(*span, it.addr, &rescan_damage);
        heap.VisitPointersAt(
            *span, it.addr, recorded,
            [&](uint64_t off, uint64_t v) {
              heap.PrefetchPageEntry(v);
              pending.push_back({v, static_cast<uint32_t>(off), i});
              if (pending.size() == kMaxPending) reach_pending();
            },
            opts.release_core_every, [&core_file] { core_file.ReleaseResidentPages(); });
        if (scanned_bytes - released_at >= opts.release_core_every) {
          core_file.ReleaseResidentPages();
          released_at = scanned_bytes;
        }
      }
      reach_pending();
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
