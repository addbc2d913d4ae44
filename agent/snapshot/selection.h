// Which mappings, and which of their pages, go into the core: the kernel's own
// core dumper rules with coredump_filter 0x33 (gdb's gcore uses the same),
// except that read-only file contents are left to the files named in NT_FILE.
#ifndef GORETAIN_AGENT_SNAPSHOT_SELECTION_H_
#define GORETAIN_AGENT_SNAPSHOT_SELECTION_H_

#include "agent/snapshot/procfs.h"

namespace goretain::agent::snapshot {

enum class MappingClass {
  kSkip,       // unreadable (PROT_NONE reservations), [vvar], [vsyscall],
               // VM_DONTDUMP, VM_IO, shared file mappings (the file holds them)
  kAnonymous,  // private anonymous memory (heap arenas, stacks, bss) and shared
               // memory (shmem, memfd): the pages present or swapped
  kWhole,      // [vdso]: small, and debuggers unwind signal frames through it
  kFilePrivate,  // private file mapping: whole if it holds copy-on-write pages
                 // (.data, relocated .data.rel.ro), else only its first page if
                 // it is an ELF header, else nothing
};

MappingClass Classify(const Mapping& m);

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_SELECTION_H_
