// Runtime type descriptors (internal/abi.Type) read from the target: names, sizes, GC masks.
#ifndef GORETAIN_GOCORE_RTYPE_H_
#define GORETAIN_GOCORE_RTYPE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gocore/program.h"

namespace goretain::gocore {

// Kinds (internal/abi.Kind), 1.22–1.26.
enum class GoKind : uint8_t {
  kInvalid = 0, kBool, kInt, kInt8, kInt16, kInt32, kInt64, kUint, kUint8, kUint16, kUint32,
  kUint64, kUintptr, kFloat32, kFloat64, kComplex64, kComplex128, kArray, kChan, kFunc,
  kInterface, kMap, kPointer, kSlice, kString, kStruct, kUnsafePointer,
};

// One runtime type. `mask` holds the pointer bitmap of one value: bit i = word i is a pointer,
// for the first ptr_bytes/8 words.
struct RuntimeType {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint64_t ptr_bytes = 0;
  uint8_t tflag = 0;
  GoKind kind = GoKind::kInvalid;
  uint8_t kind_raw = 0;         // Kind_ with its flag bits (KindDirectIface before 1.26)
  std::string name;             // e.g. "*main.Node", "main.Record"; "" for runtime-made types
  std::vector<uint64_t> mask;   // ceil(ptr_bytes/8 / 64) words
  bool mask_rebuilt = false;    // on-demand mask absent in the core, rebuilt from the type

  bool IsPointerWord(uint64_t word) const {
    return word < ptr_bytes / 8 && ((mask[word >> 6] >> (word & 63)) & 1);
  }
};

// Reads and caches runtime types by address. Index 0 is "no type". Not thread-safe; references
// returned by Get stay valid for the table's lifetime.
class TypeTable {
 public:
  // Reads the layout of internal/abi.Type and friends from DWARF.
  static absl::StatusOr<std::unique_ptr<TypeTable>> Create(const Program& program);

  // Index of the type at `addr` (reading it on first use), or an error naming the address when
  // its descriptor is unreadable or implausible.
  absl::StatusOr<uint32_t> Intern(uint64_t addr);
  const RuntimeType& Get(uint32_t index) const { return types_[index]; }
  size_t size() const { return types_.size(); }

 private:
  explicit TypeTable(const Program& p) : program_(p) {}
  absl::Status BuildMask(uint64_t type_addr, uint64_t word_base, int depth,
                         std::vector<uint64_t>* out);
  std::string ReadName(int32_t name_off, uint8_t tflag) const;

  const Program& program_;
  // A deque: references from Get stay valid while types are added (a scan may hold one while
  // what it finds adds types).
  std::deque<RuntimeType> types_;
  absl::flat_hash_map<uint64_t, uint32_t> by_addr_;
  // Layout, from DWARF.
  uint64_t off_size_ = 0, off_ptrbytes_ = 8, off_tflag_ = 20, off_kind_ = 23, off_gcdata_ = 32,
           off_str_ = 40;
  uint64_t array_elem_ = 0, array_len_ = 0;
  uint64_t struct_fields_ = 0, field_size_ = 0, field_typ_ = 0, field_offset_ = 0;
  uint8_t tflag_extra_star_ = 2, tflag_mask_on_demand_ = 0;
  uint64_t types_base_ = 0, types_end_ = 0;  // firstmoduledata.types/etypes
  uint64_t in_progress_addr_ = 0;            // &runtime.inProgress (1.24+)
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_RTYPE_H_
