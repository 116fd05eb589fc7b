// A realistic run directory for the report's tests, written from a synthetic
// host (4 threads, concave power curve) and a 2-vCPU VM: high-rate traces
// (several gzip members), sidecars, events, original-format CSVs, manifest,
// models, isolated estimates and evaluations of both methods.
#pragma once

#include <filesystem>

namespace cinergy::test {

struct FixtureOptions {
  double rate_hz = 100;          // trace sampling rate
  double level_s = 4;            // seconds per load level (scenario A and C)
  double vm_period_s = 6;        // seconds per VM workload phase (4 phases per cycle)
  int vm_cycles = 2;             // workload cycles in B and C
  bool traces = true;            // write trace-*.csv.gz (+ meta, events)
  bool analysis = true;          // write model/isolated/evaluation files
  bool truncate_cloudlike = false;  // cut the last gzip member short (a killed writer)
};

void write_fixture(const std::filesystem::path& dir, const FixtureOptions& options);

}  // namespace cinergy::test
