// manifest.json of a run directory: what ran, where, how, and whether it
// finished. Written at the start (status "running") and rewritten at the end,
// also after an interruption or an error (status "interrupted"/"failed",
// "interrupted": true, "interrupted_at": {scenario, level, window}).
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/orchestrator/staircase.hpp"

namespace cinergy::orchestrator {

struct ManifestInputs {
  std::string run_id;
  std::vector<std::string> command_line;
  std::string host_name;
  Topology topology;
  nlohmann::json rapl;  // source, domains, simulated, sim_host, note
  bool simulated = false;
  nlohmann::json cpu_accounting;  // backend, fallback_reason
  std::string csv_prefix;
  nlohmann::json settings;  // settings_json(options)
  nlohmann::json plan;      // [{phase, scenario, step, levels}]
  double planned_seconds = 0;
  nlohmann::json vm;        // Vm::describe(), or null
  nlohmann::json versions;  // cinergy, kernel, stress-ng, libvirt
  nlohmann::json cgroups;   // root, noise
  // Where C's SCHED_IDLE noise competes for the CPU (NoiseCpuPlacement::to_json
  // plus "cgroup2": the noise's cgroup2 dir); refreshed after each phase.
  nlohmann::json noise;
  bool libvirt_connected = false;
  std::chrono::system_clock::time_point start;
};

nlohmann::json initial_manifest(const ManifestInputs& in);

struct ManifestEnd {
  bool interrupted = false;
  std::string error;     // empty unless the run failed
  std::string scenario;  // where it stopped (interrupted)
  int level = -1, window = -1;
  std::string by;  // "SIGINT", "SIGTERM", "error", ...
  std::chrono::system_clock::time_point end;
};

// Sets end_utc, status, interrupted (true after a signal or an error) and interrupted_at.
void finish_manifest(nlohmann::json& manifest, const ManifestEnd& end);

// <run_dir>/manifest.json, written atomically (readers never see half of it).
Result<void> write_manifest(const std::filesystem::path& run_dir, const nlohmann::json& manifest);

}  // namespace cinergy::orchestrator
