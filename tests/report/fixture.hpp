// A realistic run directory for the report's tests, written from a synthetic
// host (4 threads, concave power curve) and a 2-vCPU VM: high-rate traces
// (several xz streams, by the sampler's trace writer), sidecars (with the
// writer's final "trace" figures, as a stopped run writes them), events,
// original-format CSVs, manifest, and the model library's models, isolated
// estimates and evaluations of both methods. Deterministic: a seeded RNG.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cinergy::test {

struct FixtureOptions {
  double rate_hz = 100;    // trace sampling rate
  double level_s = 4;      // seconds per load level (scenario A and C)
  double vm_period_s = 6;  // seconds per VM workload phase (4 phases per cycle)
  int vm_cycles = 2;       // workload cycles in B and C
  bool traces = true;      // write trace-<phase><trace_suffix> (+ meta, events)
  // .csv.xz as `cinergy run` writes them; .csv.gz for a run of older versions.
  std::string trace_suffix = ".csv.xz";
  bool analysis = true;  // write model/isolated/evaluation files (the model library's analyze())
  // Cut the last stream/member short (as a killed writer does), after the
  // sidecar's figures were taken: they then claim more rows than the file has.
  bool truncate_cloudlike = false;
  // Scenario A's staircase steps (per-worker load, %), as `cinergy run --steps`.
  std::vector<int> steps = {25, 50, 100};
};

// Returns an error message, empty on success.
std::string write_fixture(const std::filesystem::path& dir, const FixtureOptions& options);

}  // namespace cinergy::test
