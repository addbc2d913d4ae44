// goretain snapshot --pid N -o FILE [--max-pause MS] [--mode copy|fork]
// [--json]: a low-pause ELF core of a live process (agent/snapshot does the
// work).
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "agent/snapshot/snapshot.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace goretain::cli {
namespace {

namespace snap = agent::snapshot;

struct SnapshotArgs {
  int pid = 0;
  std::string output;
  int max_pause_ms = 5000;
  std::string mode = "auto";
  bool json = false;
};

double Ms(std::chrono::nanoseconds d) { return d.count() / 1e6; }

std::string Size(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  }
  return buf;
}

int RunSnapshot(const SnapshotArgs& a) {
  auto mode = snap::ParseMode(a.mode);
  if (!mode.has_value()) {
    std::fprintf(
        stderr,
        "goretain: snapshot: --mode must be copy, fork or auto, not '%s'\n",
        a.mode.c_str());
    return kExitUsage;
  }
  if (a.pid <= 0 || a.max_pause_ms <= 0) {
    std::fprintf(
        stderr, "goretain: snapshot: --pid and --max-pause must be positive\n");
    return kExitUsage;
  }
  snap::SnapshotOptions opts;
  opts.output_path = a.output;
  opts.mode = *mode;
  opts.max_pause = std::chrono::milliseconds(a.max_pause_ms);
  // This process exists only to take the snapshot, so it may die to end a stuck
  // pause.
  opts.watchdog_grace = std::chrono::milliseconds(2000);
  auto r = snap::TakeSnapshot(a.pid, opts);
  if (!r.ok()) {
    std::string msg(r.status().message());
    if (absl::IsDeadlineExceeded(r.status())) {
      msg += a.mode == "copy" ? " (raise --max-pause, or try --mode fork)"
                              : " (raise --max-pause)";
    }
    return Fail(absl::Status(r.status().code(), "snapshot: " + msg));
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["pid"] = r->pid;
    j["path"] = r->path;
    j["mode"] = std::string(snap::ModeName(r->mode));
    j["fallback_reason"] = r->fallback_reason;
    j["pause_ms"] = Ms(r->pause);
    j["freeze_ms"] = Ms(r->freeze);
    j["fork_ms"] = Ms(r->fork);
    j["copy_ms"] = Ms(r->copy);
    j["write_ms"] = Ms(r->write);
    j["total_ms"] = Ms(r->total);
    j["threads"] = r->threads;
    j["mappings"] = r->mappings;
    j["dumped_mappings"] = r->dumped_mappings;
    j["bytes_copied"] = r->bytes_copied;
    j["unreadable_pages"] = r->unreadable_pages;
    j["core_size"] = r->core_size;
    j["core_disk_bytes"] = r->core_disk_bytes;
    j["zero_pages"] = r->zero_pages;
    j["pagemap_scan"] = r->pagemap_scan;
    j["warning"] = r->warning;
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("snapshot of process %d written to %s (%s mode)\n", r->pid,
              r->path.c_str(), std::string(snap::ModeName(r->mode)).c_str());
  if (!r->fallback_reason.empty()) {
    std::printf("  fork mode not used: %s\n", r->fallback_reason.c_str());
  }
  if (r->mode == snap::Mode::kFork) {
    std::printf(
        "  pause %.1f ms (freeze %.1f ms, fork %.1f ms), %zu threads; %s "
        "copied from the child in %.0f ms after the pause\n",
        Ms(r->pause), Ms(r->freeze), Ms(r->fork), r->threads,
        Size(r->bytes_copied).c_str(), Ms(r->copy));
  } else {
    std::printf(
        "  pause %.1f ms (freeze %.1f ms, copy %.1f ms), %zu threads, %s "
        "copied\n",
        Ms(r->pause), Ms(r->freeze), Ms(r->copy), r->threads,
        Size(r->bytes_copied).c_str());
  }
  std::printf("  core %s, %s on disk, written in %.0f ms\n",
              Size(r->core_size).c_str(), Size(r->core_disk_bytes).c_str(),
              Ms(r->write));
  if (!r->warning.empty()) {
    std::fprintf(stderr, "goretain: snapshot: %s\n", r->warning.c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterSnapshot(CLI::App& app, std::function<int()>* run) {
  auto* cmd = app.add_subcommand("snapshot",
                                 "take a low-pause core of a live Go process");
  auto a = std::make_shared<SnapshotArgs>();
  cmd->add_option("--pid", a->pid, "process to snapshot")->required();
  cmd->add_option("-o,--output", a->output, "core file to write")->required();
  cmd->add_option("--max-pause", a->max_pause_ms,
                  "longest pause allowed, ms: past it the target is resumed "
                  "and nothing written")
      ->capture_default_str();
  cmd->add_option("--mode", a->mode,
                  "copy: stop, copy, resume; fork: the target forks a "
                  "copy-on-write child that is read after resuming; auto: "
                  "fork from 64 MiB of data (docs/snapshot.md)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print the result as one JSON object");
  cmd->callback([run, a] { *run = [a] { return RunSnapshot(*a); }; });
}

}  // namespace goretain::cli
