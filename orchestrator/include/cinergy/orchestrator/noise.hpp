// The noise of scenarios A and C: `stress-ng -c 1 -l STEP` workers, each one
// moved into a dedicated cgroup2 directory (<cgroup2 root>/cinergy/<run-id>/noise)
// before it execs, so that all of them, and whatever they fork, are killed
// through the cgroup: cgroup.kill when the kernel has it, else SIGKILL to
// every pid listed in cgroup.procs. The cgroup is removed at the end.
//
// SCHED_IDLE workers (scenario C, --noise-sched idle) only yield among the
// entities of their own run queue: beside a VM that is a cpu cgroup of its
// own (libvirt's machine/<vm>), the noise must be a cgroup that competes as
// idle in the hierarchy holding the `cpu` controller. NoiseCpuOptions asks
// for that; NoiseCpuPlacement says what was done:
//  * cgroup1: a cgroup v1 hierarchy holds `cpu` (hybrid hosts): the idle
//    workers also join <v1 cpu mount>/<relative> before exec;
//  * cgroup2: the cgroup2 noise directory itself, `cpu` enabled in the
//    subtree_control of its ancestors (only of the directories created
//    here, and of the root when cpu is in its cgroup.controllers);
//  * none: neither is possible; SCHED_IDLE noise may then not yield to a VM
//    in a cgroup of its own (a note says so).
// Every directory from the first one below the hierarchy's root down to the
// noise cgroup is made idle (cpu.idle = 1, else cpu.shares = 2 on v1 /
// cpu.weight = 1 on v2), while SCHED_IDLE workers run: an idle leaf below a
// normal-weight parent would still compete with the VM at that parent's
// weight. Normal workers (scenario A) never join the v1 cgroup, and the v2
// directories are made normal again (their old values) before they start.
//
// Every kernel path is injectable: the cgroup2 root and the mountinfo are
// parameters, and the processes are started through a ProcessRunner, so
// unit tests run on a fake tree in a temp dir with a fake runner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::orchestrator {

// What to start: argv[0] is looked up in PATH. The child joins `cgroup_procs`
// (writes its own pid there), then each of `extra_cgroup_dirs` (their
// cgroup.procs: other hierarchies), and, when `cpus` is non-empty, restricts
// itself to those logical CPUs before exec. stdout/stderr go to `log_file`
// (appended) or /dev/null.
struct SpawnRequest {
  std::vector<std::string> argv;
  std::filesystem::path cgroup_procs;
  std::vector<int> cpus;
  std::filesystem::path log_file;
  std::vector<std::filesystem::path> extra_cgroup_dirs;
};

struct NoiseCpuOptions {
  // Prepare a cgroup that competes as idle for SCHED_IDLE workers (when some
  // will run); false: the cgroup2 directory only, as before.
  bool idle_workers = false;
  // Where to look for a cgroup v1 hierarchy with the cpu controller
  // (/proc/self/mountinfo); empty: none is looked for.
  std::filesystem::path mountinfo;
};

// Where SCHED_IDLE workers compete for the CPU and how that was made idle.
struct NoiseCpuPlacement {
  enum class Kind { none, cgroup1, cgroup2 };
  Kind kind = Kind::none;
  std::filesystem::path cpu_cgroup;  // the noise's cgroup in the cpu hierarchy
  std::filesystem::path cpu_root;    // that hierarchy's root (v1 mount, cgroup2 root)
  std::string idle;                  // "cpu.idle=1", "cpu.shares=2", "cpu.weight=1"; "" before
                                     // the first SCHED_IDLE worker, and for none
  std::vector<std::string> notes;    // host changes, fallbacks, why none (one line each)
  // {"cpu_hierarchy": "cgroup1"|"cgroup2"|"none", "cpu_cgroup", "idle", "notes"}
  [[nodiscard]] nlohmann::json to_json() const;
};
std::string_view to_string(NoiseCpuPlacement::Kind kind);

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Starts the process; returns once it has joined its cgroup and exec'ed (or
  // failed to, with the reason).
  virtual Result<pid_t> spawn(const SpawnRequest& request) = 0;
  // kill(2). Errors are ignored by callers (the process may be gone already).
  virtual void signal(pid_t pid, int sig) = 0;
  // Non-blocking waitpid: true once the child has been reaped (or is unknown).
  virtual bool reap(pid_t pid) = 0;
};

// cinergy::spawn (common/process.hpp): the child joins the cgroup and its
// CPUs before exec, and dies with its parent (PR_SET_PDEATHSIG).
std::unique_ptr<ProcessRunner> make_process_runner();

class NoiseGroup {
 public:
  // Creates <cgroup2_root>/<relative> (parents too). Fails if it exists and
  // holds processes. With cpu.idle_workers, also prepares the cpu placement
  // (see the top of this file): creates <v1 cpu mount>/<relative> (only the
  // missing parts) or enables cpu down to the cgroup2 directory; an error
  // when that fails, a note in cpu_placement() when it is not possible.
  static Result<std::unique_ptr<NoiseGroup>> create(const std::filesystem::path& cgroup2_root,
                                                    const std::filesystem::path& relative,
                                                    ProcessRunner& runner,
                                                    std::filesystem::path log_file = {},
                                                    const NoiseCpuOptions& cpu = {});
  ~NoiseGroup();  // kill_all() + remove(), errors ignored
  NoiseGroup(const NoiseGroup&) = delete;
  NoiseGroup& operator=(const NoiseGroup&) = delete;

  // One `stress-ng -c 1 -l <load_pct>` worker, optionally on `cpus`.
  // `sched_idle`: the worker runs under SCHED_IDLE (stress-ng --sched idle)
  // and in the idle cpu placement, made idle now if it is not yet. Idle and
  // normal workers never run at once (an error: kill_all() between them).
  Result<pid_t> add_worker(int load_pct, const std::vector<int>& cpus = {},
                           bool sched_idle = false);
  [[nodiscard]] std::size_t workers() const { return pids_.size(); }
  [[nodiscard]] const std::filesystem::path& path() const { return dir_; }
  [[nodiscard]] const NoiseCpuPlacement& cpu_placement() const { return placement_; }

  // Kills every process of the cgroup and reaps the workers we started; waits
  // (up to `timeout`) until cgroup.procs is empty. Idempotent.
  Result<void> kill_all(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Kills, then removes the cgroup directory (and the empty run-id parents
  // this object created), the v1 one likewise; the idle values of
  // directories it did not create are restored. Idempotent.
  Result<void> remove();

 private:
  // One directory's idle attribute: what is written, and what was there.
  struct IdleMark {
    std::filesystem::path dir;
    std::string file, value, previous;
  };

  NoiseGroup(std::filesystem::path dir, std::vector<std::filesystem::path> created,
             ProcessRunner& runner, std::filesystem::path log_file)
      : dir_(std::move(dir)),
        created_(std::move(created)),
        runner_(runner),
        log_file_(std::move(log_file)) {}
  Result<void> prepare_cpu(const std::filesystem::path& cgroup2_root,
                           const std::filesystem::path& relative, const NoiseCpuOptions& cpu);
  Result<void> prepare_cgroup2(const std::filesystem::path& cgroup2_root,
                               const std::filesystem::path& relative);
  // Writes (idle) or restores (!idle) the idle marks, top down / bottom up.
  Result<void> set_idle(bool idle);

  std::filesystem::path dir_;
  std::vector<std::filesystem::path> created_;  // directories we made, deepest last
  ProcessRunner& runner_;
  std::filesystem::path log_file_;
  std::vector<pid_t> pids_;
  bool pids_idle_ = false;  // the running workers are SCHED_IDLE ones
  bool removed_ = false;
  NoiseCpuPlacement placement_;
  std::vector<std::filesystem::path> cpu_created_;  // v1 directories we made, deepest last
  std::vector<std::filesystem::path> idle_dirs_;    // top down, the noise cgroup last
  std::vector<IdleMark> marks_;                     // written while idle_ (top down)
  bool idle_ = false;
};

// Run ids are "run-<pid>-<UTC timestamp>": the pid says whether the run that
// owns <cgroup2_root>/cinergy/<run-id> is still alive.
std::string make_run_id(pid_t pid, std::chrono::system_clock::time_point now);
std::optional<pid_t> run_id_pid(const std::string& run_id);

// Other runs' cgroups under <cgroup2_root>/cinergy/* (and, when given,
// <cpu_v1_root>/cinergy/*, the v1 cpu noise cgroups of hybrid hosts): a noise
// cgroup that still holds processes, or whose owning run is alive, is `busy`
// (the caller refuses to start, naming it); an empty leftover of a dead run
// is removed and listed in `removed`.
struct StaleNoise {
  std::vector<std::filesystem::path> busy;
  std::vector<std::filesystem::path> removed;
};
StaleNoise check_stale_noise(const std::filesystem::path& cgroup2_root,
                             const std::filesystem::path& cpu_v1_root = {});

}  // namespace cinergy::orchestrator
