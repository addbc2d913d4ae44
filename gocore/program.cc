#include "gocore/program.h"

#include <elf.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

const FileMapping* MappingOf(const CoreFile& core, uint64_t addr) {
  for (const auto& m : core.file_mappings()) {
    if (m.start <= addr && addr < m.end) return &m;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Program>> Program::Open(const std::string& core_path,
                                                       const OpenOptions& opts) {
  std::unique_ptr<Program> p(new Program);
  ASSIGN_OR_RETURN(p->core_, CoreFile::Open(core_path));
  const CoreFile& core = *p->core_;
  if (core.truncated_bytes() > 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated core: %d bytes of memory the headers describe are past the end of the "
        "file (%d bytes)", core_path, core.truncated_bytes(), core.file().size()));
  }
  const uint64_t at_entry = core.AuxValue(AT_ENTRY);
  const FileMapping* exe_map = at_entry ? MappingOf(core, at_entry) : nullptr;
  std::string core_exe = exe_map ? exe_map->path : "";

  std::string exe_path = opts.exe_path;
  if (exe_path.empty()) {
    if (core_exe.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          core_path, ": the core does not name its executable (no NT_FILE/AT_ENTRY); pass --exe"));
    }
    exe_path = core_exe;
  }
  auto exe = ExecutableFile::Open(exe_path);
  if (!exe.ok()) return exe.status();
  p->exe_ = std::move(*exe);

  auto bi = ParseBuildInfo(p->exe_->file().data(), p->exe_->file().size(), exe_path);
  if (!bi.ok()) {
    // Say whose fault it is: a Go core with a wrong --exe, or a core of a non-Go program.
    if (!core_exe.empty() && core_exe != exe_path && ::access(core_exe.c_str(), R_OK) == 0) {
      auto core_bi = ReadBuildInfo(core_exe);
      if (!core_bi.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(core_path, ": core of a non-Go program (", core_exe, ")"));
      }
    }
    if (core_exe == exe_path || opts.exe_path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(core_path, ": core of a non-Go program (", exe_path, ")"));
    }
    return bi.status();
  }
  p->build_info_ = *bi;
  auto gv = ParseGoVersion(bi->go_version);
  if (!gv.ok()) return gv.status();
  p->go_version_ = *gv;
  if (!p->go_version_.AtLeast(1, 22)) {
    return absl::FailedPreconditionError(absl::StrCat(
        exe_path, ": built with ", bi->go_version,
        "; goretain reads Go 1.22 and newer (older heaps have no allocation headers)"));
  }

  // PIE bias from the entry point the kernel reported.
  if (at_entry != 0) {
    uint64_t bias = at_entry - p->exe_->entry();
    if ((!p->exe_->is_pie() && bias != 0) || (bias & 0xfff) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "executable %s does not match the core %s (entry point 0x%x, the core ran 0x%x%s)",
          exe_path, core_path, p->exe_->entry(), at_entry,
          core_exe.empty() ? "" : absl::StrCat(" in ", core_exe)));
    }
    p->bias_ = bias;
  } else if (p->exe_->is_pie()) {
    return absl::InvalidArgumentError(
        absl::StrCat(core_path, ": core has no AT_ENTRY; cannot place the PIE executable"));
  }
  RETURN_IF_ERROR(p->BuildAddressSpace());
  ASSIGN_OR_RETURN(p->dwarf_, DwarfInfo::Load(*p->exe_));
  RETURN_IF_ERROR(p->CheckExecutableMatches());
  return p;
}

absl::Status Program::BuildAddressSpace() {
  const uint8_t* core_data = core_->file().data();
  const uint8_t* exe_data = exe_->file().data();
  // Lowest layer: the zero tails of core segments (memory the dumper chose not to write).
  for (const LoadSegment& s : core_->segments()) {
    if (s.memsz > s.filesz) {
      mem_.Add(s.vaddr + s.filesz, s.memsz - s.filesz, nullptr, AddressSpace::Source::kZero,
               (s.flags & PF_W) != 0);
    }
  }
  // Then the executable's own segments: text, rodata, pclntab, type data and initial data.
  for (const LoadSegment& s : exe_->segments()) {
    uint64_t va = s.vaddr + bias_;
    mem_.Add(va, s.filesz, exe_data + s.offset, AddressSpace::Source::kExecutable,
             (s.flags & PF_W) != 0);
    if (s.memsz > s.filesz) {
      mem_.Add(va + s.filesz, s.memsz - s.filesz, nullptr, AddressSpace::Source::kZero,
               (s.flags & PF_W) != 0);
    }
  }
  // On top: what the core holds.
  for (const LoadSegment& s : core_->segments()) {
    if (s.filesz > 0) {
      mem_.Add(s.vaddr, s.filesz, core_data + s.offset, AddressSpace::Source::kCore,
               (s.flags & PF_W) != 0);
    }
  }
  return absl::OkStatus();
}

absl::Status Program::CheckExecutableMatches() {
  auto mismatch = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("executable ", exe_->path(),
                                                   " does not match the core ", core_->path(),
                                                   " (", why, ")"));
  };
  // 1. The build-id note, when the core kept the first page of the executable.
  if (!exe_->build_id_note_bytes().empty()) {
    uint64_t va = exe_->build_id_note_vaddr() + bias_;
    if (mem_.SourceOf(va) == AddressSpace::Source::kCore) {
      auto bytes = mem_.ReadBytes(va, exe_->build_id_note_bytes().size());
      if (bytes && *bytes != exe_->build_id_note_bytes()) return mismatch("build id differs");
    }
  }
  // 2. The module data: lengths of the pclntab tables are fixed at link time, and the core holds
  // the writable data segment that contains runtime.firstmoduledata.
  auto md_or = GlobalAddress("runtime.firstmoduledata");
  if (!md_or.ok()) return mismatch("no runtime.firstmoduledata");
  uint64_t md_addr = *md_or;
  uint64_t md_link = md_addr - bias_;
  if (mem_.SourceOf(md_addr) != AddressSpace::Source::kCore) return absl::OkStatus();
  for (const char* field : {"funcnametab.len", "filetab.len", "pctab.len", "pclntable.len",
                            "ftab.len"}) {
    ASSIGN_OR_RETURN(auto f, dwarf_->FieldPath("runtime.moduledata", field));
    auto in_core = mem_.ReadU64(md_addr + f.offset);
    // The executable's own bytes for the same address.
    uint64_t in_exe = 0;
    bool have_exe = false;
    for (const LoadSegment& s : exe_->segments()) {
      uint64_t link = md_link + f.offset;
      if (s.vaddr <= link && link + 8 <= s.vaddr + s.filesz) {
        std::memcpy(&in_exe, exe_->file().data() + s.offset + (link - s.vaddr), 8);
        have_exe = true;
      }
    }
    if (in_core && have_exe && *in_core != in_exe) {
      return mismatch(absl::StrCat("moduledata.", field, " is ", *in_core, " in the core, ",
                                   in_exe, " in the executable"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Program::GlobalAddress(const std::string& name) const {
  if (const auto* g = dwarf_->GlobalByName(name)) return g->addr + bias_;
  // Linker-made globals (runtime.firstmoduledata) have no DWARF entry.
  if (auto s = exe_->FindSymbol(name)) return s->value + bias_;
  return absl::NotFoundError(absl::StrCat("no global ", name, " in DWARF or the symbol table"));
}

absl::StatusOr<int64_t> Program::Constant(const std::string& name, const std::string& alt) const {
  if (auto v = dwarf_->Constant(name)) return *v;
  if (!alt.empty()) {
    if (auto v = dwarf_->Constant(alt)) return *v;
  }
  return absl::NotFoundError(absl::StrCat("DWARF: no constant ", name,
                                          alt.empty() ? "" : absl::StrCat(" or ", alt)));
}

}  // namespace goretain::gocore
