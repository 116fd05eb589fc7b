#include "cinergy/orchestrator/staircase.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace cinergy::orchestrator {
namespace fs = std::filesystem;

nlohmann::json topology_json(const Topology& t) {
  return {{"threads", t.threads()},
          {"sockets", t.sockets()},
          {"cores", t.cores},
          {"socket_cpus", t.socket_cpus}};
}

std::vector<Level> staircase(const Topology& topology, int step_pct, bool pin_socket) {
  std::vector<Level> levels;
  step_pct = std::clamp(step_pct, 1, 100);
  const int repeats = std::max(1, 100 / step_pct);
  const int threads = std::max(1, topology.threads());
  levels.push_back(Level{});
  int workers = 0;
  for (std::size_t s = 0; s < topology.socket_cpus.size(); ++s) {
    for (std::size_t i = 0; i < topology.socket_cpus[s].size(); ++i) {
      for (int r = 0; r < repeats; ++r) {
        ++workers;
        Level l;
        l.index = static_cast<int>(levels.size());
        l.workers = workers;
        l.target_pct = static_cast<double>(workers) * step_pct / threads;
        l.socket = static_cast<int>(s);
        if (pin_socket) l.cpus = topology.socket_cpus[s];
        levels.push_back(std::move(l));
      }
    }
  }
  return levels;
}

}  // namespace cinergy::orchestrator
