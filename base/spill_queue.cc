#include "base/spill_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace goretain {

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SpillFile::Append(const std::string& dir, const void* data, size_t size) {
  if (fd_ < 0) {
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {  // file systems without O_TMPFILE: create, then unlink at once
      std::string path = dir + "/goretain-spill-XXXXXX";
      fd_ = ::mkstemp(path.data());
      if (fd_ >= 0) ::unlink(path.c_str());
    }
    if (fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot create a temporary file in ", dir, ": ", std::strerror(errno)));
    }
  }
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::pwrite(fd_, p + done, size - done, static_cast<off_t>(write_off_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot write the temporary file in ", dir, ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  write_off_ += size;
  total_written_ += size;
  return absl::OkStatus();
}

absl::Status SpillFile::ReadFront(void* data, size_t size) {
  if (size > pending_bytes()) return absl::InternalError("spill file: read past its end");
  char* p = static_cast<char*>(data);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(read_off_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the temporary file back: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  // Give the consumed range back (its disk blocks and page cache); once everything written has
  // been read, start the file over.
  ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(read_off_),
              static_cast<off_t>(size));
  read_off_ += size;
  if (read_off_ == write_off_) {
    read_off_ = write_off_ = 0;
    if (::ftruncate(fd_, 0) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot truncate the temporary file: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace goretain
