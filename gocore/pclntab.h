// The Go function table (pclntab) of the first module: functions by PC, names, pcvalue tables,
// file:line, funcdata — read from the target through runtime.firstmoduledata.
#ifndef GORETAIN_GOCORE_PCLNTAB_H_
#define GORETAIN_GOCORE_PCLNTAB_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gocore/program.h"

namespace goretain::gocore {

// internal/abi constants (stable 1.22–1.26; checked against DWARF when present).
inline constexpr int kPcdataStackMapIndex = 1;
inline constexpr int kFuncdataArgsPointerMaps = 0;
inline constexpr int kFuncdataLocalsPointerMaps = 1;
inline constexpr int kFuncdataStackObjects = 2;
inline constexpr int kPcdataInlTreeIndex = 2;
inline constexpr int kFuncdataInlTree = 3;

// One function (a runtime _func record).
struct Func {
  uint64_t entry = 0;       // runtime address of the first instruction
  uint64_t func_off = 0;    // offset of the _func record in pclntable
  int32_t name_off = 0;
  int32_t args = 0;         // bytes of arguments and results; ArgsSizeUnknown (-0x80000000)
  uint32_t pcsp = 0, pcfile = 0, pcln = 0, npcdata = 0, cu_offset = 0;
  int32_t start_line = 0;
  uint8_t func_id = 0, flag = 0, nfuncdata = 0;
  bool valid() const { return entry != 0; }
};

class FuncTable {
 public:
  // Fails when firstmoduledata or its tables are unreadable (a core of no usable Go program).
  static absl::StatusOr<std::unique_ptr<FuncTable>> Load(const Program& program);

  // The function containing pc, if any.
  std::optional<Func> FindFunc(uint64_t pc) const;
  std::string FuncName(const Func& f) const;
  // pcvalue table `table_off` (offset into pctab) at pc; -1 when pc is before the first entry or
  // the table is absent/corrupt.
  int32_t PCValue(const Func& f, uint32_t table_off, uint64_t pc) const;
  // Stack pointer delta (frame size) at pc.
  int32_t SPDelta(const Func& f, uint64_t pc) const { return PCValue(f, f.pcsp, pc); }
  int32_t PCData(const Func& f, int index, uint64_t pc) const;
  // Runtime address of funcdata `index`, or 0 when absent.
  uint64_t FuncData(const Func& f, int index) const;
  // Source position of pc ("?" and 0 when unknown).
  std::pair<std::string, int32_t> FileLine(const Func& f, uint64_t pc) const;

  // The logical calls at pc, innermost first: functions inlined into f, then f itself.
  struct Call {
    std::string function, file;
    int32_t line = 0;
  };
  std::vector<Call> Calls(const Func& f, uint64_t pc) const;

  // abi.FuncFlag bits (unchanged 1.22–1.26). Special functions are recognised by name: their
  // abi.FuncID numbers shift between releases.
  static constexpr uint8_t kFlagTopFrame = 1, kFlagSPWrite = 2, kFlagAsm = 4;
  uint64_t text() const { return text_; }
  uint64_t min_pc() const { return min_pc_; }
  uint64_t max_pc() const { return max_pc_; }

 private:
  explicit FuncTable(const Program& p) : program_(p) {}
  absl::StatusOr<Func> DecodeFunc(uint64_t func_off, uint32_t entry_off) const;

  const Program& program_;
  uint64_t text_ = 0, min_pc_ = 0, max_pc_ = 0, gofunc_ = 0;
  // Raw tables (pointers into the executable mapping).
  const uint8_t* funcnametab_ = nullptr;
  uint64_t funcnametab_len_ = 0;
  const uint8_t* cutab_ = nullptr;
  uint64_t cutab_len_ = 0;
  const uint8_t* filetab_ = nullptr;
  uint64_t filetab_len_ = 0;
  const uint8_t* pctab_ = nullptr;
  uint64_t pctab_len_ = 0;
  const uint8_t* pclntable_ = nullptr;
  uint64_t pclntable_len_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> ftab_;  // (entryoff, funcoff), sorted
  // Tables that straddle two mappings (e.g. a core page over executable pages) are copied here.
  std::vector<std::vector<uint8_t>> copies_;
};

}  // namespace goretain::gocore

#endif  // GORETAIN_GOCORE_PCLNTAB_H_
