// The noise of scenarios A and C: `stress-ng -c 1 -l STEP` workers, each one
// moved into a dedicated cgroup2 directory (<cgroup2 root>/cinergy/<run-id>/noise)
// before it execs, so that all of them, and whatever they fork, are killed
// through the cgroup: cgroup.kill when the kernel has it, else SIGKILL to
// every pid listed in cgroup.procs. The cgroup is removed at the end.
//
// Every kernel path is injectable: the cgroup2 root is a parameter, and the
// processes are started through a ProcessRunner, so unit tests run on a fake
// tree in a temp dir with a fake runner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::orchestrator {

// What to start: argv[0] is looked up in PATH. The child joins `cgroup_procs`
// (writes its own pid there) and, when `cpus` is non-empty, restricts itself
// to those logical CPUs before exec. stdout/stderr go to `log_file` (appended)
// or /dev/null.
struct SpawnRequest {
  std::vector<std::string> argv;
  std::filesystem::path cgroup_procs;
  std::vector<int> cpus;
  std::filesystem::path log_file;
};

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
  // holds processes.
  static Result<std::unique_ptr<NoiseGroup>> create(const std::filesystem::path& cgroup2_root,
                                                    const std::filesystem::path& relative,
                                                    ProcessRunner& runner,
                                                    std::filesystem::path log_file = {});
  ~NoiseGroup();  // kill_all() + remove(), errors ignored
  NoiseGroup(const NoiseGroup&) = delete;
  NoiseGroup& operator=(const NoiseGroup&) = delete;

  // One `stress-ng -c 1 -l <load_pct>` worker, optionally on `cpus`.
  // `sched_idle`: the worker runs under SCHED_IDLE (stress-ng --sched idle).
  Result<pid_t> add_worker(int load_pct, const std::vector<int>& cpus = {},
                           bool sched_idle = false);
  [[nodiscard]] std::size_t workers() const { return pids_.size(); }
  [[nodiscard]] const std::filesystem::path& path() const { return dir_; }

  // Kills every process of the cgroup and reaps the workers we started; waits
  // (up to `timeout`) until cgroup.procs is empty. Idempotent.
  Result<void> kill_all(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Kills, then removes the cgroup directory (and the empty run-id parents
  // this object created). Idempotent.
  Result<void> remove();

 private:
  NoiseGroup(std::filesystem::path dir, std::vector<std::filesystem::path> created,
             ProcessRunner& runner, std::filesystem::path log_file)
      : dir_(std::move(dir)),
        created_(std::move(created)),
        runner_(runner),
        log_file_(std::move(log_file)) {}

  std::filesystem::path dir_;
  std::vector<std::filesystem::path> created_;  // directories we made, deepest last
  ProcessRunner& runner_;
  std::filesystem::path log_file_;
  std::vector<pid_t> pids_;
  bool removed_ = false;
};

// Run ids are "run-<pid>-<UTC timestamp>": the pid says whether the run that
// owns <cgroup2_root>/cinergy/<run-id> is still alive.
std::string make_run_id(pid_t pid, std::chrono::system_clock::time_point now);
std::optional<pid_t> run_id_pid(const std::string& run_id);

// Other runs' cgroups under <cgroup2_root>/cinergy/*: a noise cgroup that
// still holds processes, or whose owning run is alive, is `busy` (the caller
// refuses to start, naming it); an empty leftover of a dead run is removed
// and listed in `removed`.
struct StaleNoise {
  std::vector<std::filesystem::path> busy;
  std::vector<std::filesystem::path> removed;
};
StaleNoise check_stale_noise(const std::filesystem::path& cgroup2_root);

}  // namespace cinergy::orchestrator
