#include "gocore/buildinfo.h"

#include <elf.h>

#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr char kMagic[] = "\xff Go buildinf:";
constexpr size_t kMagicLen = 14;
constexpr size_t kHeaderLen = 32;

bool ReadUvarint(const uint8_t*& p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = *p++;
    v |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Finds the build info blob: the `.go.buildinfo` section if section headers exist, else the first
// 16-byte-aligned magic in a writable PT_LOAD (stripped or section-less files).
absl::StatusOr<std::pair<size_t, size_t>> FindBlob(const uint8_t* data, size_t size,
                                                    const std::string& name) {
  if (size < sizeof(Elf64_Ehdr) || std::memcmp(data, ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not an ELF file"));
  }
  if (data[EI_CLASS] != ELFCLASS64 || data[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a 64-bit little-endian ELF file (only linux/amd64 is supported)"));
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, data, sizeof eh);
  // Section headers first.
  // Every range check below is written so that it cannot overflow: fields come from the file.
  if (eh.e_shoff != 0 && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shstrndx < eh.e_shnum &&
      eh.e_shoff <= size && uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr) <= size - eh.e_shoff) {
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    std::memcpy(sh.data(), data + eh.e_shoff, eh.e_shnum * sizeof(Elf64_Shdr));
    const Elf64_Shdr& strs = sh[eh.e_shstrndx];
    for (const Elf64_Shdr& s : sh) {
      if (strs.sh_offset >= size || s.sh_name >= size - strs.sh_offset) continue;
      const char* sn = reinterpret_cast<const char*>(data + strs.sh_offset + s.sh_name);
      size_t maxlen = size - (strs.sh_offset + s.sh_name);
      if (strnlen(sn, maxlen) == maxlen) continue;
      if (std::strcmp(sn, ".go.buildinfo") == 0 && s.sh_type != SHT_NOBITS &&
          s.sh_offset <= size && s.sh_size <= size - s.sh_offset) {
        return std::make_pair(size_t(s.sh_offset), size_t(s.sh_size));
      }
    }
  }
  if (eh.e_phoff != 0 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phoff <= size &&
      uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr) <= size - eh.e_phoff) {
    for (int i = 0; i < eh.e_phnum; i++) {
      Elf64_Phdr ph;
      std::memcpy(&ph, data + eh.e_phoff + i * sizeof ph, sizeof ph);
      if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0) continue;
      if (ph.p_offset > size) continue;
      size_t end = ph.p_filesz > size - ph.p_offset ? size : ph.p_offset + ph.p_filesz;
      for (size_t off = (ph.p_offset + 15) & ~size_t{15}; off + kHeaderLen <= end; off += 16) {
        if (std::memcmp(data + off, kMagic, kMagicLen) == 0) {
          return std::make_pair(off, end - off);
        }
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": no Go build information (.go.buildinfo): not a Go program"));
}

}  // namespace

absl::StatusOr<BuildInfo> ParseBuildInfo(const uint8_t* data, size_t size,
                                         const std::string& name) {
  ASSIGN_OR_RETURN(auto blob, FindBlob(data, size, name));
  const uint8_t* p = data + blob.first;
  const uint8_t* end = p + blob.second;
  if (blob.second < kHeaderLen || std::memcmp(p, kMagic, kMagicLen) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": .go.buildinfo has a bad magic number"));
  }
  BuildInfo bi;
  bi.ptr_size = p[14];
  uint8_t flags = p[15];
  if ((flags & 2) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": Go build information in the pre-1.18 format; Go 1.22 or newer is needed"));
  }
  p += kHeaderLen;
  uint64_t n;
  if (!ReadUvarint(p, end, &n) || n > uint64_t(end - p)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": .go.buildinfo version string truncated"));
  }
  bi.go_version.assign(reinterpret_cast<const char*>(p), n);
  p += n;
  if (ReadUvarint(p, end, &n) && n <= uint64_t(end - p)) {
    std::string mod(reinterpret_cast<const char*>(p), n);
    // Module info is framed by 16-byte sentinels.
    if (mod.size() >= 33 && mod[mod.size() - 17] == '\n') mod = mod.substr(16, mod.size() - 32);
    bi.module_info = mod;
    for (absl::string_view line : absl::StrSplit(bi.module_info, '\n')) {
      if (absl::StartsWith(line, "path\t")) bi.main_path = std::string(line.substr(5));
    }
  }
  return bi;
}

absl::StatusOr<BuildInfo> ReadBuildInfo(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseBuildInfo(file->data(), file->size(), path);
}

bool GoVersion::HasExperiment(const std::string& name) const {
  for (absl::string_view e : absl::StrSplit(experiments, ',')) {
    if (e == name) return true;
  }
  return false;
}

absl::StatusOr<GoVersion> ParseGoVersion(const std::string& version) {
  GoVersion v;
  absl::string_view s = version;
  if (!absl::ConsumePrefix(&s, "go")) {
    return absl::InvalidArgumentError(absl::StrCat("unrecognised Go version \"", version, "\""));
  }
  absl::string_view rest;
  size_t sp = s.find(' ');
  if (sp != absl::string_view::npos) {
    rest = s.substr(sp + 1);
    s = s.substr(0, sp);
  }
  // Strip pre-release suffixes (rc1, beta2).
  size_t cut = s.find_first_not_of("0123456789.");
  absl::string_view nums = s.substr(0, cut);
  std::vector<absl::string_view> parts = absl::StrSplit(nums, '.');
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &v.major) ||
      !absl::SimpleAtoi(parts[1], &v.minor) ||
      (parts.size() > 2 && !absl::SimpleAtoi(parts[2], &v.patch))) {
    return absl::InvalidArgumentError(absl::StrCat("unrecognised Go version \"", version, "\""));
  }
  // Experiments: " X:a,b" (<= 1.25) or "-X:a,b" attached (1.26); both end up in `rest` or `s`.
  for (absl::string_view field : absl::StrSplit(rest, ' ', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&field, "X:")) v.experiments = std::string(field);
  }
  size_t x = version.find("X:");
  if (v.experiments.empty() && x != std::string::npos) {
    v.experiments = version.substr(x + 2);
    size_t e = v.experiments.find(' ');
    if (e != std::string::npos) v.experiments.resize(e);
  }
  return v;
}

}  // namespace goretain::gocore
