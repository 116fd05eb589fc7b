#include "cinergy/orchestrator/noise.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <fstream>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/common/time_format.hpp"

namespace cinergy::orchestrator {
namespace fs = std::filesystem;

namespace {

// The real runner: cinergy::spawn (common/process.hpp) with the request's
// cgroup and CPUs; the worker dies with us (PR_SET_PDEATHSIG) and keeps our
// process group, so a terminal's Ctrl-C reaches it too (the run kills it
// through its cgroup anyway).
class ForkExecRunner final : public ProcessRunner {
 public:
  Result<pid_t> spawn(const SpawnRequest& request) override {
    if (request.argv.empty()) return fail("empty command");
    SpawnOptions o;
    o.own_process_group = false;
    o.die_with_parent = true;
    o.cgroup_dir = request.cgroup_procs.empty() ? fs::path() : request.cgroup_procs.parent_path();
    o.cpus = request.cpus;
    o.output_file = request.log_file;
    return cinergy::spawn(request.argv, o);
  }

  void signal(pid_t pid, int sig) override {
    if (pid > 0) ::kill(pid, sig);
  }

  bool reap(pid_t pid) override { return try_reap(pid).has_value(); }
};

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::unique_ptr<ProcessRunner> make_process_runner() { return std::make_unique<ForkExecRunner>(); }

std::string make_run_id(pid_t pid, std::chrono::system_clock::time_point now) {
  return fmt::format("run-{}-{}", pid, utc_compact(now));
}

std::optional<pid_t> run_id_pid(const std::string& run_id) {
  if (!run_id.starts_with("run-")) return std::nullopt;
  const char* b = run_id.data() + 4;
  const char* e = run_id.data() + run_id.size();
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(b, e, pid);
  if (ec != std::errc{} || p == b || pid <= 0 || (p != e && *p != '-')) return std::nullopt;
  return pid;
}

StaleNoise check_stale_noise(const fs::path& cgroup2_root) {
  StaleNoise result;
  std::error_code ec;
  const auto base = cgroup2_root / "cinergy";
  if (!fs::is_directory(base, ec)) return result;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    if (!entry.is_directory(ec)) continue;
    const auto noise = entry.path() / "noise";
    const auto owner = run_id_pid(entry.path().filename().string());
    const bool has_noise = fs::is_directory(noise, ec);
    const bool holds = has_noise && !cgroup_pids(noise).empty();
    const bool owner_alive = owner && process_alive(*owner) && *owner != ::getpid();
    if (holds || owner_alive) {
      result.busy.push_back(has_noise ? noise : entry.path());
      continue;
    }
    if (has_noise && !remove_cgroup_dir(noise)) continue;
    if (::rmdir(entry.path().c_str()) == 0) result.removed.push_back(entry.path());
  }
  return result;
}

Result<std::unique_ptr<NoiseGroup>> NoiseGroup::create(const fs::path& cgroup2_root,
                                                       const fs::path& relative,
                                                       ProcessRunner& runner, fs::path log_file) {
  std::error_code ec;
  if (!fs::is_directory(cgroup2_root, ec))
    return fail(fmt::format("cgroup2 root {} is not a directory", cgroup2_root.string()));
  std::vector<fs::path> created;
  fs::path dir = cgroup2_root;
  for (const auto& part : relative) {
    dir /= part;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      created.push_back(dir);
    } else if (errno != EEXIST) {
      const int err = errno;
      for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
      return fail_errno(err, "cannot create cgroup " + dir.string());
    }
  }
  if (!cgroup_pids(dir).empty())
    return fail(
        fmt::format("noise cgroup {} already holds processes (another run?)", dir.string()));
  return std::unique_ptr<NoiseGroup>(
      new NoiseGroup(dir, std::move(created), runner, std::move(log_file)));
}

NoiseGroup::~NoiseGroup() { (void)remove(); }

Result<pid_t> NoiseGroup::add_worker(int load_pct, const std::vector<int>& cpus,
                                     bool sched_idle) {
  if (removed_) return fail("noise cgroup " + dir_.string() + " was already removed");
  if (load_pct < 1 || load_pct > 100)
    return fail(fmt::format("stress-ng load {} % out of [1, 100]", load_pct));
  SpawnRequest request;
  request.argv = {"stress-ng", "-c", "1", "-l", std::to_string(load_pct)};
  if (sched_idle) request.argv.insert(request.argv.end(), {"--sched", "idle"});
  request.cgroup_procs = dir_ / "cgroup.procs";
  request.cpus = cpus;
  request.log_file = log_file_;
  auto pid = runner_.spawn(request);
  if (!pid) return pid;
  pids_.push_back(*pid);
  return pid;
}

Result<void> NoiseGroup::kill_all(std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    pids_.clear();
    return ok();
  }
  // Through the cgroup (the workers joined it before exec, and whatever they
  // forked is in it too); our own children are reaped meanwhile.
  const auto reap_ours = [this] { std::erase_if(pids_, [&](pid_t p) { return runner_.reap(p); }); };
  auto killed = kill_cgroup(
      dir_, timeout, [this](pid_t p) { runner_.signal(p, SIGKILL); }, reap_ours);
  if (!killed) return killed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (reap_ours(); !pids_.empty(); reap_ours()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(fmt::format("noise cgroup {}: {} worker(s) not reaped after {} ms", dir_.string(),
                              pids_.size(), timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ok();
}

Result<void> NoiseGroup::remove() {
  if (removed_) return ok();
  auto killed = kill_all();
  if (!killed) return killed;
  if (auto r = remove_cgroup_dir(dir_); !r) return r;
  // The parents we created (run-id, maybe "cinergy"): only when empty.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    if (*it != dir_) ::rmdir(it->c_str());
  removed_ = true;
  return ok();
}

}  // namespace cinergy::orchestrator
