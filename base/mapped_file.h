// A read-only memory mapping of a whole file (RAII).
#ifndef GORETAIN_BASE_MAPPED_FILE_H_
#define GORETAIN_BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace goretain {

// Owns a private read-only mapping of a file and its descriptor. Not copyable; thread-safe for
// concurrent reads. The mapping stays valid for the object's lifetime even if the file is
// truncated on disk (reads past the new end would SIGBUS, so callers bound reads by size(),
// which is the size at open time).
class MappedFile {
 public:
  // Fails with NotFound / PermissionDenied / InvalidArgument (not a regular file) naming the path.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Drops this process's resident pages of the mapping (they stay in the page cache): RSS falls
  // by what had been read, and a later read faults the page back in with the same bytes.
  void ReleaseResidentPages() const;
  // Same for the pages of [from, to) (clamped to the mapping, widened to whole pages).
  void ReleaseResidentPages(const uint8_t* from, const uint8_t* to) const;

 private:
  MappedFile(std::string path, int fd, const uint8_t* data, size_t size)
      : path_(std::move(path)), fd_(fd), data_(data), size_(size) {}
  std::string path_;
  int fd_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace goretain

#endif  // GORETAIN_BASE_MAPPED_FILE_H_
