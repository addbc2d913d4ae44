#include "agent/snapshot/selection.h"

namespace goretain::agent::snapshot {

MappingClass Classify(const Mapping& m) {
  if (!m.readable) return MappingClass::kSkip;
  if (m.path == "[vvar]" || m.path == "[vvar_vclock]" ||
      m.path == "[vsyscall]") {
    return MappingClass::kSkip;
  }
  if (m.HasVmFlag("dd") || m.HasVmFlag("io")) return MappingClass::kSkip;
  if (m.path == "[vdso]") return MappingClass::kWhole;
  if (m.IsFileBacked())
    return m.shared ? MappingClass::kSkip : MappingClass::kFilePrivate;
  return MappingClass::kAnonymous;
}

}  // namespace goretain::agent::snapshot
