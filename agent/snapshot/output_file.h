// A file that appears under its name only when complete. Opened as an unnamed
// O_TMPFILE inode in the target directory (so if this process is killed,
// nothing is left behind), given its name by Commit. Filesystems without
// O_TMPFILE get a hidden temporary name that the destructor removes. Mode 0600:
// cores hold the target's memory.
#ifndef GORETAIN_AGENT_SNAPSHOT_OUTPUT_FILE_H_
#define GORETAIN_AGENT_SNAPSHOT_OUTPUT_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/snapshot/scoped_fd.h"

namespace goretain::agent::snapshot {

class OutputFile {
 public:
  // Fails (naming the path) when the directory does not exist or is not
  // writable.
  static absl::StatusOr<std::unique_ptr<OutputFile>> Create(
      const std::string& path);
  // Not committed: the data is dropped.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // Free bytes in the file system for an unprivileged writer.
  absl::StatusOr<uint64_t> FreeBytes() const;
  // Gives the file its name, atomically replacing a file already there.
  absl::Status Commit();

 private:
  OutputFile(std::string path, std::string dir, ScopedFd fd,
             std::string temp_name)
      : path_(std::move(path)),
        dir_(std::move(dir)),
        fd_(std::move(fd)),
        temp_name_(std::move(temp_name)) {}
  std::string path_, dir_;
  ScopedFd fd_;
  std::string temp_name_;  // non-empty: the fallback named temporary file,
                           // until committed
  bool committed_ = false;
};

}  // namespace goretain::agent::snapshot

#endif  // GORETAIN_AGENT_SNAPSHOT_OUTPUT_FILE_H_
