#include "gocore/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>

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

// Go writes location expressions as DW_FORM_block1, which libdw accepts only as exprloc in
// DWARF 4+, so blocks are decoded here (the few operations Go uses for variables); location
// lists go through libdw.
bool DecodeBlock(const Dwarf_Block& b, std::vector<Dwarf_Op>* out) {
  const uint8_t* p = b.data;
  const uint8_t* end = b.data + b.length;
  auto uleb = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
      uint8_t c = *p++;
      *v |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return true;
    }
    return false;
  };
  auto sleb = [&](uint64_t* v) {
    int64_t r = 0;
    int shift = 0;
    uint8_t c = 0;
    do {
      if (p >= end || shift >= 64) return false;
      c = *p++;
      r |= int64_t(c & 0x7f) << shift;
      shift += 7;
    } while (c & 0x80);
    if (shift < 64 && (c & 0x40)) r |= -(int64_t{1} << shift);
    *v = static_cast<uint64_t>(r);
    return true;
  };
  while (p < end) {
    Dwarf_Op op{};
    op.atom = *p++;
    bool ok = true;
    switch (op.atom) {
      case DW_OP_addr:
        if (end - p < 8) return false;
        std::memcpy(&op.number, p, 8);
        p += 8;
        break;
      case DW_OP_consts:
      case DW_OP_fbreg:
        ok = sleb(&op.number);
        break;
      case DW_OP_constu:
      case DW_OP_plus_uconst:
      case DW_OP_piece:
      case DW_OP_regx:
        ok = uleb(&op.number);
        break;
      case DW_OP_call_frame_cfa:
      case DW_OP_plus:
        break;
      default:
        if (op.atom >= DW_OP_reg0 && op.atom <= DW_OP_reg31) break;
        if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
          ok = sleb(&op.number);
          break;
        }
        return false;
    }
    if (!ok) return false;
    out->push_back(op);
  }
  return true;
}

// The location expression of attr at link-time pc (blocks apply at every pc).
bool LocationAt(Dwarf_Attribute* attr, uint64_t pc, std::vector<Dwarf_Op>* out) {
  out->clear();
  unsigned form = dwarf_whatform(attr);
  if (form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
      form == DW_FORM_block || form == DW_FORM_exprloc) {
    Dwarf_Block b;
    if (dwarf_formblock(attr, &b) != 0) return false;
    return DecodeBlock(b, out);
  }
  Dwarf_Op* expr = nullptr;
  size_t len = 0;
  if (dwarf_getlocation_addr(attr, pc, &expr, &len, 1) != 1) return false;
  out->assign(expr, expr + len);
  return true;
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
          std::vector<Dwarf_Op> ops;
          if (!LocationAt(&attr, 0, &ops) || ops.size() != 1 || ops[0].atom != DW_OP_addr) break;
          Global g{name, ops[0].number, RefAttr(&child, DW_AT_type).value_or(0)};
          global_index_.emplace(g.name, globals_.size());
          globals_.push_back(std::move(g));
          break;
        }
        case DW_TAG_constant: {
          if (auto v = SignedAttr(&child, DW_AT_const_value)) constants_.emplace(name, *v);
          break;
        }
        case DW_TAG_subprogram: {
          Dwarf_Addr low, high;
          if (dwarf_lowpc(&child, &low) == 0 && dwarf_highpc(&child, &high) == 0 && high > low) {
            subprograms_.push_back({low, high, dwarf_dieoffset(&child)});
          }
          break;
        }
        case DW_TAG_compile_unit:
          break;
        default: {
          DieOffset off = dwarf_dieoffset(&child);
          types_.emplace(name, off);
          // Prefer the defining DIE over typedefs that alias it.
          if (auto rt = UnsignedAttr(&child, kDwAtGoRuntimeType); rt && *rt != 0) {
            if (tag != DW_TAG_typedef || !by_runtime_type_.contains(*rt)) by_runtime_type_[*rt] = off;
          }
          break;
        }
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  std::sort(subprograms_.begin(), subprograms_.end(),
            [](const Subprogram& a, const Subprogram& b) { return a.low < b.low; });
  return absl::OkStatus();
}

const DwarfInfo::Subprogram* DwarfInfo::FindSubprogram(uint64_t link_pc) const {
  auto it = std::upper_bound(subprograms_.begin(), subprograms_.end(), link_pc,
                             [](uint64_t pc, const Subprogram& s) { return pc < s.low; });
  if (it == subprograms_.begin()) return nullptr;
  --it;
  return link_pc < it->high ? &*it : nullptr;
}

std::string DwarfInfo::FunctionName(uint64_t link_pc) const {
  const Subprogram* sp = FindSubprogram(link_pc);
  if (sp == nullptr) return "";
  Dwarf_Die die;
  if (!GetDie(dwarf_, sp->die, &die)) return "";
  const char* n = dwarf_diename(&die);
  return n ? n : "";
}

namespace {

// Go describes stack slots as DW_OP_call_frame_cfa [DW_OP_consts N DW_OP_plus | DW_OP_plus_uconst N]
// or DW_OP_fbreg N (frame base = CFA). Anything else (registers, pieces in registers) is not a
// stack slot.
std::optional<int64_t> CfaOffset(const Dwarf_Op* ops, size_t n) {
  if (n == 0) return std::nullopt;
  if (ops[0].atom == DW_OP_fbreg) return static_cast<int64_t>(ops[0].number);
  if (ops[0].atom != DW_OP_call_frame_cfa) return std::nullopt;
  if (n == 1 || ops[1].atom == DW_OP_piece) return 0;
  if (ops[1].atom == DW_OP_plus_uconst) return static_cast<int64_t>(ops[1].number);
  if (n >= 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
      ops[2].atom == DW_OP_plus) {
    return static_cast<int64_t>(ops[1].number);
  }
  return std::nullopt;
}

// Name of a DIE, following DW_AT_abstract_origin (inlined copies carry no name of their own).
const char* IntegratedName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  if (dwarf_attr_integrate(die, DW_AT_name, &attr) == nullptr) return nullptr;
  return dwarf_formstring(&attr);
}

void CollectVars(::Dwarf* dw, Dwarf_Die* parent, uint64_t link_pc, const DwarfInfo& info,
                 const std::string& function, std::vector<DwarfInfo::StackVar>* out, int depth) {
  Dwarf_Die c;
  if (depth > 32 || dwarf_child(parent, &c) != 0) return;
  do {
    int tag = dwarf_tag(&c);
    if (tag == DW_TAG_lexical_block) {
      if (dwarf_haspc(&c, link_pc) == 1) {
        CollectVars(dw, &c, link_pc, info, function, out, depth + 1);
      }
      continue;
    }
    if (tag == DW_TAG_inlined_subroutine) {
      if (dwarf_haspc(&c, link_pc) == 1) {
        const char* callee = IntegratedName(&c);
        CollectVars(dw, &c, link_pc, info, callee ? callee : function, out, depth + 1);
      }
      continue;
    }
    if (tag != DW_TAG_variable && tag != DW_TAG_formal_parameter) continue;
    const char* name = IntegratedName(&c);
    Dwarf_Attribute attr;
    if (name == nullptr || dwarf_attr(&c, DW_AT_location, &attr) == nullptr) continue;
    std::vector<Dwarf_Op> ops;
    if (!LocationAt(&attr, link_pc, &ops)) continue;
    auto off = CfaOffset(ops.data(), ops.size());
    if (!off) continue;
    DwarfInfo::StackVar v;
    v.function = function;
    v.name = name;
    v.cfa_offset = *off;
    Dwarf_Attribute type_attr;
    Dwarf_Die type_die;
    if (dwarf_attr_integrate(&c, DW_AT_type, &type_attr) != nullptr &&
        dwarf_formref_die(&type_attr, &type_die) != nullptr) {
      v.type = dwarf_dieoffset(&type_die);
    }
    v.size = v.type ? info.TypeSize(v.type).value_or(8) : 8;
    v.is_param = tag == DW_TAG_formal_parameter;
    out->push_back(std::move(v));
  } while (dwarf_siblingof(&c, &c) == 0);
}

}  // namespace

std::vector<DwarfInfo::StackVar> DwarfInfo::StackVariables(uint64_t link_pc) const {
  std::vector<StackVar> out;
  const Subprogram* sp = FindSubprogram(link_pc);
  Dwarf_Die die;
  if (sp == nullptr || !GetDie(dwarf_, sp->die, &die)) return out;
  const char* fn = dwarf_diename(&die);
  CollectVars(dwarf_, &die, link_pc, *this, fn ? fn : "?", &out, 0);
  return out;
}

std::vector<DwarfInfo::ClosureVar> DwarfInfo::ClosureVariables(uint64_t link_pc) const {
  std::vector<ClosureVar> out;
  const Subprogram* sp = FindSubprogram(link_pc);
  Dwarf_Die die, c;
  if (sp == nullptr || !GetDie(dwarf_, sp->die, &die) || dwarf_child(&die, &c) != 0) return out;
  do {
    if (dwarf_tag(&c) != DW_TAG_variable) continue;
    auto off = UnsignedAttr(&c, 0x2907);  // DW_AT_go_closure_offset
    const char* name = dwarf_diename(&c);
    if (!off || name == nullptr) continue;
    out.push_back({name, *off, RefAttr(&c, DW_AT_type).value_or(0)});
  } while (dwarf_siblingof(&c, &c) == 0);
  return out;
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
    // Go omits DW_AT_byte_size on pointer types.
    int tag = dwarf_tag(&die);
    if (tag == DW_TAG_pointer_type || tag == DW_TAG_subroutine_type) return 8;
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

std::optional<DieOffset> DwarfInfo::TypeByRuntimeOffset(uint64_t offset) const {
  auto it = by_runtime_type_.find(offset);
  if (it == by_runtime_type_.end()) return std::nullopt;
  return it->second;
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
