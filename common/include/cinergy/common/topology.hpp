// The host's logical CPUs as sysfs shows them, read once at setup: which are
// online, which socket (physical package) and core each belongs to.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

struct Topology {
  // Online logical CPUs of each socket, sockets in physical_package_id order,
  // CPUs ascending. Every online CPU appears exactly once.
  std::vector<std::vector<int>> socket_cpus;
  int cores = 0;  // distinct (package, core_id) pairs

  [[nodiscard]] int threads() const;
  [[nodiscard]] int sockets() const { return static_cast<int>(socket_cpus.size()); }
  // Socket index of each logical CPU (index = CPU number; -1 when offline).
  [[nodiscard]] std::vector<int> cpu_socket() const;
  // The lowest online CPU of each socket (where a package's counters are read).
  [[nodiscard]] std::vector<int> first_cpu_of_each_socket() const;
};

// From <sysfs_cpu_root>/online and cpuN/topology/{physical_package_id,core_id}
// (default root /sys/devices/system/cpu). Missing topology files count as
// socket 0 / core N.
Result<Topology> read_topology(
    const std::filesystem::path& sysfs_cpu_root = "/sys/devices/system/cpu");

// CLOCK_MONOTONIC in ns: the time base of traces, events and BPF (no
// allocation, no error: usable in the sampling loop).
inline std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace cinergy
