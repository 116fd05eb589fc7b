// The high-frequency sampler: energy of every RAPL domain plus per-subject CPU
// time, on absolute deadlines, handed through a lock-free SPSC queue to a
// writer thread that writes the trace. This is the interface the cinergy
// executable and the orchestrator use; the pieces behind it (energy sources,
// counter arithmetic, trace writer) have their own headers in this folder.
//
// Trace format (one file per recording: CSV compressed as the name says,
// .csv.xz (what `cinergy run` writes), .csv.gz or plain .csv, see
// trace_writer.hpp; loads with `pandas.read_csv(path)` or
// cinergy::read_lines; written as a series of complete xz streams / gzip
// members, one every second, so a killed run loses at most the last second):
//   t_ns                       ns since the trace's t0 (CLOCK_MONOTONIC), int
//   simulated                  1 when the energy comes from the simulated meter, else 0
//   <domain>_energy_uj         cumulative energy since t0, uJ, wraps corrected
//                              (package-0, core-0, dram-0, psys, package-global, ...)
//   cpu_ns:<series>            cumulative CPU ns of a subject series since t0
//                              (cpu_ns:vm, cpu_ns:vm/vcpu0, cpu_ns:noise, ...)
//   busy_ns:cpu<N>             cumulative busy ns of logical CPU N since t0
// A sidecar "<trace>.meta.json" holds: source, simulated, sim_host, rate_hz,
// t0_monotonic_ns, t0_realtime_ns (the realtime offset, recorded once),
// domains (name, max_energy_range_uj), series, cpu backend, and at the end the
// summary (samples, dropped, read_errors, lateness, interrupted, the
// invariant checks of every interval: invariants.hpp) and "trace":
// {"rows": data rows in the file, "t_first_ns", "t_last_ns": t_ns of its first
// and last row (null without rows)}, exact for the file as closed (the report
// plans its levels from them and reads the trace once). Both are null while
// running; "trace" stays null when the run was killed or writing the trace
// failed (TraceWriter::closed_figures).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/error.hpp"
#include "cinergy/sampler/invariants.hpp"

namespace cinergy::sampler {

// Which energy source to use. auto = perf, then powercap, then msr; never sim.
struct SourceOptions {
  std::string source = "auto";  // auto|powercap|msr|perf|sim
  std::filesystem::path powercap_root = "/sys/class/powercap";
  std::filesystem::path dev_cpu_root = "/dev/cpu";
  std::filesystem::path perf_sysfs_root = "/sys/bus/event_source/devices/power";
  std::filesystem::path sysfs_cpu_root = "/sys/devices/system/cpu";
  // Simulated meter: SPECpower result_id of the host curve, and the CSV.
  std::string sim_host;  // empty = documented default
  std::filesystem::path
      specpower_csv;  // empty = the copy of data/specpower-curves.csv embedded at build time
  std::uint64_t sim_seed = 1;
};

struct SamplerConfig {
  double rate_hz = 1000.0;               // (0, 100000]
  std::optional<int> pin_cpu;            // sched_setaffinity of the sampling thread
  std::optional<int> fifo_priority;      // SCHED_FIFO priority of the sampling thread
  std::size_t queue_samples = 1u << 14;  // SPSC queue capacity, in samples
  std::filesystem::path trace_path;      // empty = no trace written
  // Where the online CPUs are listed (the invariants' and host busy % denominator).
  std::filesystem::path sysfs_cpu_root = "/sys/devices/system/cpu";
};

// The queue a long recording wants at `rate_hz`: at least 5 s of samples
// (the writer thread may be starved that long on a loaded host), never less
// than the default.
inline std::size_t queue_samples_for(double rate_hz) {
  return std::max<std::size_t>(SamplerConfig{}.queue_samples,
                               static_cast<std::size_t>(rate_hz * 5));
}

// One cumulative reading, as seen by consumers of Sampler::latest().
struct Snapshot {
  std::int64_t t_ns = 0;                     // since t0
  std::vector<std::uint64_t> energy_uj;      // per domain, same order as domain_names()
  std::vector<std::uint64_t> series_cpu_ns;  // per CPU-accounting series
  std::vector<std::uint64_t> cpu_busy_ns;    // per logical CPU
  std::uint64_t samples = 0, dropped = 0, read_errors = 0;
};

struct LatenessStats {
  double p50_us = 0, p99_us = 0, max_us = 0;
};

// Energy of one domain over the run (from the trace's cumulative counters).
struct DomainSummary {
  std::string name;
  double energy_j = 0, avg_w = 0;
};

// CPU of one subject (its total series) over the run. Percentiles are over
// the per-sample intervals, in % of one CPU. `note` says when it ended early.
struct SubjectSummary {
  std::string label, source;  // source = CPU accounting backend (bpf / procfs)
  double cpu_s = 0, avg_cpu_pct = 0, cpu_pct_p05 = 0, cpu_pct_p50 = 0, cpu_pct_p95 = 0;
  std::string note;
};

struct Summary {
  std::string source;
  bool simulated = false;
  std::string sim_host;
  std::uint64_t samples = 0, dropped = 0, read_errors = 0;
  double rate_hz = 0, duration_s = 0;
  LatenessStats lateness;
  double cpu_pct = 0;  // the recorder's own CPU over the run, % of one CPU
  bool interrupted = false;
  std::uint64_t missed_deadlines = 0;  // deadlines skipped because the loop was > 1 period late
  std::uint64_t suspect_gaps = 0;      // reads after a gap long enough to hide a counter wrap
  std::vector<DomainSummary> domains;
  std::vector<SubjectSummary> subjects;
  std::optional<double> host_busy_pct;  // the online CPUs, from the accounting's per-CPU busy ns
  InvariantCounts invariants;      // every pair of consecutive samples checked (invariants.hpp)
  std::vector<std::string> notes;  // e.g. a subject whose cgroup disappeared
  nlohmann::json accounting = nlohmann::json::object();  // CpuAccounting::diagnostics()
  nlohmann::json to_json() const;  // the `cinergy record --json` object's core fields
};

class EnergySource;  // sampler/energy_source.hpp

class Sampler {
 public:
  // Takes ownership of the source; the accounting object may be null (no
  // subjects, no per-CPU busy) and must outlive the sampler. Its subjects
  // must not change from here on (the trace's columns are fixed, and only
  // the sampling thread reads it): a caller whose subjects come and go
  // (cinergy serve) reads its own accounting and gives the sampler none.
  static Result<std::unique_ptr<Sampler>> create(std::unique_ptr<EnergySource> source,
                                                 bpf::CpuAccounting* accounting,
                                                 SamplerConfig config);
  ~Sampler();

  [[nodiscard]] std::vector<std::string> domain_names() const;
  [[nodiscard]] bool simulated() const;

  // Starts the sampling and writer threads. t0 is taken here.
  Result<void> start();
  // Stops both threads, drains the queue, flushes and closes the trace, writes
  // the sidecar. Idempotent. `interrupted` is recorded in the sidecar.
  Summary stop(bool interrupted = false);

  // The newest sample the writer has seen (copy; takes a mutex, never touched
  // by the sampling thread). nullopt before the first sample.
  [[nodiscard]] std::optional<Snapshot> latest() const;
  [[nodiscard]] std::int64_t t0_monotonic_ns() const;

 private:
  Sampler() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens the source named in options (auto picks the best real one and fails,
// naming `--source sim`, when there is none). `accounting` feeds the simulated
// meter's host utilisation (exact per-CPU busy time); may be null for real sources.
Result<std::unique_ptr<EnergySource>> open_energy_source(const SourceOptions& options,
                                                         bpf::CpuAccounting* accounting);

}  // namespace cinergy::sampler
