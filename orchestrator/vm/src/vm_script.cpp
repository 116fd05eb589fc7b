// A user's launch script as the subject (like the original's launchvm.sh).
// The script runs with an argv (no shell string), in its own process group,
// with CINERGY_VM_WORK_DIR in its environment. Where the VM's CPU is counted:
// * with VmOptions::name (--vm NAME): the script starts that libvirt domain;
//   the run waits for it to become active and uses its cgroup scope;
// * without: the script (and everything it starts, e.g. a daemonized qemu)
//   runs in a cgroup of its own, <cgroup2 root>/cinergy-launch-<pid>, which
//   is the VM's cgroup; the VM has finished when that cgroup is empty.
// stop() terminates the script's process group, destroys the domain it
// started (it was not running before), and kills/removes the own cgroup.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "vm_impl.hpp"

namespace cinergy::vm::detail {

LaunchScriptVm::LaunchScriptVm(VmOptions options, HostPaths paths)
    : o_(std::move(options)), paths_(std::move(paths)) {}

LaunchScriptVm::~LaunchScriptVm() { stop(); }

Result<VmRuntime> LaunchScriptVm::start() {
  if (script_pid_ != 0 || !own_cgroup_.empty() || dom_)
    return fail(fmt::format("launch script {}: already started", o_.launch_script.string()));
  auto rt = start_impl();
  if (!rt) stop();
  return rt;
}

Result<VmRuntime> LaunchScriptVm::start_impl() {
  auto label = fmt::format("VM of launch script {}", o_.launch_script.string());
  auto work = work_.get(o_.work_dir);
  if (!work) return std::unexpected(work.error());
  log_ = *work / "launch-script.log";
  if (!o_.name.empty()) {
    auto conn = LibvirtConnection::open(o_.connect_uri);
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::move(*conn);
    if (auto existing = conn_->find(o_.name); existing && existing.active())
      return fail(fmt::format(
          "libvirt domain '{}' already runs on {}: shut it down first (the launch script must "
          "start it for the run)",
          o_.name, o_.connect_uri));
  } else {
    auto root = cgroup2_root(paths_);
    if (!root) return std::unexpected(root.error());
    auto dir = *root / fmt::format("cinergy-launch-{}", ::getpid());
    if (auto r = make_cgroup(dir); !r) return std::unexpected(r.error());
    own_cgroup_ = dir;
  }
  SpawnOptions so;
  so.cgroup_dir = own_cgroup_;
  so.output_file = log_;
  so.env_add = {"CINERGY_VM_WORK_DIR=" + work->string()};
  auto pid = spawn({fs::absolute(o_.launch_script).string()}, so);
  if (!pid) return std::unexpected(pid.error());
  script_pid_ = *pid;
  spdlog::info("launch script {} started (pid {}, output {})", o_.launch_script.string(),
               script_pid_, log_.string());

  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o_.ready_timeout);
  if (!o_.name.empty()) {
    // Wait for the domain the script starts.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto dom = conn_->find(o_.name);
      if (dom && dom.active()) {
        dom_ = std::move(dom);
        break;
      }
      if (!script_status_) script_status_ = try_reap(script_pid_);
      if (script_status_ && *script_status_ != 0)
        return fail(fmt::format(
            "launch script {} exited with status {} before libvirt domain '{}' ran (see {})",
            o_.launch_script.string(), *script_status_, o_.name, log_.string()));
      if (std::chrono::steady_clock::now() >= deadline)
        return fail(fmt::format(
            "libvirt domain '{}' not running {} s after launch script {} started (see {})", o_.name,
            o_.ready_timeout.count(), o_.launch_script.string(), log_.string()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    auto rt = locate_libvirt_domain(paths_, dom_, o_.connect_uri, std::chrono::seconds(10));
    if (!rt) return std::unexpected(rt.error());
    rt_ = *rt;
    rt_.how = fmt::format("script {} + libvirt {}", o_.launch_script.string(), o_.connect_uri);
  } else {
    rt_ = VmRuntime{own_cgroup_, 0, 0,
                    fmt::format("script {} in its own cgroup", o_.launch_script.string())};
  }
  auto ready = wait_ready(ready_spec_of(o_), label, [this] { return finished(); });
  if (!ready) return std::unexpected(ready.error());
  return rt_;
}

bool LaunchScriptVm::finished() {
  if (finished_) return true;
  if (script_pid_ != 0 && !script_status_) script_status_ = try_reap(script_pid_);
  if (dom_)
    finished_ = !dom_.active();
  else if (!own_cgroup_.empty())
    finished_ = !cgroup_populated(own_cgroup_);
  return finished_;
}

void LaunchScriptVm::stop() {
  if (script_pid_ != 0) {
    if (!script_status_) terminate_and_reap(script_pid_, true, std::chrono::seconds(3));
    script_pid_ = 0;
  }
  if (dom_) {
    if (dom_.active()) {
      if (auto r = dom_.destroy(); !r)
        spdlog::warn("{}", r.error().what());
      else
        spdlog::info("stopped libvirt domain '{}' (started by the launch script)", o_.name);
    }
    dom_ = {};
  }
  if (!own_cgroup_.empty()) {
    if (auto r = kill_and_remove_cgroup(own_cgroup_, std::chrono::seconds(5)); !r)
      spdlog::warn("{}", r.error().what());
    own_cgroup_.clear();
  }
  finished_ = true;
}

nlohmann::json LaunchScriptVm::describe() const {
  return {{"kind", "launch_script"},
          {"script", o_.launch_script.string()},
          {"name", o_.name},
          {"uri", o_.name.empty() ? "" : o_.connect_uri},
          {"vcpus", rt_.vcpus},
          {"cgroup", rt_.cgroup.string()},
          {"qemu_pid", rt_.qemu_pid},
          {"log", log_.string()},
          {"ready_command", o_.ready_command},
          {"ready_file", o_.ready_file.string()},
          {"ready_timeout_s", o_.ready_timeout.count()},
          {"how", rt_.how}};
}

}  // namespace cinergy::vm::detail
