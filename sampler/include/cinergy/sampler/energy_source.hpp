// Energy sources: one interface over powercap sysfs, the MSR device, the perf
// `power` PMU and the simulated meter. The sampling loop only sees this
// interface; every kernel path is a parameter so tests run on fake trees.
//
// Invariants of every source:
//  * domains() is fixed after open; the last domain is "package-global", the sum
//    of the package-* domains (never psys), when the source has any package.
//  * read() fills one cumulative 64-bit energy per domain, in uJ, counted from
//    the source's first read (which returns 0 for every domain). Wraps of the
//    hardware counters are corrected (counter.hpp). Values never go backwards.
//  * read() is the hot path: noexcept, no allocation, no logging, no locks.
//    A domain that cannot be read (I/O error, garbage, empty read) keeps its
//    previous value and is counted in the return value (the caller's
//    read_errors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/error.hpp"
#include "cinergy/sampler/specpower.hpp"

namespace cinergy::sampler {

struct DomainInfo {
  std::string name;  // package-0, core-0, dram-1, psys, package-global
  int package = -1;  // package (socket) index; -1 for psys / package-global
  std::uint64_t max_energy_range_uj =
      0;  // wrap of the underlying counter in uJ; 0 = none (64-bit / sum)
};

class EnergySource {
 public:
  virtual ~EnergySource() = default;
  // "powercap", "msr", "perf" or "sim".
  [[nodiscard]] virtual std::string_view kind() const = 0;
  // True only for the simulated meter: every output carrying its figures says so.
  [[nodiscard]] virtual bool simulated() const { return false; }
  // SPECpower result_id of the simulated host curve; empty for real sources.
  [[nodiscard]] virtual std::string sim_host() const { return {}; }
  [[nodiscard]] virtual const std::vector<DomainInfo>& domains() const = 0;
  // Hot path (see above). energy_uj.size() == domains().size().
  // Returns the number of domains that could not be read this time.
  virtual std::size_t read(std::span<std::uint64_t> energy_uj) noexcept = 0;
  // Reads where the time since the previous read was long enough that a whole
  // counter wrap could have been missed (the energy may be short by a multiple
  // of the wrap). Reported in summaries; never hidden.
  [[nodiscard]] virtual std::uint64_t suspect_gaps() const noexcept { return 0; }
  // The most power this source can report (W), when it knows: the simulated
  // meter's curve maximum with its noise at the top of its range. Checked on
  // every 10 ms window of a trace (invariants.hpp). nullopt for real meters.
  [[nodiscard]] virtual std::optional<double> max_power_w() const { return std::nullopt; }
  // Hot path: the sampling loop's CPU accounting read of this sample, just
  // before read(): per-CPU busy ns and the instant they hold for
  // (CLOCK_MONOTONIC). The simulated meter takes its utilisation from it (one
  // accounting read per sample) and accrues energy up to exactly that
  // instant; real meters ignore it. The span stays valid until read().
  virtual void on_accounting_read(std::span<const std::uint64_t> /*cpu_busy_ns*/,
                                  std::int64_t /*at_ns*/) noexcept {}
};

// ---- powercap --------------------------------------------------------------
// Every intel-rapl:P[:S] zone directly under `root` (default /sys/class/powercap).
// Domain name = content of `name`, with "-<P>" appended when it has no '-'
// (core under intel-rapl:0:0 -> core-0), except psys which is platform-wide.
// Errors (before sampling): root missing, no zone, unreadable energy_uj (names
// the file and hints at root), garbage max_energy_range_uj.
Result<std::unique_ptr<EnergySource>> open_powercap(const std::filesystem::path& root);

// ---- msr -------------------------------------------------------------------
// /dev/cpu/N/msr of the first CPU of each package (package from
// <sysfs_cpu_root>/cpuN/topology/physical_package_id). AMD (unit 0xC0010299,
// package 0xC001029B) is tried first, then Intel (unit 0x606; PKG 0x611, PP0
// 0x639, PP1 0x641, DRAM 0x619, PSYS 0x64D); a register that cannot be read at
// open is left out.
Result<std::unique_ptr<EnergySource>> open_msr(const std::filesystem::path& dev_cpu_root,
                                               const std::filesystem::path& sysfs_cpu_root);

// ---- perf ------------------------------------------------------------------
struct PerfEvent {
  std::string
      name;  // sysfs event name: energy-pkg, energy-cores, energy-ram, energy-gpu, energy-psys
  std::uint64_t config;  // perf_event_attr.config, from "event=0x02"
  double scale;          // unit per count (Joules per count for the power PMU)
  std::string unit;      // "Joules"
};
struct PerfPmu {
  std::uint32_t type = 0;  // perf_event_attr.type, from <root>/type
  std::vector<int> cpus;   // <root>/cpumask: one CPU per package
  std::vector<PerfEvent> events;
};
// Parses "event=0x02" (other terms are rejected: the power PMU uses only event=).
Result<std::uint64_t> parse_perf_event_config(std::string_view text);
// Reads the power PMU description under `root` (/sys/bus/event_source/devices/power).
Result<PerfPmu> read_perf_pmu(const std::filesystem::path& root);
// Domain name for a perf event on a package: energy-pkg -> package-P, energy-cores
// -> core-P, energy-ram -> dram-P, energy-gpu -> uncore-P, energy-psys -> psys.
std::string perf_domain_name(std::string_view event_name, int package);
Result<std::unique_ptr<EnergySource>> open_perf(const std::filesystem::path& perf_root,
                                                const std::filesystem::path& sysfs_cpu_root);

// ---- sim -------------------------------------------------------------------
// Where the simulated meter gets the host's CPU utilisation from. busy_fraction()
// is called from read() (hot path): fraction of all CPUs busy since its previous
// call, in [0, 1]; returns a negative value when it cannot tell (the meter keeps
// the previous utilisation and counts a read error).
class UtilisationSource {
 public:
  virtual ~UtilisationSource() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;  // "bpf", "procfs", "proc-stat", ...
  virtual double busy_fraction() noexcept = 0;
  // Per-CPU busy ns already read by the caller at `at_ns`: the next
  // busy_fraction() uses them instead of reading again (sources that cannot
  // use them ignore them). Hot path.
  virtual void feed(std::span<const std::uint64_t> /*cpu_busy_ns*/, std::int64_t /*at_ns*/) noexcept {
  }
  // The finest interval worth asking at (the meter reuses the last value in
  // between): 10 ms for /proc/stat ticks, 0 for exact sources.
  [[nodiscard]] virtual std::int64_t min_refresh_ns() const { return 0; }
};
// From /proc/stat (10 ms ticks: the meter refreshes it at most every 10 ms).
Result<std::unique_ptr<UtilisationSource>> open_proc_stat_utilisation(
    const std::filesystem::path& proc_stat = "/proc/stat");
// From CpuAccounting::read()'s exact per-CPU busy ns (or those fed by the
// sampling loop), as a fraction of the online CPUs (<sysfs_cpu_root>/online:
// the accounting covers every possible CPU, and offline ones are never busy).
// `accounting` must outlive it and all its subjects must be added before this
// is called.
Result<std::unique_ptr<UtilisationSource>> open_accounting_utilisation(
    bpf::CpuAccounting* accounting,
    const std::filesystem::path& sysfs_cpu_root = "/sys/devices/system/cpu");

struct SimOptions {
  SpecCurve curve;
  std::uint64_t seed = 1;
  // Initial 32-bit raw counter value (hardware counters start anywhere);
  // nullopt = derived from the seed.
  std::optional<std::uint32_t> initial_raw;
  // CLOCK_MONOTONIC ns; injectable for tests. nullptr = the real clock.
  std::int64_t (*clock_ns)() = nullptr;
  // Relative standard deviation of the per-update noise (0.01 = 1 %).
  double noise_rel = 0.01;
};
// One RAPL-like package: domains package-0 and package-global. A 32-bit
// counter in 61.035 uJ units (ESU 14) that wraps, updated lazily inside read()
// once per elapsed whole millisecond with curve(utilisation) + noise.
Result<std::unique_ptr<EnergySource>> open_sim(SimOptions options,
                                               std::unique_ptr<UtilisationSource> utilisation);

// Median interval (ms) between changes of the source's first domain, polled
// every ~0.2 ms for `poll_ms` (setup only: it sleeps); nullopt when it changed
// fewer than three times. RAPL updates about every 1 ms.
std::optional<double> measure_update_interval_ms(EnergySource& source, int poll_ms);

// Seconds until a counter of range `max_energy_range_uj` wraps at `watts`.
inline double wrap_time_s(double max_energy_range_uj, double watts) {
  return max_energy_range_uj / (watts * 1e6);
}

}  // namespace cinergy::sampler
