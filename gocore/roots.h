// GC roots of a Go core: globals, goroutine stack frames, finalizers, cleanups, queues — each a
// named memory region with the pointer words the garbage collector would scan in it.
#ifndef GORETAIN_GOCORE_ROOTS_H_
#define GORETAIN_GOCORE_ROOTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gocore/dwarf.h"
#include "gocore/goroutines.h"
#include "gocore/heap.h"
#include "gocore/pclntab.h"
#include "gocore/program.h"

namespace goretain::gocore {

enum class RootKind : uint8_t {
  kGlobal,            // a DWARF-named global in data/bss: "main.sessions"
  kUnnamedGlobal,     // data/bss pointer words no DWARF global covers: "data+0x1a0"
  kStack,             // a goroutine frame variable: "main.worker.buf"
  kStackUnnamed,      // live frame slots no DWARF variable covers
  kStackConservative, // conservatively scanned frames and registers of running goroutines
  kFinalizer,         // finalizer function, and what a finalized object points to
  kCleanup,           // runtime.AddCleanup functions and arguments
  kWeakHandle,        // weak handle cells (the handle, not the value it holds)
  kQueue,             // queued finalizers and cleanups waiting to run
};

const char* RootKindName(RootKind k);

struct Root {
  RootKind kind;
  std::string name;
  uint64_t addr = 0;          // start of the region (0 for registers)
  uint64_t size = 0;
  DieOffset type = 0;         // DWARF type of the region, 0 when unknown
  int64_t goroutine = -1;     // goid, for stack roots
  int32_t frame = -1;         // index in that goroutine's frames
  // Non-zero pointer words of the region: (offset from addr, value). Conservative roots list
  // only words that point into allocated heap objects.
  std::vector<std::pair<uint32_t, uint64_t>> pointers;
};

struct RootSet {
  std::vector<Root> roots;
  std::vector<Goroutine> goroutines;
};

// Collects every root. Damage local to one goroutine or special (unreadable stack maps, corrupt
// special lists) is counted and that part skipped.
absl::StatusOr<RootSet> CollectRoots(const Program& program, const FuncTable& ft,
                                     const HeapIndex& heap, DamageCounters* damage);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_ROOTS_H_
