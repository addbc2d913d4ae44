#include "gocore/heap_summary.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace goretain::gocore {

std::string RecordedTypeName(const HeapIndex& heap, const TypeTable& types, uint32_t id) {
  uint32_t ti = heap.object_type(id);
  if (ti == 0) return "";
  const RuntimeType& t = types.Get(ti);
  if (t.name.empty()) return "";
  const HeapSpan& s = heap.spans()[heap.SpanOfObject(id)];
  uint64_t data = s.elemsize - (s.layout == PointerLayout::kHeader ? heap.layout().malloc_header_size : 0);
  // Size-class and page rounding add less than the value's size, so two values mean an array.
  if (t.size > 0 && data >= 2 * t.size) return "[]" + t.name;
  return t.name;
}

HeapSummary SummarizeHeap(const HeapIndex& heap, const TypeTable& types) {
  HeapSummary out;
  absl::flat_hash_map<std::string, HeapSummary::TypeRow> by_type;
  std::map<std::pair<int, bool>, HeapSummary::ClassRow> by_class;
  for (const HeapSpan& s : heap.spans()) {
    out.spans++;
    auto& c = by_class[{s.sizeclass(), s.noscan()}];
    c.size_class = s.sizeclass();
    c.elemsize = s.sizeclass() == 0 ? 0 : s.elemsize;
    c.noscan = s.noscan();
    c.spans++;
    c.objects += s.num_objects;
    c.bytes += s.num_objects * s.elemsize;
    for (uint32_t i = s.first_object; i < s.first_object + s.num_objects; i++) {
      std::string name = RecordedTypeName(heap, types, i);
      if (!name.empty()) {
        out.typed_objects++;
        out.typed_bytes += s.elemsize;
      } else {
        name = absl::StrCat("unk", s.elemsize);
      }
      auto& row = by_type[name];
      row.objects++;
      row.bytes += s.elemsize;
    }
    out.objects += s.num_objects;
    out.bytes += s.num_objects * s.elemsize;
  }
  for (auto& [name, row] : by_type) {
    row.name = name;
    out.types.push_back(row);
  }
  std::sort(out.types.begin(), out.types.end(), [](const auto& a, const auto& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.name < b.name;
  });
  for (auto& [k, row] : by_class) out.classes.push_back(row);
  return out;
}

}  // namespace goretain::gocore
