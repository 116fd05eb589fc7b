// `cinergy probe`: what this host offers for measuring energy and CPU time,
// and for running VMs. Every item has "ok" and, when not ok, "reason" (one
// line) and "fix" (what to do). Never fails: missing things are findings, not
// errors. It asks every library (sampler, bpf, vm) and belongs to none, so it
// lives with the executable.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace cinergy::cli {

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
  bool check_kvm = true;        // boots a test guest under KVM (vm::probe_kvm, up to ~25 s)
};

// Runs every check. JSON: {"energy": {"powercap": {...}, "msr": {...}, "perf":
// {...}, "sim": {...}}, "topology": {...}, "cgroup": {...}, "bpf": {...},
// "libvirt": {...}, "stress_ng": {...}, "kvm": {...}}.
nlohmann::json run_probe(const ProbeOptions& options);

// The same as a table for people.
std::string format_probe(const nlohmann::json& probe);

}  // namespace cinergy::cli
