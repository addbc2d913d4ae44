#include "gocore/counters.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace goretain::gocore {

absl::StatusOr<RuntimeCounters> ReadRuntimeCounters(const Program& p) {
  const DwarfInfo& d = p.dwarf();
  const AddressSpace& mem = p.mem();
  RuntimeCounters c;
  auto read = [&](const std::string& global, const std::string& type, const std::string& field,
                  uint64_t width) -> absl::StatusOr<uint64_t> {
    ASSIGN_OR_RETURN(uint64_t base, p.GlobalAddress(global));
    uint64_t off = 0;
    if (!field.empty()) {
      // atomic.Uint64 and friends keep their value in their only non-empty field at offset 0.
      ASSIGN_OR_RETURN(auto f, d.FieldPath(type, field));
      off = f.offset;
    }
    uint64_t v = 0;
    if (!mem.Read(base + off, &v, width)) {
      return absl::DataLossError(absl::StrCat(global, ".", field, " is unreadable in the core"));
    }
    return v;
  };
  ASSIGN_OR_RETURN(c.heap_marked,
                   read("runtime.gcController", "runtime.gcControllerState", "heapMarked", 8));
  ASSIGN_OR_RETURN(c.heap_live,
                   read("runtime.gcController", "runtime.gcControllerState", "heapLive", 8));
  ASSIGN_OR_RETURN(uint64_t numgc, read("runtime.memstats", "runtime.mstats", "numgc", 4));
  c.num_gc = static_cast<uint32_t>(numgc);
  ASSIGN_OR_RETURN(uint64_t phase, read("runtime.gcphase", "", "", 4));
  c.gc_phase = static_cast<uint32_t>(phase);
  return c;
}

}  // namespace goretain::gocore
