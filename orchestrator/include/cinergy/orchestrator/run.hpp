// `cinergy run`: the whole experiment of the original method on this host.
//
//  A  training-<S> for each step S: idle level, then one more
//     `stress-ng -c 1 -l S` worker per level, socket by socket, up to
//     threads x 100/S workers, all in the run's noise cgroup.
//  B  groundtruth: the subject (VM) alone until it finishes.
//  C  cloudlike: the subject again beside the step-25 staircase; ends when the
//     staircase ends (the subject is then stopped) or the subject finishes.
//
// Each phase has one Sampler (trace-<phase>.csv.xz + .meta.json, subjects
// "noise" and "vm"), window aggregates written into the original-format CSV
// (<prefix>-<phase>.csv) and events-<phase>.csv. manifest.json is written at
// the start and rewritten at the end, also after an interruption.
//
// Safety: SIGINT/SIGTERM only set a flag (request_stop()); every wait polls it
// in short slices. On a stop or an error: workers are killed through the
// cgroup, the subject is stopped if the run started it, samplers are stopped
// (traces flushed), the manifest says interrupted and where, cgroups removed.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/orchestrator/staircase.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "cinergy/vm/vm.hpp"

namespace cinergy::orchestrator {

// The subject of B and C when it is not a VM (VmOptions covers VMs).
struct SubjectOptions {
  enum class Kind { vm, cgroup, command };
  Kind kind = Kind::vm;
  std::filesystem::path cgroup;      // cgroup: existing cgroup2 dir (absolute or root-relative)
  std::vector<std::string> command;  // command: argv, run in cinergy/<run-id>/subject
  std::vector<std::string> ready_command;  // command: wait until it exits 0 ...
  std::filesystem::path ready_file;        // ... or this file exists
  std::chrono::seconds ready_timeout{120};
  // A cgroup subject that never ends: B measures this long (C: the staircase).
  std::chrono::seconds max_seconds{120};
};

struct RunOptions {
  std::string scenarios = "ABC";  // any subset of A, B, C
  std::vector<int> steps = {25, 50, 100};
  double window_s = 2.0;  // >= 1 (timestamps are whole seconds)
  int windows_per_level = 10;
  std::string profile = "paper";
  // Scheduling of scenario C's noise workers. normal: they compete with the
  // VM as other tenants do. idle (SCHED_IDLE): they take only the CPU the VM
  // leaves, so the VM's CPU in C is what it was alone in B at the same point
  // of its workload; on a host with few cores (the quick profile's) normal
  // noise starves the VM and C's windows then match no B window. Scenario
  // A's workers always run normally. Idle noise also gets a cgroup that
  // competes as idle where the cpu controller is (NoiseCpuPlacement,
  // noise.hpp; manifest "noise").
  enum class NoiseSched { normal, idle };
  NoiseSched cloudlike_noise_sched = NoiseSched::normal;
  double rate_hz = 1000.0;
  sampler::SourceOptions source;     // source.source: auto|powercap|msr|perf|sim
  std::string cpu_backend = "auto";  // bpf accounting backend
  std::filesystem::path out_dir;     // empty = runs/<host>-<UTC timestamp>
  bool live = false;
  bool analysis = true;    // read by the caller: run() measures, it does not analyse
  bool pin_socket = true;  // workers on their socket's CPUs
  // On a host of several sockets, scenario A also runs each step's staircase
  // unpinned (training-unpinned-S): the scheduler places those workers as it
  // places the VM's threads, while the pinned ones fill socket 0 first, a
  // state the VM alone is never in. The Cinergy method trains on them, the
  // paper method on the pinned ones (docs/model.md). Not run on one socket
  // (pinned to it is unpinned) or with pin_socket false (A is unpinned).
  bool unpinned_training = true;
  vm::VmOptions vm;  // subject kind vm
  SubjectOptions subject;
  std::filesystem::path cgroup2_root;  // empty = detect
  // Where the cgroup v1 hierarchy holding `cpu` is looked for (hybrid hosts:
  // C's SCHED_IDLE noise gets an idle cgroup there); empty: not looked for.
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  std::filesystem::path sysfs_cpu_root = "/sys/devices/system/cpu";
  std::string host_name;                  // empty = gethostname()
  std::string csv_prefix;                 // empty = host name
  std::vector<std::string> command_line;  // recorded in the manifest
  std::string source_note;                // e.g. why sim was chosen (manifest, logs)
};

// Defaults of a profile: "paper" (the original's settings) or "quick"
// (a 2-core host with the test VM finishes within 5 minutes). Fields the user
// set explicitly are applied after this by the caller.
Result<void> apply_profile(RunOptions& options, const std::string& profile);
// "normal" | "idle"; errors name `flag`.
Result<RunOptions::NoiseSched> parse_noise_sched(std::string_view text, std::string_view flag);
std::string_view to_string(RunOptions::NoiseSched sched);

// One planned phase.
struct PhasePlan {
  char scenario = 'A';
  std::string name;           // training-25, groundtruth, cloudlike
  int step = 0;               // staircase step (A, C), 0 for B
  std::vector<Level> levels;  // empty for B
};
std::vector<PhasePlan> plan_phases(const RunOptions& options, const Topology& topology);
// Expected duration in seconds (B: the subject's expected duration, if known).
double planned_seconds(const RunOptions& options, const std::vector<PhasePlan>& plan,
                       std::optional<double> subject_seconds);
// Expected duration of the test VM's workload (boot excluded), if known.
std::optional<double> subject_expected_seconds(const RunOptions& options);

// Settings block of the manifest (every option, by name).
nlohmann::json settings_json(const RunOptions& options);

// Where a run stopped.
struct StopPoint {
  std::string scenario;  // phase name
  int level = -1;
  int window = -1;
};

// Mean busy time outside the run's subjects (WindowValues::other_cpu_pct), %
// of the host, above which a phase warns that the host was not quiet (the
// recorder and libvirtd alone take about 1.5 %). Each phase's mean and
// maximum are in its manifest record, "other_cpu_pct".
inline constexpr double kOtherCpuWarnPct = 5.0;

struct RunResult {
  std::filesystem::path run_dir;
  bool interrupted = false;
  std::optional<StopPoint> stopped_at;
  nlohmann::json manifest;  // as written to run_dir/manifest.json
  int host_threads = 0;     // logical CPUs of the host
  int vm_vcpus = 0;         // the subject's vCPUs (0: not a VM, or not started)
};

// Runs every phase; returns the run directory (also when interrupted: the
// caller prints it and exits non-zero). The analysis and the report are the
// caller's (cinergy run: cli/cmd_run.cpp), on the files of run_dir. An Error means nothing useful
// was measured (bad options, a stale run, no energy source...), already cleaned up.
Result<RunResult> run(const RunOptions& options);

// The stop flag set by SIGINT/SIGTERM (run() installs the handlers while it
// runs and restores the previous ones). Tests may set it directly.
void request_stop();
bool stop_requested();
void clear_stop();

// Sleeps until `deadline` in slices of at most 50 ms; false if a stop was requested.
bool sleep_until(std::chrono::steady_clock::time_point deadline);

}  // namespace cinergy::orchestrator
