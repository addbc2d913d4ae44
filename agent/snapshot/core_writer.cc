#include "agent/snapshot/core_writer.h"

#include <elf.h>
#include <sys/procfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace goretain::agent::snapshot {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxWrite = 8 << 20;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

void AppendNote(std::string* out, uint32_t type, const char* name,
                const void* desc, size_t desc_size) {
  Elf64_Nhdr h{};
  h.n_namesz = static_cast<Elf64_Word>(strlen(name) + 1);
  h.n_descsz = static_cast<Elf64_Word>(desc_size);
  h.n_type = type;
  out->append(reinterpret_cast<const char*>(&h), sizeof h);
  out->append(name, h.n_namesz);
  out->append(AlignUp(h.n_namesz, 4) - h.n_namesz, '\0');
  out->append(static_cast<const char*>(desc), desc_size);
  out->append(AlignUp(desc_size, 4) - desc_size, '\0');
}

timeval TicksToTimeval(uint64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ticks / hz);
  tv.tv_usec = static_cast<suseconds_t>((ticks % hz) * 1'000'000 / hz);
  return tv;
}

bool IsZeroPage(const uint8_t* p) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < kPage / 8; i += 8) {
    if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
        w[i + 7]) {
      return false;
    }
  }
  return true;
}

absl::Status WriteAll(int fd, const void* data, uint64_t size, uint64_t offset,
                      const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n =
        pwrite(fd, p, std::min(size, kMaxWrite), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      std::string msg = absl::StrCat("writing ", path, ": ", strerror(err));
      if (err == ENOSPC || err == EDQUOT || err == EFBIG)
        return absl::ResourceExhaustedError(msg);
      return absl::InternalError(msg);
    }
    p += n;
    size -= n;
    offset += n;
  }
  return absl::OkStatus();
}

uint32_t SegmentFlags(const Mapping& m) {
  return (m.readable ? PF_R : 0) | (m.writable ? PF_W : 0) |
         (m.executable ? PF_X : 0);
}

// Has a file the kernel would name in NT_FILE (any vm_file, shmem included).
bool InFileNote(const Mapping& m) {
  return m.inode != 0 && !m.path.empty() && m.path[0] == '/';
}

}  // namespace

std::string BuildNotes(const ProcessImage& image) {
  const ProcessInfo& p = image.process;
  std::string notes;

  elf_prpsinfo ps{};
  static constexpr char kStates[] = "RSDTZW";
  char state = p.stat.state == 't' ? 'T' : p.stat.state;
  const char* at = strchr(kStates, state);
  ps.pr_state =
      static_cast<char>(at != nullptr && state != '\0' ? at - kStates : 0);
  ps.pr_sname = ps.pr_state < 6 ? kStates[static_cast<int>(ps.pr_state)] : '.';
  ps.pr_zomb = state == 'Z';
  ps.pr_nice = static_cast<char>(p.stat.nice);
  ps.pr_flag = p.stat.flags;
  ps.pr_uid = p.status.uid;
  ps.pr_gid = p.status.gid;
  ps.pr_pid = p.pid;
  ps.pr_ppid = p.stat.ppid;
  ps.pr_pgrp = p.stat.pgrp;
  ps.pr_sid = p.stat.sid;
  strncpy(ps.pr_fname, p.stat.comm.c_str(), sizeof ps.pr_fname - 1);
  std::string args = p.cmdline;
  while (!args.empty() && args.back() == '\0') args.pop_back();
  std::replace(args.begin(), args.end(), '\0', ' ');
  strncpy(ps.pr_psargs, args.c_str(), sizeof ps.pr_psargs - 1);
  AppendNote(&notes, NT_PRPSINFO, "CORE", &ps, sizeof ps);

  for (const ThreadState& t : image.threads) {
    elf_prstatus st{};
    st.pr_sigpend = t.sig_pending;
    st.pr_sighold = t.sig_blocked;
    st.pr_pid = t.tid;
    st.pr_ppid = p.stat.ppid;
    st.pr_pgrp = p.stat.pgrp;
    st.pr_sid = p.stat.sid;
    st.pr_utime = TicksToTimeval(t.utime_ticks);
    st.pr_stime = TicksToTimeval(t.stime_ticks);
    static_assert(sizeof st.pr_reg == sizeof t.regs,
                  "elf_gregset_t is user_regs_struct");
    memcpy(&st.pr_reg, &t.regs, sizeof t.regs);
    st.pr_fpvalid = t.fpregs_valid ? 1 : 0;
    AppendNote(&notes, NT_PRSTATUS, "CORE", &st, sizeof st);
    if (t.fpregs_valid)
      AppendNote(&notes, NT_PRFPREG, "CORE", &t.fpregs, sizeof t.fpregs);
    if (!t.xstate.empty()) {
      AppendNote(&notes, NT_X86_XSTATE, "LINUX", t.xstate.data(),
                 t.xstate.size());
    }
  }

  if (!p.auxv.empty())
    AppendNote(&notes, NT_AUXV, "CORE", p.auxv.data(), p.auxv.size());

  // NT_FILE: count, page size, (start, end, offset in pages) per file mapping,
  // then the names.
  std::vector<uint64_t> words;
  std::string names;
  uint64_t count = 0;
  for (const Segment& s : image.segments) {
    if (!InFileNote(s.mapping)) continue;
    ++count;
    words.insert(words.end(),
                 {s.mapping.start, s.mapping.end, s.mapping.offset / kPage});
    names.append(s.mapping.path);
    names.push_back('\0');
  }
  std::string file_note;
  uint64_t header[2] = {count, kPage};
  file_note.append(reinterpret_cast<const char*>(header), sizeof header);
  file_note.append(reinterpret_cast<const char*>(words.data()),
                   words.size() * sizeof(uint64_t));
  file_note.append(names);
  AppendNote(&notes, NT_FILE, "CORE", file_note.data(), file_note.size());
  return notes;
}

absl::StatusOr<CoreWriteStats> WriteCore(const ProcessImage& image, int fd,
                                         const std::string& path) {
  const size_t nsegs = image.segments.size();
  const uint64_t phnum = nsegs + 1;  // PT_NOTE first
  // More headers than e_phnum holds: count in shdr[0].
  const bool extended = phnum >= PN_XNUM;
  std::string notes = BuildNotes(image);

  uint64_t offset = sizeof(Elf64_Ehdr);
  const uint64_t phoff = offset;
  offset += phnum * sizeof(Elf64_Phdr);
  const uint64_t shoff = extended ? offset : 0;
  if (extended) offset += sizeof(Elf64_Shdr);
  const uint64_t notes_off = offset;
  offset = AlignUp(offset + notes.size(), kPage);

  std::vector<Elf64_Phdr> ph(phnum);
  ph[0].p_type = PT_NOTE;
  ph[0].p_offset = notes_off;
  ph[0].p_filesz = notes.size();
  ph[0].p_align = 4;
  for (size_t i = 0; i < nsegs; ++i) {
    const Segment& s = image.segments[i];
    Elf64_Phdr& h = ph[i + 1];
    h.p_type = PT_LOAD;
    h.p_flags = SegmentFlags(s.mapping);
    h.p_offset = offset;
    h.p_vaddr = s.mapping.start;
    h.p_memsz = s.mapping.size();
    h.p_filesz = s.dump_size;
    h.p_align = kPage;
    offset += AlignUp(s.dump_size, kPage);
  }
  const uint64_t file_size = offset;

  Elf64_Ehdr eh{};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = phoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = extended ? PN_XNUM : static_cast<Elf64_Half>(phnum);
  if (extended) {
    eh.e_shoff = shoff;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 1;
  }

  if (ftruncate(fd, static_cast<off_t>(file_size)) != 0) {
    int err = errno;
    std::string msg = absl::StrCat("sizing ", path, " to ", file_size,
                                   " bytes: ", strerror(err));
    if (err == ENOSPC || err == EFBIG || err == EDQUOT)
      return absl::ResourceExhaustedError(msg);
    return absl::InternalError(msg);
  }
  RETURN_IF_ERROR(WriteAll(fd, &eh, sizeof eh, 0, path));
  RETURN_IF_ERROR(
      WriteAll(fd, ph.data(), ph.size() * sizeof(Elf64_Phdr), phoff, path));
  if (extended) {
    Elf64_Shdr sh{};
    sh.sh_info = static_cast<Elf64_Word>(phnum);
    RETURN_IF_ERROR(WriteAll(fd, &sh, sizeof sh, shoff, path));
  }
  RETURN_IF_ERROR(WriteAll(fd, notes.data(), notes.size(), notes_off, path));

  CoreWriteStats stats;
  stats.file_size = file_size;
  for (size_t i = 0; i < nsegs; ++i) {
    const Segment& s = image.segments[i];
    const uint64_t seg_off = ph[i + 1].p_offset;
    const uint64_t dump_end = s.mapping.start + s.dump_size;
    for (const Region& r : s.regions) {
      // Regions are page aligned; write the spans of non-zero pages, leave zero
      // pages as holes.
      uint64_t end = std::min(r.addr + r.size, dump_end);
      uint64_t span_start = 0, span_len = 0;
      auto flush = [&]() -> absl::Status {
        if (span_len == 0) return absl::OkStatus();
        absl::Status st =
            WriteAll(fd, r.data + (span_start - r.addr), span_len,
                     seg_off + (span_start - s.mapping.start), path);
        stats.data_bytes += span_len;
        span_len = 0;
        return st;
      };
      for (uint64_t a = r.addr; a < end; a += kPage) {
        uint64_t len = std::min(kPage, end - a);
        if (len == kPage && IsZeroPage(r.data + (a - r.addr))) {
          stats.zero_pages_skipped++;
          RETURN_IF_ERROR(flush());
          continue;
        }
        if (span_len == 0) span_start = a;
        span_len += len;
        if (span_len >= kMaxWrite) RETURN_IF_ERROR(flush());
      }
      RETURN_IF_ERROR(flush());
    }
  }
  return stats;
}

}  // namespace goretain::agent::snapshot
