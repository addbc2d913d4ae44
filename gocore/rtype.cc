#include "gocore/rtype.h"

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr int kMaxMaskDepth = 64;
// A type larger than this is implausible in a heap and marks a corrupt descriptor.
constexpr uint64_t kMaxTypeSize = uint64_t{1} << 40;

}  // namespace

absl::StatusOr<std::unique_ptr<TypeTable>> TypeTable::Create(const Program& p) {
  std::unique_ptr<TypeTable> t(new TypeTable(p));
  const DwarfInfo& d = p.dwarf();
  const std::string abi_type = "internal/abi.Type";
  ASSIGN_OR_RETURN(auto f, d.FieldPath(abi_type, "Size_"));
  t->off_size_ = f.offset;
  ASSIGN_OR_RETURN(f, d.FieldPath(abi_type, "PtrBytes"));
  t->off_ptrbytes_ = f.offset;
  ASSIGN_OR_RETURN(f, d.FieldPath(abi_type, "TFlag"));
  t->off_tflag_ = f.offset;
  ASSIGN_OR_RETURN(f, d.FieldPath(abi_type, "Kind_"));
  t->off_kind_ = f.offset;
  ASSIGN_OR_RETURN(f, d.FieldPath(abi_type, "GCData"));
  t->off_gcdata_ = f.offset;
  ASSIGN_OR_RETURN(f, d.FieldPath(abi_type, "Str"));
  t->off_str_ = f.offset;
  if (auto v = d.Constant("internal/abi.TFlagExtraStar")) t->tflag_extra_star_ = uint8_t(*v);
  if (auto v = d.Constant("internal/abi.TFlagGCMaskOnDemand")) {
    t->tflag_mask_on_demand_ = uint8_t(*v);
  }
  // Composite type layouts, needed only to rebuild on-demand masks.
  if (auto e = d.FieldPath("internal/abi.ArrayType", "Elem"); e.ok()) t->array_elem_ = e->offset;
  if (auto e = d.FieldPath("internal/abi.ArrayType", "Len"); e.ok()) t->array_len_ = e->offset;
  if (auto e = d.FieldPath("internal/abi.StructType", "Fields"); e.ok()) {
    t->struct_fields_ = e->offset;
  }
  if (auto s = d.SizeOf("internal/abi.StructField"); s.ok()) t->field_size_ = *s;
  if (auto e = d.FieldPath("internal/abi.StructField", "Typ"); e.ok()) t->field_typ_ = e->offset;
  if (auto e = d.FieldPath("internal/abi.StructField", "Offset"); e.ok()) {
    t->field_offset_ = e->offset;
  }
  ASSIGN_OR_RETURN(uint64_t md, p.GlobalAddress("runtime.firstmoduledata"));
  ASSIGN_OR_RETURN(f, d.FieldPath("runtime.moduledata", "types"));
  t->types_base_ = p.mem().ReadU64(md + f.offset).value_or(0);
  ASSIGN_OR_RETURN(f, d.FieldPath("runtime.moduledata", "etypes"));
  t->types_end_ = p.mem().ReadU64(md + f.offset).value_or(0);
  if (auto ip = p.GlobalAddress("runtime.inProgress"); ip.ok()) t->in_progress_addr_ = *ip;
  t->types_.emplace_back();  // index 0: no type
  return t;
}

std::string TypeTable::ReadName(int32_t name_off, uint8_t tflag) const {
  if (name_off <= 0 || types_base_ == 0) return "";
  uint64_t a = types_base_ + static_cast<uint64_t>(name_off);
  if (types_end_ != 0 && a >= types_end_) return "";
  // Name encoding: flag byte, uvarint length, bytes.
  uint64_t len = 0;
  int shift = 0;
  uint64_t p = a + 1;
  for (int i = 0; i < 10; i++) {
    auto b = program_.mem().ReadU8(p++);
    if (!b) return "";
    len |= uint64_t(*b & 0x7f) << shift;
    if ((*b & 0x80) == 0) break;
    shift += 7;
  }
  if (len == 0 || len > 1 << 16) return "";
  auto s = program_.mem().ReadBytes(p, len);
  if (!s) return "";
  if ((tflag & tflag_extra_star_) && !s->empty() && (*s)[0] == '*') s->erase(0, 1);
  return *s;
}

absl::StatusOr<uint32_t> TypeTable::Intern(uint64_t addr) {
  if (auto it = by_addr_.find(addr); it != by_addr_.end()) return it->second;
  const AddressSpace& mem = program_.mem();
  auto size = mem.ReadU64(addr + off_size_);
  auto ptr_bytes = mem.ReadU64(addr + off_ptrbytes_);
  auto tflag = mem.ReadU8(addr + off_tflag_);
  auto kind = mem.ReadU8(addr + off_kind_);
  auto gcdata = mem.ReadU64(addr + off_gcdata_);
  auto str = mem.ReadU32(addr + off_str_);
  if (!size || !ptr_bytes || !tflag || !kind || !gcdata || !str) {
    return absl::DataLossError(absl::StrFormat("type descriptor at 0x%x is unreadable", addr));
  }
  if (*size > kMaxTypeSize || *ptr_bytes > *size || (*ptr_bytes & 7) != 0) {
    return absl::DataLossError(absl::StrFormat(
        "type descriptor at 0x%x is implausible (size %d, ptrBytes %d)", addr, *size, *ptr_bytes));
  }
  RuntimeType t;
  t.addr = addr;
  t.size = *size;
  t.ptr_bytes = *ptr_bytes;
  t.tflag = *tflag;
  t.kind = static_cast<GoKind>(*kind & 31);
  t.kind_raw = *kind;
  t.name = ReadName(static_cast<int32_t>(*str), t.tflag);
  if (t.ptr_bytes > 0) {
    uint64_t words = t.ptr_bytes / 8;
    t.mask.assign((words + 63) / 64, 0);
    if (tflag_mask_on_demand_ != 0 && (t.tflag & tflag_mask_on_demand_)) {
      // GCData points to a slot holding the mask once the runtime has built it.
      auto built = mem.ReadU64(*gcdata);
      if (built && *built != 0 && *built != in_progress_addr_ &&
          mem.Read(*built, t.mask.data(), (words + 7) / 8)) {
        // read straight into the words (little endian)
      } else {
        t.mask.assign(t.mask.size(), 0);
        RETURN_IF_ERROR(BuildMask(addr, 0, 0, &t.mask));
        t.mask_rebuilt = true;
      }
    } else if (!mem.Read(*gcdata, t.mask.data(), (words + 7) / 8)) {
      return absl::DataLossError(
          absl::StrFormat("GC mask of type %s at 0x%x is unreadable", t.name, addr));
    }
    // Clear bits past the last pointer word.
    if (words % 64) t.mask.back() &= (uint64_t{1} << (words % 64)) - 1;
  }
  uint32_t idx = static_cast<uint32_t>(types_.size());
  types_.push_back(std::move(t));
  by_addr_.emplace(addr, idx);
  return idx;
}

// Rebuilds a pointer mask from the type structure, as the runtime's buildGCMask does for types
// whose mask is made on demand (1.24+: more than 16384 pointer words).
absl::Status TypeTable::BuildMask(uint64_t type_addr, uint64_t word_base, int depth,
                                  std::vector<uint64_t>* out) {
  if (depth > kMaxMaskDepth) return absl::DataLossError("type nesting too deep");
  const AddressSpace& mem = program_.mem();
  auto ptr_bytes = mem.ReadU64(type_addr + off_ptrbytes_);
  auto tflag = mem.ReadU8(type_addr + off_tflag_);
  auto kind = mem.ReadU8(type_addr + off_kind_);
  auto gcdata = mem.ReadU64(type_addr + off_gcdata_);
  if (!ptr_bytes || !tflag || !kind || !gcdata) {
    return absl::DataLossError(absl::StrFormat("type at 0x%x unreadable", type_addr));
  }
  if (*ptr_bytes == 0) return absl::OkStatus();
  uint64_t words = *ptr_bytes / 8;
  auto set = [&](uint64_t w) {
    uint64_t bit = word_base + w;
    if (bit / 64 < out->size()) (*out)[bit / 64] |= uint64_t{1} << (bit % 64);
  };
  if (!(*tflag & tflag_mask_on_demand_)) {
    std::vector<uint8_t> bytes((words + 7) / 8);
    if (!mem.Read(*gcdata, bytes.data(), bytes.size())) {
      return absl::DataLossError(absl::StrFormat("GC mask at 0x%x unreadable", *gcdata));
    }
    for (uint64_t w = 0; w < words; w++) {
      if ((bytes[w / 8] >> (w % 8)) & 1) set(w);
    }
    return absl::OkStatus();
  }
  switch (static_cast<GoKind>(*kind & 31)) {
    case GoKind::kArray: {
      auto elem = mem.ReadU64(type_addr + array_elem_);
      auto len = mem.ReadU64(type_addr + array_len_);
      if (!elem || !len || array_elem_ == 0) return absl::DataLossError("array type unreadable");
      auto esize = mem.ReadU64(*elem + off_size_);
      if (!esize || *esize % 8) return absl::DataLossError("array element unreadable");
      for (uint64_t i = 0; i < *len && (i * *esize) / 8 < words; i++) {
        RETURN_IF_ERROR(BuildMask(*elem, word_base + i * *esize / 8, depth + 1, out));
      }
      return absl::OkStatus();
    }
    case GoKind::kStruct: {
      auto fptr = mem.ReadU64(type_addr + struct_fields_);
      auto flen = mem.ReadU64(type_addr + struct_fields_ + 8);
      if (!fptr || !flen || field_size_ == 0 || *flen > 1 << 20) {
        return absl::DataLossError("struct type unreadable");
      }
      for (uint64_t i = 0; i < *flen; i++) {
        uint64_t fa = *fptr + i * field_size_;
        auto ft = mem.ReadU64(fa + field_typ_);
        auto fo = mem.ReadU64(fa + field_offset_);
        if (!ft || !fo) return absl::DataLossError("struct field unreadable");
        RETURN_IF_ERROR(BuildMask(*ft, word_base + *fo / 8, depth + 1, out));
      }
      return absl::OkStatus();
    }
    default:
      return absl::DataLossError(
          absl::StrFormat("on-demand GC mask for a type of kind %d", *kind & 31));
  }
}

}  // namespace goretain::gocore
