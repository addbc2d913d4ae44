// libFuzzer target: reading the Go heap out of a core whose runtime structures are damaged. The
// core and executable are real (a small live process's snapshot: GORETAIN_FUZZ_CORE and
// GORETAIN_FUZZ_EXE, which scripts/fuzz.sh and the replay test set); the input is a list of
// patches laid over its memory, aimed at what the heap readers parse: runtime.mheap_, span
// records, span memory (objects, allocation headers), span pointer bitmaps, any mapped byte.
// Each input then goes through the span index (with and without per-object arrays), the roots,
// the object graph, type inference and the one-pass breadth-first walk's lookups.
//
// Input: records of [kind u8][index u16][offset u16][length u8] followed by `length % 65` bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gocore/graph.h"
#include "gocore/heap.h"
#include "gocore/pclntab.h"
#include "gocore/program.h"
#include "gocore/roots.h"
#include "gocore/rtype.h"
#include "gocore/typing.h"

namespace {

using namespace goretain::gocore;  // NOLINT(build/namespaces): a fuzz target's own file

struct Target {
  std::unique_ptr<Program> program;
  AddressSpace pristine;
  uint64_t mheap = 0, mheap_size = 0, mspan_size = 0, page_size = 8192;
  std::vector<HeapSpan> spans;  // of the undamaged core
};

Target* target = nullptr;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "fuzz_heap: %s\n", why.c_str());
  std::exit(1);
}

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Where a patch goes; 0 when its kind has nowhere to go in this core.
uint64_t PatchAddress(uint8_t kind, uint16_t index, uint16_t offset) {
  const Target& t = *target;
  const HeapSpan* s = t.spans.empty() ? nullptr : &t.spans[index % t.spans.size()];
  switch (kind % 5) {
    case 0:
      return t.mheap + offset % t.mheap_size;
    case 1:
      return s == nullptr ? 0 : s->mspan + offset % t.mspan_size;
    case 2:
      return s == nullptr ? 0 : s->base + offset % (s->npages * t.page_size);
    case 3:
      if (s == nullptr || s->heap_bits_addr == 0) return 0;
      return s->heap_bits_addr + offset % (s->nelems * s->elemsize / 64 + 8);
    default: {
      const auto& ranges = t.pristine.ranges();
      if (ranges.empty()) return 0;
      const auto& r = ranges[index % ranges.size()];
      return r.start + (uint64_t{offset} * 64) % (r.end - r.start);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* core = std::getenv("GORETAIN_FUZZ_CORE");
  const char* exe = std::getenv("GORETAIN_FUZZ_EXE");
  if (core == nullptr || exe == nullptr) {
    Die("set GORETAIN_FUZZ_CORE and GORETAIN_FUZZ_EXE (a small core and its executable)");
  }
  target = new Target;
  auto program = Program::Open(core, {.exe_path = exe});
  if (!program.ok()) Die(std::string(program.status().message()));
  target->program = std::move(*program);
  const Program& p = *target->program;
  target->pristine = p.mem();
  auto mheap = p.GlobalAddress("runtime.mheap_");
  auto mheap_size = p.dwarf().SizeOf("runtime.mheap");
  auto mspan_size = p.dwarf().SizeOf("runtime.mspan");
  if (!mheap.ok() || !mheap_size.ok() || !mspan_size.ok()) Die("no runtime.mheap_ in DWARF");
  target->mheap = *mheap;
  target->mheap_size = *mheap_size;
  target->mspan_size = *mspan_size;
  auto types = TypeTable::Create(p);
  if (!types.ok()) Die(std::string(types.status().message()));
  DamageCounters damage;
  auto heap = HeapIndex::Build(p, types->get(), &damage);
  if (!heap.ok()) Die(std::string(heap.status().message()));
  target->spans = (*heap)->spans();
  target->page_size = (*heap)->layout().page_size;
  if (target->spans.empty()) Die("the core has no heap spans");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Program& p = *target->program;
  AddressSpace* mem = p.mutable_mem_for_fuzzing();
  *mem = target->pristine;
  std::vector<std::vector<uint8_t>> patches;
  for (size_t i = 0; i + 6 <= size;) {
    const uint8_t kind = data[i];
    const uint16_t index = U16(data + i + 1), offset = U16(data + i + 3);
    const size_t len = std::min<size_t>(data[i + 5] % 65, size - i - 6);
    i += 6;
    const uint64_t addr = PatchAddress(kind, index, offset);
    if (addr != 0 && len > 0) {
      patches.emplace_back(data + i, data + i + len);
      mem->Add(addr, len, patches.back().data(), AddressSpace::Source::kCore, false);
    }
    i += len;
  }

  auto types = TypeTable::Create(p);
  auto funcs = FuncTable::Load(p);
  if (!types.ok() || !funcs.ok()) return 0;
  for (bool per_object : {false, true}) {
    DamageCounters damage;
    auto heap = HeapIndex::Build(p, types->get(), &damage, per_object);
    if (!heap.ok()) continue;
    const HeapIndex& h = **heap;
    // What the one-pass walk does with a span-only index: every allocated slot's pointers
    // looked up, its recorded type read.
    uint64_t found = 0;
    for (const HeapSpan& s : h.spans()) {
      const uint64_t end = s.base + std::min<uint64_t>(uint64_t{s.nelems} * s.elemsize, 1 << 20);
      for (uint64_t a = s.base; a < end; a += s.elemsize) {
        uint64_t interior = 0;
        auto ref = h.FindObjectRef(a, &interior);
        if (!ref) continue;
        const uint32_t recorded = h.RecordedType(s, ref->addr, &damage);
        h.VisitPointersAt(s, ref->addr, recorded, [&](uint64_t, uint64_t v) {
          uint64_t in = 0;
          if (h.FindObjectRef(v, &in)) found++;
        });
      }
    }
    if (!per_object) continue;
    auto roots = CollectRoots(p, **funcs, h, &damage);
    if (!roots.ok()) continue;
    auto graph = ObjectGraph::Build(h, roots->roots);
    if (!graph.ok()) continue;
    auto typing = Typing::Infer(p, h, **types, **funcs, roots->roots, **graph);
    if (typing.ok() && h.num_objects() > 0) (void)(*typing)->ObjectTypeName(0);
  }
  return 0;
}
