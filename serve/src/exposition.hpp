// What `cinergy serve` exposes at /metrics: one snapshot of every figure,
// made once per interval by the serve loop and turned into Prometheus
// metric families then (not per scrape); the HTTP threads only copy the
// families of the latest snapshot. Metric names, labels and units are the
// contract of docs/serve.md ("Metrics").
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compute.hpp"

namespace cinergy::serve::detail {

// Labels of every per-subject series. A subject that stops and starts again
// (a VM restarted, a cgroup re-created) gets another `started`, so it is a
// new series and its counters never go backwards.
struct SubjectLabels {
  std::string kind;     // vm | cgroup | pid
  std::string name;     // domain name, or the NAME of --cgroup/--pid
  std::string uuid;     // the domain's uuid; empty for cgroup and pid subjects
  std::string started;  // Unix time (s, 3 decimals) the subject started or was first seen
};

struct SubjectSample {
  SubjectLabels labels;
  // Cumulative CPU seconds since serve began tracking it, per thread label:
  // "total" first, then (VMs) "vcpu0", ..., "emulator", ...
  std::vector<std::pair<std::string, double>> cpu_s;
  std::optional<Figures> figures;             // none before its first complete interval
  double isolated_j = 0, proportional_j = 0;  // integrals of the power over its intervals
};

struct ZoneSample {
  std::string zone;               // package-0, core-0, dram-0, psys, package-global, ...
  std::optional<double> power_w;  // over the last interval
  double energy_j = 0;            // since serve started
};

struct Snapshot {
  std::vector<SubjectSample> subjects;
  std::vector<ZoneSample> zones;
  double host_busy_cpu_s = 0;  // busy CPU seconds of all CPUs since serve started
  int host_threads = 0;        // online CPUs of this host
  bool simulated = false;
  std::uint64_t samples = 0, dropped = 0, read_errors = 0;
  std::uint64_t subjects_ended = 0;  // subjects that went away since serve started
  bool libvirt_enabled = false, libvirt_up = false;
  std::uint64_t libvirt_reconnects = 0, libvirt_events = 0;
  std::string version, source, cpu_backend, model_method;
  int model_host_threads = 0;
  double model_idle_w = 0;
  bool model_simulated = false;
  double interval_s = 1;
};

// The families of a snapshot: the contract's names first, then the others.
// Interval families (_low/_high) only when some subject has an interval.
std::vector<prometheus::MetricFamily> to_families(const Snapshot& s);

// The /metrics collectable: returns a copy of the last published families.
class Exposition final : public prometheus::Collectable {
 public:
  void publish(std::vector<prometheus::MetricFamily> families);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> families_;
};

}  // namespace cinergy::serve::detail
