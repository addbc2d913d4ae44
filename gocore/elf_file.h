// ELF files as gocore needs them: cores (program headers and notes) and Go executables
// (segments, sections, build ids). Parsed with libelf over a read-only mapping.
#ifndef GORETAIN_GOCORE_ELF_FILE_H_
#define GORETAIN_GOCORE_ELF_FILE_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/mapped_file.h"

namespace goretain::gocore {

// A loadable segment: [vaddr, vaddr+memsz) of which the first filesz bytes come from the file at
// `offset`; the rest reads as zeros.
struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
};

// A thread of the core (NT_PRSTATUS): id and general registers.
struct CoreThread {
  pid_t tid = 0;
  int cursig = 0;
  // user_regs_struct order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax
  // rip cs eflags rsp ss fs_base gs_base ds es fs gs.
  std::array<uint64_t, 27> regs{};
  uint64_t rip() const { return regs[16]; }
  uint64_t rsp() const { return regs[19]; }
  uint64_t rbp() const { return regs[4]; }
  uint64_t r14() const { return regs[1]; }  // the current g on amd64 Go ABIInternal
  uint64_t fs_base() const { return regs[21]; }
};

// A file mapping recorded by the kernel/gcore in NT_FILE.
struct FileMapping {
  uint64_t start = 0, end = 0, file_offset = 0;  // file_offset in bytes
  std::string path;
};

// An ELF core file. Owns its mapping; immutable after Open, thread-compatible.
class CoreFile {
 public:
  // Fails with InvalidArgument on anything that is not a usable x86-64 ELF core; the message
  // names the problem ("not an ELF file", "ELF file is an executable, not a core", "PT_NOTE at
  // offset 0x… truncated"). A core whose PT_LOAD data lies past the end of the file (truncated
  // core) opens; the missing part is counted in truncated_bytes() and reads as absent.
  static absl::StatusOr<std::unique_ptr<CoreFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const MappedFile& file() const { return *file_; }
  const std::vector<LoadSegment>& segments() const { return segments_; }
  const std::vector<CoreThread>& threads() const { return threads_; }
  const std::vector<FileMapping>& file_mappings() const { return mappings_; }
  const std::vector<std::pair<uint64_t, uint64_t>>& auxv() const { return auxv_; }
  uint64_t AuxValue(uint64_t type) const;  // 0 when absent
  pid_t pid() const { return pid_; }
  const std::string& command() const { return command_; }  // NT_PRPSINFO pr_psargs
  uint64_t truncated_bytes() const { return truncated_bytes_; }

 private:
  CoreFile() = default;
  std::unique_ptr<MappedFile> file_;
  std::vector<LoadSegment> segments_;
  std::vector<CoreThread> threads_;
  std::vector<FileMapping> mappings_;
  std::vector<std::pair<uint64_t, uint64_t>> auxv_;
  pid_t pid_ = 0;
  std::string command_;
  uint64_t truncated_bytes_ = 0;
};

// An ELF executable (or shared object). Owns its mapping.
class ExecutableFile {
 public:
  struct Section {
    std::string name;
    uint64_t addr = 0, offset = 0, size = 0;
    uint32_t type = 0;
    uint64_t flags = 0;
  };

  // Fails with InvalidArgument when the file is not an x86-64 ELF executable.
  static absl::StatusOr<std::unique_ptr<ExecutableFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const MappedFile& file() const { return *file_; }
  uint64_t entry() const { return entry_; }
  bool is_pie() const { return is_pie_; }  // ET_DYN
  const std::vector<LoadSegment>& segments() const { return segments_; }
  const std::vector<Section>& sections() const { return sections_; }
  const Section* FindSection(const std::string& name) const;
  struct Symbol {
    uint64_t value = 0, size = 0;
  };
  // Link-time address of a .symtab symbol (data and functions), if the file has one.
  std::optional<Symbol> FindSymbol(const std::string& name) const;
  const std::string& gnu_build_id() const { return gnu_build_id_; }  // hex, "" if none
  const std::string& go_build_id() const { return go_build_id_; }    // "" if none
  // Raw bytes of the first note segment/section holding the Go or GNU build id, with the
  // virtual address where it is loaded (before PIE bias): used to check a core matches.
  uint64_t build_id_note_vaddr() const { return build_id_note_vaddr_; }
  const std::string& build_id_note_bytes() const { return build_id_note_bytes_; }

 private:
  ExecutableFile() = default;
  std::unique_ptr<MappedFile> file_;
  uint64_t entry_ = 0;
  bool is_pie_ = false;
  std::vector<LoadSegment> segments_;
  std::vector<Section> sections_;
  std::string gnu_build_id_, go_build_id_;
  absl::flat_hash_map<std::string, Symbol> symbols_;
  uint64_t build_id_note_vaddr_ = 0;
  std::string build_id_note_bytes_;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_ELF_FILE_H_
