// Data and bss roots: the pointer words of each module's gcdatamask/gcbssmask, grouped by the
// DWARF global that covers them.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "gocore/internal/roots_internal.h"

namespace goretain::gocore::internal {

absl::Status CollectGlobalRoots(const Program& p, std::vector<Root>* out, DamageCounters* damage) {
  const DwarfInfo& d = p.dwarf();
  const AddressSpace& mem = p.mem();
  ASSIGN_OR_RETURN(uint64_t md, p.GlobalAddress("runtime.firstmoduledata"));
  auto field = [&](const std::string& f) -> absl::StatusOr<uint64_t> {
    ASSIGN_OR_RETURN(auto r, d.FieldPath("runtime.moduledata", f));
    auto v = mem.ReadU64(md + r.offset);
    if (!v) return absl::DataLossError("runtime.firstmoduledata." + f + " unreadable");
    return *v;
  };
  // DWARF globals sorted by runtime address, with sizes.
  struct G {
    uint64_t addr, size;
    const DwarfInfo::Global* g;
  };
  std::vector<G> globals;
  for (const auto& g : d.globals()) {
    uint64_t size = g.type ? d.TypeSize(g.type).value_or(0) : 0;
    if (size > 0) globals.push_back({g.addr + p.bias(), size, &g});
  }
  std::sort(globals.begin(), globals.end(), [](const G& a, const G& b) { return a.addr < b.addr; });

  for (const char* section : {"data", "bss"}) {
    ASSIGN_OR_RETURN(uint64_t start, field(section));
    ASSIGN_OR_RETURN(uint64_t end, field(std::string("e") + section));
    std::string mask_field = std::string("gc") + section + "mask";
    ASSIGN_OR_RETURN(uint64_t nbits, field(mask_field + ".n"));
    ASSIGN_OR_RETURN(uint64_t bytedata, field(mask_field + ".bytedata"));
    nbits &= 0xffffffff;  // bitvector.n is an int32
    if (nbits > (end - start) / 8) {
      (*damage)["bad_module_mask"]++;
      nbits = (end - start) / 8;
    }
    std::vector<uint8_t> bits;
    if (!ReadBitmap(mem, bytedata, nbits, &bits)) {
      return absl::DataLossError(absl::StrFormat("%s pointer mask unreadable", section));
    }
    constexpr size_t kNone = ~size_t{0};
    size_t gi = 0;
    size_t named = kNone, unnamed = kNone;  // indexes in *out of the roots being filled
    const G* named_g = nullptr;
    for (uint64_t w = 0; w < nbits; w++) {
      if (((bits[w / 8] >> (w % 8)) & 1) == 0) continue;
      uint64_t a = start + w * 8;
      auto v = mem.ReadU64(a);
      if (!v) {
        (*damage)["unreadable_global"]++;
        continue;
      }
      while (gi < globals.size() && globals[gi].addr + globals[gi].size <= a) gi++;
      const G* g = gi < globals.size() && globals[gi].addr <= a ? &globals[gi] : nullptr;
      if (*v == 0) continue;
      if (g != nullptr) {
        if (g != named_g) {
          out->push_back({RootKind::kGlobal, g->g->name, g->addr, g->size, g->g->type});
          named = out->size() - 1;
          named_g = g;
          unnamed = kNone;
        }
        (*out)[named].pointers.emplace_back(static_cast<uint32_t>(a - g->addr), *v);
      } else {
        // Uncovered words between two named globals form one root, named by its section
        // offset (stable for a build, unlike addresses under PIE).
        if (unnamed == kNone) {
          out->push_back({RootKind::kUnnamedGlobal,
                          absl::StrFormat("%s+0x%x", section, a - start), a, 0, 0});
          unnamed = out->size() - 1;
          named_g = nullptr;
        }
        Root& r = (*out)[unnamed];
        r.pointers.emplace_back(static_cast<uint32_t>(a - r.addr), *v);
        r.size = a + 8 - r.addr;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace goretain::gocore::internal
