#include "host_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <charconv>

#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/orchestrator/run.hpp"

namespace cinergy::orchestrator::detail {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

std::string kernel_release() {
  struct utsname u {};
  if (::uname(&u) != 0) return "unknown";
  return u.release;
}

std::string first_line_of(const std::vector<std::string>& argv) {
  auto r = run_capture(argv, std::chrono::seconds(5), [] { return stop_requested(); });
  if (!r || r->exit_code != 0) return "unavailable";
  auto line = r->output.substr(0, r->output.find('\n'));
  return line.empty() ? "unknown" : line;
}

std::vector<double> socket_freq_khz(const std::filesystem::path& sysfs_cpu_root,
                                    const Topology& topo) {
  std::vector<double> out;
  for (const auto& cpus : topo.socket_cpus) {
    double sum = 0;
    int n = 0;
    for (int c : cpus) {
      auto v = read_trimmed(sysfs_cpu_root / ("cpu" + std::to_string(c)) / "cpufreq" /
                            "scaling_cur_freq");
      double khz = 0;
      if (!v) continue;
      const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), khz);
      if (ec != std::errc{} || p != v->data() + v->size()) continue;
      sum += khz;
      ++n;
    }
    out.push_back(n > 0 ? sum / n : 0.0);
  }
  return out;
}

}  // namespace cinergy::orchestrator::detail
