// profile.proto is written with a small hand-written encoder
// (internal/proto_writer.h) instead of protoc-generated classes: the schema is
// tiny and frozen, the encoder streams a profile of a million-node tree without
// building a second in-memory message graph, it needs no code generation step
// nor a vendored copy of Google's .proto, and its output is canonical (field
// order and packing fixed here), which the byte-identical determinism guarantee
// relies on. Field numbers are those of
// github.com/google/pprof/proto/profile.proto (docs/formats/exporters.md).
#include "analysis/pprof.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "analysis/frame_format.h"
#include "analysis/internal/file_output.h"
#include "analysis/internal/gzip.h"
#include "analysis/internal/proto_writer.h"

namespace goretain::analysis {
namespace {

using internal::ProtoWriter;

// profile.proto field numbers.
namespace profile {
constexpr int kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4,
              kFunction = 5, kStringTable = 6, kTimeNanos = 9, kComment = 13,
              kDefaultSampleType = 14;
}  // namespace profile
namespace value_type {
constexpr int kType = 1, kUnit = 2;
}
namespace sample {
constexpr int kLocationId = 1, kValue = 2;
}
namespace mapping {
constexpr int kId = 1, kFilename = 5, kHasFunctions = 7;
}
namespace location {
constexpr int kId = 1, kMappingId = 2, kLine = 4;
}
namespace line {
constexpr int kFunctionId = 1;
}
namespace function {
constexpr int kId = 1, kName = 2, kSystemName = 3;
}

constexpr uint64_t kMappingId = 1;

class StringTable {
 public:
  StringTable() { Index(""); }  // string_table[0] must be ""
  uint64_t Index(const std::string& s) {
    auto [it, inserted] = index_.try_emplace(s, strings_.size());
    if (inserted) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  absl::flat_hash_map<std::string, uint64_t> index_;
  std::vector<std::string> strings_;
};

struct FrameHash {
  size_t operator()(const Frame& f) const {
    return absl::HashOf(static_cast<int>(f.kind), f.name, f.type);
  }
};

}  // namespace

std::string EncodePprof(const PathTree& tree, const PprofOptions& opts) {
  StringTable strings;
  ProtoWriter out;
  auto value_type_msg = [&](const char* type, const char* unit) {
    ProtoWriter vt;
    vt.VarintOpt(value_type::kType, strings.Index(type));
    vt.VarintOpt(value_type::kUnit, strings.Index(unit));
    return vt;
  };
  out.Message(profile::kSampleType, value_type_msg("inuse_objects", "count"));
  out.Message(profile::kSampleType, value_type_msg("inuse_space", "bytes"));

  // One location (= one function) per distinct frame, numbered from 1 in
  // pre-order.
  absl::flat_hash_map<Frame, uint64_t, FrameHash> location_of;
  std::vector<uint64_t> node_location(tree.nodes.size());
  ProtoWriter functions_and_locations;
  for (size_t i = 0; i < tree.nodes.size(); i++) {
    const Frame& f = tree.nodes[i].frame;
    auto [it, inserted] = location_of.try_emplace(f, location_of.size() + 1);
    node_location[i] = it->second;
    if (!inserted) continue;
    const uint64_t id = it->second;
    ProtoWriter fn;
    fn.VarintOpt(function::kId, id);
    fn.VarintOpt(function::kName, strings.Index(ValidUtf8(FrameLabel(f))));
    fn.VarintOpt(function::kSystemName,
                 strings.Index(std::string(FrameKindName(f.kind))));
    functions_and_locations.Message(profile::kFunction, fn);
    ProtoWriter ln;
    ln.VarintOpt(line::kFunctionId, id);
    ProtoWriter loc;
    loc.VarintOpt(location::kId, id);
    loc.VarintOpt(location::kMappingId, kMappingId);
    loc.Message(location::kLine, ln);
    functions_and_locations.Message(profile::kLocation, loc);
  }

  std::vector<uint64_t> stack;
  for (size_t i = 0; i < tree.nodes.size(); i++) {
    const TreeNode& n = tree.nodes[i];
    if (n.self_bytes == 0 && n.self_count == 0) continue;
    stack.clear();
    for (uint32_t j = static_cast<uint32_t>(i); j != TreeNode::kNoParent;
         j = tree.nodes[j].parent) {
      stack.push_back(node_location[j]);  // leaf first, as pprof wants
    }
    ProtoWriter s;
    s.PackedVarints(sample::kLocationId, stack);
    // int64 values are encoded as their two's-complement varint; ours are never
    // negative.
    s.PackedVarints(sample::kValue, {n.self_count, n.self_bytes});
    out.Message(profile::kSample, s);
  }

  ProtoWriter m;
  m.VarintOpt(mapping::kId, kMappingId);
  m.VarintOpt(mapping::kFilename, strings.Index("goretain"));
  m.Varint(mapping::kHasFunctions, 1);
  out.Message(profile::kMapping, m);

  std::string body = out.Release();
  body += functions_and_locations.bytes();
  ProtoWriter tail;
  tail.VarintOpt(profile::kTimeNanos, static_cast<uint64_t>(opts.time_nanos));
  std::vector<uint64_t> comments;
  for (const std::string& c : opts.comments)
    comments.push_back(strings.Index(ValidUtf8(c)));
  tail.PackedVarints(profile::kComment, comments);
  tail.VarintOpt(profile::kDefaultSampleType, strings.Index("inuse_space"));
  // The string table goes last: every other field had to be written to know its
  // contents.
  for (const std::string& s : strings.strings())
    tail.Bytes(profile::kStringTable, s);
  body += tail.bytes();
  return body;
}

absl::StatusOr<std::string> EncodePprofGzip(const PathTree& tree,
                                            const PprofOptions& opts) {
  return internal::Gzip(EncodePprof(tree, opts));
}

absl::Status WritePprof(const PathTree& tree, std::ostream& out,
                        const PprofOptions& opts) {
  absl::StatusOr<std::string> gz = EncodePprofGzip(tree, opts);
  if (!gz.ok()) return gz.status();
  out.write(gz->data(), static_cast<std::streamsize>(gz->size()));
  return internal::StreamStatus(out, "pprof profile");
}

absl::Status WritePprofFile(const PathTree& tree, const std::string& path,
                            const PprofOptions& opts) {
  return internal::WriteFileAtomically(
      path, [&](std::ostream& out) { return WritePprof(tree, out, opts); });
}

}  // namespace goretain::analysis
