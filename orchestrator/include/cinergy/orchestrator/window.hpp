// Window aggregates: the values of one measurement window, computed from two
// cumulative snapshots of the sampler (Sampler::latest() at the window's
// start and end). Pure arithmetic, no I/O: exact deltas of cumulative
// counters (energy is already wrap-corrected by the sampler, so every window
// has every domain, package-global included).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cinergy/sampler/sampler.hpp"

namespace cinergy::orchestrator {

// Meaning of the snapshot vectors (fixed for one sampler).
struct WindowLayout {
  std::vector<std::string> domain_names;  // Sampler::domain_names(): package-0, dram-0, ...
  std::vector<std::string> series_names;  // CpuAccounting::series(): "vm", "vm/vcpu0", "noise"
  std::vector<int> cpu_socket;            // socket of each CPU index of cpu_busy_ns (-1: ignore)
  int sockets = 1;
  std::string vm_label = "vm";  // subject whose series become "vm" and "CPU<n>"
};

// One row of the original long format: domain name and value.
using Row = std::pair<std::string, double>;

struct WindowValues {
  double dt_s = 0;
  // In the original's order: <domain>-joule/-watt per domain, package-global,
  // cpu%_package-global, cpu%_package-<s> and freq_package-<s> per socket,
  // vm, CPU<n> per vCPU child. Values unrounded.
  std::vector<Row> rows;
  std::optional<double> host_watt;  // package-global mean power, if energy was included
  double host_cpu_pct = 0;          // cpu%_package-global
  // Every subject total ("vm", "noise", ...) in % of one CPU, for --live.
  std::vector<Row> subject_cpu_pct;
  // The host's busy time that no subject of the run accounts for (other
  // processes, the recorder itself), in % of the host like
  // cpu%_package-global; >= 0. A quiet host keeps it near 0: it is counted in
  // the measured power but in no subject's CPU.
  double other_cpu_pct = 0;
};

// `with_energy` false for the first window of a scenario (the original wrote
// no RAPL rows there). `freq_khz` holds the mean scaling_cur_freq of each
// socket read at the window's end (empty when the host has none: no rows).
// Counters that went backwards or a dt <= 0 give no row for that value.
WindowValues aggregate_window(const WindowLayout& layout, const sampler::Snapshot& start,
                              const sampler::Snapshot& end, bool with_energy,
                              const std::vector<double>& freq_khz = {});

// "vm/vcpu3" -> 3 when the label matches; nullopt otherwise.
std::optional<int> vcpu_index(const std::string& series, const std::string& vm_label);

}  // namespace cinergy::orchestrator
