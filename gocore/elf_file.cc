#include "gocore/elf_file.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/procfs.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

// RAII for libelf descriptors.
struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

absl::StatusOr<ElfPtr> BeginElf(const MappedFile& f, uint16_t want_type) {
  static const bool init = [] { return elf_version(EV_CURRENT) != EV_NONE; }();
  if (!init) return absl::InternalError("libelf: version mismatch");
  const std::string& name = f.path();
  if (f.size() < SELFMAG || std::memcmp(f.data(), ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not an ELF file"));
  }
  if (f.size() < sizeof(Elf64_Ehdr)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ELF header truncated"));
  }
  if (f.data()[EI_CLASS] != ELFCLASS64 || f.data()[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a 64-bit little-endian ELF file (only linux/amd64 is supported)"));
  }
  ElfPtr e(elf_memory(reinterpret_cast<char*>(const_cast<uint8_t*>(f.data())), f.size()));
  if (!e) return absl::InvalidArgumentError(absl::StrCat(name, ": ", elf_errmsg(-1)));
  GElf_Ehdr eh;
  if (gelf_getehdr(e.get(), &eh) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad ELF header: ", elf_errmsg(-1)));
  }
  if (eh.e_machine != EM_X86_64) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ELF machine ", eh.e_machine, " is not x86-64"));
  }
  auto type_name = [](uint16_t t) {
    switch (t) {
      case ET_CORE: return "a core";
      case ET_EXEC: return "an executable";
      case ET_DYN: return "a shared object or PIE executable";
      case ET_REL: return "a relocatable object";
      default: return "of unknown type";
    }
  };
  if (eh.e_phoff > f.size() || uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr) > f.size() - eh.e_phoff) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: program headers at offset 0x%x truncated (file has %d bytes)%s", name, eh.e_phoff,
        f.size(), eh.e_type == ET_CORE ? ": truncated core" : ""));
  }
  bool ok = want_type == ET_CORE ? eh.e_type == ET_CORE
                                 : (eh.e_type == ET_EXEC || eh.e_type == ET_DYN);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ELF file is ", type_name(eh.e_type), ", not ",
        want_type == ET_CORE ? "a core" : "an executable"));
  }
  return e;
}

std::vector<LoadSegment> LoadSegments(Elf* e, size_t file_size, uint64_t* truncated) {
  std::vector<LoadSegment> out;
  size_t n = 0;
  elf_getphdrnum(e, &n);
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
    LoadSegment s{ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags};
    if (s.filesz > s.memsz) s.filesz = s.memsz;
    if (s.offset >= file_size) {
      if (truncated) *truncated += s.filesz;
      s.filesz = 0;
      s.offset = 0;
    } else if (s.filesz > file_size - s.offset) {
      if (truncated) *truncated += s.offset + s.filesz - file_size;
      s.filesz = file_size - s.offset;
    }
    out.push_back(s);
  }
  return out;
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) absl::StrAppendFormat(&s, "%02x", p[i]);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoreFile>> CoreFile::Open(const std::string& path) {
  std::unique_ptr<CoreFile> core(new CoreFile);
  ASSIGN_OR_RETURN(core->file_, MappedFile::Open(path));
  ASSIGN_OR_RETURN(ElfPtr e, BeginElf(*core->file_, ET_CORE));
  const size_t size = core->file_->size();
  core->segments_ = LoadSegments(e.get(), size, &core->truncated_bytes_);

  size_t n = 0;
  elf_getphdrnum(e.get(), &n);
  bool saw_note = false;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(e.get(), static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_NOTE) continue;
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: PT_NOTE at offset 0x%x truncated (need %d bytes, have %d): truncated core", path,
          ph.p_offset, ph.p_filesz, ph.p_offset > size ? 0 : size - ph.p_offset));
    }
    saw_note = true;
    Elf_Data* d = elf_getdata_rawchunk(e.get(), ph.p_offset, ph.p_filesz, ELF_T_NHDR);
    if (d == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable PT_NOTE: ", elf_errmsg(-1)));
    }
    size_t off = 0, name_off, desc_off;
    GElf_Nhdr nh;
    while (off < d->d_size && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
      const uint8_t* desc = static_cast<const uint8_t*>(d->d_buf) + desc_off;
      const char* nm = static_cast<const char*>(d->d_buf) + name_off;
      bool core_note = nh.n_namesz >= 4 && std::strncmp(nm, "CORE", 4) == 0;
      if (!core_note) continue;
      switch (nh.n_type) {
        case NT_PRSTATUS: {
          if (nh.n_descsz < sizeof(elf_prstatus)) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "%s: NT_PRSTATUS note of %d bytes, need %d", path, nh.n_descsz,
                sizeof(elf_prstatus)));
          }
          elf_prstatus st;
          std::memcpy(&st, desc, sizeof st);
          CoreThread t;
          t.tid = st.pr_pid;
          t.cursig = st.pr_cursig;
          static_assert(sizeof(st.pr_reg) == sizeof(t.regs));
          std::memcpy(t.regs.data(), &st.pr_reg, sizeof t.regs);
          core->threads_.push_back(t);
          break;
        }
        case NT_PRPSINFO: {
          if (nh.n_descsz >= sizeof(elf_prpsinfo)) {
            elf_prpsinfo ps;
            std::memcpy(&ps, desc, sizeof ps);
            core->pid_ = ps.pr_pid;
            core->command_.assign(ps.pr_psargs, strnlen(ps.pr_psargs, sizeof ps.pr_psargs));
          }
          break;
        }
        case NT_AUXV: {
          for (size_t k = 0; k + 16 <= nh.n_descsz; k += 16) {
            uint64_t kv[2];
            std::memcpy(kv, desc + k, 16);
            if (kv[0] == AT_NULL) break;
            core->auxv_.emplace_back(kv[0], kv[1]);
          }
          break;
        }
        case NT_FILE: {
          if (nh.n_descsz < 16) break;
          uint64_t count, page;
          std::memcpy(&count, desc, 8);
          std::memcpy(&page, desc + 8, 8);
          if (count > nh.n_descsz / 24) {
            return absl::InvalidArgumentError(absl::StrCat(path, ": NT_FILE note is corrupt"));
          }
          const uint8_t* names = desc + 16 + count * 24;
          const uint8_t* end = desc + nh.n_descsz;
          for (uint64_t k = 0; k < count; k++) {
            uint64_t v[3];
            std::memcpy(v, desc + 16 + k * 24, 24);
            FileMapping m{v[0], v[1], v[2] * page, ""};
            size_t len = strnlen(reinterpret_cast<const char*>(names), end - names);
            m.path.assign(reinterpret_cast<const char*>(names), len);
            names += len + (names + len < end ? 1 : 0);
            core->mappings_.push_back(std::move(m));
          }
          break;
        }
        default:
          break;
      }
    }
  }
  if (!saw_note) return absl::InvalidArgumentError(absl::StrCat(path, ": core has no PT_NOTE"));
  if (core->threads_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": core has no NT_PRSTATUS (no threads)"));
  }
  if (core->pid_ == 0) core->pid_ = core->threads_[0].tid;
  return core;
}

uint64_t CoreFile::AuxValue(uint64_t type) const {
  for (const auto& [k, v] : auxv_) {
    if (k == type) return v;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<ExecutableFile>> ExecutableFile::Open(const std::string& path) {
  std::unique_ptr<ExecutableFile> exe(new ExecutableFile);
  ASSIGN_OR_RETURN(exe->file_, MappedFile::Open(path));
  ASSIGN_OR_RETURN(ElfPtr e, BeginElf(*exe->file_, ET_EXEC));
  GElf_Ehdr eh;
  gelf_getehdr(e.get(), &eh);
  exe->entry_ = eh.e_entry;
  exe->is_pie_ = eh.e_type == ET_DYN;
  exe->segments_ = LoadSegments(e.get(), exe->file_->size(), nullptr);
  size_t shstrndx = 0;
  elf_getshdrstrndx(e.get(), &shstrndx);
  for (Elf_Scn* scn = elf_nextscn(e.get(), nullptr); scn; scn = elf_nextscn(e.get(), scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    const char* nm = elf_strptr(e.get(), shstrndx, sh.sh_name);
    Section s{nm ? nm : "", sh.sh_addr, sh.sh_offset, sh.sh_size, sh.sh_type, sh.sh_flags};
    if (sh.sh_type == SHT_NOTE && sh.sh_offset <= exe->file_->size() &&
        sh.sh_size <= exe->file_->size() - sh.sh_offset) {
      Elf_Data* d = elf_getdata_rawchunk(e.get(), sh.sh_offset, sh.sh_size, ELF_T_NHDR);
      size_t off = 0, name_off, desc_off;
      GElf_Nhdr nh;
      while (d && off < d->d_size && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
        const char* nn = static_cast<const char*>(d->d_buf) + name_off;
        const uint8_t* desc = static_cast<const uint8_t*>(d->d_buf) + desc_off;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::strcmp(nn, "GNU") == 0) {
          exe->gnu_build_id_ = Hex(desc, nh.n_descsz);
        } else if (nh.n_type == 4 && nh.n_namesz == 3 && std::strcmp(nn, "Go") == 0) {
          exe->go_build_id_.assign(reinterpret_cast<const char*>(desc), nh.n_descsz);
        } else {
          continue;
        }
        if (exe->build_id_note_bytes_.empty() && (sh.sh_flags & SHF_ALLOC)) {
          exe->build_id_note_vaddr_ = sh.sh_addr;
          exe->build_id_note_bytes_.assign(
              reinterpret_cast<const char*>(exe->file_->data() + sh.sh_offset), sh.sh_size);
        }
      }
    }
    if (sh.sh_type == SHT_SYMTAB) {
      Elf_Data* d = elf_getdata(scn, nullptr);
      size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
      for (size_t k = 0; d && k < count; k++) {
        GElf_Sym sym;
        if (gelf_getsym(d, static_cast<int>(k), &sym) == nullptr) continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_OBJECT && type != STT_FUNC) continue;
        const char* sn = elf_strptr(e.get(), sh.sh_link, sym.st_name);
        if (sn && *sn) exe->symbols_.emplace(sn, Symbol{sym.st_value, sym.st_size});
      }
    }
    exe->sections_.push_back(std::move(s));
  }
  return exe;
}

std::optional<ExecutableFile::Symbol> ExecutableFile::FindSymbol(const std::string& name) const {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) return std::nullopt;
  return it->second;
}

const ExecutableFile::Section* ExecutableFile::FindSection(const std::string& name) const {
  for (const auto& s : sections_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace goretain::gocore
