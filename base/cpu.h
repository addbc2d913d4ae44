// What the build asked of the CPU, checked before any of it runs.
#ifndef GORETAIN_BASE_CPU_H_
#define GORETAIN_BASE_CPU_H_

#include "absl/status/status.h"

namespace goretain {

// OK when this CPU has every instruction set extension the build was compiled for (x86-64:
// POPCNT, unless built with -DGORETAIN_X86_POPCNT=OFF); else FailedPrecondition naming the
// missing one and the build option that does without it. Programs call it first in main and
// exit 2 on an error, instead of dying of SIGILL somewhere inside an analysis.
absl::Status CheckCpu();

}  // namespace goretain

#endif  // GORETAIN_BASE_CPU_H_
