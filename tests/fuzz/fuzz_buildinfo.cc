// libFuzzer target: the Go build-info parser reads untrusted executables.
#include <cstddef>
#include <cstdint>

#include "gocore/buildinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bi = goretain::gocore::ParseBuildInfo(data, size, "fuzz");
  if (bi.ok()) (void)goretain::gocore::ParseGoVersion(bi->go_version);
  return 0;
}
