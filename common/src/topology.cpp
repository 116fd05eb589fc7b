#include "cinergy/common/topology.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "cinergy/common/cpu_list.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/text.hpp"

namespace cinergy {
namespace fs = std::filesystem;

namespace {

std::optional<int> read_int(const fs::path& file) {
  auto text = read_trimmed(file);
  return text ? parse_int(*text) : std::nullopt;
}

}  // namespace

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

std::vector<int> Topology::first_cpu_of_each_socket() const {
  std::vector<int> out;
  for (const auto& s : socket_cpus)
    if (!s.empty()) out.push_back(s.front());
  return out;
}

Result<Topology> read_topology(const fs::path& root) {
  auto online = read_trimmed(root / "online");
  if (!online) return fail("cannot read " + (root / "online").string());
  auto cpus = parse_cpu_list(*online);
  if (!cpus) return fail((root / "online").string() + ": " + cpus.error().message);
  std::map<int, std::vector<int>> by_package;
  std::set<std::pair<int, int>> cores;
  for (int c : *cpus) {
    const auto topo = root / ("cpu" + std::to_string(c)) / "topology";
    const int package = read_int(topo / "physical_package_id").value_or(0);
    const int core = read_int(topo / "core_id").value_or(c);
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

}  // namespace cinergy
