// What every pair of consecutive samples must satisfy, checked on every pair
// the writer sees (docs/sampler.md, "Invariants"). Over an interval of
// length dt (the samples' own instants, see CpuAccounting::read):
//
//   * each CPU was busy at most dt + epsilon;
//   * all CPUs together were busy at most online x (dt + epsilon);
//   * a series got at most n x (dt + epsilon), n = the CPUs its tasks can
//     use at once (1 for a thread, else the online CPUs);
//   * the simulated meter drew at most its curve's maximum with its noise at
//     the top of its range, over windows of at least 10 ms (it updates, like
//     RAPL, once per millisecond, so one update more may fall in a window).
//
// epsilon is the accounting's resolution (CpuAccounting::resolution_ns():
// microseconds for bpf, a tick for procfs). A violation means a value that
// does not belong to its interval; it is counted, never hidden or fixed.
// Pure arithmetic: no allocation after construction, usable from the writer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

namespace cinergy::sampler {

struct InvariantLimits {
  std::int64_t epsilon_ns = 0;       // per CPU per interval
  int online_cpus = 1;               // CPUs that can be busy at all
  std::vector<int> series_max_cpus;  // per series: most CPUs at once (0 = online_cpus)
  std::optional<double> max_power_w;  // simulated meter only: curve maximum with its noise bound
  std::optional<std::size_t> power_domain;  // which energy column it bounds (package-global)
  std::int64_t power_window_ns = 10'000'000;
  std::int64_t energy_update_ns = 1'000'000;  // the meter's update period
};

struct InvariantCounts {
  std::uint64_t intervals = 0;   // pairs of samples checked
  std::uint64_t cpu_busy = 0;    // intervals with a CPU busy longer than the interval
  std::uint64_t host_busy = 0;   // ... all CPUs together beyond online x interval
  std::uint64_t series = 0;      // ... a series beyond its CPUs x interval
  std::uint64_t power_windows = 0;  // simulated meter: windows checked
  std::uint64_t sim_power = 0;      // ... windows above the curve's maximum
  // The largest measured/allowed ratio seen per kind (1 = at the bound).
  double worst_cpu_ratio = 0, worst_series_ratio = 0, worst_power_ratio = 0;
  [[nodiscard]] std::uint64_t violations() const {
    return cpu_busy + host_busy + series + sim_power;
  }
  [[nodiscard]] nlohmann::json to_json() const;
};

class InvariantChecker {
 public:
  explicit InvariantChecker(InvariantLimits limits);
  // The next sample (cumulative values, as in the trace). The first one only
  // sets the start; an interval of dt <= 0 is not checked.
  void add(std::int64_t t_ns, std::span<const std::uint64_t> energy_uj,
           std::span<const std::uint64_t> series_cpu_ns,
           std::span<const std::uint64_t> cpu_busy_ns) noexcept;
  [[nodiscard]] const InvariantCounts& counts() const { return counts_; }

 private:
  InvariantLimits lim_;
  InvariantCounts counts_;
  bool have_prev_ = false;
  std::int64_t prev_t_ = 0;
  std::vector<std::uint64_t> prev_series_, prev_busy_;
  std::int64_t window_t0_ = 0;
  std::uint64_t window_e0_ = 0;
};

}  // namespace cinergy::sampler
