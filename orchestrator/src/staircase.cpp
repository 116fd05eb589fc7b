#include "cinergy/orchestrator/staircase.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "fs_util.hpp"

namespace cinergy::orchestrator {
namespace fs = std::filesystem;

int Topology::threads() const {
  int n = 0;
  for (const auto& s : socket_cpus) n += static_cast<int>(s.size());
  return n;
}

std::vector<int> Topology::cpu_socket() const {
  int max_cpu = -1;
  for (const auto& s : socket_cpus)
    for (int c : s) max_cpu = std::max(max_cpu, c);
  std::vector<int> map(static_cast<std::size_t>(max_cpu + 1), -1);
  for (std::size_t s = 0; s < socket_cpus.size(); ++s)
    for (int c : socket_cpus[s]) map[static_cast<std::size_t>(c)] = static_cast<int>(s);
  return map;
}

nlohmann::json Topology::to_json() const {
  return {{"threads", threads()},
          {"sockets", sockets()},
          {"cores", cores},
          {"socket_cpus", socket_cpus}};
}

namespace {
// "0-3,8,10-11" -> {0,1,2,3,8,10,11}
Result<std::vector<int>> parse_cpu_list(const std::string& text, const fs::path& where) {
  std::vector<int> cpus;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const auto item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    int a = 0, b = 0;
    const auto dash = item.find('-');
    try {
      a = std::stoi(item.substr(0, dash));
      b = dash == std::string::npos ? a : std::stoi(item.substr(dash + 1));
    } catch (...) {
      return fail(fmt::format("bad CPU list '{}' in {}", text, where.string()));
    }
    if (a < 0 || b < a) return fail(fmt::format("bad CPU list '{}' in {}", text, where.string()));
    for (int c = a; c <= b; ++c) cpus.push_back(c);
  }
  return cpus;
}
}  // namespace

Result<Topology> read_topology(const fs::path& root) {
  auto online = detail::read_line(root / "online");
  if (!online) return fail("cannot read " + (root / "online").string());
  auto cpus = parse_cpu_list(*online, root / "online");
  if (!cpus) return std::unexpected(cpus.error());
  if (cpus->empty()) return fail("no online CPU in " + (root / "online").string());
  std::map<int, std::vector<int>> by_package;
  std::set<std::pair<int, int>> cores;
  for (int c : *cpus) {
    const auto topo = root / fmt::format("cpu{}", c) / "topology";
    int package = 0, core = c;
    if (auto p = detail::read_line(topo / "physical_package_id")) package = std::atoi(p->c_str());
    if (auto k = detail::read_line(topo / "core_id")) core = std::atoi(k->c_str());
    by_package[package].push_back(c);
    cores.insert({package, core});
  }
  Topology t;
  for (auto& [_, list] : by_package) {
    std::sort(list.begin(), list.end());
    t.socket_cpus.push_back(list);
  }
  t.cores = static_cast<int>(cores.size());
  return t;
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
