// Go DWARF through elfutils libdw: types, struct layouts, constants and globals by name.
#ifndef GORETAIN_GOCORE_DWARF_H_
#define GORETAIN_GOCORE_DWARF_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gocore/elf_file.h"

struct Dwarf;
struct Elf;

namespace goretain::gocore {

// Go-specific DWARF attributes (cmd/internal/dwarf).
inline constexpr unsigned kDwAtGoKind = 0x2900;
inline constexpr unsigned kDwAtGoKey = 0x2901;
inline constexpr unsigned kDwAtGoElem = 0x2902;
inline constexpr unsigned kDwAtGoEmbeddedField = 0x2903;
inline constexpr unsigned kDwAtGoRuntimeType = 0x2904;

using DieOffset = uint64_t;

// Indexed DWARF of one Go executable. Owns the libdw handle. Not thread-safe (libdw caches).
class DwarfInfo {
 public:
  struct Field {
    std::string name;
    uint64_t offset = 0;
    DieOffset type = 0;
    bool embedded = false;
  };
  struct Global {
    std::string name;
    uint64_t addr = 0;  // link-time address (add the PIE bias for the runtime address)
    DieOffset type = 0;
  };
  // A resolved field path inside a struct.
  struct FieldRef {
    uint64_t offset = 0;
    uint64_t size = 0;
    DieOffset type = 0;
  };

  // Fails with FailedPrecondition when the executable has no DWARF ("built with -ldflags=-w or
  // stripped").
  static absl::StatusOr<std::unique_ptr<DwarfInfo>> Load(const ExecutableFile& exe);
  ~DwarfInfo();

  std::optional<DieOffset> TypeByName(const std::string& name) const;
  // Size in bytes of a type (follows typedefs); nullopt when unsized.
  std::optional<uint64_t> TypeSize(DieOffset type) const;
  std::string TypeName(DieOffset type) const;
  int Tag(DieOffset die) const;
  // For pointer/typedef types: the referenced type (DW_AT_type).
  std::optional<DieOffset> ReferencedType(DieOffset die) const;
  // Struct members in order; empty for non-structs.
  const std::vector<Field>& StructFields(DieOffset type) const;
  // Array element type and count (count -1 when unknown).
  std::optional<std::pair<DieOffset, int64_t>> ArrayInfo(DieOffset type) const;
  // DW_AT_go_kind and DW_AT_go_runtime_type (offset from runtime.types) if present.
  std::optional<int64_t> GoKind(DieOffset type) const;
  std::optional<uint64_t> GoRuntimeType(DieOffset type) const;

  // "a.b.c" inside struct `struct_name` (fields of nested structs, no pointer following).
  absl::StatusOr<FieldRef> FieldPath(const std::string& struct_name, const std::string& path) const;
  absl::StatusOr<FieldRef> FieldPath(DieOffset type, const std::string& path) const;
  bool HasField(const std::string& struct_name, const std::string& path) const {
    return FieldPath(struct_name, path).ok();
  }
  // Size of a named type, or an error naming it.
  absl::StatusOr<uint64_t> SizeOf(const std::string& type_name) const;

  // The DWARF type whose DW_AT_go_runtime_type is `offset` (runtime _type address minus
  // firstmoduledata.types).
  std::optional<DieOffset> TypeByRuntimeOffset(uint64_t offset) const;

  std::optional<int64_t> Constant(const std::string& name) const;
  const Global* GlobalByName(const std::string& name) const;
  const std::vector<Global>& globals() const { return globals_; }

  // A variable or parameter that lives in a stack slot at some PC: its address is
  // CFA + cfa_offset (the CFA is the caller's SP, i.e. the frame's fp on amd64).
  struct StackVar {
    std::string function;  // the function declaring it (an inlined callee's name for its vars)
    std::string name;
    int64_t cfa_offset = 0;
    uint64_t size = 0;
    DieOffset type = 0;
    bool is_param = false;
  };
  // Name of the function (DW_TAG_subprogram) containing link-time pc; "" if none.
  std::string FunctionName(uint64_t link_pc) const;
  // The variables of that function (including nested lexical blocks that cover pc) whose
  // location at pc is a stack slot. Register-only variables are left out.
  std::vector<StackVar> StackVariables(uint64_t link_pc) const;

  // Variables a closure function captures: DW_AT_go_closure_offset is their offset in the
  // closure object (after the function pointer).
  struct ClosureVar {
    std::string name;
    uint64_t offset = 0;
    DieOffset type = 0;
  };
  std::vector<ClosureVar> ClosureVariables(uint64_t link_pc) const;

  ::Dwarf* raw() const { return dwarf_; }

 private:
  DwarfInfo() = default;
  absl::Status Index();

  ::Elf* elf_ = nullptr;
  ::Dwarf* dwarf_ = nullptr;
  absl::flat_hash_map<std::string, DieOffset> types_;
  absl::flat_hash_map<std::string, int64_t> constants_;
  absl::flat_hash_map<uint64_t, DieOffset> by_runtime_type_;
  std::vector<Global> globals_;
  absl::flat_hash_map<std::string, size_t> global_index_;
  mutable absl::flat_hash_map<DieOffset, std::vector<Field>> fields_cache_;
  struct Subprogram {
    uint64_t low = 0, high = 0;
    DieOffset die = 0;
  };
  std::vector<Subprogram> subprograms_;  // sorted by low
  const Subprogram* FindSubprogram(uint64_t link_pc) const;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_DWARF_H_
