// make_vm() and what the three VM kinds share: work directory, readiness
// spec, and locating a running libvirt domain on the host.
#include <fmt/format.h>
#include <unistd.h>

#include <thread>

#include "vm_impl.hpp"

namespace cinergy::vm {

namespace detail {

Result<fs::path> WorkDir::get(const fs::path& requested) {
  if (!path_.empty()) return path_;
  if (!requested.empty()) {
    std::error_code ec;
    fs::create_directories(requested, ec);
    if (ec)
      return fail_errno(ec.value(),
                        fmt::format("cannot create work directory {}", requested.string()));
    path_ = fs::absolute(requested);
    return path_;
  }
  std::string tmpl = (fs::temp_directory_path() / "cinergy-vm-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return fail_errno(fmt::format("cannot create {}", tmpl));
  path_ = tmpl;
  owned_ = true;
  return path_;
}

WorkDir::~WorkDir() {
  if (!owned_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

ReadySpec ready_spec_of(const VmOptions& o) {
  ReadySpec spec;
  spec.command = o.ready_command;
  spec.file = o.ready_file;
  spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.ready_timeout);
  return spec;
}

Result<VmRuntime> locate_libvirt_domain(const HostPaths& paths, const LibvirtDomain& dom,
                                        const std::string& uri, std::chrono::milliseconds timeout) {
  auto vcpus = dom.vcpus();
  if (!vcpus) return std::unexpected(vcpus.error());
  auto pid_file = paths.libvirt_run_dir / (dom.name() + ".pid");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Error last{0, "not tried"};
  while (true) {
    auto text = read_file(pid_file);
    if (text) {
      auto pid = parse_pid(*text, pid_file.string());
      if (pid && pid_alive(paths, *pid)) {
        auto cgroup = vm_cgroup_of_pid(paths, *pid);
        if (cgroup) {
          // libvirt moves the vCPU threads into vcpuN after the domain turns active.
          int missing = -1;
          std::error_code ec;
          for (int i = 0; i < *vcpus && missing < 0; ++i)
            if (!fs::is_directory(*cgroup / fmt::format("vcpu{}", i), ec)) missing = i;
          if (missing < 0) return VmRuntime{*cgroup, *pid, *vcpus, fmt::format("libvirt {}", uri)};
          last = Error{0, fmt::format("cgroup {} has no vcpu{} yet", cgroup->string(), missing)};
        } else {
          last = cgroup.error();
        }
      } else {
        last = pid ? Error{0, fmt::format("qemu pid {} from {} is not running", *pid,
                                          pid_file.string())}
                   : pid.error();
      }
    } else {
      last = text.error();
    }
    if (std::chrono::steady_clock::now() >= deadline || !dom.active())
      return fail(fmt::format("libvirt domain '{}': cannot find its qemu process and cgroup: {}",
                              dom.name(), last.what()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace detail

Result<TestVmAccel> parse_testvm_accel(std::string_view text, std::string_view flag) {
  if (text == "auto") return TestVmAccel::automatic;
  if (text == "kvm") return TestVmAccel::kvm;
  if (text == "tcg") return TestVmAccel::tcg;
  return fail(fmt::format("{}: '{}' is not one of auto, kvm, tcg", flag, text));
}

std::string_view to_string(TestVmAccel accel) {
  switch (accel) {
    case TestVmAccel::automatic:
      return "auto";
    case TestVmAccel::kvm:
      return "kvm";
    case TestVmAccel::tcg:
      return "tcg";
  }
  return "?";
}

std::string_view to_string(KvmProbe::State state) {
  switch (state) {
    case KvmProbe::State::absent:
      return "absent";
    case KvmProbe::State::cannot_open:
      return "present, cannot be opened";
    case KvmProbe::State::boots:
      return "present, boots a guest";
    case KvmProbe::State::does_not_boot:
      return "present, does not boot a guest";
    case KvmProbe::State::not_checked:
      return "present, not checked";
  }
  return "?";
}

Result<std::unique_ptr<Vm>> make_vm(const VmOptions& options) {
  using Kind = VmOptions::Kind;
  detail::HostPaths paths;
  paths.cgroup2_root = options.cgroup2_root;
  switch (options.kind) {
    case Kind::libvirt_domain:
      if (options.name.empty()) return fail("--vm: a libvirt domain name is required");
      return std::make_unique<detail::LibvirtDomainVm>(options, paths);
    case Kind::launch_script: {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(options.launch_script, ec))
        return fail(fmt::format("--vm-launch: {} is not a file", options.launch_script.string()));
      if (::access(options.launch_script.c_str(), X_OK) != 0)
        return fail_errno(
            fmt::format("--vm-launch: {} is not executable", options.launch_script.string()));
      return std::make_unique<detail::LaunchScriptVm>(options, paths);
    }
    case Kind::testvm:
      if (auto valid = detail::validate_testvm(options); !valid)
        return std::unexpected(valid.error());
      return std::make_unique<detail::TestVm>(options, paths);
  }
  return fail("unknown VM kind");
}

}  // namespace cinergy::vm
