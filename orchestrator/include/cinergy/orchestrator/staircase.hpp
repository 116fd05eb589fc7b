// The load staircase of scenarios A and C (the host topology: common/topology.hpp).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/common/topology.hpp"

namespace cinergy::orchestrator {

using cinergy::Topology;

// The manifest's "topology": threads, sockets, cores, socket_cpus.
nlohmann::json topology_json(const Topology& topology);

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
