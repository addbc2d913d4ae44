// The Go runtime's own heap counters, read from the target's memory.
#ifndef GORETAIN_GOCORE_COUNTERS_H_
#define GORETAIN_GOCORE_COUNTERS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "gocore/program.h"

namespace goretain::gocore {

struct RuntimeCounters {
  uint64_t heap_marked = 0;  // gcController.heapMarked: bytes marked by the last GC
  uint64_t heap_live = 0;    // gcController.heapLive: heapMarked + spans handed out since
  uint32_t num_gc = 0;       // memstats.numgc: completed GC cycles
  uint32_t gc_phase = 0;     // runtime.gcphase: 0 off, 1 mark, 2 mark termination
};

// Fails when the counters' globals are missing from DWARF or unreadable in the core.
absl::StatusOr<RuntimeCounters> ReadRuntimeCounters(const Program& program);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_COUNTERS_H_
