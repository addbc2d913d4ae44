#include "gocore/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <libelf.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

bool GetDie(::Dwarf* dw, DieOffset off, Dwarf_Die* out) {
  return dwarf_offdie(dw, off, out) != nullptr;
}

std::optional<DieOffset> RefAttr(Dwarf_Die* die, unsigned at) {
  Dwarf_Attribute attr;
  if (dwarf_attr(die, at, &attr) == nullptr) return std::nullopt;
  Dwarf_Die ref;
  if (dwarf_formref_die(&attr, &ref) == nullptr) return std::nullopt;
  return dwarf_dieoffset(&ref);
}

std::optional<int64_t> SignedAttr(Dwarf_Die* die, unsigned at) {
  Dwarf_Attribute attr;
  if (dwarf_attr(die, at, &attr) == nullptr) return std::nullopt;
  Dwarf_Sword s;
  if (dwarf_formsdata(&attr, &s) == 0) return s;
  Dwarf_Word u;
  if (dwarf_formudata(&attr, &u) == 0) return static_cast<int64_t>(u);
  return std::nullopt;
}

std::optional<uint64_t> UnsignedAttr(Dwarf_Die* die, unsigned at) {
  Dwarf_Attribute attr;
  if (dwarf_attr(die, at, &attr) == nullptr) return std::nullopt;
  Dwarf_Word u;
  if (dwarf_formudata(&attr, &u) == 0) return u;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DwarfInfo>> DwarfInfo::Load(const ExecutableFile& exe) {
  if (exe.FindSection(".debug_info") == nullptr && exe.FindSection(".zdebug_info") == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        exe.path(), ": executable has no DWARF debug info (built with -ldflags=-w or stripped); "
                    "goretain needs it to read the Go heap"));
  }
  std::unique_ptr<DwarfInfo> d(new DwarfInfo);
  elf_version(EV_CURRENT);
  // libdw decompresses SHF_COMPRESSED sections in place, so it needs a writable image: give it
  // its own copy-on-read descriptor rather than our read-only mapping.
  d->elf_ = elf_begin(exe.file().fd(), ELF_C_READ_MMAP_PRIVATE, nullptr);
  if (d->elf_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(exe.path(), ": libelf: ", elf_errmsg(-1)));
  }
  d->dwarf_ = dwarf_begin_elf(d->elf_, DWARF_C_READ, nullptr);
  if (d->dwarf_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(exe.path(), ": unreadable DWARF: ", dwarf_errmsg(-1)));
  }
  RETURN_IF_ERROR(d->Index());
  if (d->types_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(exe.path(), ": DWARF has no types"));
  }
  return d;
}

DwarfInfo::~DwarfInfo() {
  if (dwarf_) dwarf_end(dwarf_);
  if (elf_) elf_end(elf_);
}

absl::Status DwarfInfo::Index() {
  Dwarf_CU* cu = nullptr;
  Dwarf_Half version;
  uint8_t unit_type;
  Dwarf_Die cudie, subdie;
  while (dwarf_get_units(dwarf_, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
    Dwarf_Die child;
    if (dwarf_child(&cudie, &child) != 0) continue;
    do {
      const char* name = dwarf_diename(&child);
      if (name == nullptr) continue;
      int tag = dwarf_tag(&child);
      switch (tag) {
        case DW_TAG_variable: {
          Dwarf_Attribute attr;
          if (dwarf_attr(&child, DW_AT_location, &attr) == nullptr) break;
          Dwarf_Op* ops;
          size_t nops;
          if (dwarf_getlocation(&attr, &ops, &nops) != 0 || nops != 1 || ops[0].atom != DW_OP_addr) {
            break;
          }
          Global g{name, ops[0].number, RefAttr(&child, DW_AT_type).value_or(0)};
          global_index_.emplace(g.name, globals_.size());
          globals_.push_back(std::move(g));
          break;
        }
        case DW_TAG_constant: {
          if (auto v = SignedAttr(&child, DW_AT_const_value)) constants_.emplace(name, *v);
          break;
        }
        case DW_TAG_subprogram:
        case DW_TAG_compile_unit:
          break;
        default:
          types_.emplace(name, dwarf_dieoffset(&child));
          break;
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  return absl::OkStatus();
}

std::optional<DieOffset> DwarfInfo::TypeByName(const std::string& name) const {
  auto it = types_.find(name);
  if (it == types_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> DwarfInfo::TypeSize(DieOffset type) const {
  Dwarf_Die die;
  for (int hops = 0; hops < 16 && GetDie(dwarf_, type, &die); hops++) {
    Dwarf_Word size;
    if (dwarf_aggregate_size(&die, &size) == 0) return size;
    auto ref = RefAttr(&die, DW_AT_type);
    if (!ref || dwarf_tag(&die) != DW_TAG_typedef) return std::nullopt;
    type = *ref;
  }
  return std::nullopt;
}

std::string DwarfInfo::TypeName(DieOffset type) const {
  Dwarf_Die die;
  if (!GetDie(dwarf_, type, &die)) return "";
  const char* n = dwarf_diename(&die);
  return n ? n : "";
}

int DwarfInfo::Tag(DieOffset off) const {
  Dwarf_Die die;
  return GetDie(dwarf_, off, &die) ? dwarf_tag(&die) : 0;
}

std::optional<DieOffset> DwarfInfo::ReferencedType(DieOffset off) const {
  Dwarf_Die die;
  if (!GetDie(dwarf_, off, &die)) return std::nullopt;
  return RefAttr(&die, DW_AT_type);
}

const std::vector<DwarfInfo::Field>& DwarfInfo::StructFields(DieOffset type) const {
  auto it = fields_cache_.find(type);
  if (it != fields_cache_.end()) return it->second;
  std::vector<Field> fields;
  Dwarf_Die die;
  // Follow typedefs to the struct.
  for (int hops = 0; hops < 16 && GetDie(dwarf_, type, &die) && dwarf_tag(&die) == DW_TAG_typedef;
       hops++) {
    auto ref = RefAttr(&die, DW_AT_type);
    if (!ref) break;
    type = *ref;
  }
  if (GetDie(dwarf_, type, &die) && dwarf_tag(&die) == DW_TAG_structure_type) {
    Dwarf_Die m;
    if (dwarf_child(&die, &m) == 0) {
      do {
        if (dwarf_tag(&m) != DW_TAG_member) continue;
        Field f;
        const char* n = dwarf_diename(&m);
        f.name = n ? n : "";
        f.offset = UnsignedAttr(&m, DW_AT_data_member_location).value_or(0);
        f.type = RefAttr(&m, DW_AT_type).value_or(0);
        f.embedded = SignedAttr(&m, kDwAtGoEmbeddedField).value_or(0) != 0;
        fields.push_back(std::move(f));
      } while (dwarf_siblingof(&m, &m) == 0);
    }
  }
  return fields_cache_.emplace(type, std::move(fields)).first->second;
}

std::optional<std::pair<DieOffset, int64_t>> DwarfInfo::ArrayInfo(DieOffset type) const {
  Dwarf_Die die;
  if (!GetDie(dwarf_, type, &die) || dwarf_tag(&die) != DW_TAG_array_type) return std::nullopt;
  auto elem = RefAttr(&die, DW_AT_type);
  if (!elem) return std::nullopt;
  int64_t count = -1;
  Dwarf_Die sub;
  if (dwarf_child(&die, &sub) == 0 && dwarf_tag(&sub) == DW_TAG_subrange_type) {
    if (auto c = SignedAttr(&sub, DW_AT_count)) {
      count = *c;
    } else if (auto ub = SignedAttr(&sub, DW_AT_upper_bound)) {
      count = *ub + 1;
    }
  }
  return std::make_pair(*elem, count);
}

std::optional<int64_t> DwarfInfo::GoKind(DieOffset type) const {
  Dwarf_Die die;
  if (!GetDie(dwarf_, type, &die)) return std::nullopt;
  return SignedAttr(&die, kDwAtGoKind);
}

std::optional<uint64_t> DwarfInfo::GoRuntimeType(DieOffset type) const {
  Dwarf_Die die;
  if (!GetDie(dwarf_, type, &die)) return std::nullopt;
  return UnsignedAttr(&die, kDwAtGoRuntimeType);
}

absl::StatusOr<DwarfInfo::FieldRef> DwarfInfo::FieldPath(const std::string& struct_name,
                                                         const std::string& path) const {
  auto t = TypeByName(struct_name);
  if (!t) return absl::NotFoundError(absl::StrCat("DWARF: no type ", struct_name));
  auto r = FieldPath(*t, path);
  if (!r.ok()) {
    return absl::NotFoundError(absl::StrCat("DWARF: ", struct_name, " has no field ", path));
  }
  return r;
}

absl::StatusOr<DwarfInfo::FieldRef> DwarfInfo::FieldPath(DieOffset type,
                                                         const std::string& path) const {
  FieldRef ref;
  ref.type = type;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const auto& fields = StructFields(ref.type);
    const Field* found = nullptr;
    for (const Field& f : fields) {
      if (f.name == part) {
        found = &f;
        break;
      }
    }
    if (found == nullptr) return absl::NotFoundError(absl::StrCat("no field ", part));
    ref.offset += found->offset;
    ref.type = found->type;
  }
  ref.size = TypeSize(ref.type).value_or(0);
  return ref;
}

absl::StatusOr<uint64_t> DwarfInfo::SizeOf(const std::string& type_name) const {
  auto t = TypeByName(type_name);
  if (!t) return absl::NotFoundError(absl::StrCat("DWARF: no type ", type_name));
  auto s = TypeSize(*t);
  if (!s) return absl::NotFoundError(absl::StrCat("DWARF: type ", type_name, " has no size"));
  return *s;
}

std::optional<int64_t> DwarfInfo::Constant(const std::string& name) const {
  auto it = constants_.find(name);
  if (it == constants_.end()) return std::nullopt;
  return it->second;
}

const DwarfInfo::Global* DwarfInfo::GlobalByName(const std::string& name) const {
  auto it = global_index_.find(name);
  return it == global_index_.end() ? nullptr : &globals_[it->second];
}

}  // namespace goretain::gocore
