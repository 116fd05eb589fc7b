// `cinergy probe`: what this host offers for measuring energy and CPU time.
// Every item has "ok" and, when not ok, "reason" (one line) and "fix" (what
// to do). Never fails: missing things are findings, not errors.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace cinergy::sampler {

struct ProbeOptions {
  std::filesystem::path powercap_root = "/sys/class/powercap";
  std::filesystem::path dev_cpu_root = "/dev/cpu";
  std::filesystem::path perf_root = "/sys/bus/event_source/devices/power";
  std::filesystem::path sysfs_cpu_root = "/sys/devices/system/cpu";
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  std::filesystem::path btf = "/sys/kernel/btf/vmlinux";
  int poll_ms = 200;            // per real source, to measure the counter update interval
  bool check_libvirt = true;    // virConnectOpenReadOnly(default URI)
  bool check_stress_ng = true;  // stress-ng --version
};

// Runs every check. JSON: {"energy": {"powercap": {...}, "msr": {...}, "perf":
// {...}, "sim": {...}}, "topology": {...}, "cgroup": {...}, "bpf": {...},
// "libvirt": {...}, "stress_ng": {...}}.
nlohmann::json run_probe(const ProbeOptions& options);

// The same as a table for people.
std::string format_probe(const nlohmann::json& probe);

// Median interval (ms) between changes of the source's first domain polled
// every ~0.2 ms for poll_ms; nullopt when it never changed twice.
class EnergySource;
std::optional<double> measure_update_interval_ms(EnergySource& source, int poll_ms);

// Wrap time in seconds of a counter range (uJ) at `watts`.
inline double wrap_time_s(double max_energy_range_uj, double watts) {
  return max_energy_range_uj / (watts * 1e6);
}

}  // namespace cinergy::sampler
