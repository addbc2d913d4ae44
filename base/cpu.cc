#include "base/cpu.h"

namespace goretain {

absl::Status CheckCpu() {
#if defined(__x86_64__) && defined(__POPCNT__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("popcnt")) {
    return absl::FailedPreconditionError(
        "this CPU has no POPCNT instruction, which this build of goretain uses; rebuild with "
        "cmake -DGORETAIN_X86_POPCNT=OFF");
  }
#endif
  return absl::OkStatus();
}

}  // namespace goretain
