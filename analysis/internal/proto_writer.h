// A minimal protobuf wire-format encoder for the few messages we write by hand
// (pprof's profile.proto). Only what those need: varints, length-delimited
// fields, packed varints.
#ifndef GORETAIN_ANALYSIS_INTERNAL_PROTO_WRITER_H_
#define GORETAIN_ANALYSIS_INTERNAL_PROTO_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace goretain::analysis::internal {

// Appends fields to a byte string. Nested messages are encoded into their own
// ProtoWriter and added with Message(). Fields equal to their proto3 default
// are skipped by the *Opt methods, as every protobuf encoder does, so output is
// canonical.
class ProtoWriter {
 public:
  void Varint(int field, uint64_t v) {
    Tag(field, 0);
    Raw(v);
  }
  void VarintOpt(int field, uint64_t v) {
    if (v != 0) Varint(field, v);
  }
  void Bytes(int field, std::string_view s) {
    Tag(field, 2);
    Raw(s.size());
    buf_.append(s);
  }
  void Message(int field, const ProtoWriter& m) { Bytes(field, m.buf_); }
  // A packed repeated varint field (proto3's default encoding for repeated
  // scalars).
  void PackedVarints(int field, const std::vector<uint64_t>& vs) {
    if (vs.empty()) return;
    ProtoWriter body;
    for (uint64_t v : vs) body.Raw(v);
    Bytes(field, body.buf_);
  }

  const std::string& bytes() const { return buf_; }
  std::string Release() { return std::move(buf_); }

 private:
  void Tag(int field, int wire_type) {
    Raw((static_cast<uint64_t>(field) << 3) | wire_type);
  }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }

  std::string buf_;
};

}  // namespace goretain::analysis::internal

#endif  // GORETAIN_ANALYSIS_INTERNAL_PROTO_WRITER_H_
