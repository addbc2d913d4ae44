#include "agent/snapshot/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"

namespace goretain::agent::snapshot {
namespace {

absl::Status FileError(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM || err == EROFS)
    return absl::PermissionDeniedError(msg);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd()), absl::Hex(rd()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Create(
    const std::string& path) {
  std::filesystem::path p(path);
  if (p.filename().empty())
    return absl::InvalidArgumentError("output path names a directory: " + path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  ScopedFd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.valid()) {
    return std::unique_ptr<OutputFile>(
        new OutputFile(path, dir, std::move(fd), ""));
  }
  int err = errno;
  if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
    return FileError(err, "cannot create a file in " + dir);
  }
  // No O_TMPFILE on this filesystem: a hidden name next to the target.
  std::string temp = absl::StrCat(dir, "/.", p.filename().string(), ".",
                                  RandomSuffix(), ".tmp");
  fd =
      ScopedFd(open(temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) return FileError(errno, "cannot create " + temp);
  return std::unique_ptr<OutputFile>(
      new OutputFile(path, dir, std::move(fd), temp));
}

OutputFile::~OutputFile() {
  if (!committed_ && !temp_name_.empty()) unlink(temp_name_.c_str());
}

absl::StatusOr<uint64_t> OutputFile::FreeBytes() const {
  struct statvfs st;
  if (fstatvfs(fd_.get(), &st) != 0) return FileError(errno, "statvfs " + dir_);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

absl::Status OutputFile::Commit() {
  if (committed_) return absl::OkStatus();
  std::string temp = temp_name_;
  if (temp.empty()) {
    // Link the unnamed inode under a temporary name, then rename it over the
    // target so an existing file is replaced atomically.
    temp = absl::StrCat(dir_, "/.",
                        std::filesystem::path(path_).filename().string(), ".",
                        RandomSuffix(), ".tmp");
    std::string self = absl::StrCat("/proc/self/fd/", fd_.get());
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp.c_str(),
               AT_SYMLINK_FOLLOW) != 0) {
      return FileError(errno, "cannot name " + path_);
    }
  }
  if (rename(temp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    unlink(temp.c_str());
    return FileError(err, "cannot rename " + temp + " to " + path_);
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace goretain::agent::snapshot
