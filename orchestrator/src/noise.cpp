#include "cinergy/orchestrator/noise.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
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
#include "cinergy/common/files.hpp"
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
    o.extra_cgroup_dirs = request.extra_cgroup_dirs;
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

// Whether a whitespace-separated cgroup controller list ("cpuset cpu io")
// names `controller`.
bool lists_controller(const std::string& list, std::string_view controller) {
  std::size_t b = 0;
  while (b < list.size()) {
    const auto e = std::min(list.find_first_of(" \t\n", b), list.size());
    if (std::string_view(list).substr(b, e - b) == controller) return true;
    b = e + 1;
  }
  return false;
}

// rmdir(2) of a parent directory we created, when no child cgroup is left
// in it. A fake tree's "cgroup files" are plain files (ENOTEMPTY): removed
// first when no child directory is left either.
void remove_empty_parent(const fs::path& d) {
  if (::rmdir(d.c_str()) == 0 || errno != ENOTEMPTY) return;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(d, ec)) {
    if (e.is_directory(ec)) return;
    files.push_back(e.path());
  }
  for (const auto& f : files) fs::remove(f, ec);
  ::rmdir(d.c_str());
}

constexpr std::string_view kMayNotYield =
    "SCHED_IDLE noise may not yield to a VM in a cgroup of its own";

}  // namespace

std::string_view to_string(NoiseCpuPlacement::Kind kind) {
  switch (kind) {
    case NoiseCpuPlacement::Kind::cgroup1:
      return "cgroup1";
    case NoiseCpuPlacement::Kind::cgroup2:
      return "cgroup2";
    case NoiseCpuPlacement::Kind::none:
      break;
  }
  return "none";
}

nlohmann::json NoiseCpuPlacement::to_json() const {
  return {{"cpu_hierarchy", std::string(to_string(kind))},
          {"cpu_cgroup", cpu_cgroup.string()},
          {"idle", idle},
          {"notes", notes}};
}

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

StaleNoise check_stale_noise(const fs::path& cgroup2_root, const fs::path& cpu_v1_root) {
  StaleNoise result;
  const auto scan = [&](const fs::path& root) {
    std::error_code ec;
    const auto base = root / "cinergy";
    if (root.empty() || !fs::is_directory(base, ec)) return;
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
  };
  scan(cgroup2_root);
  scan(cpu_v1_root);
  return result;
}

Result<std::unique_ptr<NoiseGroup>> NoiseGroup::create(const fs::path& cgroup2_root,
                                                       const fs::path& relative,
                                                       ProcessRunner& runner, fs::path log_file,
                                                       const NoiseCpuOptions& cpu) {
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
  std::unique_ptr<NoiseGroup> group(
      new NoiseGroup(dir, std::move(created), runner, std::move(log_file)));
  // On an error the destructor removes what was made so far.
  if (auto r = group->prepare_cpu(cgroup2_root, relative, cpu); !r)
    return std::unexpected(r.error());
  return group;
}

Result<void> NoiseGroup::prepare_cpu(const fs::path& cgroup2_root, const fs::path& relative,
                                     const NoiseCpuOptions& cpu) {
  if (!cpu.idle_workers) {
    placement_.notes.push_back("no SCHED_IDLE noise planned: the noise stays in " + dir_.string());
    return ok();
  }
  fs::path v1_root;
  if (!cpu.mountinfo.empty()) {
    auto text = read_file(cpu.mountinfo);
    if (!text) return std::unexpected(text.error());
    if (auto m = parse_cgroup1_mount(*text, "cpu")) v1_root = *m;
  }
  if (v1_root.empty()) return prepare_cgroup2(cgroup2_root, relative);

  // Hybrid: <v1 cpu mount>/<relative>, made here part by part (we never
  // adopt a noise cgroup that holds processes).
  fs::path dir = v1_root;
  for (const auto& part : relative) {
    dir /= part;
    idle_dirs_.push_back(dir);
    if (::mkdir(dir.c_str(), 0755) == 0)
      cpu_created_.push_back(dir);
    else if (errno != EEXIST)
      return fail_errno("cannot create cgroup " + dir.string());
  }
  if (!cgroup_pids(dir).empty())
    return fail(
        fmt::format("noise cgroup {} already holds processes (another run?)", dir.string()));
  placement_.kind = NoiseCpuPlacement::Kind::cgroup1;
  placement_.cpu_root = v1_root;
  placement_.cpu_cgroup = dir;
  placement_.notes.push_back(
      fmt::format("the cpu controller is on cgroup v1 ({}): SCHED_IDLE workers also join {}",
                  v1_root.string(), dir.string()));
  return ok();
}

Result<void> NoiseGroup::prepare_cgroup2(const fs::path& root, const fs::path& relative) {
  const auto none = [this](std::string why) {
    placement_.notes.push_back(fmt::format("{}: {}", why, kMayNotYield));
    return ok();
  };
  const auto controllers = read_trimmed(root / "cgroup.controllers");
  if (!controllers || !lists_controller(*controllers, "cpu"))
    return none(fmt::format(
        "the cpu controller is in no cgroup hierarchy here (no cgroup v1 cpu mount, and not in "
        "{}/cgroup.controllers)",
        root.string()));
  // cpu must be in the subtree_control of every ancestor of the noise
  // cgroup; we only add it to the root and to the directories we created.
  std::vector<fs::path> to_enable;
  fs::path parent = root;
  for (const auto& part : relative) {
    const auto list = read_trimmed(parent / "cgroup.subtree_control");
    if (!list || !lists_controller(*list, "cpu")) {
      const bool ours =
          parent == root || std::find(created_.begin(), created_.end(), parent) != created_.end();
      if (!ours)
        return none(fmt::format(
            "cpu is not enabled in {}/cgroup.subtree_control, a directory cinergy did not "
            "create (left as is)",
            parent.string()));
      to_enable.push_back(parent);
    }
    parent /= part;
    idle_dirs_.push_back(parent);
  }
  for (const auto& d : to_enable) {
    if (auto r = write_file(d / "cgroup.subtree_control", "+cpu", true); !r)
      return fail(fmt::format("cannot enable the cpu controller in {}/cgroup.subtree_control: {}",
                              d.string(), r.error().what()));
    placement_.notes.push_back(
        fmt::format("enabled cpu in {}/cgroup.subtree_control{}", d.string(),
                    d == root ? " (the root: left enabled at the end)" : ""));
    spdlog::info("{}", placement_.notes.back());
  }
  placement_.kind = NoiseCpuPlacement::Kind::cgroup2;
  placement_.cpu_root = root;
  placement_.cpu_cgroup = dir_;
  return ok();
}

Result<void> NoiseGroup::set_idle(bool idle) {
  if (!idle) {
    for (auto it = marks_.rbegin(); it != marks_.rend(); ++it)
      if (!it->previous.empty())
        if (auto r = write_file(it->dir / it->file, it->previous, true); !r) return r;
    idle_ = false;
    return ok();
  }
  const bool v1 = placement_.kind == NoiseCpuPlacement::Kind::cgroup1;
  const auto& leaf = placement_.cpu_cgroup;
  std::error_code ec;
  std::string file = "cpu.idle", value = "1";
  if (!fs::exists(leaf / file, ec)) {
    file = v1 ? "cpu.shares" : "cpu.weight";
    value = v1 ? "2" : "1";
    if (!fs::exists(leaf / file, ec))
      return fail(fmt::format("noise cgroup {}: neither cpu.idle nor {} to make it idle",
                              leaf.string(), file));
    if (placement_.idle.empty()) {
      placement_.notes.push_back(fmt::format(
          "cpu.idle absent in {} (kernel before 5.15): {}={} instead", leaf.string(), file, value));
      spdlog::warn("{}", placement_.notes.back());
    }
  }
  marks_.clear();
  for (const auto& d : idle_dirs_) {
    IdleMark m{d, file, value, {}};
    if (auto prev = read_trimmed(d / file)) m.previous = *prev;
    // It exists (checked on the leaf): `create` only adds O_TRUNC, for fake trees.
    if (auto r = write_file(d / file, value, true); !r)
      return fail(fmt::format("cannot make the noise cgroup idle: {}", r.error().what()));
    marks_.push_back(std::move(m));
  }
  placement_.idle = file + "=" + value;
  idle_ = true;
  return ok();
}

NoiseGroup::~NoiseGroup() { (void)remove(); }

Result<pid_t> NoiseGroup::add_worker(int load_pct, const std::vector<int>& cpus, bool sched_idle) {
  if (removed_) return fail("noise cgroup " + dir_.string() + " was already removed");
  if (load_pct < 1 || load_pct > 100)
    return fail(fmt::format("stress-ng load {} % out of [1, 100]", load_pct));
  const bool v2 = placement_.kind == NoiseCpuPlacement::Kind::cgroup2;
  if (v2 && !pids_.empty() && pids_idle_ != sched_idle)
    return fail(fmt::format(
        "noise cgroup {}: SCHED_IDLE and normal workers cannot run at once (kill_all() first)",
        dir_.string()));
  if (sched_idle && placement_.kind != NoiseCpuPlacement::Kind::none && !idle_) {
    if (auto r = set_idle(true); !r) return std::unexpected(r.error());
  } else if (!sched_idle && v2 && idle_) {
    if (auto r = set_idle(false); !r) return std::unexpected(r.error());
  }
  SpawnRequest request;
  request.argv = {"stress-ng", "-c", "1", "-l", std::to_string(load_pct)};
  if (sched_idle) request.argv.insert(request.argv.end(), {"--sched", "idle"});
  request.cgroup_procs = dir_ / "cgroup.procs";
  request.cpus = cpus;
  request.log_file = log_file_;
  if (sched_idle && placement_.kind == NoiseCpuPlacement::Kind::cgroup1)
    request.extra_cgroup_dirs = {placement_.cpu_cgroup};
  auto pid = runner_.spawn(request);
  if (!pid) return pid;
  pids_.push_back(*pid);
  pids_idle_ = sched_idle;
  return pid;
}

Result<void> NoiseGroup::kill_all(std::chrono::milliseconds timeout) {
  // Through the cgroup (the workers joined it before exec, and whatever they
  // forked is in it too); our own children are reaped meanwhile. The v1 cpu
  // cgroup holds the same processes: what is left there is killed after.
  const auto reap_ours = [this] { std::erase_if(pids_, [&](pid_t p) { return runner_.reap(p); }); };
  const auto kill_one = [this](pid_t p) { runner_.signal(p, SIGKILL); };
  if (auto killed = kill_cgroup(dir_, timeout, kill_one, reap_ours); !killed) return killed;
  if (placement_.kind == NoiseCpuPlacement::Kind::cgroup1)
    if (auto killed = kill_cgroup(placement_.cpu_cgroup, timeout, kill_one, reap_ours); !killed)
      return killed;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    pids_.clear();
    return ok();
  }
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
  // Idle values of directories we did not create go back to what they were.
  const auto ours = [this](const fs::path& d) {
    return std::find(created_.begin(), created_.end(), d) != created_.end() ||
           std::find(cpu_created_.begin(), cpu_created_.end(), d) != cpu_created_.end();
  };
  std::erase_if(marks_, [&](const IdleMark& m) { return ours(m.dir); });
  if (idle_)
    if (auto r = set_idle(false); !r) spdlog::warn("{}", r.error().what());
  if (auto r = remove_cgroup_dir(dir_); !r) return r;
  // The parents we created (run-id, maybe "cinergy"): only when empty.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    if (*it != dir_) remove_empty_parent(*it);
  // The v1 directories we created (also after a create() that failed half-way).
  if (placement_.kind == NoiseCpuPlacement::Kind::cgroup1)
    if (auto r = remove_cgroup_dir(placement_.cpu_cgroup); !r) return r;
  for (auto it = cpu_created_.rbegin(); it != cpu_created_.rend(); ++it)
    if (*it != placement_.cpu_cgroup || placement_.kind != NoiseCpuPlacement::Kind::cgroup1)
      remove_empty_parent(*it);
  removed_ = true;
  return ok();
}

}  // namespace cinergy::orchestrator
