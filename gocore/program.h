// A Go program as one core file shows it: memory, executable, debug info, Go version.
#ifndef GORETAIN_GOCORE_PROGRAM_H_
#define GORETAIN_GOCORE_PROGRAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gocore/address_space.h"
#include "gocore/buildinfo.h"
#include "gocore/dwarf.h"
#include "gocore/elf_file.h"

namespace goretain::gocore {

// Named counters of local damage found while reading ("bad_span", "unreadable_alloc_bits", …).
// Damage never stops a read; it is counted and reported with the result.
using DamageCounters = std::map<std::string, uint64_t>;

struct OpenOptions {
  std::string exe_path;  // empty: the executable the core names (NT_FILE mapping of AT_ENTRY)
};

// Owns the core, the executable and their DWARF. Immutable after Open (apart from libdw's
// internal caches): use from one thread.
class Program {
 public:
  // Opens and cross-checks a core and its executable. Errors are one line naming the problem:
  // not an ELF file / not a core; core of a non-Go program; executable not matching the core;
  // executable without DWARF; Go older than 1.22; truncated core.
  static absl::StatusOr<std::unique_ptr<Program>> Open(const std::string& core_path,
                                                       const OpenOptions& opts = {});

  const CoreFile& core() const { return *core_; }
  const ExecutableFile& exe() const { return *exe_; }
  const DwarfInfo& dwarf() const { return *dwarf_; }
  const AddressSpace& mem() const { return mem_; }
  // From now on, AddressSpace::ReadFar reads the core's bytes with pread (for analyze --low-memory,
  // whose random reads should not keep the core's pages resident).
  void UseFarReadsOfCore() {
    mem_.SetFarFile(core_->file().fd(), core_->file().data(), core_->file().size());
  }
  // Fuzzing only: lets a fuzz target lay its input over the core's memory (tests/fuzz).
  AddressSpace* mutable_mem_for_fuzzing() { return &mem_; }
  const BuildInfo& build_info() const { return build_info_; }
  const GoVersion& go_version() const { return go_version_; }
  // Load bias: runtime address = link-time address + bias (0 unless PIE).
  uint64_t bias() const { return bias_; }

  // Runtime address of a Go global named in DWARF (e.g. "runtime.mheap_"), or NotFound.
  absl::StatusOr<uint64_t> GlobalAddress(const std::string& name) const;
  // Required DWARF constant, or an error naming it; with a fallback name tried second.
  absl::StatusOr<int64_t> Constant(const std::string& name, const std::string& alt = "") const;

 private:
  Program() = default;
  absl::Status BuildAddressSpace();
  absl::Status CheckExecutableMatches();

  std::unique_ptr<CoreFile> core_;
  std::unique_ptr<ExecutableFile> exe_;
  std::unique_ptr<DwarfInfo> dwarf_;
  AddressSpace mem_;
  BuildInfo build_info_;
  GoVersion go_version_;
  uint64_t bias_ = 0;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_PROGRAM_H_
