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
#ifndef GORETAIN_BASE_LARGE_PAGES_H_
#define GORETAIN_BASE_LARGE_PAGES_H_

#include <cstddef>

namespace goretain {

inline constexpr size_t kLargeAllocation = size_t{4} << 20;

// Advises transparent huge pages for the 2 MiB-aligned pages inside [p, p + n).
void AdviseLargePages(void* p, size_t n);

}  // namespace goretain

#endif  // GORETAIN_BASE_LARGE_PAGES_H_
