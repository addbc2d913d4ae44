// libFuzzer target: core and executable parsing (ELF headers, program headers, notes, sections,
// symbols) on arbitrary bytes, through a memfd so the real open/mmap path is used.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "gocore/elf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (auto core = goretain::gocore::CoreFile::Open(path); core.ok()) {
    for (const auto& s : (*core)->segments()) (void)s;
    (void)(*core)->AuxValue(9);
  }
  if (auto exe = goretain::gocore::ExecutableFile::Open(path); exe.ok()) {
    (void)(*exe)->FindSymbol("runtime.firstmoduledata");
    (void)(*exe)->FindSection(".go.buildinfo");
  }
  close(fd);
  return 0;
}
