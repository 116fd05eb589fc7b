#include "subject.hpp"

#include <fmt/format.h>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/ready.hpp"

namespace cinergy::orchestrator::detail {
namespace fs = std::filesystem;

namespace {

class CgroupSubject final : public vm::Vm {
 public:
  CgroupSubject(fs::path dir, std::chrono::seconds max) : dir_(std::move(dir)), max_(max) {}
  Result<vm::VmRuntime> start() override {
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return fail("--cgroup " + dir_.string() + " does not exist");
    started_ = std::chrono::steady_clock::now();
    return vm::VmRuntime{dir_, 0, 0, "cgroup"};
  }
  bool finished() override {
    std::error_code ec;
    if (!fs::is_directory(dir_, ec) || !cgroup_populated(dir_)) return true;
    return std::chrono::steady_clock::now() - started_ >= max_;
  }
  void stop() override {}  // not ours
  nlohmann::json describe() const override {
    return {{"kind", "cgroup"},
            {"cgroup", dir_.string()},
            {"max_seconds", max_.count()},
            {"how", "existing cgroup, not started or stopped by cinergy"}};
  }

 private:
  fs::path dir_;
  std::chrono::seconds max_;
  std::chrono::steady_clock::time_point started_{};
};

class CommandSubject final : public vm::Vm {
 public:
  CommandSubject(fs::path root, fs::path relative, SubjectOptions options, ProcessRunner& runner,
                 fs::path log)
      : root_(std::move(root)),
        relative_(std::move(relative)),
        options_(std::move(options)),
        runner_(runner),
        log_(std::move(log)) {}
  ~CommandSubject() override { stop(); }

  Result<vm::VmRuntime> start() override {
    stop();
    // The command's cgroup: a NoiseGroup is exactly "a cgroup we create, fill
    // and kill", reused here without its stress-ng helper.
    auto group = NoiseGroup::create(root_, relative_, runner_, log_);
    if (!group) return std::unexpected(group.error());
    group_ = std::move(*group);
    SpawnRequest request{options_.command, group_->path() / "cgroup.procs", {}, log_, {}};
    auto pid = runner_.spawn(request);
    if (!pid) return std::unexpected(pid.error());
    pid_ = *pid;
    exited_ = false;
    ReadySpec spec;
    spec.command = options_.ready_command;
    spec.file = options_.ready_file;
    spec.timeout = options_.ready_timeout;
    auto ready = wait_ready(
        spec, "--cmd " + options_.command[0], [this] { return finished(); },
        [] { return stop_requested(); });
    if (!ready) {
      stop();
      return std::unexpected(ready.error());
    }
    return vm::VmRuntime{group_->path(), pid_, 0, "command"};
  }
  bool finished() override {
    if (!group_) return true;
    if (!exited_ && runner_.reap(pid_)) exited_ = true;
    return exited_ && cgroup_pids(group_->path()).empty();
  }
  void stop() override {
    if (!group_) return;
    (void)group_->remove();
    if (!exited_) runner_.reap(pid_);
    group_.reset();
  }
  nlohmann::json describe() const override {
    return {{"kind", "command"},
            {"argv", options_.command},
            {"cgroup", (root_ / relative_).string()},
            {"how", "started by cinergy in its own cgroup, killed through it"}};
  }

 private:
  fs::path root_, relative_;
  SubjectOptions options_;
  ProcessRunner& runner_;
  fs::path log_;
  std::unique_ptr<NoiseGroup> group_;
  pid_t pid_ = 0;
  bool exited_ = false;
};

}  // namespace

std::unique_ptr<vm::Vm> make_cgroup_subject(const fs::path& cgroup2_root,
                                            const SubjectOptions& options) {
  const auto dir = options.cgroup.is_absolute() ? options.cgroup : cgroup2_root / options.cgroup;
  return std::make_unique<CgroupSubject>(dir, options.max_seconds);
}

std::unique_ptr<vm::Vm> make_command_subject(const fs::path& cgroup2_root, const fs::path& relative,
                                             const SubjectOptions& options, ProcessRunner& runner,
                                             const fs::path& log_file) {
  return std::make_unique<CommandSubject>(cgroup2_root, relative, options, runner, log_file);
}

}  // namespace cinergy::orchestrator::detail
