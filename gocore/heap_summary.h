// Aggregates of a heap index: by recorded type and by size class.
#ifndef GORETAIN_GOCORE_HEAP_SUMMARY_H_
#define GORETAIN_GOCORE_HEAP_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gocore/heap.h"

namespace goretain::gocore {

struct HeapSummary {
  struct TypeRow {
    std::string name;  // the recorded Go type, or "unk<elemsize>" when the heap records none
    uint64_t objects = 0, bytes = 0;
  };
  struct ClassRow {
    int size_class = 0;  // 0 = large objects
    uint64_t elemsize = 0;  // 0 for large objects (various sizes)
    bool noscan = false;
    uint64_t objects = 0, bytes = 0, spans = 0;
  };
  uint64_t objects = 0, bytes = 0, spans = 0;
  uint64_t typed_objects = 0, typed_bytes = 0;  // objects whose type the heap records
  std::vector<TypeRow> types;      // by bytes desc, then name
  std::vector<ClassRow> classes;   // by size class, scan before noscan
};

// The Go type the heap records for an object, as a user would write it: "T" for one value,
// "[]T" when the slot holds several elements of T (slice backing arrays carry their element
// type). "" when the heap records no type.
std::string RecordedTypeName(const HeapIndex& heap, const TypeTable& types, uint32_t id);

HeapSummary SummarizeHeap(const HeapIndex& heap, const TypeTable& types);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_HEAP_SUMMARY_H_
