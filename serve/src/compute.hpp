// What serve computes for one subject over one interval: pure arithmetic,
// table-tested (tests/serve/compute_test.cpp). Units in the names: CPU in s
// or % of one CPU, shares in % of the model host, power in W.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>

#include "model_adapter.hpp"

namespace cinergy::serve::detail {

// The host over the interval.
struct HostInterval {
  double dt_s = 0;        // length of the interval (the CPU accounting's instants)
  double busy_cpu_s = 0;  // busy CPU time of all CPUs together
  // Host power over the interval (the package-global domain); nullopt when
  // the energy could not be read over it (no new sample).
  std::optional<double> power_w;
};

// One subject's figures over the interval.
struct Figures {
  double cpu_pct = 0;    // its CPU, % of one CPU (200 = two CPUs busy)
  double share_pct = 0;  // cpu_pct / the model host's threads: the model's x
  double intensity_pct = std::numeric_limits<double>::quiet_NaN();  // NaN: unknown
  IsolatedEstimate isolated;                                        // from the model
  // Host power x its share of the host's busy CPU time (what proportional
  // tools report); nullopt without host power.
  std::optional<double> proportional_w;
  std::optional<double> ratio;  // proportional_w / isolated.watts (the Cinergy ratio)
};

// `cpu_s`: the subject's CPU time over the interval; `vcpu_pct`: each vCPU's
// load (% of one CPU) for a VM, empty otherwise. dt_s must be > 0.
inline Figures compute_figures(const PowerModel& model, const HostInterval& host, double cpu_s,
                               std::span<const double> vcpu_pct) {
  Figures f;
  f.cpu_pct = 100.0 * cpu_s / host.dt_s;
  f.share_pct = f.cpu_pct / model.host_threads();
  if (!vcpu_pct.empty()) f.intensity_pct = PowerModel::intensity_pct(vcpu_pct);
  f.isolated = model.isolated(f.share_pct, f.intensity_pct);
  if (host.power_w) {
    // Its share of what ran: at most all of it (a subject never runs more
    // than the host, but two reads of different counters can disagree by
    // their resolution).
    const double share_of_busy = host.busy_cpu_s > 0 ? std::min(1.0, cpu_s / host.busy_cpu_s) : 0;
    f.proportional_w = *host.power_w * share_of_busy;
    if (f.isolated.watts > 0) f.ratio = *f.proportional_w / f.isolated.watts;
  }
  return f;
}

}  // namespace cinergy::serve::detail
