// Goroutines of a core: status, wait reason and stack frames, unwound with pclntab.
#ifndef GORETAIN_GOCORE_GOROUTINES_H_
#define GORETAIN_GOCORE_GOROUTINES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gocore/pclntab.h"
#include "gocore/program.h"

namespace goretain::gocore {

struct StackFrame {
  uint64_t pc = 0;       // resume PC (return address for outer frames)
  uint64_t sp = 0, fp = 0, varp = 0, argp = 0;
  Func func;
  std::string function;  // pclntab name of the physical function
  std::string file;
  int32_t line = 0;
  // Logical calls of this physical frame, innermost first: inlined functions, then `function`
  // (whose file:line is the frame's). Stack traces show these.
  std::vector<FuncTable::Call> calls;
  bool conservative = false;  // innermost frame of a running goroutine, async-preempted frames
};

struct Goroutine {
  uint64_t addr = 0;     // the runtime.g
  int64_t id = 0;        // goid
  uint32_t status = 0;   // atomicstatus without _Gscan
  std::string status_name;  // "waiting", "running", …
  std::string wait_reason;  // "chan receive", … ("" unless waiting)
  uint64_t stack_lo = 0, stack_hi = 0;
  int32_t thread = 0;    // LWP running it (from m.procid), 0 if none
  std::vector<StackFrame> frames;  // innermost first
  std::string created_by;          // function of gopc
  bool unwind_incomplete = false;  // unwinding stopped early (bad PC, SP write, corrupt stack)
  // Registers of the thread running it (user_regs_struct order), when running.
  std::vector<uint64_t> registers;
};

// Reads runtime.allgs and unwinds every goroutine that is not dead. Goroutines whose stack cannot
// be unwound keep the frames found so far (damage "unwind_incomplete").
absl::StatusOr<std::vector<Goroutine>> ReadGoroutines(const Program& program, const FuncTable& ft,
                                                      DamageCounters* damage);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_GOROUTINES_H_
