#include "cinergy/orchestrator/window.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace cinergy::orchestrator {

std::optional<int> vcpu_index(const std::string& series, const std::string& vm_label) {
  const std::string prefix = vm_label + "/vcpu";
  if (!series.starts_with(prefix) || series.size() == prefix.size()) return std::nullopt;
  int n = 0;
  const char* b = series.data() + prefix.size();
  const char* e = series.data() + series.size();
  auto [p, ec] = std::from_chars(b, e, n);
  if (ec != std::errc{} || p != e || n < 0) return std::nullopt;
  return n;
}

namespace {
std::optional<double> delta(const std::vector<std::uint64_t>& a,
                            const std::vector<std::uint64_t>& b, std::size_t i) {
  if (i >= a.size() || i >= b.size() || b[i] < a[i]) return std::nullopt;
  return static_cast<double>(b[i] - a[i]);
}
}  // namespace

WindowValues aggregate_window(const WindowLayout& layout, const sampler::Snapshot& start,
                              const sampler::Snapshot& end, bool with_energy,
                              const std::vector<double>& freq_khz) {
  WindowValues w;
  const double dt_ns = static_cast<double>(end.t_ns - start.t_ns);
  if (dt_ns <= 0) return w;
  w.dt_s = dt_ns / 1e9;

  if (with_energy) {
    std::optional<double> global_j;
    double package_sum_j = 0;
    bool package_complete = true;
    int packages = 0;
    for (std::size_t i = 0; i < layout.domain_names.size(); ++i) {
      const auto& name = layout.domain_names[i];
      const auto d = delta(start.energy_uj, end.energy_uj, i);
      if (name.starts_with("package-") && name != "package-global") {
        ++packages;
        if (d)
          package_sum_j += *d / 1e6;
        else
          package_complete = false;
      }
      if (!d) continue;
      const double j = *d / 1e6;
      if (name == "package-global") {
        global_j = j;
        continue;  // written after the per-domain rows, as the original did
      }
      w.rows.emplace_back(name + "-joule", j);
      w.rows.emplace_back(name + "-watt", j / w.dt_s);
    }
    if (!global_j && packages > 0 && package_complete) global_j = package_sum_j;
    if (global_j) {
      w.rows.emplace_back("package-global-joule", *global_j);
      w.rows.emplace_back("package-global-watt", *global_j / w.dt_s);
      w.host_watt = *global_j / w.dt_s;
    }
  }

  // Host and per-socket utilisation from per-CPU busy time.
  std::vector<double> busy(static_cast<std::size_t>(std::max(layout.sockets, 1)), 0.0);
  std::vector<int> count(busy.size(), 0);
  double busy_all = 0;
  int cpus_all = 0;
  for (std::size_t c = 0; c < layout.cpu_socket.size(); ++c) {
    const int s = layout.cpu_socket[c];
    if (s < 0 || static_cast<std::size_t>(s) >= busy.size()) continue;
    const auto d = delta(start.cpu_busy_ns, end.cpu_busy_ns, c);
    if (!d) continue;
    busy[static_cast<std::size_t>(s)] += *d;
    ++count[static_cast<std::size_t>(s)];
    busy_all += *d;
    ++cpus_all;
  }
  if (cpus_all > 0) {
    w.host_cpu_pct = 100.0 * busy_all / (dt_ns * cpus_all);
    w.rows.emplace_back("cpu%_package-global", w.host_cpu_pct);
  }
  for (std::size_t s = 0; s < busy.size(); ++s) {
    if (count[s] > 0)
      w.rows.emplace_back(fmt::format("cpu%_package-{}", s), 100.0 * busy[s] / (dt_ns * count[s]));
    if (s < freq_khz.size() && freq_khz[s] > 0)
      w.rows.emplace_back(fmt::format("freq_package-{}", s), freq_khz[s]);
  }

  // The VM: its subtree total as "vm", each vcpuN child as "CPU<N>" (by N).
  std::map<int, double> vcpus;
  double subjects_ns = 0;
  for (std::size_t i = 0; i < layout.series_names.size(); ++i) {
    const auto& name = layout.series_names[i];
    const auto d = delta(start.series_cpu_ns, end.series_cpu_ns, i);
    if (!d) continue;
    const double pct = 100.0 * *d / dt_ns;
    if (name.find('/') == std::string::npos) {
      w.subject_cpu_pct.emplace_back(name, pct);
      subjects_ns += *d;
    }
    if (name == layout.vm_label) w.rows.emplace_back("vm", pct);
    if (auto n = vcpu_index(name, layout.vm_label)) vcpus[*n] = pct;
  }
  for (const auto& [n, pct] : vcpus) w.rows.emplace_back(fmt::format("CPU{}", n), pct);
  if (cpus_all > 0)
    w.other_cpu_pct = std::max(0.0, 100.0 * (busy_all - subjects_ns) / (dt_ns * cpus_all));
  return w;
}

}  // namespace cinergy::orchestrator
