#include "cinergy/sampler/invariants.hpp"

#include <algorithm>

namespace cinergy::sampler {

nlohmann::json InvariantCounts::to_json() const {
  return {{"intervals", intervals},
          {"violations", violations()},
          {"cpu_busy", cpu_busy},
          {"host_busy", host_busy},
          {"series", series},
          {"power_windows", power_windows},
          {"sim_power", sim_power},
          {"worst_cpu_ratio", worst_cpu_ratio},
          {"worst_series_ratio", worst_series_ratio},
          {"worst_power_ratio", worst_power_ratio}};
}

InvariantChecker::InvariantChecker(InvariantLimits limits) : lim_(std::move(limits)) {
  lim_.online_cpus = std::max(1, lim_.online_cpus);
  prev_series_.reserve(lim_.series_max_cpus.size());
}

void InvariantChecker::add(std::int64_t t_ns, std::span<const std::uint64_t> energy_uj,
                           std::span<const std::uint64_t> series,
                           std::span<const std::uint64_t> busy) noexcept {
  const auto delta = [](std::uint64_t now, std::uint64_t before) {
    return now > before ? static_cast<double>(now - before) : 0.0;
  };
  if (have_prev_ && t_ns > prev_t_ && busy.size() == prev_busy_.size() &&
      series.size() == prev_series_.size()) {
    ++counts_.intervals;
    const double per_cpu = static_cast<double>(t_ns - prev_t_ + lim_.epsilon_ns);
    double host = 0;
    bool cpu_over = false;
    for (std::size_t c = 0; c < busy.size(); ++c) {
      const double d = delta(busy[c], prev_busy_[c]);
      host += d;
      counts_.worst_cpu_ratio = std::max(counts_.worst_cpu_ratio, d / per_cpu);
      cpu_over = cpu_over || d > per_cpu;
    }
    counts_.cpu_busy += cpu_over ? 1 : 0;
    counts_.host_busy += host > per_cpu * lim_.online_cpus ? 1 : 0;
    bool series_over = false;
    for (std::size_t s = 0; s < series.size(); ++s) {
      const int n = s < lim_.series_max_cpus.size() && lim_.series_max_cpus[s] > 0
                        ? std::min(lim_.series_max_cpus[s], lim_.online_cpus)
                        : lim_.online_cpus;
      const double ratio = delta(series[s], prev_series_[s]) / (per_cpu * n);
      counts_.worst_series_ratio = std::max(counts_.worst_series_ratio, ratio);
      series_over = series_over || ratio > 1;
    }
    counts_.series += series_over ? 1 : 0;
  }
  if (lim_.max_power_w && lim_.power_domain && *lim_.power_domain < energy_uj.size()) {
    const std::uint64_t e = energy_uj[*lim_.power_domain];
    if (!have_prev_) {
      window_t0_ = t_ns;
      window_e0_ = e;
    } else if (t_ns - window_t0_ >= lim_.power_window_ns) {
      const auto dt = static_cast<double>(t_ns - window_t0_);
      const double watts = delta(e, window_e0_) * 1e3 / dt;  // uJ / ns * 1e3 = W
      const double bound = *lim_.max_power_w * (dt + static_cast<double>(lim_.energy_update_ns)) / dt;
      ++counts_.power_windows;
      counts_.worst_power_ratio = std::max(counts_.worst_power_ratio, watts / bound);
      counts_.sim_power += watts > bound ? 1 : 0;
      window_t0_ = t_ns;
      window_e0_ = e;
    }
  }
  prev_t_ = t_ns;
  prev_series_.assign(series.begin(), series.end());
  prev_busy_.assign(busy.begin(), busy.end());
  have_prev_ = true;
}

}  // namespace cinergy::sampler
