// One phase of a run (training-S, groundtruth, cloudlike) once its subject,
// if any, has started: the CPU accounting, the sampler and its trace, the
// original-format CSV and the event log, and the windows measured into them.
// Not public.
//
// Whatever happens (a stop request, an error half-way, an exception), the
// destructor does what finish() does, once: the noise workers are killed, the
// end event written, the files closed, the sampler stopped (the trace
// flushed), the subject stopped, and the phase's record handed over.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/orchestrator/noise.hpp"
#include "cinergy/orchestrator/original_csv.hpp"
#include "cinergy/orchestrator/run.hpp"
#include "cinergy/orchestrator/window.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "cinergy/vm/host_vms.hpp"
#include "progress.hpp"

namespace cinergy::orchestrator::detail {

// What a phase uses of the run, owned by the Runner.
struct PhaseContext {
  const RunOptions& options;
  const Topology& topology;
  const std::filesystem::path& run_dir;
  const std::string& csv_prefix;
  const std::filesystem::path& cgroup2_root;
  NoiseGroup& noise;
  vm::HostVms* libvirt;  // null: no libvirt daemon (no libvirt_vm_* rows)
  Progress& progress;
  StopPoint& where;  // updated as the phase goes (level, window)
};

class Phase {
 public:
  // `record`: the manifest entry so far (phase, scenario, files, subject
  // runtime); `subject`: stopped at the end when set; `runtime`: where the
  // subject's CPU time is accounted ("vm"). `done` receives the record once.
  Phase(PhaseContext context, const PhasePlan& plan, nlohmann::json record, vm::Vm* subject,
        std::optional<vm::VmRuntime> runtime, std::function<void(nlohmann::json)> done);
  ~Phase();
  Phase(const Phase&) = delete;
  Phase& operator=(const Phase&) = delete;

  // Opens the accounting, the sampler, the CSV and the event log and starts
  // sampling. An error leaves nothing running (the destructor finishes).
  Result<void> open();
  // Measures every window: B until the subject finishes (or a cap of twice
  // its expected length), A and C level by level. False when interrupted.
  Result<bool> measure();
  // Idempotent; the destructor calls it with interrupted = true.
  void finish(bool interrupted);

 private:
  Result<void> wait_first_sample();
  // One window; false when a stop was requested while waiting for its end.
  bool window(const Level* level, int w, int windows);
  bool subject_alone();
  Result<bool> staircase();

  PhaseContext c_;
  const PhasePlan& plan_;
  nlohmann::json record_;
  vm::Vm* subject_;
  std::optional<vm::VmRuntime> runtime_;
  std::function<void(nlohmann::json)> done_;

  std::unique_ptr<bpf::CpuAccounting> accounting_;
  std::unique_ptr<sampler::Sampler> sampler_;
  std::optional<OriginalCsvWriter> csv_;
  std::optional<EventLog> events_;
  WindowLayout layout_;
  std::optional<sampler::Snapshot> prev_;
  std::int64_t t0_ns_ = 0;
  std::chrono::steady_clock::time_point start_{};
  int windows_elapsed_ =
      0;  // window deadlines passed (k: the next ends at start_ + (k+1) x window)
  int windows_written_ = 0;
  // WindowValues::other_cpu_pct over the windows written: sum and maximum.
  double other_cpu_sum_ = 0, other_cpu_max_ = 0;
  bool sampling_ = false;
  bool finished_ = false;
};

}  // namespace cinergy::orchestrator::detail
