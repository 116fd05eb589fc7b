// Host topology and the load staircase of scenarios A and C.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::orchestrator {

struct Topology {
  // Logical CPUs of each socket, sockets in physical_package_id order, CPUs
  // ascending. Every online CPU appears exactly once.
  std::vector<std::vector<int>> socket_cpus;
  int cores = 0;  // distinct (package, core_id) pairs

  [[nodiscard]] int threads() const;
  [[nodiscard]] int sockets() const { return static_cast<int>(socket_cpus.size()); }
  // Socket index of each logical CPU (index = CPU number; -1 if offline).
  [[nodiscard]] std::vector<int> cpu_socket() const;
  [[nodiscard]] nlohmann::json to_json() const;
};

// From <sysfs_cpu_root>/online and cpuN/topology/{physical_package_id,core_id}
// (default root /sys/devices/system/cpu). Missing topology files count as
// socket 0 / core N.
Result<Topology> read_topology(const std::filesystem::path& sysfs_cpu_root);

// One load level: the host target load and the workers running during it.
struct Level {
  int index = 0;          // 0 = idle
  double target_pct = 0;  // workers x step / threads, % of the host
  int workers = 0;        // stress-ng workers running at this level
  int socket = -1;        // socket of the worker added for this level (-1 at idle)
  std::vector<int> cpus;  // CPUs that worker is placed on (empty at idle)
};

// The original's staircase for one step S (1..100, dividing nothing in
// particular): the idle level, then for each socket, for each of its logical
// CPUs, 100/S times (integer division, at least once): one more worker.
// So threads x (100/S) + 1 levels. `pin_socket` places each worker on the
// CPUs of its socket (else cpus stay empty: the scheduler places it).
std::vector<Level> staircase(const Topology& topology, int step_pct, bool pin_socket);

}  // namespace cinergy::orchestrator
