#include "gocore/pclntab.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr int32_t kArgsSizeUnknown = -0x80000000;

// Reads a uvarint; returns bytes consumed (0 on overflow or end).
size_t Uvarint(const uint8_t* p, const uint8_t* end, uint32_t* out) {
  uint32_t v = 0;
  for (size_t i = 0, shift = 0; p + i < end && shift < 35; i++, shift += 7) {
    v |= uint32_t(p[i] & 0x7f) << shift;
    if ((p[i] & 0x80) == 0) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FuncTable>> FuncTable::Load(const Program& p) {
  std::unique_ptr<FuncTable> t(new FuncTable(p));
  const DwarfInfo& d = p.dwarf();
  const AddressSpace& mem = p.mem();
  ASSIGN_OR_RETURN(uint64_t md, p.GlobalAddress("runtime.firstmoduledata"));
  auto field = [&](const std::string& name) -> absl::StatusOr<uint64_t> {
    ASSIGN_OR_RETURN(auto f, d.FieldPath("runtime.moduledata", name));
    auto v = mem.ReadU64(md + f.offset);
    if (!v) return absl::DataLossError(absl::StrCat("runtime.firstmoduledata.", name, " unreadable"));
    return *v;
  };
  auto table = [&](const std::string& name, const uint8_t** ptr, uint64_t* len,
                   uint64_t elem) -> absl::Status {
    ASSIGN_OR_RETURN(uint64_t a, field(name + ".array"));
    ASSIGN_OR_RETURN(*len, field(name + ".len"));
    // A damaged length must not become an allocation: the table has to be in memory first.
    if (*len > ~uint64_t{0} / elem || !mem.Present(a, *len * elem)) {
      return absl::DataLossError(absl::StrFormat(
          "pclntab table %s (%d entries at 0x%x) is not readable in the core or the executable",
          name, *len, a));
    }
    *ptr = mem.Ptr(a, *len * elem);
    if (*ptr == nullptr && *len > 0) {  // present but across mappings: one contiguous copy
      std::vector<uint8_t> copy(*len * elem);
      mem.Read(a, copy.data(), copy.size());
      t->copies_.push_back(std::move(copy));
      *ptr = t->copies_.back().data();
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(t->text_, field("text"));
  ASSIGN_OR_RETURN(t->min_pc_, field("minpc"));
  ASSIGN_OR_RETURN(t->max_pc_, field("maxpc"));
  ASSIGN_OR_RETURN(t->gofunc_, field("gofunc"));
  RETURN_IF_ERROR(table("funcnametab", &t->funcnametab_, &t->funcnametab_len_, 1));
  RETURN_IF_ERROR(table("cutab", &t->cutab_, &t->cutab_len_, 4));
  RETURN_IF_ERROR(table("filetab", &t->filetab_, &t->filetab_len_, 1));
  RETURN_IF_ERROR(table("pctab", &t->pctab_, &t->pctab_len_, 1));
  RETURN_IF_ERROR(table("pclntable", &t->pclntable_, &t->pclntable_len_, 1));
  const uint8_t* ftab = nullptr;
  uint64_t nftab = 0;
  RETURN_IF_ERROR(table("ftab", &ftab, &nftab, 8));
  t->ftab_.resize(nftab);
  for (uint64_t i = 0; i < nftab; i++) {
    std::memcpy(&t->ftab_[i].first, ftab + i * 8, 4);
    std::memcpy(&t->ftab_[i].second, ftab + i * 8 + 4, 4);
  }
  if (t->ftab_.empty()) return absl::DataLossError("pclntab has no functions");

  return t;
}

absl::StatusOr<Func> FuncTable::DecodeFunc(uint64_t func_off, uint32_t entry_off) const {
  // _func layout (runtime/runtime2.go, unchanged 1.22–1.26): entryOff u32, nameOff i32, args i32,
  // deferreturn u32, pcsp u32, pcfile u32, pcln u32, npcdata u32, cuOffset u32, startLine i32,
  // funcID u8, flag u8, pad u8, nfuncdata u8, then pcdata[npcdata] u32, funcdata[nfuncdata] u32.
  if (func_off + 44 > pclntable_len_) return absl::DataLossError("_func out of range");
  const uint8_t* r = pclntable_ + func_off;
  Func f;
  uint32_t w[10];
  std::memcpy(w, r, 40);
  f.func_off = func_off;
  f.entry = text_ + w[0];
  f.name_off = static_cast<int32_t>(w[1]);
  f.args = static_cast<int32_t>(w[2]);
  f.pcsp = w[4];
  f.pcfile = w[5];
  f.pcln = w[6];
  f.npcdata = w[7];
  f.cu_offset = w[8];
  f.start_line = static_cast<int32_t>(w[9]);
  f.func_id = r[40];
  f.flag = r[41];
  f.nfuncdata = r[43];
  if (w[0] != entry_off || func_off + 44 + 4ull * (f.npcdata + f.nfuncdata) > pclntable_len_) {
    return absl::DataLossError("_func record corrupt");
  }
  return f;
}

std::optional<Func> FuncTable::FindFunc(uint64_t pc) const {
  if (pc < min_pc_ || pc >= max_pc_) return std::nullopt;
  uint64_t off = pc - text_;
  // ftab's last entry is a sentinel holding the end of text.
  auto it = std::upper_bound(ftab_.begin(), ftab_.end(), off,
                             [](uint64_t v, const auto& e) { return v < e.first; });
  if (it == ftab_.begin() || it == ftab_.end()) return std::nullopt;
  --it;
  auto f = DecodeFunc(it->second, it->first);
  if (!f.ok()) return std::nullopt;
  return *f;
}

std::string FuncTable::FuncName(const Func& f) const {
  if (f.name_off < 0 || uint64_t(f.name_off) >= funcnametab_len_) return "?";
  const char* s = reinterpret_cast<const char*>(funcnametab_ + f.name_off);
  return std::string(s, strnlen(s, funcnametab_len_ - f.name_off));
}

int32_t FuncTable::PCValue(const Func& f, uint32_t table_off, uint64_t pc) const {
  if (table_off == 0 || table_off >= pctab_len_) return -1;
  const uint8_t* p = pctab_ + table_off;
  const uint8_t* end = pctab_ + pctab_len_;
  int32_t val = -1;
  uint64_t cur = f.entry;
  bool first = true;
  while (p < end) {
    uint32_t uvdelta;
    size_t n = Uvarint(p, end, &uvdelta);
    if (n == 0 || (uvdelta == 0 && !first)) break;
    p += n;
    val += static_cast<int32_t>(-(uvdelta & 1) ^ (uvdelta >> 1));
    uint32_t pcdelta;
    n = Uvarint(p, end, &pcdelta);
    if (n == 0) break;
    p += n;
    cur += pcdelta;  // PCQuantum is 1 on amd64
    first = false;
    if (pc < cur) return val;
  }
  return -1;
}

int32_t FuncTable::PCData(const Func& f, int index, uint64_t pc) const {
  if (index >= static_cast<int>(f.npcdata)) return -1;
  uint32_t off;
  std::memcpy(&off, pclntable_ + f.func_off + 44 + 4 * index, 4);
  return PCValue(f, off, pc);
}

uint64_t FuncTable::FuncData(const Func& f, int index) const {
  if (index >= f.nfuncdata) return 0;
  uint32_t off;
  std::memcpy(&off, pclntable_ + f.func_off + 44 + 4 * f.npcdata + 4 * index, 4);
  if (off == ~uint32_t{0}) return 0;
  return gofunc_ + off;
}

std::vector<FuncTable::Call> FuncTable::Calls(const Func& f, uint64_t pc) const {
  std::vector<Call> out;
  uint64_t tree = FuncData(f, kFuncdataInlTree);
  int32_t ix = tree ? PCData(f, kPcdataInlTreeIndex, pc) : -1;
  for (int depth = 0; depth < 1000; depth++) {
    Call c;
    std::tie(c.file, c.line) = FileLine(f, pc);
    if (ix < 0) {
      c.function = FuncName(f);
      out.push_back(std::move(c));
      break;
    }
    // inlinedCall{funcID u8, pad [3]u8, nameOff i32, parentPc i32, startLine i32}
    int32_t rec[4];
    if (!program_.mem().Read(tree + 16ull * ix, rec, 16)) break;
    int32_t name_off = rec[1];
    c.function = name_off >= 0 && uint64_t(name_off) < funcnametab_len_
                     ? std::string(reinterpret_cast<const char*>(funcnametab_ + name_off),
                                   strnlen(reinterpret_cast<const char*>(funcnametab_ + name_off),
                                           funcnametab_len_ - name_off))
                     : "?";
    out.push_back(std::move(c));
    pc = f.entry + static_cast<uint32_t>(rec[2]);
    ix = PCData(f, kPcdataInlTreeIndex, pc);
  }
  return out;
}

std::pair<std::string, int32_t> FuncTable::FileLine(const Func& f, uint64_t pc) const {
  int32_t fileno = PCValue(f, f.pcfile, pc);
  int32_t line = PCValue(f, f.pcln, pc);
  if (fileno < 0 || line < 0) return {"?", 0};
  uint64_t cu = uint64_t(f.cu_offset) + uint32_t(fileno);
  if (cu >= cutab_len_) return {"?", 0};
  uint32_t off;
  std::memcpy(&off, cutab_ + cu * 4, 4);
  if (off == ~uint32_t{0} || off >= filetab_len_) return {"?", 0};
  const char* s = reinterpret_cast<const char*>(filetab_ + off);
  return {std::string(s, strnlen(s, filetab_len_ - off)), line};
}

}  // namespace goretain::gocore
