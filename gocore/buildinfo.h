// Reading the Go build information (`.go.buildinfo`) of an executable file.
#ifndef GORETAIN_GOCORE_BUILDINFO_H_
#define GORETAIN_GOCORE_BUILDINFO_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace goretain::gocore {

// What the Go linker records in every Go executable (see debug/buildinfo).
struct BuildInfo {
  std::string go_version;   // e.g. "go1.25.14 X:greenteagc"
  std::string module_info;  // raw modinfo text ("path\t...\nmod\t...\nbuild\tKEY=VALUE\n...")
  std::string main_path;    // the "path" line of module_info
  int ptr_size = 0;         // 4 or 8
};

// Reads the build information of the ELF executable at `path`. Fails with InvalidArgument when the
// file is not an ELF executable or carries no Go build information ("not a Go program"), with
// FailedPrecondition for pre-1.18 (pointer-indirect) build information.
absl::StatusOr<BuildInfo> ReadBuildInfo(const std::string& path);

// Same, over an ELF image already in memory (`data`, `size`); `name` is used in messages.
absl::StatusOr<BuildInfo> ParseBuildInfo(const uint8_t* data, size_t size,
                                         const std::string& name);

// A Go release version parsed from a runtime.Version() string such as "go1.25.14 X:greenteagc".
struct GoVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string experiments;  // comma-separated, as after "X:" (e.g. "greenteagc,nocoverageredesign")

  bool AtLeast(int maj, int min) const {
    return major > maj || (major == maj && minor >= min);
  }
  bool HasExperiment(const std::string& name) const;
};

// Parses "goX.Y[.Z][rcN|betaN][ X:exp,...]" (also devel versions "devel goX.Y-..." are refused).
absl::StatusOr<GoVersion> ParseGoVersion(const std::string& version);

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_BUILDINFO_H_
