#include "gocore/goroutines.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace goretain::gocore {
namespace {

constexpr int kMaxFrames = 10000;

struct GLayout {
  DwarfInfo::FieldRef stack_lo, stack_hi, m, sched_sp, sched_pc, sched_lr, syscallsp, syscallpc,
      status, goid, waitreason, gopc;
  DwarfInfo::FieldRef m_procid;
  uint64_t g_running = 2, g_syscall = 3, g_waiting = 4, g_dead = 6, g_scan = 0x1000;
  uint64_t g_deadextra = ~0ull;
};

// A Go string header {ptr, len} at addr.
std::string ReadGoString(const AddressSpace& mem, uint64_t addr) {
  auto p = mem.ReadU64(addr);
  auto n = mem.ReadU64(addr + 8);
  if (!p || !n || *n > 4096) return "";
  return mem.ReadBytes(*p, *n).value_or("");
}

constexpr uint64_t kMaxStackBytes = uint64_t{1} << 30;  // runtime.maxstacksize on 64-bit

}  // namespace

absl::StatusOr<std::vector<Goroutine>> ReadGoroutines(const Program& p, const FuncTable& ft,
                                                      DamageCounters* damage) {
  const DwarfInfo& d = p.dwarf();
  const AddressSpace& mem = p.mem();
  GLayout L;
  ASSIGN_OR_RETURN(L.stack_lo, d.FieldPath("runtime.g", "stack.lo"));
  ASSIGN_OR_RETURN(L.stack_hi, d.FieldPath("runtime.g", "stack.hi"));
  ASSIGN_OR_RETURN(L.m, d.FieldPath("runtime.g", "m"));
  ASSIGN_OR_RETURN(L.sched_sp, d.FieldPath("runtime.g", "sched.sp"));
  ASSIGN_OR_RETURN(L.sched_pc, d.FieldPath("runtime.g", "sched.pc"));
  ASSIGN_OR_RETURN(L.sched_lr, d.FieldPath("runtime.g", "sched.lr"));
  ASSIGN_OR_RETURN(L.syscallsp, d.FieldPath("runtime.g", "syscallsp"));
  ASSIGN_OR_RETURN(L.syscallpc, d.FieldPath("runtime.g", "syscallpc"));
  ASSIGN_OR_RETURN(L.status, d.FieldPath("runtime.g", "atomicstatus"));
  ASSIGN_OR_RETURN(L.goid, d.FieldPath("runtime.g", "goid"));
  ASSIGN_OR_RETURN(L.waitreason, d.FieldPath("runtime.g", "waitreason"));
  ASSIGN_OR_RETURN(L.gopc, d.FieldPath("runtime.g", "gopc"));
  ASSIGN_OR_RETURN(L.m_procid, d.FieldPath("runtime.m", "procid"));
  auto c = [&](const char* n, uint64_t dflt) {
    return static_cast<uint64_t>(d.Constant(n).value_or(static_cast<int64_t>(dflt)));
  };
  L.g_running = c("runtime._Grunning", 2);
  L.g_syscall = c("runtime._Gsyscall", 3);
  L.g_waiting = c("runtime._Gwaiting", 4);
  L.g_dead = c("runtime._Gdead", 6);
  L.g_scan = c("runtime._Gscan", 0x1000);
  L.g_deadextra = c("runtime._Gdeadextra", ~0ull);

  ASSIGN_OR_RETURN(uint64_t allgs, p.GlobalAddress("runtime.allgs"));
  auto arr = mem.ReadU64(allgs);
  auto n = mem.ReadU64(allgs + 8);
  if (!arr || !n || *n > (1u << 26)) return absl::DataLossError("runtime.allgs is unreadable");
  std::vector<uint64_t> gs(*n);
  if (!mem.Read(*arr, gs.data(), *n * 8)) return absl::DataLossError("runtime.allgs is unreadable");

  // Status and wait-reason names come from the runtime's own string tables.
  auto names = [&](const std::string& global, std::vector<std::string>* out) {
    auto a = p.GlobalAddress(global);
    if (!a.ok()) return;
    const auto* g = d.GlobalByName(global);
    uint64_t count = g ? d.TypeSize(g->type).value_or(0) / 16 : 0;
    for (uint64_t i = 0; i < count && i < 256; i++) out->push_back(ReadGoString(mem, *a + 16 * i));
  };
  std::vector<std::string> status_names, wait_names;
  names("runtime.gStatusStrings", &status_names);
  names("runtime.waitReasonStrings", &wait_names);

  std::vector<Goroutine> out;
  auto read = [&](uint64_t base, const DwarfInfo::FieldRef& f) -> uint64_t {
    uint64_t v = 0;
    mem.Read(base + f.offset, &v, std::min<uint64_t>(f.size ? f.size : 8, 8));
    return v;
  };
  for (uint64_t g : gs) {
    if (g == 0) continue;
    Goroutine gr;
    gr.addr = g;
    gr.status = static_cast<uint32_t>(read(g, L.status) & ~L.g_scan);
    if (gr.status == L.g_dead || gr.status == L.g_deadextra) continue;
    gr.id = static_cast<int64_t>(read(g, L.goid));
    gr.status_name = gr.status < status_names.size() ? status_names[gr.status] : "";
    if (gr.status_name.empty()) gr.status_name = absl::StrCat("status ", gr.status);
    uint64_t wr = read(g, L.waitreason);
    if (gr.status == L.g_waiting && wr != 0 && wr < wait_names.size()) {
      gr.wait_reason = wait_names[wr];
    }
    gr.stack_lo = read(g, L.stack_lo);
    gr.stack_hi = read(g, L.stack_hi);
    // Go stacks are at most kMaxStackBytes and lie in memory: damaged bounds would send the
    // conservative scan over the whole address space.
    if (gr.stack_hi < gr.stack_lo || gr.stack_hi - gr.stack_lo > kMaxStackBytes ||
        (gr.stack_hi > gr.stack_lo && !p.mem().Contains(gr.stack_lo))) {
      (*damage)["implausible_stack_bounds"]++;
      gr.stack_lo = gr.stack_hi = 0;
    }
    if (auto f = ft.FindFunc(read(g, L.gopc))) gr.created_by = ft.FuncName(*f);

    uint64_t pc = read(g, L.sched_pc), sp = read(g, L.sched_sp), lr = read(g, L.sched_lr);
    bool running = gr.status == L.g_running;
    if (gr.status == L.g_syscall) {
      pc = read(g, L.syscallpc);
      sp = read(g, L.syscallsp);
      lr = 0;
    }
    if (uint64_t m = read(g, L.m)) {
      uint64_t procid = read(m, L.m_procid);
      for (const CoreThread& t : p.core().threads()) {
        if (procid != 0 && static_cast<uint64_t>(t.tid) == procid) {
          gr.thread = t.tid;
          if (running) {
            pc = t.rip();
            sp = t.rsp();
            lr = 0;
            gr.registers.assign(t.regs.begin(), t.regs.end());
          }
        }
      }
    }
    // Unwind (amd64: no link register; frame pointers on).
    bool innermost = true;
    bool conservative_next = running;
    for (int i = 0; i < kMaxFrames; i++) {
      auto f = ft.FindFunc(pc);
      if (!f) {
        if (pc != 0) gr.unwind_incomplete = true;
        break;
      }
      if (sp < gr.stack_lo || sp > gr.stack_hi) {
        gr.unwind_incomplete = true;
        break;
      }
      StackFrame fr;
      fr.pc = pc;
      fr.sp = sp;
      fr.func = *f;
      fr.function = ft.FuncName(*f);
      // For return addresses the call site is pc-1; the innermost frame's pc is the resume point.
      uint64_t tracepc = innermost || pc == f->entry ? pc : pc - 1;
      fr.calls = ft.Calls(*f, tracepc);
      std::tie(fr.file, fr.line) = ft.FileLine(*f, tracepc);
      int32_t delta = ft.SPDelta(*f, pc);
      if (delta < 0) {
        gr.unwind_incomplete = true;
        break;
      }
      fr.fp = sp + static_cast<uint64_t>(delta) + 8;
      bool async_preempt = fr.function == "runtime.asyncPreempt" ||
                           fr.function == "runtime.debugCallV2";
      fr.conservative = conservative_next || async_preempt;
      conservative_next = async_preempt;
      bool top = (f->flag & FuncTable::kFlagTopFrame) != 0;
      bool sp_write = (f->flag & FuncTable::kFlagSPWrite) != 0 && !innermost;
      if (top || sp_write) {
        lr = 0;
      } else if (lr == 0) {
        lr = mem.ReadU64(fr.fp - 8).value_or(0);
      }
      fr.varp = fr.fp - 8;
      if (fr.varp > fr.sp) fr.varp -= 8;  // saved frame pointer
      fr.argp = fr.fp;
      gr.frames.push_back(std::move(fr));
      if (top || lr == 0) break;
      if (sp_write) {
        gr.unwind_incomplete = true;
        break;
      }
      pc = lr;
      sp = gr.frames.back().fp;
      lr = 0;
      innermost = false;
    }
    if (gr.unwind_incomplete) (*damage)["unwind_incomplete"]++;
    out.push_back(std::move(gr));
  }
  return out;
}

}  // namespace goretain::gocore
