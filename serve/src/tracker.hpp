// The subjects `cinergy serve` measures and their figures, interval by
// interval: which VMs, cgroups and processes exist now (added to and removed
// from the CPU accounting as they come and go), one accounting read per
// interval for all of them, and the arithmetic of compute.hpp.
//
// Identity: a VM is its uuid and start time, a cgroup its directory and
// inode, a process its pid and start time. Anything else is another subject
// (another `started` label), so every counter of a series only grows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/error.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "cinergy/vm/domain_watch.hpp"
#include "exposition.hpp"
#include "model_adapter.hpp"

namespace cinergy::serve::detail {

// --cgroup PATH[=NAME]: measured while the directory exists (each new
// directory of that path is a new subject).
struct CgroupTarget {
  std::string arg;            // as given (for messages)
  std::filesystem::path dir;  // resolved under the cgroup2 root
  std::string name;           // NAME, else the last path component
  bool seen = false;          // found at least once (the first sighting is logged)
};

// --pid PID[=NAME]: measured while that very process lives.
struct PidTarget {
  int pid = 0;
  std::string name;               // NAME, else the process's comm
  std::uint64_t start_ticks = 0;  // field 22 of /proc/PID/stat at start-up
  std::string started;            // its start, Unix s with 3 decimals
  bool ended = false;             // exited: never measured again (a reused pid is another)
};

// Errors: a malformed argument, an invalid cgroup path, a NAME used twice.
// A missing directory is not an error (followed when it appears).
Result<std::vector<CgroupTarget>> parse_cgroup_targets(const std::vector<std::string>& args,
                                                       const std::filesystem::path& cgroup2_root);
// Errors: not a pid, no such process, a NAME used twice.
Result<std::vector<PidTarget>> parse_pid_targets(const std::vector<std::string>& args,
                                                 const std::filesystem::path& proc_root);

// "1764578400.250": Unix seconds with 3 decimals, the `started` label.
std::string started_label(double unix_s);

class Tracker {
 public:
  // `zones`: the energy source's domain names (the sampler's order);
  // power and the proportional split use "package-global" (else the first).
  Tracker(bpf::CpuAccounting& accounting, const PowerModel& model,
          std::vector<CgroupTarget> cgroups, std::vector<PidTarget> pids,
          std::filesystem::path proc_root, std::vector<std::string> zones);

  // Brings the measured subjects in line with what exists now. `domains`:
  // the running libvirt domains (null without libvirt). Removes subjects
  // that ended (their series go away: Prometheus marks them stale) and adds
  // new ones (their figures start after their first complete interval).
  void sync(const std::vector<vm::RunningDomain>* domains);

  // One interval: one accounting read for every subject and the host, and
  // the energy the sampler had at `energy` (null: none yet).
  void step(const sampler::Snapshot* energy);

  // The figures of the last step (subjects, zones, host busy time).
  void fill(Snapshot& out) const;

  [[nodiscard]] std::uint64_t ended() const { return ended_; }
  [[nodiscard]] std::size_t size() const { return subjects_.size(); }

 private:
  struct Subject {
    std::string key;  // identity (see tracker.hpp)
    SubjectLabels labels;
    std::size_t index = 0;             // the accounting's subject index
    std::vector<std::size_t> series;   // accounting series: total first
    std::vector<std::string> threads;  // thread label of each
    std::vector<std::size_t> vcpus;    // positions (in `series`) of the vCPUs
    std::vector<std::uint64_t> prev_ns, cur_ns;
    bool primed = false;  // has a reading from the previous step
    std::optional<Figures> figures;
    double isolated_j = 0, proportional_j = 0;
  };

  void add(Subject s, const bpf::SubjectSpec& spec, bool log_info);
  void remove(std::size_t i, const char* why);
  void map_series();

  bpf::CpuAccounting& acc_;
  const PowerModel& model_;
  std::vector<CgroupTarget> cgroups_;
  std::vector<PidTarget> pids_;
  std::filesystem::path proc_root_;
  std::vector<std::string> zones_;
  std::size_t power_zone_ = 0;

  std::vector<Subject> subjects_;
  std::set<std::string> failed_;  // keys whose add failed (logged once while they stay)
  bool series_changed_ = true;
  std::uint64_t ended_ = 0;

  // Per step.
  std::vector<std::uint64_t> series_ns_, busy_ns_;
  std::vector<double> vcpu_pct_;
  bool have_prev_ = false;
  std::int64_t prev_at_ns_ = 0;
  std::uint64_t prev_busy_ns_ = 0, busy_ns_total_ = 0;
  std::optional<sampler::Snapshot> prev_energy_;
  std::vector<ZoneSample> zone_samples_;
};

}  // namespace cinergy::serve::detail
