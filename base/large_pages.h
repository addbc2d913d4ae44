// Large allocations on transparent huge pages.
//
// An analysis allocates a few dozen arrays of one entry per heap object or edge (gigabytes on a
// 40-million-object heap) and fills each once. On 4 KiB pages every fresh page costs a fault
// (and, in a virtual machine whose memory was handed back to the host, a host fault too);
// a 2 MiB page costs one fault for 512 of them. Debian's kernels default transparent huge pages to
// `madvise`, so a program only gets them where it asks.
//
// Linking base/large_pages.cc into a program replaces its global `operator new(size_t)`: it
// allocates with malloc, as the default does (so the default operator delete frees it), and
// advises huge pages on the 2 MiB-aligned part of every allocation of kLargeAllocation bytes or
// more, before its pages are touched. Nothing else changes: where THP is off (`never`), the
// advice is refused and ignored.
//
// It also replaces `operator delete`: a freed block of kLargeAllocation bytes or more is kept
// rather than handed back, and the next large allocation that it fits (at most a quarter
// larger) takes it — its pages are already there, where a fresh block would cost the kernel a
// fault and a clear per page (a fifth of an analysis's cycles at 41 M objects: its arrays come
// and go phase by phase, 5.1 GB allocated for a 2.6 GB peak). A large allocation that no kept
// block fits first frees kept blocks of at least its size, largest first, so that a miss does
// not grow the program by more than keeping nothing would have.
#ifndef GORETAIN_BASE_LARGE_PAGES_H_
#define GORETAIN_BASE_LARGE_PAGES_H_

#include <cstddef>

namespace goretain {

inline constexpr size_t kLargeAllocation = size_t{4} << 20;

// Advises transparent huge pages for the 2 MiB-aligned pages inside [p, p + n).
void AdviseLargePages(void* p, size_t n);

// Gives back to the system the freed large blocks operator delete kept (see above); for a
// program that goes on running after its large allocations are done.
void ReleaseFreedLargeBlocks();
// Bytes of the freed large blocks kept now.
size_t FreedLargeBlockBytes();

}  // namespace goretain

#endif  // GORETAIN_BASE_LARGE_PAGES_H_
