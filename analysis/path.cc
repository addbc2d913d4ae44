#include "analysis/path.h"

#include "absl/strings/str_cat.h"

namespace goretain::analysis {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

uint64_t Fnv(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

// splitmix64 finaliser: spreads FNV's weak low bits.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

bool IsRootKind(FrameKind k) {
  return k == FrameKind::kRootGlobal || k == FrameKind::kRootStack ||
         k == FrameKind::kRootFinalizer || k == FrameKind::kRootCleanup ||
         k == FrameKind::kRootOther;
}

std::string BucketIndex(uint64_t index) {
  if (index < 10) return absl::StrCat("[", index, "]");
  return "[10+]";
}

std::vector<Frame> Canonicalize(const std::vector<Frame>& frames, const CanonicalOptions& opts) {
  std::vector<Frame> out;
  out.reserve(frames.size());
  int depth = 0;
  for (const Frame& f : frames) {
    Frame c = f;
    if (c.kind == FrameKind::kIndex && c.name.size() > 2 && c.name.front() == '[' &&
        c.name.back() == ']') {
      uint64_t idx = 0;
      bool numeric = true;
      for (size_t i = 1; i + 1 < c.name.size(); i++) {
        char ch = c.name[i];
        if (ch < '0' || ch > '9') {
          numeric = false;
          break;
        }
        idx = idx * 10 + uint64_t(ch - '0');
        if (idx > 10) break;
      }
      if (numeric) c.name = BucketIndex(idx);
    }
    if (!out.empty() && !IsRootKind(c.kind) && !IsRootKind(out.back().kind) &&
        out.back().type == c.type && !c.type.empty()) {
      continue;  // collapse a run of the same type
    }
    if (!IsRootKind(c.kind)) {
      if (depth >= opts.max_depth) break;
      depth++;
    }
    out.push_back(std::move(c));
  }
  return out;
}

uint64_t ChildPathId(uint64_t parent_id, const Frame& frame) {
  uint64_t h = kFnvOffset;
  h = Fnv(h, &parent_id, sizeof parent_id);  // little-endian on every supported target
  uint8_t kind = static_cast<uint8_t>(frame.kind);
  h = Fnv(h, &kind, 1);
  h = Fnv(h, frame.name.data(), frame.name.size());
  const uint8_t sep = 0xff;  // cannot occur in UTF-8 names
  h = Fnv(h, &sep, 1);
  h = Fnv(h, frame.type.data(), frame.type.size());
  uint64_t id = Mix(h);
  return id == 0 ? 1 : id;
}

uint64_t PathId(const std::vector<Frame>& canonical_frames) {
  uint64_t id = 0;
  for (const Frame& f : canonical_frames) id = ChildPathId(id, f);
  return id;
}

}  // namespace goretain::analysis
