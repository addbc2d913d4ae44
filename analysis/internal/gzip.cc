#include "analysis/internal/gzip.h"

#include <zlib.h>

#include "absl/strings/str_cat.h"

namespace goretain::analysis::internal {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // +16: gzip wrapper instead of zlib's
constexpr size_t kChunk = 1 << 16;

}  // namespace

absl::StatusOr<std::string> Gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::ResourceExhaustedError("gzip: deflateInit2 failed");
  }
  // zlib's default gzip header already has mtime 0 and no name; setting it
  // explicitly documents that the bytes must not depend on the clock.
  gz_header header{};
  header.os = 3;  // Unix, whatever machine wrote the file
  deflateSetHeader(&z, &header);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  // data larger than 4 GiB would need chunked input; profiles of even huge
  // heaps are far smaller.
  if (data.size() != z.avail_in) {
    deflateEnd(&z);
    return absl::ResourceExhaustedError("gzip: input larger than 4 GiB");
  }
  int rc;
  do {
    size_t old = out.size();
    out.resize(old + kChunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = kChunk;
    rc = deflate(&z, Z_FINISH);
    out.resize(old + kChunk - z.avail_out);
  } while (rc == Z_OK || rc == Z_BUF_ERROR);
  deflateEnd(&z);
  if (rc != Z_STREAM_END)
    return absl::InternalError(absl::StrCat("gzip: deflate failed (", rc, ")"));
  return out;
}

absl::StatusOr<std::string> Gunzip(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindowBits) != Z_OK) {
    return absl::ResourceExhaustedError("gunzip: inflateInit2 failed");
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rc;
  do {
    size_t old = out.size();
    out.resize(old + kChunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = kChunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(old + kChunk - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    return absl::InvalidArgumentError(
        absl::StrCat("gunzip: not a complete gzip stream (", rc, ")"));
  }
  return out;
}

}  // namespace goretain::analysis::internal
