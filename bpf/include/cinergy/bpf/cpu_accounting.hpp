// Per-subject and per-CPU CPU time, exact at the instant of each sample.
//
// A *subject* is what the user wants CPU time for: a cgroup v2 subtree (a VM's
// libvirt scope, the noise cgroup), a process (all its threads) or one thread.
// Each subject has one or more *series*: its total, plus for a cgroup one
// series per direct child cgroup (a libvirt VM: "emulator", "vcpu0", ...), so
// per-vCPU time is available.
//
// Two backends implement this interface:
//  * "bpf": a tp_btf/sched_switch program keeps per-CPU nanosecond counters in
//    an mmapped map; read() adds the running slice of whatever is on each CPU
//    now, so a thread that never yields still shows its time at every sample.
//  * "procfs": cgroup2 cpu.stat usage_usec and /proc/PID/task/TID/schedstat,
//    used when BPF cannot be loaded; coarser (lags by up to a scheduler tick)
//    and costs file reads per subject. Always reported as such.
//
// Units: every time is nanoseconds of CPU, cumulative since the subject was
// added (series) or since open (per-CPU busy). Counters never go backwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::bpf {

enum class SubjectKind { cgroup, pid, tid };

struct SubjectSpec {
  SubjectKind kind = SubjectKind::cgroup;
  // cgroup: a path, absolute or relative to the cgroup2 root
  // ("machine/qemu-1-vm.libvirt-qemu" or "/sys/fs/cgroup/unified/machine/...").
  // pid / tid: the decimal id.
  std::string target;
  // Label used in traces and summaries; empty = the path's last component
  // (cgroup) or the id (pid/tid).
  std::string label;
};

// One column of per-subject CPU time in every sample.
struct SeriesInfo {
  std::string name;           // "<label>" for the total, "<label>/<child>" for a child cgroup
  std::size_t subject_index;  // which subject it belongs to
  bool is_total;              // true for the subject's total series
  // The most CPUs its tasks can use at once: 1 for a thread subject, 0 for
  // "any online CPU" (a cgroup or a process). Bounds an interval's CPU time.
  int max_cpus = 0;
};

struct Options {
  // Where cgroup2 is mounted; empty = detect (/sys/fs/cgroup if it is cgroup2,
  // else /sys/fs/cgroup/unified). Injectable for tests.
  std::filesystem::path cgroup2_root;
  std::filesystem::path proc_root = "/proc";
  // Backend choice: "auto" (bpf, else procfs with a logged reason), "bpf", "procfs".
  std::string backend = "auto";
  // Tests only: index masks of the bpf backend's direct-mapped cgroup and
  // pid/tid tables (0 = their full size), so that keys collide on purpose.
  std::uint32_t bpf_cg_index_mask = 0;
  std::uint32_t bpf_id_index_mask = 0;
};

class CpuAccounting {
 public:
  virtual ~CpuAccounting() = default;

  // "bpf" or "procfs".
  [[nodiscard]] virtual std::string_view backend() const = 0;
  // Why the backend was chosen when it is not the best one ("not root", "no
  // BTF", "verifier refused: ..."); empty otherwise.
  [[nodiscard]] virtual std::string_view fallback_reason() const = 0;

  // Setup, not for the hot loop. Resolves the target, registers it (and, for a
  // cgroup, its whole subtree) and returns the subject's index. Errors name
  // the cgroup path / pid / tid that does not exist. The index is the
  // subject's handle until remove_subject(); the lowest free index is used,
  // so an index freed by remove_subject() may be handed out again. The new
  // subject's series are appended after those of the others and start at 0.
  virtual Result<std::size_t> add_subject(const SubjectSpec& spec) = 0;

  // Setup, not for the hot loop. Stops accounting for a subject that comes
  // and goes (a VM that stopped, a cgroup removed, a daemon's subject list
  // changing): its series leave series() (the others keep their relative
  // order, their values and their subject index; the indices of the series
  // after its own shift down) and what it held is freed: its BPF slots and
  // table entries (directories the kernel created under it included), its
  // open files, its index. So a long-running caller can add and remove
  // subjects without bound (the bpf backend holds at most 1023 slots at
  // once). A subject whose cgroup or task is already gone is removed the
  // same way. Error: no such subject (never added, or already removed).
  virtual Result<void> remove_subject(std::size_t subject_index) = 0;

  // All series, in the order read() fills them. Changes only in
  // add_subject() and remove_subject(): size read()'s span after those.
  [[nodiscard]] virtual const std::vector<SeriesInfo>& series() const = 0;

  // Logical CPUs covered by cpu_busy_ns (index = CPU number).
  [[nodiscard]] virtual std::size_t cpu_count() const = 0;

  // Hot path: no allocation, no logging, no exceptions, no per-subject syscall
  // for the bpf backend. Fills series_cpu_ns (size series().size()) and
  // cpu_busy_ns (size cpu_count()) with cumulative ns, all as of one instant,
  // returned in `values_at_ns` (CLOCK_MONOTONIC): a sample is stamped with it,
  // so an interval's CPU time and its length come from the same two moments.
  // Returns the number of values that could not be read this time (the caller
  // counts them as read errors); the previous value is kept for those.
  virtual std::size_t read(std::span<std::uint64_t> series_cpu_ns,
                           std::span<std::uint64_t> cpu_busy_ns,
                           std::int64_t& values_at_ns) noexcept = 0;
  // The same, for callers that do not need the instant.
  std::size_t read(std::span<std::uint64_t> series_cpu_ns,
                   std::span<std::uint64_t> cpu_busy_ns) noexcept {
    std::int64_t at_ns = 0;
    return read(series_cpu_ns, cpu_busy_ns, at_ns);
  }

  // How far one CPU's value may be from the truth at values_at_ns, in ns:
  // the epsilon of the interval invariants (an interval of length dt holds at
  // most dt + resolution_ns() of one CPU's time; docs/bpf.md says why). bpf:
  // microseconds (clock calibration and the read's own span); procfs: a tick.
  [[nodiscard]] virtual std::int64_t resolution_ns() const = 0;

  // Counters for diagnosis since open, for a run's record (not for the hot
  // loop: call it when no read() runs). bpf: the switches timed at a
  // corrected instant because the run queue clock was stale (count, sum in
  // ns: a series' total can differ from cpu.stat by up to that sum), read
  // passes redone after a preemption, rows checked on their CPU. procfs: {}.
  [[nodiscard]] virtual nlohmann::json diagnostics() const { return nlohmann::json::object(); }

  // Whether the subject still exists (a VM whose cgroup was removed, a pid that
  // exited). Not for the hot loop: the writer/orchestrator polls it. A subject
  // that ended keeps its last value.
  [[nodiscard]] virtual bool subject_alive(std::size_t subject_index) const = 0;
};

// The directory a cgroup target names under `cgroup2_root`, as add_subject
// resolves it: an absolute path under the root, a path relative to it, or a
// cgroup path as /proc/PID/cgroup prints it ("/machine/x"). Empty when the
// target is invalid (empty, ".." components). Pure: no file system access.
std::filesystem::path resolve_cgroup_target(const std::filesystem::path& cgroup2_root,
                                            std::string_view target);

// Opens the backend named in options.backend. "auto" never fails because BPF
// is missing: it falls back to procfs and says why in fallback_reason().
Result<std::unique_ptr<CpuAccounting>> open_cpu_accounting(const Options& options);

}  // namespace cinergy::bpf
